//! The strategies a backtest can run, by name: `smart` and the baselines of
//! `MODEL.md` §5 (`thermostat`, `timer:HH:MM`, `pv-surplus-basic`).

use std::fmt;
use std::str::FromStr;

use chrono::NaiveTime;

use super::year::Dwelling;
use crate::strategy::baseline::{PvSurplusBasic, Thermostat, Timer};
use crate::strategy::controller::{Controller, Decision, Observation, SunForecast};
use crate::strategy::smart::{Smart, SmartParams};

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum StrategySpec {
    Smart,
    Thermostat,
    Timer(NaiveTime),
    PvSurplusBasic,
}

impl FromStr for StrategySpec {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "smart" => Ok(Self::Smart),
            "thermostat" => Ok(Self::Thermostat),
            "pv-surplus-basic" => Ok(Self::PvSurplusBasic),
            _ => match s.strip_prefix("timer:") {
                Some(t) => NaiveTime::parse_from_str(t, "%H:%M")
                    .map(Self::Timer)
                    .map_err(|_| format!("`{t}` is not a time HH:MM (as in timer:13:00)")),
                None => Err(format!(
                    "unknown strategy `{s}`: smart, thermostat, timer:HH:MM or pv-surplus-basic"
                )),
            },
        }
    }
}

impl fmt::Display for StrategySpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Smart => f.write_str("smart"),
            Self::Thermostat => f.write_str("thermostat"),
            Self::Timer(t) => write!(f, "timer:{}", t.format("%H:%M")),
            Self::PvSurplusBasic => f.write_str("pv-surplus-basic"),
        }
    }
}

impl StrategySpec {
    /// The controller, set up for the dwelling's tank and heat pump.
    pub fn controller(self, dwelling: &Dwelling) -> Box<dyn Controller> {
        let tank = &dwelling.tank;
        match self {
            Self::Smart => Box::new(Smart::new(smart_params(dwelling, None))),
            Self::Thermostat => Box::new(Thermostat::new(tank.t_min_use_c, tank.t_set_c)),
            Self::Timer(at) => Box::new(Timer::new(at, tank.t_set_c)),
            Self::PvSurplusBasic => {
                let hp = dwelling.heat_pump.clone();
                let boost = tank.t_max_hp_c;
                Box::new(PvSurplusBasic::new(move |outdoor_c| {
                    1000.0 * hp.dhw_power_kw(outdoor_c) / hp.dhw_cop(boost, outdoor_c)
                }))
            }
        }
    }
}

impl StrategySpec {
    /// The controller acting through SG Ready instead of a setpoint: every charge it
    /// starts is state 3, in which the heat pump heats the tank to its own raised
    /// target `raised_c` whatever the controller wanted (and the smart strategy leaves
    /// the legionella run to the heat pump's own program, as in the daemon).
    pub fn through_sg_ready(self, dwelling: &Dwelling, raised_c: f64) -> Box<dyn Controller> {
        match self {
            Self::Smart => Box::new(Smart::new(smart_params(dwelling, Some(raised_c)))),
            other => Box::new(SgReady {
                inner: other.controller(dwelling),
                raised_c,
            }),
        }
    }
}

/// The smart strategy's parameters for the dwelling, driving its heat pump through
/// the setpoint or, with `sg_ready_c`, through SG Ready state 3 (then it plans with the
/// target the heat pump will reach and leaves the legionella run to it).
pub fn smart_params(dwelling: &Dwelling, sg_ready_c: Option<f64>) -> SmartParams {
    let params = SmartParams {
        tank: dwelling.tank.clone(),
        ..SmartParams::default()
    };
    match sg_ready_c {
        None => params,
        Some(raised_c) => SmartParams {
            legionella: None,
            fixed_target_c: Some(raised_c),
            ..params
        },
    }
}

/// A controller whose charges go through SG Ready state 3 (the baselines: they plan
/// nothing, so where their charges end is all that changes).
struct SgReady {
    inner: Box<dyn Controller>,
    raised_c: f64,
}

impl Controller for SgReady {
    fn decide(&mut self, obs: &Observation) -> Decision {
        match self.inner.decide(obs) {
            Decision::Start { .. } => Decision::Start {
                target_c: self.raised_c,
            },
            other => other,
        }
    }

    fn reason(&self) -> String {
        format!(
            "{} (SG Ready state 3: the heat pump heats to {} °C)",
            self.inner.reason(),
            self.raised_c
        )
    }

    fn forecast(&mut self, forecast: &SunForecast) {
        self.inner.forecast(forecast);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Wants(f64);
    impl Controller for Wants {
        fn decide(&mut self, _: &Observation) -> Decision {
            Decision::Start { target_c: self.0 }
        }
        fn reason(&self) -> String {
            "wants".into()
        }
    }

    #[test]
    fn through_sg_ready_every_charge_goes_to_the_raised_target() {
        let mut c = SgReady {
            inner: Box::new(Wants(48.0)),
            raised_c: 55.0,
        };
        let obs = Observation {
            at: chrono::DateTime::UNIX_EPOCH,
            local: chrono::DateTime::UNIX_EPOCH.naive_utc(),
            tank_c: 45.0,
            outdoor_c: 10.0,
            grid_w: 0.0,
            pv_w: 0.0,
            dhw_w: 0.0,
            charging: None,
        };
        assert_eq!(c.decide(&obs), Decision::Start { target_c: 55.0 });
        assert!(c.reason().contains("SG Ready state 3"));
    }
}
