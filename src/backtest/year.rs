//! A year file (`shared/data/` format): 15-minute rows of weather, PV, household
//! loads and hot-water draws, and the sidecar JSON with the tank and heat pump.

use std::path::{Path, PathBuf};

use chrono::{DateTime, FixedOffset};
use serde::Deserialize;

use crate::strategy::heat_pump::HeatPumpParams;
use crate::strategy::tank::TankParams;

/// One 15-minute step.
#[derive(Debug, Clone)]
pub struct Row {
    /// Start of the step, local time with its offset (Europe/Amsterdam).
    pub local: DateTime<FixedOffset>,
    pub outdoor_c: f64,
    pub pv_w: f64,
    pub household_w: f64,
    pub ventilation_w: f64,
    pub space_heating_w_th: f64,
    pub dhw_draw_w_th: f64,
    /// The day-ahead PV forecast for this step, W, as issued at 18:00 local the day
    /// before the step's local day (None: the file has no forecast).
    pub pv_forecast_w: Option<f64>,
    /// The day-ahead price of the step, €/kWh excluding VAT, published at 13:00 the
    /// day before (None: the file has no prices).
    pub price_eur_kwh: Option<f64>,
}

#[derive(Debug, Deserialize)]
struct CsvRow {
    ts_local: String,
    outdoor_temp_c: f64,
    pv_w: f64,
    household_w: f64,
    ventilation_w: f64,
    space_heating_demand_w_th: f64,
    dhw_draw_w_th: f64,
    #[serde(default)]
    pv_forecast_w: Option<f64>,
    #[serde(default)]
    price_eur_kwh: Option<f64>,
}

/// The sidecar JSON: only what the simulation needs; the rest is ignored.
#[derive(Debug, Clone, Deserialize, Default)]
pub struct Dwelling {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub tank: TankParams,
    #[serde(default)]
    pub heat_pump: HeatPumpParams,
}

#[derive(Debug, thiserror::Error)]
pub enum YearError {
    #[error("{path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}:{line}: {message}")]
    Row {
        path: PathBuf,
        line: u64,
        message: String,
    },
    #[error("{path}: {message}")]
    Dwelling { path: PathBuf, message: String },
    #[error("{path}: no rows")]
    Empty { path: PathBuf },
}

/// The sidecar's default place: the CSV's name with `.json`.
pub fn sidecar_of(csv: &Path) -> PathBuf {
    csv.with_extension("json")
}

pub fn load_dwelling(path: &Path) -> Result<Dwelling, YearError> {
    let text = std::fs::read_to_string(path).map_err(|source| YearError::Read {
        path: path.to_owned(),
        source,
    })?;
    let d: Dwelling = serde_json::from_str(&text).map_err(|e| YearError::Dwelling {
        path: path.to_owned(),
        message: e.to_string(),
    })?;
    d.tank.check().map_err(|message| YearError::Dwelling {
        path: path.to_owned(),
        message,
    })?;
    Ok(d)
}

pub fn load_rows(path: &Path) -> Result<Vec<Row>, YearError> {
    let file = std::fs::File::open(path).map_err(|source| YearError::Read {
        path: path.to_owned(),
        source,
    })?;
    let mut reader = csv::Reader::from_reader(std::io::BufReader::new(file));
    let mut rows = Vec::with_capacity(35_040);
    for rec in reader.deserialize::<CsvRow>() {
        let err = |line: Option<u64>, message: String| YearError::Row {
            path: path.to_owned(),
            line: line.unwrap_or(0),
            message,
        };
        let r = rec.map_err(|e| err(e.position().map(|p| p.line()), e.to_string()))?;
        let line = Some(rows.len() as u64 + 2);
        let local = DateTime::parse_from_rfc3339(&r.ts_local)
            .map_err(|e| err(line, format!("ts_local `{}`: {e}", r.ts_local)))?;
        for (name, v) in [
            ("outdoor_temp_c", r.outdoor_temp_c),
            ("pv_w", r.pv_w),
            ("household_w", r.household_w),
            ("ventilation_w", r.ventilation_w),
            ("space_heating_demand_w_th", r.space_heating_demand_w_th),
            ("dhw_draw_w_th", r.dhw_draw_w_th),
        ] {
            if !v.is_finite() || (name != "outdoor_temp_c" && v < 0.0) {
                return Err(err(line, format!("{name} = {v} is not a valid value")));
            }
        }
        if let Some(v) = r.pv_forecast_w.filter(|v| !v.is_finite() || *v < 0.0) {
            return Err(err(
                line,
                format!("pv_forecast_w = {v} is not a valid value"),
            ));
        }
        if let Some(v) = r.price_eur_kwh.filter(|v| {
            !v.is_finite() || !(crate::prices::MIN_EUR_KWH..=crate::prices::MAX_EUR_KWH).contains(v)
        }) {
            return Err(err(
                line,
                format!("price_eur_kwh = {v} is outside the day-ahead market's limits (€/kWh)"),
            ));
        }
        rows.push(Row {
            local,
            outdoor_c: r.outdoor_temp_c,
            pv_w: r.pv_w,
            household_w: r.household_w,
            ventilation_w: r.ventilation_w,
            space_heating_w_th: r.space_heating_demand_w_th,
            dhw_draw_w_th: r.dhw_draw_w_th,
            pv_forecast_w: r.pv_forecast_w,
            price_eur_kwh: r.price_eur_kwh,
        });
    }
    if rows.is_empty() {
        return Err(YearError::Empty {
            path: path.to_owned(),
        });
    }
    Ok(rows)
}

