//! The sun ahead, from a PV forecast when there is one: what the strategy takes from
//! a forecast (Forecast.Solar, Solcast, Open-Meteo, the backtest's day-ahead column)
//! and how far it has learned to trust it.
//!
//! Each forecast quarter hour's PV is corrected by what the dwelling's own PV made of
//! the forecast before, per hour of the day, and by how today has gone so far against
//! the forecast; what the household uses (learned per quarter hour, like the surplus
//! profile) is taken off. Without a forecast for a quarter hour the strategy keeps to
//! its learned surplus profile.

use chrono::{DateTime, Duration, TimeZone, Utc};

use super::controller::SunForecast;
use super::observer::{SLOTS, settling};
use crate::clock::TZ;

/// How fast the hourly trust in the forecast follows (per day).
const TRUST_LEARN: f64 = 0.1;
/// An hour's forecast below this (W, summed over its quarter hours) teaches nothing.
const TRUST_MIN_W: f64 = 400.0;
/// A day's measured PV against its forecast so far counts for the rest of the day
/// between these factors …
const TODAY_MIN: f64 = 0.5;
const TODAY_MAX: f64 = 1.5;
/// … once the forecast so far adds up to this much (W summed over quarter hours).
const TODAY_AFTER_W: f64 = 2000.0;
/// The forecast's accuracy is judged over this many recent days.
const ACCURACY_DAYS: usize = 14;
/// Forecast quarter hours older than this are dropped …
const KEEP_HOURS: i64 = 24;
/// … and a forecast never spans more than this many days.
const MAX_DAYS: i64 = 8;

fn quarter(t: DateTime<Utc>) -> i64 {
    t.timestamp() - t.timestamp().rem_euclid(900)
}

/// The start of the quarter hour `t` lies in.
pub fn quarter_start(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp(quarter(t), 0).unwrap_or(t)
}

/// Why a forecast message was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ForecastError {
    #[error(
        "not a forecast object: {0} (expected {{\"start\": \"2026-06-01T00:00:00+02:00\", \"period_minutes\": 15, \"watts\": [0, 120, …]}})"
    )]
    Json(String),
    #[error("`start` {0}: not a date and time with its offset (RFC 3339)")]
    Start(String),
    #[error("`issued` {0}: not a date and time with its offset (RFC 3339)")]
    Issued(String),
    #[error("`period_minutes` {0}: 15, 30 or 60")]
    Period(u32),
    #[error("`watts` has {0} values: 1 to {max} quarter hours' worth (8 days)", max = MAX_DAYS * 96)]
    Length(usize),
    #[error("`watts`[{index}] is {value}: a power from 0 to 1000000 W")]
    Value { index: usize, value: f64 },
    #[error("`start` {0} is more than two days from now")]
    Far(DateTime<Utc>),
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Message {
    start: String,
    #[serde(default)]
    issued: Option<String>,
    #[serde(default = "quarter_hour")]
    period_minutes: u32,
    watts: Vec<f64>,
}

fn quarter_hour() -> u32 {
    15
}

/// A checked forecast message, before it is set against the clock.
#[derive(Debug, Clone, PartialEq)]
pub struct ForecastMessage {
    /// When it was issued, if the message says.
    pub issued: Option<DateTime<Utc>>,
    pub start: DateTime<Utc>,
    /// PV power per quarter hour, W.
    pub pv_w: Vec<f64>,
}

impl ForecastMessage {
    /// The forecast as of `now` (issued now unless it says otherwise); refused when
    /// it starts more than two days from now.
    pub fn at(&self, now: DateTime<Utc>) -> Result<SunForecast, ForecastError> {
        if (self.start - now).num_hours().abs() > 48 {
            return Err(ForecastError::Far(self.start));
        }
        Ok(SunForecast {
            issued: self.issued.unwrap_or(now),
            start: self.start,
            pv_w: self.pv_w.clone(),
        })
    }
}

