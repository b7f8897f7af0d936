//! The baseline controllers of `shared/data/MODEL.md` §5, the yardsticks the smart
//! strategy is measured against: a thermostat, a daily timer and a plain
//! "boost when exporting" rule.

use chrono::{NaiveDate, NaiveTime, Timelike};

use super::controller::{Controller, Decision, Observation};

/// Charge to the set temperature whenever the sensor drops below the use minimum.
#[derive(Debug, Clone)]
pub struct Thermostat {
    pub on_below_c: f64,
    pub target_c: f64,
    reason: String,
}

impl Thermostat {
    pub fn new(on_below_c: f64, target_c: f64) -> Self {
        Self {
            on_below_c,
            target_c,
            reason: String::new(),
        }
    }
}

impl Controller for Thermostat {
    fn decide(&mut self, obs: &Observation) -> Decision {
        if obs.charging.is_none() && obs.tank_c < self.on_below_c {
            self.reason = format!(
                "tank {:.1} °C below {:.1} °C: charge to {:.1} °C",
                obs.tank_c, self.on_below_c, self.target_c
            );
            return Decision::Start {
                target_c: self.target_c,
            };
        }
        Decision::Keep
    }

    fn reason(&self) -> String {
        self.reason.clone()
    }
}

/// The comfort fallback the timer and PV rules share: below `below_c`, charge to `target_c`.
#[derive(Debug, Clone, Copy)]
struct Fallback {
    below_c: f64,
    target_c: f64,
}

impl Fallback {
    fn check(self, obs: &Observation, reason: &mut String) -> Option<Decision> {
        (obs.charging.is_none() && obs.tank_c < self.below_c).then(|| {
            *reason = format!(
                "comfort: tank {:.1} °C below {:.1} °C, charge to {:.1} °C",
                obs.tank_c, self.below_c, self.target_c
            );
            Decision::Start {
                target_c: self.target_c,
            }
        })
    }
}

/// Charge once a day at a fixed local time, like a heat pump's own timer.
#[derive(Debug, Clone)]
pub struct Timer {
    pub at: NaiveTime,
    pub target_c: f64,
    fallback: Fallback,
    fired: Option<NaiveDate>,
    reason: String,
}

impl Timer {
    pub fn new(at: NaiveTime, target_c: f64) -> Self {
        Self {
            at,
            target_c,
            fallback: Fallback {
                below_c: 40.0,
                target_c: 50.0,
            },
            fired: None,
            reason: String::new(),
        }
    }
}

impl Controller for Timer {
    fn decide(&mut self, obs: &Observation) -> Decision {
        let today = obs.local.date();
        // The first step at or after the time, once a day (a day whose clock skips
        // the time, such as 02:00 on the spring DST day, does not fire).
        let due = obs.local.time() >= self.at
            && obs.local.time().hour() == self.at.hour()
            && self.fired != Some(today);
        if due {
            self.fired = Some(today);
            if obs.charging.is_none_or(|t| t < self.target_c) {
                self.reason = format!("timer {}: charge to {:.1} °C", self.at, self.target_c);
                return Decision::Start {
                    target_c: self.target_c,
                };
            }
        }
        self.fallback
            .check(obs, &mut self.reason)
            .unwrap_or(Decision::Keep)
    }

    fn reason(&self) -> String {
        self.reason.clone()
    }
}

/// Boost to the heat pump's maximum whenever the last step exported more than the
/// boost would draw; stop after a step that imported.
pub struct PvSurplusBasic<F: Fn(f64) -> f64> {
    /// Export needed to start at an outdoor temperature, W: the boost's electric power.
    start_export_w: F,
    fallback: Fallback,
    reason: String,
}

impl<F: Fn(f64) -> f64> PvSurplusBasic<F> {
    /// Starts below 57 °C, boosts to 60 °C, stops after a step importing over 50 W.
    pub const BELOW_C: f64 = 57.0;
    pub const TARGET_C: f64 = 60.0;
    pub const STOP_IMPORT_W: f64 = 50.0;

    pub fn new(start_export_w: F) -> Self {
        Self {
            start_export_w,
            fallback: Fallback {
                below_c: 45.0,
                target_c: 50.0,
            },
            reason: String::new(),
        }
    }
}

