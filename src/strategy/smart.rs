//! The smart hot-water strategy (docs/strategy.md): one main charge a day in the
//! usual sunny hours, placed late enough that the tank is full going into the
//! evening, and bridge charges only when the hot water the tank probably holds will
//! not last until the next main charge.
//!
//! It learns two things from the dwelling's own history: the PV surplus per quarter
//! hour of the day (from the grid meter and its own consumption) and the household's
//! draw pattern (from the tank sensor, through [`Observer`]).

use chrono::{NaiveDate, NaiveDateTime, Timelike};

use super::controller::{Controller, Decision, Observation};
use super::heat_pump::HeatPumpParams;
use super::observer::{Observer, SLOTS};
use super::tank::TankParams;

/// A slot is "sunny" when its usual surplus carries this share of a charge.
const SUNNY_SHARE: f64 = 0.8;
/// The main charge starts at most this many slots before the usual sunny hours end.
const MAIN_LEAD_SLOTS: usize = 14;
/// Without sunny hours: start near the usual peak when the surplus reaches this share of it.
const PEAK_SHARE: f64 = 0.7;
/// Without sunny hours: the latest start, in slots after the usual peak.
const PEAK_LATEST_SLOTS: usize = 4;
/// How long a main charge usually takes, slots.
const MAIN_SLOTS: usize = 6;
/// Draws expected before the next main charge are multiplied by this …
const DRAW_SAFETY: f64 = 1.5;
/// … and this reserve is kept for the thermocline, kWh.
const RESERVE_KWH: f64 = 1.0;
/// A bridge runs until the tank holds this much more than needed, kWh.
const BRIDGE_MARGIN_KWH: f64 = 1.0;
/// No bridge for less than this much room in the tank, kWh (no short cycling).
const MIN_ROOM_KWH: f64 = 2.0;
/// With this share of a charge in surplus, the main charge goes to the heat pump's
/// maximum: heat the sun pays for that saves a grid bridge next morning.
const BOOST_SHARE: f64 = 1.5;
/// How fast the surplus profile follows the seasons (per day).
const SURPLUS_LEARN: f64 = 0.2;

#[derive(Debug, Clone)]
pub struct SmartParams {
    /// Charge target, °C.
    pub solar_target_c: f64,
    pub tank: TankParams,
    /// What turns the heat pump's electric power into heat in the estimate: a
    /// typical air/water heat pump unless the dwelling's is known.
    pub heat_pump: HeatPumpParams,
}

