//! The contract's comfort promises day by day (seed `001_…`: rooms warm enough all
//! year, enough hot water): how warm the room was and how long the tank was too cold
//! for a shower, from the readings the ledger sees, kept per local day in the store;
//! and the settlement year summed up for the guarantees block and Home Assistant.

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::period::local_date;

/// The NOM Keur's minimum for living rooms and the bathroom, °C (the agreed room
/// temperature when the contract names none).
pub const NOM_ROOM_TEMPERATURE: f64 = 20.0;
/// A room this far below the agreed temperature is below it (a sensor's tolerance).
pub const ROOM_TOLERANCE_K: f64 = 0.5;
/// A day counts as too cold once the room was below the agreed temperature this long.
pub const ROOM_BELOW_MINUTES: u32 = 60;
/// Below this at the tank's sensor a 38 °C shower (NOM Keur: 6 l/min for 30 minutes a
/// day per 2.4 persons, seed `002_…`) is no longer sure.
pub const HOT_WATER_FLOOR_C: f64 = 40.0;
/// A day counts as short of hot water once the tank was below the floor this long.
pub const SHORT_MINUTES: u32 = 5;
/// A reading is held at most this long: over a longer gap (nomhub down, the sensor
/// silent) nothing is counted, neither warm nor cold.
const HOLD_SECONDS: i64 = 300;

/// One local day's comfort, as measured.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DayComfort {
    pub date: NaiveDate,
    /// The lowest room temperature read; `None` without a room sensor.
    pub room_min_c: Option<f64>,
    /// °C × seconds, for the day's mean.
    pub room_c_seconds: f64,
    /// Seconds with a room reading.
    pub room_seconds: f64,
    /// Seconds the room was below the agreed temperature (less the tolerance).
    pub room_below_seconds: f64,
    /// Seconds with a tank reading.
    pub tank_seconds: f64,
    /// Seconds the tank was below [`HOT_WATER_FLOOR_C`].
    pub tank_cold_seconds: f64,
}

impl DayComfort {
    pub fn new(date: NaiveDate) -> Self {
        Self {
            date,
            ..Self::default()
        }
    }

    pub fn room_mean_c(&self) -> Option<f64> {
        (self.room_seconds > 0.0).then(|| self.room_c_seconds / self.room_seconds)
    }

    /// The room was below the agreed temperature for [`ROOM_BELOW_MINUTES`] or more.
    pub fn room_below(&self) -> bool {
        self.room_below_seconds >= f64::from(ROOM_BELOW_MINUTES * 60)
    }

    /// The tank was too cold for a shower for [`SHORT_MINUTES`] or more.
    pub fn hot_water_short(&self) -> bool {
        self.tank_cold_seconds >= f64::from(SHORT_MINUTES * 60)
    }

    pub fn cold_minutes(&self) -> u32 {
        (self.tank_cold_seconds / 60.0) as u32
    }
}

/// Collects the running day from readings as they come: each reading holds until the
/// next (at most [`HOLD_SECONDS`]).
#[derive(Debug, Clone)]
pub struct Comfort {
    agreed_c: f64,
    day: Option<DayComfort>,
    last: Option<(DateTime<Utc>, Option<f64>, Option<f64>)>,
}

impl Comfort {
    /// Continues `today` (as stored before a restart), if given.
    pub fn new(agreed_c: f64, today: Option<DayComfort>) -> Self {
        Self {
            agreed_c,
            day: today,
            last: None,
        }
    }

    /// The running day so far.
    pub fn today(&self) -> Option<&DayComfort> {
        self.day.as_ref()
    }

    /// Takes the room and tank temperatures read at `now`; returns the day before when
    /// `now` is the first reading of a new day (to be stored as it is).
    pub fn observe(
        &mut self,
        now: DateTime<Utc>,
        room_c: Option<f64>,
        tank_c: Option<f64>,
    ) -> Option<DayComfort> {
        let date = local_date(now);
        if let Some((at, room, tank)) = self.last {
            let held = (now - at).num_milliseconds().clamp(0, HOLD_SECONDS * 1000) as f64 / 1000.0;
            let floor = self.agreed_c - ROOM_TOLERANCE_K;
            let d = self.day_of(local_date(at));
            if let Some(r) = room {
                d.room_min_c = Some(d.room_min_c.map_or(r, |m| m.min(r)));
                d.room_c_seconds += r * held;
                d.room_seconds += held;
                if r < floor {
                    d.room_below_seconds += held;
                }
            }
            if let Some(t) = tank {
                d.tank_seconds += held;
                if t < HOT_WATER_FLOOR_C {
                    d.tank_cold_seconds += held;
                }
            }
        }
        self.last = Some((now, room_c, tank_c));
        let done = self.day.take_if(|d| d.date != date);
        self.day_of(date);
        done
    }