/// A forecast message (docs/home-assistant.md): `start` (RFC 3339), `period_minutes`
/// (15, 30 or 60; default 15), `watts` (one PV power per period), optionally `issued`.
/// Periods longer than a quarter hour count for each of theirs.
pub fn parse(payload: &[u8]) -> Result<ForecastMessage, ForecastError> {
    let m: Message =
        serde_json::from_slice(payload).map_err(|e| ForecastError::Json(e.to_string()))?;
    let time = |s: &str| DateTime::parse_from_rfc3339(s).map(|t| t.to_utc());
    let start = time(&m.start).map_err(|_| ForecastError::Start(m.start.clone()))?;
    let issued = match &m.issued {
        Some(s) => Some(time(s).map_err(|_| ForecastError::Issued(s.clone()))?),
        None => None,
    };
    let per = match m.period_minutes {
        15 => 1,
        30 => 2,
        60 => 4,
        p => return Err(ForecastError::Period(p)),
    };
    let quarters = m.watts.len() * per;
    if m.watts.is_empty() || quarters > (MAX_DAYS * 96) as usize {
        return Err(ForecastError::Length(m.watts.len()));
    }
    if let Some((index, value)) = m
        .watts
        .iter()
        .enumerate()
        .find(|(_, w)| !(0.0..=1_000_000.0).contains(*w))
    {
        return Err(ForecastError::Value {
            index,
            value: *value,
        });
    }
    Ok(ForecastMessage {
        issued,
        start,
        pv_w: m
            .watts
            .iter()
            .flat_map(|w| std::iter::repeat_n(*w, per))
            .collect(),
    })
}

/// What the strategy holds of a forecast, for Home Assistant and the dashboard.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct ForecastSummary {
    /// When the newest forecast taken was issued.
    pub issued: DateTime<Utc>,
    /// The forecast's PV for today and tomorrow (local days), kWh, as issued; None
    /// where it does not cover the whole day.
    pub today_kwh: Option<f64>,
    pub tomorrow_kwh: Option<f64>,
    /// It covers the coming hour: the strategy plans with it (else with the sun it
    /// learned from the dwelling).
    pub current: bool,
    /// How far the day's PV was from its forecast, on average over the last two weeks
    /// (0.3: 30 % off), as issued, before nomhub's correction; None before a day with
    /// a forecast has passed.
    pub day_error: Option<f64>,
}

#[derive(Debug, Clone)]
pub struct SunAhead {
    /// When the newest forecast taken was issued.
    issued: Option<DateTime<Utc>>,
    /// Forecast PV per quarter hour from `first` (its start, Unix seconds), W.
    first: i64,
    forecast: Vec<Option<f64>>,
    /// Measured PV over forecast PV, per local hour of the day.
    trust: [f64; 24],
    trust_days: [u32; 24],
    /// How far each recent day's PV was from its forecast, as a share of the forecast
    /// (newest last).
    misses: std::collections::VecDeque<f64>,
    /// Today's measured and forecast PV per local hour so far (W summed).
    hour_seen: [(f64, f64); 24],
    /// Today's measured PV and its forecast so far, W summed.
    today: (f64, f64),
    /// What the household uses besides hot water, per quarter hour of the day, W.
    load_w: [f64; SLOTS],
    load_days: [u32; SLOTS],
}

impl Default for SunAhead {
    fn default() -> Self {
        Self {
            issued: None,
            first: 0,
            forecast: Vec::new(),
            trust: [1.0; 24],
            trust_days: [0; 24],
            misses: std::collections::VecDeque::with_capacity(ACCURACY_DAYS),
            hour_seen: [(0.0, 0.0); 24],
            today: (0.0, 0.0),
            load_w: [0.0; SLOTS],
            load_days: [0; SLOTS],
        }
    }
}

