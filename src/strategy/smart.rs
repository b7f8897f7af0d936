//! The smart hot-water strategy (see docs/strategy.md).

use chrono::{NaiveDate, NaiveDateTime, Timelike};

use super::controller::{Controller, Decision, Observation};
use super::observer::{Observer, SLOTS};
use super::tank::TankParams;

fn knob(name: &str, d: f64) -> f64 {
    std::env::var(name).ok().and_then(|s| s.parse().ok()).unwrap_or(d)
}

#[derive(Debug, Clone)]
pub struct SmartParams {
    pub comfort_c: f64,
    pub solar_target_c: f64,
    pub max_starts_per_day: f64,
    pub min_run_minutes: f64,
    pub min_off_minutes: f64,
    pub tank: TankParams,
}

impl Default for SmartParams {
    fn default() -> Self {
        Self {
            comfort_c: 45.0,
            solar_target_c: 55.0,
            max_starts_per_day: 2.0,
            min_run_minutes: 20.0,
            min_off_minutes: 60.0,
            tank: TankParams::default(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Charge {
    Main,
    Bridge,
}

/// A rough hot-water COP (Carnot fraction 0.45), to turn electric power into heat.
fn cop_estimate(target_c: f64, outdoor_c: f64) -> f64 {
    let cond = target_c.max(55.0) + 5.0;
    (0.45 * (cond + 273.15) / (cond - outdoor_c + 6.0).max(1.0)).clamp(1.5, 5.0)
}

#[derive(Debug, Clone)]
pub struct Smart {
    pub params: SmartParams,
    observer: Observer,
    day: Option<NaiveDate>,
    main_done: bool,
    current: Option<Charge>,
    last: Option<(NaiveDateTime, Option<f64>, bool)>,
    /// Surplus per slot, exponentially averaged over days, W.
    surplus: [f64; SLOTS],
    /// Heat pump electric power while charging, W (learned).
    charge_w: f64,
    reason: String,
}

impl Smart {
    pub fn new(params: SmartParams) -> Self {
        Self {
            observer: Observer::new(params.tank.clone()),
            params,
            day: None,
            main_done: false,
            current: None,
            last: None,
            surplus: [0.0; SLOTS],
            charge_w: 1300.0,
            reason: String::new(),
        }
    }

    fn slot(t: NaiveDateTime) -> usize {
        let t = t.time();
        ((t.hour() * 60 + t.minute()) / 15) as usize % SLOTS
    }

    /// Today's planned main charge: (earliest slot, latest slot), from the usual surplus.
    fn plan(&self) -> (usize, usize, bool) {
        let f = knob("F", 0.8);
        let good: Vec<usize> = (0..SLOTS)
            .filter(|&i| self.surplus[i] >= f * self.charge_w)
            .collect();
        if let (Some(&first), Some(&last)) = (good.first(), good.last()) {
            let earliest = first.max(last.saturating_sub(knob("LEAD", 14.0) as usize));
            (earliest, last, true)
        } else {
            let peak = (0..SLOTS)
                .max_by(|a, b| self.surplus[*a].total_cmp(&self.surplus[*b]))
                .filter(|p| self.surplus[*p] > 50.0)
                .unwrap_or(54);
            (peak.saturating_sub(2), peak + knob("PL", 4.0) as usize, false)
        }
    }

    fn start(&mut self, kind: Charge, reason: String) -> Decision {
        self.current = Some(kind);
        if kind == Charge::Main {
            self.main_done = true;
        }
        self.reason = reason;
        Decision::Start {
            target_c: self.params.solar_target_c,
        }
    }

    /// Heat needed until the next main charge is done, with a reserve, kWh.
    fn need_until_main(&self, slot: usize) -> f64 {
        let (earliest, _, _) = self.plan();
        let until = if !self.main_done && earliest >= slot {
            earliest - slot
        } else {
            SLOTS - slot + earliest
        } + knob("DUR", 6.0) as usize;
        self.observer.expected(slot, until) * knob("SAFE", 1.5) + knob("RES", 1.0)
    }
}

impl Controller for Smart {
    fn decide(&mut self, obs: &Observation) -> Decision {
        let slot = Self::slot(obs.local);
        if let Some((at, target, stopped)) = self.last {
            let hours = ((obs.local - at).num_seconds() as f64 / 3600.0).clamp(0.0, 1.0);
            let heat = obs.dhw_w / 1000.0 * hours * cop_estimate(target.unwrap_or(55.0), obs.outdoor_c);
            let finished = target.is_some() && obs.charging.is_none() && !stopped;
            self.observer
                .update(Self::slot(at), hours, heat, target, finished, obs.tank_c);
            let prev = Self::slot(at);
            let a = knob("A", 0.2);
            self.surplus[prev] = (1.0 - a) * self.surplus[prev] + a * obs.surplus_w();
        }
        let decision = self.decide_inner(obs, slot);
        let charging = match decision {
            Decision::Start { target_c } => Some(target_c),
            Decision::Stop => None,
            Decision::Keep => obs.charging,
        };
        self.last = Some((obs.local, charging, decision == Decision::Stop));
        decision
    }

    fn reason(&self) -> String {
        self.reason.clone()
    }
}

impl Smart {
    fn decide_inner(&mut self, obs: &Observation, slot: usize) -> Decision {
        let today = obs.local.date();
        if self.day != Some(today) {
            self.day = Some(today);
            self.main_done = false;
        }
        if obs.charging.is_some() && obs.dhw_w > 100.0 {
            self.charge_w = 0.9 * self.charge_w + 0.1 * obs.dhw_w;
        }
        if obs.charging.is_none() {
            self.current = None;
        }
        let surplus = obs.surplus_w();
        let usable = self.observer.usable_kwh();
        match self.current {
            Some(Charge::Bridge) => {
                let need = self.need_until_main(slot) + knob("MARGIN", 1.0);
                if usable >= need {
                    self.current = None;
                    self.reason = format!("bridged: {usable:.1} kWh for {need:.1} kWh");
                    return Decision::Stop;
                }
                return Decision::Keep;
            }
            Some(Charge::Main) => return Decision::Keep,
            None => {}
        }
        if !self.main_done {
            let (earliest, last, sunny) = self.plan();
            let enough = if sunny {
                knob("F2", 0.8) * self.charge_w
            } else {
                (knob("P", 0.7) * self.surplus[(earliest + 2) % SLOTS]).max(100.0)
            };
            if slot >= earliest && surplus >= enough {
                return self.start(Charge::Main, format!("surplus {surplus:.0} W"));
            }
            if slot >= last {
                return self.start(Charge::Main, "end of the sunny hours".into());
            }
        }
        let need = self.need_until_main(slot);
        if usable < need {
            return self.start(
                Charge::Bridge,
                format!("comfort: {usable:.1} kWh left, {need:.1} kWh needed"),
            );
        }
        Decision::Keep
    }
}