    fn day_of(&mut self, date: NaiveDate) -> &mut DayComfort {
        self.day.get_or_insert_with(|| DayComfort::new(date))
    }
}

/// The heating season: October to April.
pub fn heating_season(date: NaiveDate) -> bool {
    !(5..=9).contains(&date.month())
}

/// A span of days summed up: on how many of them the rooms fell below the agreed
/// temperature (heating season only) and the hot water ran short.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ComfortSummary {
    pub from: Option<NaiveDate>,
    /// Days of the heating season with a room reading, and of them those too cold.
    pub room_days: u32,
    pub room_below_days: u32,
    /// The lowest room temperature of those days.
    pub room_min_c: Option<f64>,
    /// Days with a tank reading, and of them those short of hot water.
    pub hot_water_days: u32,
    pub hot_water_short_days: u32,
    pub cold_minutes: u32,
}

impl ComfortSummary {
    pub fn of<'a>(days: impl IntoIterator<Item = &'a DayComfort>) -> Self {
        let mut s = Self::default();
        for d in days {
            s.from = Some(s.from.map_or(d.date, |f| f.min(d.date)));
            if d.room_seconds > 0.0 && heating_season(d.date) {
                s.room_days += 1;
                s.room_below_days += u32::from(d.room_below());
                if let Some(m) = d.room_min_c {
                    s.room_min_c = Some(s.room_min_c.map_or(m, |x: f64| x.min(m)));
                }
            }
            if d.tank_seconds > 0.0 {
                s.hot_water_days += 1;
                s.hot_water_short_days += u32::from(d.hot_water_short());
                s.cold_minutes += d.cold_minutes();
            }
        }
        s
    }
}

/// A settlement year's PV against the contract's minimum, kept once the year is over.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PvVerdict {
    pub start: NaiveDate,
    pub end: NaiveDate,
    pub generated_kwh: f64,
    /// The minimum for the days measured (all of the year, unless nomhub began in it).
    pub guaranteed_kwh: f64,
    pub met: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::period::local_midnight;
    use chrono::TimeDelta;

    fn day(d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 12, d).unwrap_or_default()
    }

    #[test]
    fn a_day_is_counted_from_readings_held_until_the_next() {
        let mut c = Comfort::new(20.0, None);
        let start = local_midnight(day(7));
        // 19.0 °C for two hours (a minute apart), then 21.0 °C; the tank at 38 °C for
        // ten minutes, then 50 °C.
        for m in 0..=180 {
            let at = start + TimeDelta::minutes(m);
            let room = if m < 120 { 19.0 } else { 21.0 };
            let tank = if m < 10 { 38.0 } else { 50.0 };
            assert_eq!(c.observe(at, Some(room), Some(tank)), None);
        }
        let d = c.today().cloned().unwrap_or_default();
        assert_eq!(d.date, day(7));
        assert_eq!((d.room_seconds, d.room_below_seconds), (10_800.0, 7_200.0));
        assert_eq!(d.room_min_c, Some(19.0));
        assert!((d.room_mean_c().unwrap_or(0.0) - (19.0 * 2.0 + 21.0) / 3.0).abs() < 1e-9);
        assert!(d.room_below() && d.hot_water_short());
        assert_eq!(d.cold_minutes(), 10);
        // Half an hour silent: five minutes of it are held, the rest is not counted.
        let later = start + TimeDelta::minutes(210);
        c.observe(later, Some(21.0), Some(50.0));
        assert_eq!(c.today().map(|d| d.room_seconds), Some(11_100.0));
        // Midnight: the day is handed over whole, and the next begins.
        let next = local_midnight(day(8)) + TimeDelta::seconds(30);
        let done = c.observe(next, None, Some(50.0));
        assert_eq!(done.map(|d| d.date), Some(day(7)));
        assert_eq!(c.today().map(|d| d.date), Some(day(8)));
    }

    #[test]
    fn the_summary_counts_room_days_in_the_heating_season_only() {
        let cold = |date| DayComfort {
            date,
            room_min_c: Some(18.0),
            room_c_seconds: 18.0 * 86_400.0,
            room_seconds: 86_400.0,
            room_below_seconds: 86_400.0,
            tank_seconds: 86_400.0,
            tank_cold_seconds: 600.0,
        };
        let july = cold(NaiveDate::from_ymd_opt(2026, 7, 1).unwrap_or_default());
        let s = ComfortSummary::of(&[july, cold(day(1)), DayComfort::new(day(2))]);
        assert_eq!((s.room_days, s.room_below_days), (1, 1));
        assert_eq!((s.hot_water_days, s.hot_water_short_days), (2, 2));
        assert_eq!(s.cold_minutes, 20);
        assert_eq!(s.from, NaiveDate::from_ymd_opt(2026, 7, 1));
    }
}