/// A dwelling made from another by one or more changes, so a strategy can be tried
/// on households and roofs it was not tuned on (`nomhub simulate --tank-litres …`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Variant {
    /// Another tank volume, litres; its standby loss scales with its surface
    /// (volume^2/3), the same shape of tank.
    pub tank_litres: Option<f64>,
    /// Every hot-water draw times this (a larger or smaller household).
    pub draw_scale: f64,
    /// Every hot-water draw this many hours later (earlier when negative): a household
    /// with other habits, under the same sun.
    pub draw_shift_h: i32,
    /// PV output and its forecast times this (a larger or smaller roof).
    pub pv_scale: f64,
    /// Each day's sun (PV and its forecast) given to another day of the same month,
    /// shuffled with this seed: another run of dull and bright days in the same
    /// climate, as another year would bring.
    pub sun_seed: Option<u64>,
}

impl Default for Variant {
    fn default() -> Self {
        Self {
            tank_litres: None,
            draw_scale: 1.0,
            draw_shift_h: 0,
            sun_seed: None,
            pv_scale: 1.0,
        }
    }
}

impl Variant {
    /// What differs from the file's dwelling, for the report ("150 l tank, draws × 1.5").
    pub fn describe(&self) -> Option<String> {
        let mut parts = Vec::new();
        if let Some(l) = self.tank_litres {
            parts.push(format!("{l} l tank"));
        }
        if self.draw_scale != 1.0 {
            parts.push(format!("draws × {}", self.draw_scale));
        }
        match self.draw_shift_h {
            0 => {}
            h if h > 0 => parts.push(format!("draws {h} h later")),
            h => parts.push(format!("draws {} h earlier", -h)),
        }
        if self.pv_scale != 1.0 {
            parts.push(format!("PV × {}", self.pv_scale));
        }
        if let Some(seed) = self.sun_seed {
            parts.push(format!("days' sun shuffled, seed {seed}"));
        }
        (!parts.is_empty()).then(|| parts.join(", "))
    }

    /// Checks the factors: a variant with a negative or absurd scale is refused.
    pub fn check(&self) -> Result<(), String> {
        if let Some(l) = self.tank_litres {
            tank_litres("--tank-litres", l)?;
        }
        if !(-23..=23).contains(&self.draw_shift_h) {
            return Err(format!(
                "--draw-shift {}: from -23 to 23 hours",
                self.draw_shift_h
            ));
        }
        for (flag, v) in [
            ("--draw-scale", self.draw_scale),
            ("--pv-scale", self.pv_scale),
        ] {
            if !(0.0..=10.0).contains(&v) {
                return Err(format!("{flag} {v}: a factor from 0 to 10"));
            }
        }
        Ok(())
    }

    pub fn apply(&self, dwelling: &mut Dwelling, rows: &mut [Row]) {
        if let Some(litres) = self.tank_litres {
            dwelling.tank = dwelling.tank.resized(litres);
        }
        // Quarter hours, whole hours at a time; what is pushed past one end of the year
        // comes back at the other.
        let shift = 4 * self.draw_shift_h.unsigned_abs() as usize % rows.len().max(1);
        if shift > 0 {
            let mut draws: Vec<f64> = rows.iter().map(|r| r.dhw_draw_w_th).collect();
            if self.draw_shift_h > 0 {
                draws.rotate_right(shift);
            } else {
                draws.rotate_left(shift);
            }
            for (r, d) in rows.iter_mut().zip(draws) {
                r.dhw_draw_w_th = d;
            }
        }
        if let Some(seed) = self.sun_seed {
            shuffle_sun(rows, seed);
        }
        for r in rows {
            r.dhw_draw_w_th *= self.draw_scale;
            r.pv_w *= self.pv_scale;
            r.pv_forecast_w = r.pv_forecast_w.map(|w| w * self.pv_scale);
        }
        if let Some(d) = self.describe() {
            let name = dwelling.name.as_deref().unwrap_or("dwelling");
            dwelling.name = Some(format!("{name} ({d})"));
        }
    }
}

/// Checks a tank volume given with `flag`.
pub fn tank_litres(flag: &str, litres: f64) -> Result<(), String> {
    if (20.0..=2000.0).contains(&litres) {
        Ok(())
    } else {
        Err(format!("{flag} {litres}: a tank of 20 to 2000 litres"))
    }
}

