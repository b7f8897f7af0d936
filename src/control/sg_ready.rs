//! SG Ready in the daemon: the state the strategy and the rules ask for (a claim on
//! the heat pump's `sg_ready`, 1 to 4), kept through the hold times — at least
//! `min_state` in a state, a lock no longer than `max_lock` and not again within
//! `max_lock` of the last — and turned into the wiring's point values for the
//! actuator. State 2 needs no claim: a point nobody claims goes back to its normal
//! value, which is also what the heat pump gets at every stop and on stale data.
//! Pure: control hands it the instant.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::config::{SgReadySetup, SgWiring};
use crate::model::SgState;

/// Why state 2 holds when no claim asks for another.
const NOBODY: &str = "nobody asks for another state";

/// The point name a claim uses for the SG Ready state, on the heat pump's device.
pub const POINT: &str = "sg_ready";

/// What SG Ready is doing, for MQTT and the web.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SgStatus {
    /// The state nomhub signals.
    pub wanted: SgState,
    /// The state the device's points show (None while unknown).
    pub shown: Option<SgState>,
    pub since: Option<DateTime<Utc>>,
    /// Why it is in this state: who asked, or the hold that keeps it.
    pub why: String,
}

#[derive(Debug, Clone)]
pub struct SgReady {
    pub heat_pump: String,
    pub wiring: SgWiring,
    min_state: Duration,
    max_lock: Duration,
    state: SgState,
    /// When the state began (None: since nomhub started; no hold applies yet).
    since: Option<DateTime<Utc>>,
    lock_ended: Option<DateTime<Utc>>,
    why: String,
}

fn held_for(since: Option<DateTime<Utc>>, now: DateTime<Utc>) -> Option<Duration> {
    since.map(|t| (now - t).to_std().unwrap_or_default())
}

impl SgReady {
    pub fn new(heat_pump: &str, setup: &SgReadySetup) -> Self {
        Self {
            heat_pump: heat_pump.to_owned(),
            wiring: setup.wiring.clone(),
            min_state: setup.min_state,
            max_lock: setup.max_lock,
            state: SgState::Normal,
            since: None,
            lock_ended: None,
            why: NOBODY.to_owned(),
        }
    }

    pub fn state(&self) -> SgState {
        self.state
    }

    fn set(&mut self, state: SgState, now: DateTime<Utc>, why: String) -> SgState {
        if state != self.state {
            if self.state == SgState::Lock {
                self.lock_ended = Some(now);
            }
            self.state = state;
            self.since = Some(now);
        }
        self.why = why;
        state
    }

    /// The state to signal at `now` when `asked` is wanted (by `by`), or the heat
    /// pump is to be handed back (`hand_back`: stale data), which happens at once.
    pub fn decide(
        &mut self,
        asked: SgState,
        by: &str,
        hand_back: bool,
        now: DateTime<Utc>,
    ) -> SgState {
        if hand_back {
            return self.set(
                SgState::Normal,
                now,
                "handed back: no current readings".to_owned(),
            );
        }
        // A state the wiring cannot signal: the nearest it can.
        let asked = match asked {
            s if self.wiring.offers(s) => s,
            SgState::Force if self.wiring.offers(SgState::Recommend) => SgState::Recommend,
            _ => SgState::Normal,
        };
        // Nobody asking is asking for state 2.
        let asked_why = if by.is_empty() {
            NOBODY.to_owned()
        } else {
            format!("{by} asks for it")
        };
        let held = held_for(self.since, now);
        if self.state == SgState::Lock && held.is_some_and(|h| h >= self.max_lock) {
            return self.set(
                SgState::Normal,
                now,
                format!("a lock lasts at most {} min", self.max_lock.as_secs() / 60),
            );
        }
        if asked == self.state {
            return self.set(asked, now, asked_why);
        }
        if let Some(h) = held
            && h < self.min_state
        {
            let left = (self.min_state - h).as_secs().div_ceil(60);
            self.why = format!(
                "kept at least {} min in a state ({left} min to go)",
                self.min_state.as_secs() / 60
            );
            return self.state;
        }
        if asked == SgState::Lock
            && let Some(ended) = self.lock_ended
            && held_for(Some(ended), now).is_some_and(|h| h < self.max_lock)
        {
            let why = format!(
                "no new lock within {} min of the last",
                self.max_lock.as_secs() / 60
            );
            return self.set(SgState::Normal, now, why);
        }
        self.set(asked, now, asked_why)
    }