impl SunAhead {
    /// Takes a new forecast: its quarter hours replace what an older one said, and
    /// what lies more than a day before its issue is dropped (as is anything more
    /// than a week before its end).
    pub fn take(&mut self, f: &SunForecast) {
        self.issued = self.issued.max(Some(f.issued));
        let start = quarter(f.start);
        let new_end = start + 900 * f.pv_w.len() as i64;
        let old: Vec<(i64, Option<f64>)> = (0..self.forecast.len())
            .map(|i| (self.first + 900 * i as i64, self.forecast[i]))
            .collect();
        let (from, end) = match (old.first(), old.last()) {
            (Some((a, _)), Some((b, _))) => ((*a).min(start), (b + 900).max(new_end)),
            _ => (start, new_end),
        };
        let from = from
            .max(quarter(f.issued) - KEEP_HOURS * 3600)
            .max(end - MAX_DAYS * 86_400);
        self.first = from;
        self.forecast = vec![None; usize::try_from((end - from) / 900).unwrap_or(0)];
        let values = f.pv_w.iter().enumerate().map(|(k, w)| {
            let w = Some(*w).filter(|w| w.is_finite() && *w >= 0.0);
            (start + 900 * k as i64, w)
        });
        for (q, w) in old.into_iter().chain(values) {
            if let Some(i) = self.index(q) {
                self.forecast[i] = w;
            }
        }
    }

    fn index(&self, q: i64) -> Option<usize> {
        let i = usize::try_from((q - self.first).div_euclid(900)).ok()?;
        (q >= self.first && i < self.forecast.len()).then_some(i)
    }

    fn get(&self, t: DateTime<Utc>) -> Option<f64> {
        self.forecast[self.index(quarter(t))?]
    }

    /// Folds in the quarter hour that began at `at` (slot `slot` of the local day, so
    /// its local hour is `slot / 4`):
    /// the PV measured over it and what the household used besides hot water.
    pub fn learn(&mut self, at: DateTime<Utc>, slot: usize, pv_w: f64, load_w: f64) {
        self.load_days[slot] = self.load_days[slot].saturating_add(1);
        let l = settling(0.2, self.load_days[slot]);
        self.load_w[slot] = (1.0 - l) * self.load_w[slot] + l * load_w.max(0.0);
        if let Some(f) = self.get(at) {
            let hour = slot / 4;
            self.hour_seen[hour].0 += pv_w;
            self.hour_seen[hour].1 += f;
            self.today.0 += pv_w;
            self.today.1 += f * self.trust[hour];
        }
    }

    /// A new local day: what yesterday's PV made of its forecast, hour by hour, is
    /// learned, and how far off the day's forecast was.
    pub fn new_day(&mut self) {
        let (seen, forecast): (f64, f64) = self
            .hour_seen
            .iter()
            .fold((0.0, 0.0), |(s, f), (hs, hf)| (s + hs, f + hf));
        // A day with at least 1 kWh forecast (W summed over quarter hours: × 4).
        if forecast >= 4000.0 {
            if self.misses.len() == ACCURACY_DAYS {
                self.misses.pop_front();
            }
            self.misses.push_back(((seen - forecast) / forecast).abs());
        }
        for h in 0..24 {
            let (seen, fc) = self.hour_seen[h];
            if fc >= TRUST_MIN_W {
                self.trust_days[h] = self.trust_days[h].saturating_add(1);
                let l = settling(TRUST_LEARN, self.trust_days[h]);
                let ratio = (seen / fc).clamp(0.2, 3.0);
                self.trust[h] = (1.0 - l) * self.trust[h] + l * ratio;
            }
        }
        self.hour_seen = [(0.0, 0.0); 24];
        self.today = (0.0, 0.0);
    }

    /// The surplus expected in the quarter hour of `t` (slot `slot` of the local day)
    /// from the forecast, W; `today` says whether it is still today. None without a
    /// forecast for it.
    pub fn surplus_w(&self, t: DateTime<Utc>, slot: usize, today: bool) -> Option<f64> {
        let f = self.get(t)?;
        let hour = slot / 4;
        let so_far = if today && self.today.1 >= TODAY_AFTER_W {
            (self.today.0 / self.today.1).clamp(TODAY_MIN, TODAY_MAX)
        } else {
            1.0
        };
        Some((f * self.trust[hour] * so_far - self.load_w[slot]).max(0.0))
    }