impl Default for SmartParams {
    fn default() -> Self {
        Self {
            solar_target_c: 55.0,
            tank: TankParams::default(),
            heat_pump: HeatPumpParams::default(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Charge {
    Main,
    Bridge,
}

/// The last step as the strategy left it: when, the charge target, whether it stopped it.
#[derive(Debug, Clone, Copy)]
struct Last {
    at: NaiveDateTime,
    target: Option<f64>,
    stopped: bool,
}

#[derive(Debug, Clone)]
pub struct Smart {
    pub params: SmartParams,
    observer: Observer,
    day: Option<NaiveDate>,
    main_done: bool,
    current: Option<Charge>,
    last: Option<Last>,
    /// Surplus per slot, averaged over recent days, W.
    surplus: [f64; SLOTS],
    /// Heat pump electric power while charging, W (learned).
    charge_w: f64,
    reason: String,
}

fn slot_of(t: NaiveDateTime) -> usize {
    let t = t.time();
    ((t.hour() * 60 + t.minute()) / 15) as usize % SLOTS
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

    /// Where today's main charge goes: (earliest slot, latest slot, sunny).
    fn plan(&self) -> (usize, usize, bool) {
        let sunny = |i: &usize| self.surplus[*i] >= SUNNY_SHARE * self.charge_w;
        if let (Some(first), Some(last)) = ((0..SLOTS).find(sunny), (0..SLOTS).rfind(sunny)) {
            (first.max(last.saturating_sub(MAIN_LEAD_SLOTS)), last, true)
        } else {
            let peak = (0..SLOTS)
                .max_by(|a, b| self.surplus[*a].total_cmp(&self.surplus[*b]))
                .filter(|p| self.surplus[*p] > 50.0)
                .unwrap_or(54); // 13:30, the warm part of a dull day
            (peak.saturating_sub(2), peak + PEAK_LATEST_SLOTS, false)
        }
    }

    /// Heat needed until the next main charge is done, with safety and reserve, kWh.
    fn need_until_main(&self, slot: usize) -> f64 {
        let (earliest, _, _) = self.plan();
        let until = if !self.main_done && earliest >= slot {
            earliest - slot
        } else {
            SLOTS - slot + earliest
        } + MAIN_SLOTS;
        self.observer.expected(slot, until) * DRAW_SAFETY + RESERVE_KWH
    }

    fn start(&mut self, kind: Charge, target_c: f64, reason: String) -> Decision {
        self.current = Some(kind);
        self.main_done |= kind == Charge::Main;
        self.reason = reason;
        Decision::Start { target_c }
    }

    /// Folds the last step into what the strategy has learned.
    fn learn(&mut self, obs: &Observation) {
        let Some(last) = self.last else { return };
        let hours = ((obs.local - last.at).num_seconds() as f64 / 3600.0).clamp(0.0, 1.0);
        // Charges to 55 °C or less run the condenser in normal mode (MODEL.md §3).
        let normal_c = self.params.tank.t_set_c;
        let cop = self
            .params
            .heat_pump
            .dhw_cop(last.target.unwrap_or(normal_c).max(normal_c), obs.outdoor_c);
        let heat = obs.dhw_w / 1000.0 * hours * cop;
        let finished = last.target.is_some() && obs.charging.is_none() && !last.stopped;
        let slot = slot_of(last.at);
        self.observer
            .update(slot, hours, heat, last.target, finished, obs.tank_c);
        self.surplus[slot] =
            (1.0 - SURPLUS_LEARN) * self.surplus[slot] + SURPLUS_LEARN * obs.surplus_w();
        if obs.charging.is_some() && obs.dhw_w > 100.0 {
            self.charge_w = 0.9 * self.charge_w + 0.1 * obs.dhw_w;
        }
    }

    fn choose(&mut self, obs: &Observation) -> Decision {
        let slot = slot_of(obs.local);
        if self.day != Some(obs.local.date()) {
            // Started after today's usual sunny hours (nomhub restarted in the
            // evening): today's main charge is not made up from the grid.
            self.main_done = self.day.is_none() && slot > self.plan().1;
            self.day = Some(obs.local.date());
        }
        if obs.charging.is_none() {
            self.current = None;
        }
        let usable = self.observer.usable_kwh();
        match self.current {
            Some(Charge::Bridge) => {
                let need = self.need_until_main(slot) + BRIDGE_MARGIN_KWH;
                if usable >= need {
                    self.current = None;
                    self.reason = format!("bridged: {usable:.1} kWh for the {need:.1} kWh needed");
                    return Decision::Stop;
                }
                return Decision::Keep;
            }
            Some(Charge::Main) => return Decision::Keep,
            None => {}
        }
        let surplus = obs.surplus_w();
        if !self.main_done {
            let (earliest, latest, sunny) = self.plan();
            let enough = if sunny {
                SUNNY_SHARE * self.charge_w
            } else {
                (PEAK_SHARE * self.surplus[(earliest + 2) % SLOTS]).max(100.0)
            };
            if slot >= earliest && surplus >= enough {
                let target = if sunny && surplus >= BOOST_SHARE * self.charge_w {
                    self.params.tank.t_max_hp_c
                } else {
                    self.params.solar_target_c
                };
                return self.start(
                    Charge::Main,
                    target,
                    format!("main charge to {target:.0} °C: {surplus:.0} W surplus in the usual sunny hours"),
                );
            }
            if slot >= latest {
                return self.start(
                    Charge::Main,
                    self.params.solar_target_c,
                    "main charge: the sun did not come, last moment of the usual sunny hours"
                        .into(),
                );
            }
        }
        let need = self.need_until_main(slot);
        let room = self.params.tank.full_charge_kwh(self.params.solar_target_c) - usable;
        if usable < need && room > MIN_ROOM_KWH {
            return self.start(
                Charge::Bridge,
                self.params.solar_target_c,
                format!("comfort: {usable:.1} kWh of hot water left, {need:.1} kWh needed before the next main charge"),
            );
        }
        Decision::Keep
    }
}

impl Controller for Smart {
    fn decide(&mut self, obs: &Observation) -> Decision {
        self.learn(obs);
        let decision = self.choose(obs);
        self.last = Some(Last {
            at: obs.local,
            target: match decision {
                Decision::Start { target_c } => Some(target_c),
                Decision::Stop => None,
                Decision::Keep => obs.charging,
            },
            stopped: decision == Decision::Stop,
        });
        decision
    }

    fn reason(&self) -> String {
        self.reason.clone()
    }
}
