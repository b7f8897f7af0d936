//! Why the hot-water strategy wants what it wants, as data: the daemon and the backtest
//! write it in English (logs, MQTT, traces); the dashboard says it in the resident's
//! language from the same fields (`web::pages::words::why`, which must name every case).

use serde::Serialize;

/// What is missing when the strategy hands the heat pump back to its own settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Missing {
    TankTemperature,
    GridReading,
}

/// Why the strategy decided what it did last.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Default)]
#[serde(tag = "why", rename_all = "snake_case")]
pub enum Why {
    /// Nothing decided yet.
    #[default]
    Nothing,
    /// The tank sensor is below the use minimum (where the plain thermostat starts).
    Cold { tank_c: f64, floor_c: f64 },
    /// A draw is under way and the tank holds less than a large draw.
    Drawing { usable_kwh: f64, burst_kwh: f64 },
    /// More comfort (asked for): the usual draws are due within the hour and the tank
    /// holds less than a large draw.
    BeforeDraws { usable_kwh: f64, burst_kwh: f64 },
    /// The usual draws take the tank below its reserve before the next step.
    Reserve { usable_kwh: f64, reserve_kwh: f64 },
    /// Late in the sunny hours: filled for the evening.
    SunForEvening {
        target_c: f64,
        surplus_w: f64,
        room_kwh: f64,
    },
    /// The best sun before the tank would run low.
    BestSun { target_c: f64, surplus_w: f64 },
    /// The weekly legionella run, with the sun or as its window closes.
    Legionella { target_c: f64, with_sun: bool },
    /// A grid charge stopped: the tank lasts until the sun is back.
    Lasts { usable_kwh: f64, need_kwh: f64 },
    /// The planner: heating now costs least over the day and a half ahead.
    Planned { target_c: f64, surplus_w: f64 },
    /// The planner: the tank holds enough until cheaper heat comes.
    PlanHolds { usable_kwh: f64 },
    /// "Boost now" was pressed.
    BoostNow { target_c: f64 },
    /// Mode off.
    Off,
    /// Boost mode.
    BoostMode { target_c: f64 },
    /// Smart mode with nothing to do: the heat pump keeps the comfort temperature.
    Waiting { comfort_c: f64 },
    /// No fresh data to plan with: the heat pump's own settings.
    HandedBack { missing: Missing },
}

impl std::fmt::Display for Why {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            Why::Nothing => Ok(()),
            Why::Cold { tank_c, floor_c } => {
                write!(
                    f,
                    "comfort: the tank is at {tank_c:.1} °C, below {floor_c:.0} °C"
                )
            }
            Why::Drawing {
                usable_kwh,
                burst_kwh,
            } => write!(
                f,
                "comfort: hot water is being drawn and {usable_kwh:.1} kWh is left, less than a large draw ({burst_kwh:.1} kWh)"
            ),
            Why::BeforeDraws {
                usable_kwh,
                burst_kwh,
            } => write!(
                f,
                "more comfort: the usual draws are due within the hour and {usable_kwh:.1} kWh is left, less than a large draw ({burst_kwh:.1} kWh)"
            ),
            Why::Reserve {
                usable_kwh,
                reserve_kwh,
            } => write!(
                f,
                "comfort: {usable_kwh:.1} kWh of hot water left, the usual draws take it below the {reserve_kwh:.1} kWh reserve"
            ),
            Why::SunForEvening {
                target_c,
                surplus_w,
                room_kwh,
            } => write!(
                f,
                "sun charge to {target_c:.0} °C for the evening: {surplus_w:.0} W surplus, room for {room_kwh:.1} kWh"
            ),
            Why::BestSun {
                target_c,
                surplus_w,
            } => write!(
                f,
                "charge to {target_c:.0} °C with the best sun before the tank runs low: {surplus_w:.0} W surplus"
            ),
            Why::Legionella { target_c, with_sun } => write!(
                f,
                "legionella run to {target_c:.0} °C: {}",
                if with_sun {
                    "with the sun"
                } else {
                    "the window closes without sun"
                }
            ),
            Why::Lasts {
                usable_kwh,
                need_kwh,
            } => write!(
                f,
                "stopped: {usable_kwh:.1} kWh of hot water lasts until the sun is expected back ({need_kwh:.1} kWh)"
            ),
            Why::Planned {
                target_c,
                surplus_w,
            } => write!(
                f,
                "plan: charging to {target_c:.0} °C now costs least over the day and a half ahead ({surplus_w:.0} W surplus)"
            ),
            Why::PlanHolds { usable_kwh } => write!(
                f,
                "plan: stopped, {usable_kwh:.1} kWh of hot water holds until cheaper heat comes"
            ),
            Why::BoostNow { target_c } => write!(f, "boost now: one charge to {target_c:.0} °C"),
            Why::Off => f.write_str("mode off: the heat pump follows its own settings"),
            Why::BoostMode { target_c } => {
                write!(f, "boost mode: keep the tank at {target_c:.0} °C")
            }
            Why::Waiting { comfort_c } => {
                write!(
                    f,
                    "waiting: the heat pump keeps the tank above {comfort_c:.0} °C"
                )
            }
            Why::HandedBack { missing } => write!(
                f,
                "handed back to the heat pump's own settings: no current {}",
                match missing {
                    Missing::TankTemperature => "tank temperature",
                    Missing::GridReading => "grid reading",
                }
            ),
        }
    }
}