impl<F: Fn(f64) -> f64> Controller for PvSurplusBasic<F> {
    fn decide(&mut self, obs: &Observation) -> Decision {
        let boosting = obs.charging.is_some_and(|t| t >= Self::TARGET_C);
        if boosting && obs.grid_w > Self::STOP_IMPORT_W {
            self.reason = format!("imported {:.0} W: stop", obs.grid_w);
            return Decision::Stop;
        }
        let need = (self.start_export_w)(obs.outdoor_c);
        if obs.charging.is_none() && -obs.grid_w > need && obs.tank_c < Self::BELOW_C {
            self.reason = format!(
                "exporting {:.0} W, more than the boost's {need:.0} W: boost to {:.0} °C",
                -obs.grid_w,
                Self::TARGET_C
            );
            return Decision::Start {
                target_c: Self::TARGET_C,
            };
        }
        self.fallback
            .check(obs, &mut self.reason)
            .unwrap_or(Decision::Keep)
    }

    fn reason(&self) -> String {
        self.reason.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDateTime;

    fn obs(at: &str, tank_c: f64, grid_w: f64, charging: Option<f64>) -> Observation {
        let local = NaiveDateTime::parse_from_str(at, "%Y-%m-%d %H:%M").unwrap();
        Observation {
            at: local.and_utc(),
            local,
            tank_c,
            outdoor_c: 7.0,
            grid_w,
            pv_w: 0.0,
            dhw_w: 0.0,
            charging,
        }
    }

    const START_55: Decision = Decision::Start { target_c: 55.0 };
    const START_50: Decision = Decision::Start { target_c: 50.0 };
    const START_60: Decision = Decision::Start { target_c: 60.0 };

    #[test]
    fn thermostat_starts_below_its_threshold_only_when_idle() {
        let mut t = Thermostat::new(45.0, 55.0);
        for (tank, charging, want) in [
            (44.9, None, START_55),
            (45.0, None, Decision::Keep),
            (30.0, Some(55.0), Decision::Keep),
        ] {
            assert_eq!(
                t.decide(&obs("2025-03-01 04:00", tank, 0.0, charging)),
                want
            );
        }
    }

    #[test]
    fn timer_fires_once_a_day_and_falls_back_below_40() {
        let mut t = Timer::new(NaiveTime::from_hms_opt(13, 0, 0).unwrap(), 55.0);
        let rows = [
            ("2025-03-01 12:45", 50.0, None, Decision::Keep),
            ("2025-03-01 13:00", 50.0, None, START_55),
            ("2025-03-01 13:15", 50.0, None, Decision::Keep),
            ("2025-03-01 20:00", 39.0, None, START_50),
            ("2025-03-02 13:00", 54.0, Some(50.0), START_55),
            ("2025-03-02 13:15", 54.0, None, Decision::Keep),
        ];
        for (at, tank, charging, want) in rows {
            assert_eq!(t.decide(&obs(at, tank, 0.0, charging)), want, "{at}");
        }
        // 02:00 does not exist on the spring DST day: the timer does not fire at 03:00.
        let mut night = Timer::new(NaiveTime::from_hms_opt(2, 0, 0).unwrap(), 55.0);
        assert_eq!(
            night.decide(&obs("2025-03-30 03:00", 50.0, 0.0, None)),
            Decision::Keep
        );
    }

    #[test]
    fn pv_surplus_boosts_on_export_and_stops_on_import() {
        let mut p = PvSurplusBasic::new(|_| 1300.0);
        let rows = [
            (50.0, -1200.0, None, Decision::Keep),
            (50.0, -1400.0, None, START_60),
            (58.0, -1400.0, None, Decision::Keep),
            (50.0, 40.0, Some(60.0), Decision::Keep),
            (50.0, 60.0, Some(60.0), Decision::Stop),
            (44.0, 500.0, None, START_50),
            (44.0, 500.0, Some(50.0), Decision::Keep),
        ];
        for (tank, grid, charging, want) in rows {
            assert_eq!(
                p.decide(&obs("2025-06-01 12:00", tank, grid, charging)),
                want,
                "{tank} {grid} {charging:?}"
            );
        }
    }
}
