//! What a hot-water controller sees and what it may decide. The same controllers
//! run in the daemon (fed from the snapshot) and in the backtest (fed from a year
//! file through the tank model); both only ever see the past.

use chrono::{DateTime, NaiveDateTime, Utc};

/// What a controller knows at the start of a step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Observation {
    /// The instant, for schedules that must not trip over the clock change.
    pub at: DateTime<Utc>,
    /// Local wall-clock time (Europe/Amsterdam).
    pub local: NaiveDateTime,
    /// The tank's temperature sensor, °C.
    pub tank_c: f64,
    pub outdoor_c: f64,
    /// Net grid power over the last step, W: + import, − export.
    pub grid_w: f64,
    /// PV power over the last step, W.
    pub pv_w: f64,
    /// Electric power the heat pump spent on hot water over the last step, W.
    pub dhw_w: f64,
    /// The charge under way and its target, °C.
    pub charging: Option<f64>,
}

impl Observation {
    /// PV surplus the last step left after every load but the hot-water charge, W.
    pub fn surplus_w(&self) -> f64 {
        (self.dhw_w - self.grid_w).max(0.0)
    }
}

/// A PV forecast as it was issued: the expected PV power of each quarter hour from
/// `start` on. A controller gets it at `issued` and not before (in the backtest, a
/// day-ahead forecast issued at 18:00 the day before; in the daemon, whenever one
/// arrives).
#[derive(Debug, Clone, PartialEq)]
pub struct SunForecast {
    pub issued: DateTime<Utc>,
    /// The start of the first quarter hour.
    pub start: DateTime<Utc>,
    /// PV power per quarter hour, W.
    pub pv_w: Vec<f64>,
}

/// The resident's prices as they were known: for each quarter hour from `start` on,
/// what a kWh from the grid costs and what a kWh fed in earns (less feed-in costs),
/// all in, €. A controller gets them at `issued` and not before (day-ahead prices are
/// published at 13:00 the day before).
#[derive(Debug, Clone, PartialEq)]
pub struct PriceForecast {
    pub issued: DateTime<Utc>,
    /// The start of the first quarter hour.
    pub start: DateTime<Utc>,
    pub import_eur_kwh: Vec<f64>,
    pub export_eur_kwh: Vec<f64>,
}

/// What the controller wants from the heat pump.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Decision {
    /// Leave things as they are (a running charge runs on to its target).
    Keep,
    /// Charge the tank to this temperature, °C.
    Start { target_c: f64 },
    /// End the charge under way.
    Stop,
}

/// A hot-water controller: decides once per step from what it has seen so far.
pub trait Controller {
    fn decide(&mut self, obs: &Observation) -> Decision;

    /// One line on why it decided what it did last, for "why is the boiler on?".
    fn reason(&self) -> String;

    /// A new sun forecast; a controller that plans without one ignores it.
    fn forecast(&mut self, _forecast: &SunForecast) {}

    /// New prices; a controller that plans without them ignores them.
    fn prices(&mut self, _prices: &PriceForecast) {}
}