    /// nomhub stops: the heat pump has state 2 back (the actuator wrote it).
    pub fn stop(&mut self, now: DateTime<Utc>) {
        self.set(SgState::Normal, now, "nomhub stopped".to_owned());
    }

    /// The status, with the state the device shows.
    pub fn status(&self, shown: Option<SgState>) -> SgStatus {
        SgStatus {
            wanted: self.state,
            shown,
            since: self.since,
            why: self.why.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::DeviceId;

    fn at(min: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_750_000_000 + min * 60, 0).unwrap_or_default()
    }

    fn contacts() -> SgReady {
        let setup = SgReadySetup {
            wiring: SgWiring::Contacts {
                device: DeviceId::new("relays").unwrap_or_else(|e| panic!("{e}")),
                a: "relay_1".into(),
                b: "relay_2".into(),
                enable: None,
            },
            min_state: Duration::from_secs(600),
            max_lock: Duration::from_secs(7200),
            raised_c: 55.0,
            for_hot_water: true,
        };
        SgReady::new("heat_pump", &setup)
    }

    use SgState::{Force, Lock, Normal, Recommend};

    #[test]
    fn the_first_change_is_at_once_then_each_state_holds_ten_minutes() {
        let mut sg = contacts();
        assert_eq!(sg.decide(Recommend, "strategy", false, at(0)), Recommend);
        // Surplus gone after 3 minutes: kept until 10 minutes have passed.
        assert_eq!(sg.decide(Normal, "", false, at(3)), Recommend);
        assert!(sg.status(None).why.contains("7 min to go"), "{}", sg.why);
        assert_eq!(sg.decide(Normal, "", false, at(10)), Normal);
        // And back up only after another 10.
        assert_eq!(sg.decide(Recommend, "strategy", false, at(15)), Normal);
        assert_eq!(sg.decide(Force, "rule", false, at(20)), Force);
    }

    #[test]
    fn stale_data_hands_back_at_once_whatever_the_hold() {
        let mut sg = contacts();
        sg.decide(Recommend, "strategy", false, at(0));
        assert_eq!(sg.decide(Recommend, "strategy", true, at(1)), Normal);
        assert!(sg.status(None).why.starts_with("handed back"));
    }

    #[test]
    fn a_lock_is_capped_and_not_repeated_at_once() {
        let mut sg = contacts();
        assert_eq!(sg.decide(Lock, "peak price", false, at(0)), Lock);
        assert_eq!(sg.decide(Lock, "peak price", false, at(119)), Lock);
        assert_eq!(sg.decide(Lock, "peak price", false, at(120)), Normal);
        assert!(sg.status(None).why.contains("at most 120 min"));
        // Still asked: refused until two hours after the lock ended.
        assert_eq!(sg.decide(Lock, "peak price", false, at(140)), Normal);
        assert!(sg.status(None).why.contains("no new lock"), "{}", sg.why);
        assert_eq!(sg.decide(Lock, "peak price", false, at(240)), Lock);
    }

    #[test]
    fn a_register_without_force_signals_recommend_instead() {
        let setup = SgReadySetup {
            wiring: SgWiring::Register {
                device: DeviceId::new("heat_pump").unwrap_or_else(|e| panic!("{e}")),
                point: "smart_grid".into(),
                raw: [(Normal, 0.0), (Recommend, 2.0)].into(),
            },
            min_state: Duration::from_secs(600),
            max_lock: Duration::from_secs(7200),
            raised_c: 55.0,
            for_hot_water: true,
        };
        let mut sg = SgReady::new("heat_pump", &setup);
        assert_eq!(sg.decide(Force, "rule", false, at(0)), Recommend);
        assert_eq!(sg.decide(Lock, "rule", false, at(10)), Normal);
    }
}
