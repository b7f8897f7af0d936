//! The strategies a backtest can run, by name: `smart` and the baselines of
//! `MODEL.md` §5 (`thermostat`, `timer:HH:MM`, `pv-surplus-basic`).

use std::fmt;
use std::str::FromStr;

use chrono::NaiveTime;

use super::year::Dwelling;
use crate::strategy::baseline::{PvSurplusBasic, Thermostat, Timer};
use crate::strategy::controller::Controller;
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
            Self::Smart => Box::new(Smart::new(SmartParams {
                tank: tank.clone(),
                ..SmartParams::default()
            })),
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
