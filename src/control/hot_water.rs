//! The hot-water strategy in the daemon: the same [`Smart`] controller the backtest
//! measures, fed once a quarter hour with the quarter's average flows, its decisions
//! turned into priority-0 claims on the heat pump's capabilities (its profile's
//! `dhw_setpoint`, and `dhw_mode` set to its `setpoint` state where the profile has
//! one). Between charges the setpoint is the comfort temperature, so the heat pump's
//! own thermostat stays the safety net. Without a current tank or grid reading it
//! claims nothing: the heat pump is handed back to its own settings.

use chrono::{DateTime, NaiveDateTime, Utc};

use crate::clock::TZ;
use crate::live::Live;
use crate::model::SgState;
use crate::profile::{ResolvedProfile, Role};
use crate::rules::Claim;
use crate::strategy::smart::{Habits, Smart, SmartParams};
use crate::strategy::{Controller, Decision, Missing, Mode, Observation, Setting, Settings, Why};

/// The strategy's claims rank below every rule's.
pub const PRIORITY: i32 = 0;
/// A charge counts as done this close to its target, K.
const DONE_MARGIN_K: f64 = 0.5;

/// The heat pump the strategy acts on, and how.
#[derive(Debug, Clone, PartialEq)]
pub struct HeatPump {
    pub device: String,
    pub via: Via,
    pub operating_mode: Option<String>,
}

/// How the strategy tells the heat pump to charge.
#[derive(Debug, Clone, PartialEq)]
pub enum Via {
    /// Its writable hot-water setpoint: the charge's target while charging, the
    /// comfort temperature between charges.
    Setpoint {
        point: String,
        /// The control-mode point and the raw value of its `setpoint` state.
        mode: Option<(String, f64)>,
    },
    /// SG Ready state 3 while charging (the heat pump heats to its own raised target,
    /// `raised_c`), state 2 between charges.
    SgReady { raised_c: f64 },
}

impl HeatPump {
    /// The heat pump `device` with profile `p`: through SG Ready where `sg` says the
    /// strategy uses it, else through the profile's writable `dhw_setpoint` (None
    /// without one).
    pub fn from_profile(
        device: &str,
        p: &ResolvedProfile,
        sg: Option<&crate::config::SgReadySetup>,
    ) -> Option<Self> {
        let via = match sg.filter(|s| s.for_hot_water) {
            Some(s) => Via::SgReady {
                raised_c: s.raised_c,
            },
            None => {
                let setpoint = p.by_role(Role::DhwSetpoint).filter(|d| d.write.is_some())?;
                let mode = p
                    .by_role(Role::DhwMode)
                    .filter(|d| d.write.is_some())
                    .and_then(|d| {
                        let raw = d.states.iter().find(|(_, name)| *name == "setpoint")?.0;
                        Some((d.key.to_string(), raw.parse().ok()?))
                    });
                Via::Setpoint {
                    point: setpoint.key.to_string(),
                    mode,
                }
            }
        };
        Some(Self {
            device: device.to_owned(),
            via,
            operating_mode: p.by_role(Role::OperatingMode).map(|d| d.key.to_string()),
        })
    }

    /// What a charge to `target_c` heats the tank to: the target, or through SG Ready
    /// the heat pump's own raised target.
    fn reaches(&self, target_c: f64) -> f64 {
        match self.via {
            Via::Setpoint { .. } => target_c,
            Via::SgReady { raised_c } => raised_c,
        }
    }
}

/// Sums over the quarter hour under way.
#[derive(Debug, Clone, Default)]
struct Quarter {
    slot: Option<NaiveDateTime>,
    grid_w: f64,
    pv_w: f64,
    dhw_w: f64,
    n: u32,
}

fn slot_start(t: DateTime<Utc>) -> NaiveDateTime {
    let local = t.with_timezone(&TZ).naive_local();
    let secs = local.and_utc().timestamp();
    DateTime::from_timestamp(secs - secs.rem_euclid(900), 0).map_or(local, |d| d.naive_utc())
}

pub struct HotWater {
    pub heat_pump: HeatPump,
    smart: Smart,
    quarter: Quarter,
    /// The charge the strategy asked for, and its target.
    charge: Option<f64>,
    claimed: Option<(f64, DateTime<Utc>)>,
    reason: Why,
    /// Whether the strategy planned with current data at the last quarter.
    planned: bool,
}

