//! Rules in the backtest: the same rule engine as the daemon, in front of the
//! strategy. The simulated heat pump is the device `heat_pump` with the two
//! capabilities rules usually drive, named by their roles:
//!
//! - `heat_pump.dhw_setpoint` (30–65 °C): while a rule holds it, the heat pump's own
//!   thermostat charges to it whenever the tank is 5 K below;
//! - `heat_pump.dhw_boost` (0/1): while a rule holds it at 1, charge to the heat
//!   pump's maximum.
//!
//! The strategy's mode is the rules' to change: `off` is the heat pump's own
//! thermostat (the tank's use minimum to its setpoint), `boost` keeps the tank at
//! the setpoint, `smart` is the strategy under test.

use std::collections::BTreeMap;

use rhai::{Dynamic, Map};
use serde::Serialize;

use crate::ledger::SettlementRule;
use crate::live::Live;
use crate::model::{Celsius, Watts};
use crate::rules::{self, Claim, Context, Event, EventKind, Facts, RuleSet, resolve};
use crate::strategy::controller::{Controller, Decision, Observation};
use crate::strategy::tank::TankParams;
use crate::strategy::{Mode, baseline::Thermostat};

/// The heat pump's own thermostat hysteresis under a rule's setpoint, K.
const SETPOINT_HYSTERESIS_K: f64 = 5.0;

/// What rules may refer to in a backtest.
pub fn context() -> Context {
    let mut names = rules::base_names();
    names.map("heat_pump", Map::new());
    Context {
        names,
        points: [
            ("heat_pump.dhw_setpoint".to_owned(), Some((30.0, 65.0))),
            ("heat_pump.dhw_boost".to_owned(), Some((0.0, 1.0))),
        ]
        .into_iter()
        .collect(),
        driven: Default::default(),
        settlement: SettlementRule::default(),
    }
}

/// How often each rule fired over the run, and its first problem.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct RuleStat {
    pub name: String,
    pub fired: u32,
    pub errors: u32,
    pub first_error: Option<String>,
}

pub struct Ruled {
    rules: RuleSet,
    strategy: Box<dyn Controller>,
    own: Thermostat,
    tank: TankParams,
    mode: Mode,
    events: Vec<Event>,
    started: bool,
    was_charging: bool,
    stats: BTreeMap<String, RuleStat>,
    reason: String,
}

impl Ruled {
    pub fn new(rules: RuleSet, strategy: Box<dyn Controller>, tank: TankParams) -> Self {
        let stats = rules
            .rules()
            .iter()
            .map(|r| {
                (
                    r.name.clone(),
                    RuleStat {
                        name: r.name.clone(),
                        ..RuleStat::default()
                    },
                )
            })
            .collect();
        Self {
            rules,
            strategy,
            own: Thermostat::new(tank.t_min_use_c, tank.t_set_c),
            tank,
            mode: Mode::Smart,
            events: Vec::new(),
            started: false,
            was_charging: false,
            stats,
            reason: String::new(),
        }
    }

    pub fn stats(&self) -> Vec<RuleStat> {
        self.stats.values().cloned().collect()
    }

    fn facts(&self, obs: &Observation) -> Facts {
        facts(obs, self.mode, self.rules.claims())
    }

    fn event(&mut self, kind: EventKind, subject: &str) {
        self.events.push(Event {
            kind,
            subject: subject.to_owned(),
        });
    }
}

/// What rules read at a step of the backtest: the flows of `obs` under the daemon's
/// names ([`rules::flow_facts`]), and `heat_pump` with the points the rules hold
/// (`claims`) at their claimed values.
pub fn facts(obs: &Observation, mode: Mode, claims: &[Claim]) -> Facts {
    let live = Live {
        pv_power: Some(Watts(obs.pv_w)),
        grid_power: Some(Watts(obs.grid_w)),
        home_power: Some(Watts(obs.grid_w + obs.pv_w)),
        heat_pump_power: Some(Watts(obs.dhw_w)),
        tank_temperature: Some(Celsius(obs.tank_c)),
        outdoor_temperature: Some(Celsius(obs.outdoor_c)),
        room_temperature: None,
    };
    let mut f = rules::flow_facts(&live, mode, obs.charging.is_some());
    let mut hp = Map::new();
    for ((_, point), w) in resolve(claims) {
        hp.insert(point.into(), Dynamic::from(w.claim.value));
    }
    f.map("heat_pump", hp);
    f
}

impl Controller for Ruled {
    fn forecast(&mut self, forecast: &crate::strategy::SunForecast) {
        self.strategy.forecast(forecast);
    }

    fn decide(&mut self, obs: &Observation) -> Decision {
        if !self.started {
            self.started = true;
            self.event(EventKind::Startup, "nomhub");
        }
        let charging = obs.charging.is_some();
        if charging != self.was_charging {
            let kind = if charging {
                EventKind::ChargeStarted
            } else {
                EventKind::ChargeFinished
            };
            self.event(kind, "heat_pump");
            self.was_charging = charging;
        }
        let facts = self.facts(obs);
        let events = std::mem::take(&mut self.events);
        // The simulated heat pump acts on the strategy's decision, not on claims: the
        // strategy claims nothing here, and the rules' winners come before it below.
        let planned = rules::plan(
            &mut self.rules,
            obs.at,
            &facts,
            &events,
            self.mode,
            |_| Vec::new(),
            |_| true,
        );
        let out = planned.outcome;
        for name in &out.fired {
            if let Some(s) = self.stats.get_mut(name) {
                s.fired += 1;
            }
        }
        for (name, e) in &out.errors {
            if let Some(s) = self.stats.get_mut(name) {
                s.errors += 1;
                s.first_error.get_or_insert_with(|| e.clone());
            }
        }
        if planned.mode != self.mode {
            self.mode = planned.mode;
            self.event(EventKind::ModeChanged, planned.mode.as_str());
        }
        // The strategy keeps learning whatever is in charge.
        let wanted = self.strategy.decide(obs);
        let winners = planned.winners;
        let key = |p: &str| ("heat_pump".to_owned(), p.to_owned());
        if let Some(w) = winners.get(&key("dhw_boost"))
            && w.claim.value >= 0.5
        {
            self.reason = w.why();
            let top = self.tank.t_max_hp_c;
            return match obs.charging {
                Some(t) if t >= top => Decision::Keep,
                _ if obs.tank_c < top - 1.0 => Decision::Start { target_c: top },
                _ => Decision::Keep,
            };
        }
        if let Some(w) = winners.get(&key("dhw_setpoint")) {
            self.reason = w.why();
            let set = w.claim.value;
            return match obs.charging {
                Some(t) if (t - set).abs() > 0.01 => Decision::Start { target_c: set },
                None if obs.tank_c < set - SETPOINT_HYSTERESIS_K => {
                    Decision::Start { target_c: set }
                }
                _ => Decision::Keep,
            };
        }
        match self.mode {
            Mode::Smart => {
                self.reason = self.strategy.reason();
                wanted
            }
            Mode::Off => {
                let d = self.own.decide(obs);
                self.reason = self.own.reason();
                d
            }
            Mode::Boost => {
                let set = self.tank.t_set_c;
                self.reason = format!("boost mode: keep the tank at {set:.0} °C");
                if obs.charging.is_none() && obs.tank_c < set - SETPOINT_HYSTERESIS_K {
                    Decision::Start { target_c: set }
                } else {
                    Decision::Keep
                }
            }
        }
    }

    fn reason(&self) -> String {
        self.reason.clone()
    }
}