/// Gives each whole day's sun (96 quarter hours: the clock-change days stay) to another
/// day of the same month, in an order shuffled with `seed`.
fn shuffle_sun(rows: &mut [Row], seed: u64) {
    const DAY: usize = 96;
    let mut rng = fastrand::Rng::with_seed(seed);
    // The first row of each whole day, by month.
    let mut months: std::collections::BTreeMap<String, Vec<usize>> = Default::default();
    let mut i = 0;
    while i < rows.len() {
        let date = rows[i].local.date_naive();
        let n = rows[i..]
            .iter()
            .take_while(|r| r.local.date_naive() == date)
            .count();
        if n == DAY {
            months
                .entry(date.format("%Y-%m").to_string())
                .or_default()
                .push(i);
        }
        i += n;
    }
    let sun: Vec<(f64, Option<f64>)> = rows.iter().map(|r| (r.pv_w, r.pv_forecast_w)).collect();
    for days in months.values() {
        let mut from = days.clone();
        rng.shuffle(&mut from);
        for (to, from) in days.iter().zip(from) {
            for k in 0..DAY {
                (rows[to + k].pv_w, rows[to + k].pv_forecast_w) = sun[from + k];
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(draws: &[f64]) -> Vec<Row> {
        let start = DateTime::parse_from_rfc3339("2025-01-01T00:00:00+01:00")
            .unwrap_or_else(|e| panic!("{e}"));
        draws
            .iter()
            .enumerate()
            .map(|(i, d)| Row {
                local: start + chrono::Duration::minutes(15 * i as i64),
                outdoor_c: 5.0,
                pv_w: 100.0 * i as f64,
                household_w: 0.0,
                ventilation_w: 0.0,
                space_heating_w_th: 0.0,
                dhw_draw_w_th: *d,
                pv_forecast_w: None,
                price_eur_kwh: None,
            })
            .collect()
    }

    #[test]
    fn shuffled_sun_moves_whole_days_within_their_month_and_nothing_else() {
        // Two months of days, each day's sun its own (day n: n W all day); draws fixed.
        let start = DateTime::parse_from_rfc3339("2025-01-01T00:00:00+01:00")
            .unwrap_or_else(|e| panic!("{e}"));
        let mut r: Vec<Row> = rows(&vec![7.0; 96 * 59]);
        for (i, row) in r.iter_mut().enumerate() {
            row.local = start + chrono::Duration::minutes(15 * i as i64);
            row.pv_w = (i / 96) as f64;
            row.pv_forecast_w = Some((i / 96) as f64 + 0.5);
        }
        let v = Variant {
            sun_seed: Some(7),
            ..Variant::default()
        };
        v.apply(&mut Dwelling::default(), &mut r);
        let day_sun: Vec<f64> = r.chunks(96).map(|d| d[0].pv_w).collect();
        for (n, d) in r.chunks(96).enumerate() {
            // A whole day moved, with its own forecast.
            assert!(
                d.iter()
                    .all(|x| x.pv_w == d[0].pv_w && x.pv_forecast_w == Some(d[0].pv_w + 0.5))
            );
            // Within its month: January's 31 days stay in January.
            assert_eq!(
                n < 31,
                d[0].pv_w < 31.0,
                "day {n} got day {}'s sun",
                d[0].pv_w
            );
        }
        let mut sorted = day_sun.clone();
        sorted.sort_by(f64::total_cmp);
        assert_eq!(
            sorted,
            (0..59).map(f64::from).collect::<Vec<_>>(),
            "each day's sun once"
        );
        assert_ne!(day_sun, sorted, "the order changed");
        assert!(r.iter().all(|x| x.dhw_draw_w_th == 7.0));
        // The same seed, the same year.
        let mut again: Vec<Row> = rows(&vec![7.0; 96 * 59]);
        for (i, row) in again.iter_mut().enumerate() {
            row.local = start + chrono::Duration::minutes(15 * i as i64);
            row.pv_w = (i / 96) as f64;
        }
        v.apply(&mut Dwelling::default(), &mut again);
        assert!(again.iter().zip(&r).all(|(a, b)| a.pv_w == b.pv_w));
    }

    #[test]
    fn shifted_draws_come_later_or_earlier_and_wrap_at_the_years_ends() {
        // Ten hours of quarter hours with one draw, in the second hour.
        let mut draws = vec![0.0; 40];
        draws[4] = 3000.0;
        for (h, at) in [(3, 16), (-1, 0), (9, 40), (-2, 36)] {
            let mut r = rows(&draws);
            let mut d = Dwelling::default();
            let v = Variant {
                draw_shift_h: h,
                ..Variant::default()
            };
            v.apply(&mut d, &mut r);
            let drawn: Vec<usize> = (0..r.len()).filter(|i| r[*i].dhw_draw_w_th > 0.0).collect();
            assert_eq!(drawn, vec![at % 40], "shift {h} h");
            // Only the draws move: the sun stays where it was.
            assert_eq!(r[5].pv_w, 500.0);
        }
        assert!(
            Variant {
                draw_shift_h: -24,
                ..Variant::default()
            }
            .check()
            .is_err_and(|e| e.contains("--draw-shift -24"))
        );
    }
}