impl HotWater {
    /// Through SG Ready the tank reaches only the heat pump's raised target: the
    /// strategy plans every charge to it, and the legionella run is the heat pump's own
    /// program.
    pub fn new(heat_pump: HeatPump, mut params: SmartParams) -> Self {
        if let Via::SgReady { raised_c } = heat_pump.via {
            params.fixed_target_c = Some(raised_c);
            params.legionella = None;
        }
        Self {
            heat_pump,
            smart: Smart::new(params),
            quarter: Quarter::default(),
            charge: None,
            claimed: None,
            reason: Why::Nothing,
            planned: false,
        }
    }

    /// Why the strategy wants what it wants.
    pub fn reason(&self) -> Why {
        self.reason
    }

    /// The charge smart mode expects next (None in the other modes, while a charge
    /// runs, or when none is needed within the strategy's horizon).
    pub fn next_charge(&self, mode: Mode) -> Option<crate::strategy::smart::NextCharge> {
        if self.planning(mode) && self.charge.is_none() {
            self.smart.next_charge()
        } else {
            None
        }
    }

    /// What the strategy has learned about the dwelling.
    pub fn habits(&self) -> Habits {
        self.smart.habits()
    }

    /// Takes up habits saved before a restart (see [`Smart::resume`]).
    pub fn resume(&mut self, habits: &Habits) -> Result<(), String> {
        self.smart.resume(habits)
    }

    /// "Boost now": one charge to the solar target `solar_c`, sun or not, from the next
    /// step on.
    pub fn boost_now(&mut self, solar_c: f64) {
        self.charge = Some(self.heat_pump.reaches(solar_c));
        self.reason = Why::BoostNow { target_c: solar_c };
    }

    /// Forgets the learned draw pattern and sun profile (new residents); the heat
    /// pump's charging power and the last legionella run stay.
    pub fn forget(&mut self) {
        self.smart.forget();
        tracing::info!("The hot-water strategy forgot what it learned; it learns afresh.");
    }

    /// A new sun forecast for the strategy's outlook.
    pub fn forecast(&mut self, f: &crate::strategy::SunForecast) {
        self.smart.forecast(f);
    }

    /// The sun forecast the strategy holds, as of `now` (None before one came).
    pub fn forecast_summary(
        &self,
        now: DateTime<Utc>,
    ) -> Option<crate::strategy::sun::ForecastSummary> {
        self.smart.forecast_summary(now)
    }

    /// How the hot water stands against a large draw (None before the first quarter).
    pub fn comfort(&self) -> Option<crate::strategy::smart::Comfort> {
        self.smart.comfort()
    }

    /// Whether the strategy has seen less than a day (its outlook is mostly empty).
    pub fn learning(&self) -> bool {
        self.smart.learning()
    }

    /// Whether smart mode plans with current data (not handed back).
    pub fn planning(&self, mode: Mode) -> bool {
        mode == Mode::Smart && self.planned
    }

    /// Whether the strategy handed the heat pump back for want of current readings.
    pub fn handed_back(&self) -> bool {
        matches!(self.reason, Why::HandedBack { .. })
    }

    /// Whether the strategy has a charge under way.
    pub fn charging(&self) -> bool {
        self.charge.is_some()
    }