    /// The forecast as it stands at `now` (None before one was taken).
    pub fn summary(&self, now: DateTime<Utc>) -> Option<ForecastSummary> {
        let issued = self.issued?;
        let midnight = |days: i64| {
            let d = now.with_timezone(&TZ).date_naive() + Duration::days(days);
            d.and_hms_opt(0, 0, 0)
                .and_then(|t| TZ.from_local_datetime(&t).earliest())
                .map(|t| t.to_utc())
        };
        let day_kwh = |days: i64| {
            let (from, to) = (midnight(days)?, midnight(days + 1)?);
            self.pv_kwh(from, (to - from).num_hours())
                .map(|k| (k * 10.0).round() / 10.0)
        };
        Some(ForecastSummary {
            issued,
            today_kwh: day_kwh(0),
            tomorrow_kwh: day_kwh(1),
            current: self.pv_kwh(now, 1).is_some(),
            day_error: (!self.misses.is_empty()).then(|| {
                let mean = self.misses.iter().sum::<f64>() / self.misses.len() as f64;
                (mean * 100.0).round() / 100.0
            }),
        })
    }

    /// The forecast's PV from `from` for `hours`, kWh, as issued (None when it does not
    /// cover all of it).
    pub fn pv_kwh(&self, from: DateTime<Utc>, hours: i64) -> Option<f64> {
        (0..hours * 4)
            .map(|i| self.get(from + Duration::minutes(15 * i)))
            .sum::<Option<f64>>()
            .map(|w| w / 4000.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(h: u32) -> DateTime<Utc> {
        // 2026-06-01 in Europe/Amsterdam is UTC+2.
        DateTime::from_timestamp(1_780_272_000 + i64::from(h) * 3600 - 7200, 0).unwrap_or_default()
    }

    #[test]
    fn a_forecast_that_overpromises_is_trusted_less_each_day() {
        let mut sun = SunAhead::default();
        for day in 0..5 {
            let start = at(0) + Duration::days(day);
            sun.take(&SunForecast {
                issued: start - Duration::hours(6),
                start,
                pv_w: vec![2000.0; 96],
            });
            for q in 0..96 {
                let t = start + Duration::minutes(15 * q);
                // The roof makes 1000 W of the 2000 W forecast; the house uses 200 W.
                sun.learn(t, q as usize, 1000.0, 200.0);
            }
            sun.new_day();
        }
        let next = at(12) + Duration::days(5);
        sun.take(&SunForecast {
            issued: next - Duration::hours(18),
            start: next,
            pv_w: vec![2000.0; 4],
        });
        let s = sun.surplus_w(next, 48, false).unwrap_or_default();
        assert!((s - 800.0).abs() < 1.0, "surplus {s:.0} W, not 2000 - 200");
        // Each day the roof made half the forecast.
        let summary = sun.summary(next).unwrap_or_else(|| unreachable!("taken"));
        assert_eq!(summary.day_error, Some(0.5));
        assert_eq!(sun.surplus_w(next + Duration::hours(2), 56, false), None);
        assert_eq!(sun.pv_kwh(next, 1), Some(2.0));
        assert_eq!(sun.pv_kwh(next, 2), None);
    }

    #[test]
    fn a_newer_forecast_replaces_the_hours_it_covers_and_old_ones_go() {
        let mut sun = SunAhead::default();
        let day = |d: i64| at(0) + Duration::days(d);
        let issue = |d: i64, w: f64, n: usize| SunForecast {
            issued: day(d) - Duration::hours(6),
            start: day(d),
            pv_w: vec![w; n],
        };
        sun.take(&issue(0, 1000.0, 96));
        // Tomorrow's, and an update for this afternoon onwards.
        sun.take(&issue(1, 2000.0, 96));
        sun.take(&SunForecast {
            issued: day(0) + Duration::hours(11),
            start: day(0) + Duration::hours(12),
            pv_w: vec![1500.0, f64::NAN],
        });
        assert_eq!(sun.get(day(0) + Duration::hours(11)), Some(1000.0));
        assert_eq!(sun.get(day(0) + Duration::hours(12)), Some(1500.0));
        assert_eq!(
            sun.get(day(0) + Duration::minutes(12 * 60 + 15)),
            None,
            "not a number"
        );
        assert_eq!(sun.get(day(1) + Duration::hours(12)), Some(2000.0));
        assert_eq!(sun.get(day(2)), None);
        // Two days on, today's forecast is more than a day old and goes.
        sun.take(&issue(3, 500.0, 96));
        assert_eq!(sun.get(day(0) + Duration::hours(11)), None);
        assert_eq!(sun.get(day(3) + Duration::hours(1)), Some(500.0));
        assert!(sun.forecast.len() <= 8 * 96, "{}", sun.forecast.len());
    }

    #[test]
    fn a_forecast_message_is_checked_and_spread_over_quarter_hours() {
        let now = at(10);
        let good =
            br#"{"start": "2026-06-01T00:00:00+02:00", "period_minutes": 60, "watts": [0, 800]}"#;
        let f = parse(good)
            .and_then(|m| m.at(now))
            .unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(f.start, at(0));
        assert_eq!(f.issued, now, "issued now unless the message says");
        assert_eq!(f.pv_w, [0.0, 0.0, 0.0, 0.0, 800.0, 800.0, 800.0, 800.0]);
        for (payload, says) in [
            (
                &br#"{"start": "2026-06-01T00:00:00+02:00", "watts": [1, -5]}"#[..],
                "`watts`[1] is -5",
            ),
            (
                br#"{"start": "2026-06-01T00:00:00+02:00", "watts": []}"#,
                "`watts` has 0 values",
            ),
            (
                br#"{"start": "2026-06-01", "watts": [1]}"#,
                "`start` 2026-06-01",
            ),
            (
                br#"{"start": "2026-06-01T00:00:00+02:00", "period_minutes": 20, "watts": [1]}"#,
                "`period_minutes` 20",
            ),
            (
                br#"{"start": "2026-06-09T00:00:00+02:00", "watts": [1]}"#,
                "more than two days",
            ),
            (
                br#"{"start": "2026-06-01T00:00:00+02:00", "watt": [1]}"#,
                "unknown field `watt`",
            ),
            (b"[1, 2]", "not a forecast object"),
        ] {
            let e = parse(payload)
                .and_then(|m| m.at(now))
                .map(|_| ())
                .unwrap_err()
                .to_string();
            assert!(e.contains(says), "{e} should say {says}");
        }
        let long = format!(
            r#"{{"start": "2026-06-01T00:00:00+02:00", "watts": [{}]}}"#,
            vec!["1"; 8 * 96 + 1].join(",")
        );
        assert!(parse(long.as_bytes()).is_err());
    }

    #[test]
    fn the_summary_says_today_tomorrow_and_whether_it_is_current() {
        let mut sun = SunAhead::default();
        assert_eq!(sun.summary(at(10)), None);
        // Today and tomorrow at 1 kW from 08:00 to 16:00 local.
        let pv_w: Vec<f64> = (0..192)
            .map(|q| {
                if (32..64).contains(&(q % 96)) {
                    1000.0
                } else {
                    0.0
                }
            })
            .collect();
        sun.take(&SunForecast {
            issued: at(0) - Duration::hours(6),
            start: at(0),
            pv_w,
        });
        let s = sun.summary(at(10)).unwrap_or_else(|| unreachable!("taken"));
        assert_eq!((s.today_kwh, s.tomorrow_kwh), (Some(8.0), Some(8.0)));
        assert!(s.current);
        assert_eq!(s.day_error, None, "no day has passed");
        // Three days on it covers nothing ahead: not current, the learned sun plans.
        let later = sun
            .summary(at(10) + Duration::days(3))
            .unwrap_or_else(|| unreachable!());
        assert!(!later.current);
        assert_eq!(later.today_kwh, None);
    }
}