    /// One tick: folds `live` into the quarter, decides at each quarter's end, and
    /// returns the strategy's claims. `dhw_active` says whether the heat pump reports
    /// heating hot water (`None` when its profile cannot tell); `strict` when the
    /// building-bound use is above its expected position (grid heat is kept short).
    pub fn step(
        &mut self,
        now: DateTime<Utc>,
        live: &Live,
        dhw_active: Option<bool>,
        settings: &Settings,
        strict: bool,
    ) -> Vec<Claim> {
        let (Some(tank), Some(grid)) = (live.tank_temperature, live.grid_power) else {
            self.charge = None;
            self.claimed = None;
            self.planned = false;
            self.quarter = Quarter::default();
            self.reason = Why::HandedBack {
                missing: if live.tank_temperature.is_none() {
                    Missing::TankTemperature
                } else {
                    Missing::GridReading
                },
            };
            return Vec::new();
        };
        let hp_w = live.heat_pump_power.map_or(0.0, |w| w.0);
        let dhw_w = match dhw_active {
            Some(true) => hp_w,
            Some(false) => 0.0,
            None if self.charge.is_some() => hp_w,
            None => 0.0,
        };
        let solar = settings.get(Setting::SolarTarget);
        let comfort = settings.get(Setting::ComfortTemperature);
        if let Some(t) = self.charge
            && tank.0 >= t - DONE_MARGIN_K
        {
            self.charge = None;
        }
        let slot = slot_start(now);
        let q = &mut self.quarter;
        if q.slot != Some(slot) {
            let n = f64::from(q.n.max(1));
            let obs = Observation {
                at: now,
                local: now.with_timezone(&TZ).naive_local(),
                tank_c: tank.0,
                outdoor_c: live.outdoor_temperature.map_or(10.0, |c| c.0),
                grid_w: q.grid_w / n,
                pv_w: q.pv_w / n,
                dhw_w: q.dhw_w / n,
                charging: self.charge,
            };
            *q = Quarter {
                slot: Some(slot),
                ..Quarter::default()
            };
            let p = &mut self.smart.params;
            p.solar_target_c = solar;
            p.max_starts_per_day = settings.get(Setting::MaxStartsPerDay);
            p.min_run_minutes = settings.get(Setting::MinRunMinutes);
            p.min_off_minutes = settings.get(Setting::MinOffMinutes);
            p.strict = strict;
            // The strategy learns in every mode, from what really happened.
            let decision = self.smart.decide(&obs);
            self.planned = true;
            if settings.mode == Mode::Smart {
                match decision {
                    // Through SG Ready the strategy already plans with the raised
                    // target (`SmartParams::fixed_target_c`).
                    Decision::Start { target_c } => self.charge = Some(target_c),
                    Decision::Stop => self.charge = None,
                    Decision::Keep => {}
                }
                self.reason = self.smart.why();
            }
        }
        let q = &mut self.quarter;
        q.grid_w += grid.0;
        q.pv_w += live.pv_power.map_or(0.0, |w| w.0);
        q.dhw_w += dhw_w;
        q.n += 1;
        let value = match settings.mode {
            Mode::Off => {
                self.charge = None;
                self.claimed = None;
                self.reason = Why::Off;
                return Vec::new();
            }
            Mode::Boost => {
                let target_c = self.heat_pump.reaches(solar);
                self.reason = Why::BoostMode { target_c };
                target_c
            }
            Mode::Smart => match self.charge {
                Some(t) => t,
                None => {
                    if self.reason == Why::Nothing {
                        self.reason = Why::Waiting { comfort_c: comfort };
                    }
                    comfort
                }
            },
        };
        let since = match self.claimed {
            Some((v, at)) if (v - value).abs() < 1e-9 => at,
            _ => now,
        };
        self.claimed = Some((value, since));
        let claim = |point: &str, value: f64| Claim {
            device: self.heat_pump.device.clone(),
            point: point.to_owned(),
            value,
            priority: PRIORITY,
            by: "strategy".to_owned(),
            because: self.reason.to_string(),
            since,
            until: None,
        };
        match &self.heat_pump.via {
            Via::Setpoint { point, mode } => {
                let mut claims = vec![claim(point, value)];
                if let Some((point, raw)) = mode {
                    claims.push(claim(point, *raw));
                }
                claims
            }
            // Between charges no claim: SG Ready goes back to state 2 by itself.
            Via::SgReady { .. } if settings.mode == Mode::Boost || self.charge.is_some() => {
                vec![claim(
                    super::sg_ready::POINT,
                    f64::from(SgState::Recommend.number()),
                )]
            }
            Via::SgReady { .. } => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Celsius, Watts};
    use crate::profile::ProfileSet;

    fn luxtronik() -> HeatPump {
        let set = ProfileSet::embedded().unwrap();
        let p = set
            .get("alpha_innotec-luxtronik2")
            .unwrap()
            .resolve()
            .unwrap();
        HeatPump::from_profile("heat_pump", &p, None).unwrap()
    }

    fn live(tank: Option<f64>, grid: Option<f64>) -> Live {
        Live {
            tank_temperature: tank.map(Celsius),
            grid_power: grid.map(Watts),
            pv_power: Some(Watts(3000.0)),
            ..Live::default()
        }
    }

    /// 2025-06-15 06:00 Amsterdam, plus `min` minutes.
    fn at(min: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_749_960_000 + min * 60, 0).unwrap()
    }

    #[test]
    fn acts_through_the_profiles_roles() {
        let hp = luxtronik();
        assert_eq!(
            hp.via,
            Via::Setpoint {
                point: "hot_water_setpoint".to_owned(),
                mode: Some(("hot_water_mode".to_owned(), 1.0))
            }
        );
        assert_eq!(hp.operating_mode.as_deref(), Some("operating_mode"));
    }

    #[test]
    fn modes_and_the_hand_back() {
        let mut s = HotWater::new(luxtronik(), SmartParams::default());
        let mut settings = Settings::default();
        let claims = s.step(
            at(0),
            &live(Some(50.0), Some(-2000.0)),
            Some(false),
            &settings,
            false,
        );
        // Smart, nothing learned yet: the comfort setpoint, the setpoint mode.
        let values: Vec<_> = claims.iter().map(|c| (c.point.as_str(), c.value)).collect();
        assert_eq!(
            values,
            [("hot_water_setpoint", 45.0), ("hot_water_mode", 1.0)]
        );
        assert!(
            claims
                .iter()
                .all(|c| c.priority == PRIORITY && c.by == "strategy")
        );

        settings.mode = Mode::Boost;
        let claims = s.step(
            at(1),
            &live(Some(50.0), Some(-2000.0)),
            Some(false),
            &settings,
            false,
        );
        assert_eq!(claims[0].value, 55.0);

        // No grid reading: nothing claimed, and the reason says so.
        let claims = s.step(
            at(2),
            &live(Some(50.0), None),
            Some(false),
            &settings,
            false,
        );
        assert!(claims.is_empty());
        assert!(
            s.reason().to_string().contains("no current grid reading"),
            "{}",
            s.reason()
        );

        settings.mode = Mode::Off;
        assert!(
            s.step(at(3), &live(Some(50.0), Some(0.0)), None, &settings, false)
                .is_empty()
        );
    }

    #[test]
    fn boost_now_charges_once_to_the_solar_target() {
        let mut s = HotWater::new(luxtronik(), SmartParams::default());
        let settings = Settings::default();
        s.boost_now(settings.get(Setting::SolarTarget));
        let claims = s.step(
            at(0),
            &live(Some(42.0), Some(500.0)),
            Some(false),
            &settings,
            false,
        );
        assert_eq!(claims[0].value, 55.0);
        assert!(s.charging());
        // Reached: back to the comfort setpoint, and the press does not charge again.
        let claims = s.step(
            at(5),
            &live(Some(54.8), Some(500.0)),
            Some(true),
            &settings,
            false,
        );
        assert_eq!(claims[0].value, 45.0);
        assert!(!s.charging());
    }

    #[test]
    fn through_sg_ready_a_charge_is_state_3_until_the_raised_target() {
        let set = ProfileSet::embedded().unwrap();
        let p = set.get("nibe-s_series").unwrap().resolve().unwrap();
        let sg = crate::config::SgReadySetup {
            wiring: crate::config::SgWiring::Contacts {
                device: crate::model::DeviceId::new("relays").unwrap(),
                a: "relay_1".into(),
                b: "relay_2".into(),
                enable: None,
            },
            min_state: std::time::Duration::from_secs(600),
            max_lock: std::time::Duration::from_secs(7200),
            raised_c: 53.0,
            for_hot_water: true,
        };
        let hp = HeatPump::from_profile("heat_pump", &p, Some(&sg)).unwrap();
        assert_eq!(hp.via, Via::SgReady { raised_c: 53.0 });
        let mut s = HotWater::new(hp, SmartParams::default());
        let settings = Settings::default();
        // Between charges: nothing claimed, SG Ready stays normal.
        let claims = s.step(at(0), &live(Some(45.0), Some(0.0)), None, &settings, false);
        assert!(claims.is_empty(), "{claims:?}");
        s.boost_now(settings.get(Setting::SolarTarget));
        let claims = s.step(at(1), &live(Some(45.0), Some(0.0)), None, &settings, false);
        let values: Vec<_> = claims.iter().map(|c| (c.point.as_str(), c.value)).collect();
        assert_eq!(values, [("sg_ready", 3.0)]);
        // The heat pump stops at its raised target, and so does the charge.
        let claims = s.step(at(5), &live(Some(52.6), Some(0.0)), None, &settings, false);
        assert!(claims.is_empty() && !s.charging(), "{claims:?}");
    }

    #[test]
    fn the_settings_and_strictness_reach_the_strategy_each_quarter() {
        let mut s = HotWater::new(luxtronik(), SmartParams::default());
        let mut settings = Settings::default();
        for (k, v) in [
            (Setting::SolarTarget, 52.0),
            (Setting::MaxStartsPerDay, 3.0),
            (Setting::MinRunMinutes, 30.0),
            (Setting::MinOffMinutes, 90.0),
        ] {
            settings.values.insert(k, v);
        }
        s.step(
            at(0),
            &live(Some(50.0), Some(0.0)),
            Some(false),
            &settings,
            true,
        );
        let p = &s.smart.params;
        assert_eq!(
            (
                p.solar_target_c,
                p.max_starts_per_day,
                p.min_run_minutes,
                p.min_off_minutes,
                p.strict
            ),
            (52.0, 3.0, 30.0, 90.0, true)
        );
        s.step(
            at(15),
            &live(Some(50.0), Some(0.0)),
            Some(false),
            &settings,
            false,
        );
        assert!(!s.smart.params.strict);
    }
}
