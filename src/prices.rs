//! Day-ahead prices: sent by Home Assistant on an MQTT topic, and (with `[tariff]
//! prices = "energyzero"`) fetched from EnergyZero's public API. Both merge into one
//! [`PriceBook`], kept in the store, that the ledger prices grid import and export with
//! and that MQTT and the dashboard show.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Days, NaiveDate, TimeDelta, Timelike, Utc};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::clock::{Clock, TZ};
use crate::config::tariff::EnergyZero;
use crate::ledger::period::quarters_of;
use crate::store::Store;
use crate::tariff::{DayAhead, Tariff};

/// The day-ahead market's price limits (EPEX SDAC: −500 and +4,000 €/MWh); a price
/// outside them is a wrong unit or a broken message.
pub const MIN_EUR_KWH: f64 = -0.5;
pub const MAX_EUR_KWH: f64 = 4.0;
/// Past prices kept (the ledger prices as it books; the dashboard shows today).
const KEEP: TimeDelta = TimeDelta::days(2);
/// The store's record of the book.
const RECORD: &str = "day_ahead";
/// One fetch may take this long.
const TIMEOUT: Duration = Duration::from_secs(20);
/// Tomorrow's prices are published from about 12:45; asked for from this local hour.
const PUBLISHED_HOUR: u32 = 13;
/// After a failure (or tomorrow not out yet) the next try comes after these waits.
const RETRY: [Duration; 4] = [
    Duration::from_secs(60),
    Duration::from_secs(5 * 60),
    Duration::from_secs(15 * 60),
    Duration::from_secs(60 * 60),
];

/// The prices known, and when and from where they last changed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Prices {
    pub day_ahead: DayAhead,
    pub updated: Option<DateTime<Utc>>,
    pub source: Option<String>,
}

impl Prices {
    /// The day-ahead price now, if known.
    pub fn now(&self, now: DateTime<Utc>) -> Option<f64> {
        self.day_ahead.at(now)
    }

    /// Whether every quarter hour of local `day` has a price.
    pub fn has_day(&self, day: NaiveDate) -> bool {
        quarters_of(day).all(|q| self.day_ahead.at(q).is_some())
    }
}

/// What a resident wants to know about prices now: a kWh now and in the next clock
/// hour, all in (€/kWh), what one fed in earns, and today's and tomorrow's quarter hours
/// from local midnight (None where the day-ahead price is not known).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Outlook {
    pub import_now: f64,
    pub import_next_hour: f64,
    pub export_now: f64,
    pub day_ahead_now: f64,
    /// True while the contract's average stands in for the price now.
    pub fallback: bool,
    pub net_metering: bool,
    pub today_start: DateTime<Utc>,
    pub today: Vec<Option<f64>>,
    pub tomorrow: Vec<Option<f64>>,
    pub updated: Option<DateTime<Utc>>,
    pub source: Option<String>,
}

/// The outlook at `now` under `tariff` with the `prices` known (rounded to 0.1 ct).
pub fn outlook(tariff: &Tariff, prices: &Prices, now: DateTime<Utc>) -> Outlook {
    let quarter = TimeDelta::minutes(15);
    let round = |x: f64| (x * 10_000.0).round() / 10_000.0;
    let here = tariff.price(now, prices.now(now));
    // The clock hour after this one.
    let next = now - TimeDelta::seconds(now.timestamp().rem_euclid(3600)) + TimeDelta::hours(1);
    let next_hour: f64 = (0..4)
        .map(|i| {
            let t = next + quarter * i;
            tariff.price(t, prices.day_ahead.at(t)).import_eur_kwh
        })
        .sum::<f64>()
        / 4.0;
    let today = crate::ledger::period::local_date(now);
    let day = |d: NaiveDate| {
        quarters_of(d)
            .map(|t| {
                let da = prices.day_ahead.at(t)?;
                Some(round(tariff.price(t, Some(da)).import_eur_kwh))
            })
            .collect::<Vec<_>>()
    };
    Outlook {
        import_now: round(here.import_eur_kwh),
        import_next_hour: round(next_hour),
        export_now: round(here.export_eur_kwh),
        day_ahead_now: round(here.day_ahead_eur_kwh),
        fallback: here.fallback,
        net_metering: here.net_metering,
        today_start: crate::ledger::period::local_midnight(today),
        today: day(today),
        tomorrow: day(today + Days::new(1)),
        updated: prices.updated,
        source: prices.source.clone(),
    }
}

/// Where prices are merged; cloned by everyone who adds prices.
#[derive(Clone)]
pub struct PriceBook {
    tx: Arc<watch::Sender<Arc<Prices>>>,
    store: Option<Store>,
}

impl PriceBook {
    /// A book starting from what `store` kept.
    pub fn new(store: Option<Store>) -> Self {
        let kept = store
            .as_ref()
            .and_then(|s| match s.state::<Prices>(RECORD) {
                Ok(p) => p,
                Err(e) => {
                    tracing::warn!(error = %e, "Cannot read the day-ahead prices kept; starting without.");
                    None
                }
            })
            .unwrap_or_default();
        Self {
            tx: Arc::new(watch::channel(Arc::new(kept)).0),
            store,
        }
    }

    pub fn subscribe(&self) -> watch::Receiver<Arc<Prices>> {
        self.tx.subscribe()
    }

    pub fn current(&self) -> Arc<Prices> {
        self.tx.borrow().clone()
    }

    /// Adds `prices` from `source`, forgets those more than two days old and keeps the
    /// book in the store; returns how many quarter hours were new or changed.
    pub fn merge(&self, prices: &DayAhead, source: &str, now: DateTime<Utc>) -> usize {
        let mut changed = 0;
        let mut next = (*self.current()).clone();
        let oldest = (now - KEEP).timestamp();
        for (q, p) in prices.quarters.range(oldest..) {
            if next.day_ahead.quarters.insert(*q, *p) != Some(*p) {
                changed += 1;
            }
        }
        next.day_ahead.forget_before(now - KEEP);
        if changed > 0 {
            next.updated = Some(now);
            next.source = Some(source.to_owned());
        }
        if let Some(s) = &self.store
            && changed > 0
            && let Err(e) = s.set_state(RECORD, &next)
        {
            tracing::warn!(error = %e, "Cannot keep the day-ahead prices in the store.");
        }
        self.tx.send_replace(Arc::new(next));
        changed
    }
}

/// One price of the MQTT message.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    #[serde(alias = "timestamp")]
    start: DateTime<chrono::FixedOffset>,
    #[serde(default)]
    end: Option<DateTime<chrono::FixedOffset>>,
    #[serde(alias = "value")]
    price: f64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Message {
    prices: Vec<Entry>,
}

/// One price, from either source: within the market's limits, for a quarter hour or an
/// hour that starts on a quarter hour; `what` names it in the error.
fn check(what: &str, start: DateTime<Utc>, end: DateTime<Utc>, price: f64) -> Result<(), String> {
    if !(MIN_EUR_KWH..=MAX_EUR_KWH).contains(&price) {
        return Err(format!(
            "{what}: {price} €/kWh is outside {MIN_EUR_KWH}..={MAX_EUR_KWH} (€/kWh, not €/MWh?)"
        ));
    }
    let len = end - start;
    if len != TimeDelta::minutes(15) && len != TimeDelta::hours(1) {
        return Err(format!(
            "{what}: {start} to {end} is not a quarter hour or an hour"
        ));
    }
    if start.timestamp() % 900 != 0 {
        return Err(format!("{what}: {start} does not start on a quarter hour"));
    }
    Ok(())
}

/// The day-ahead prices of an MQTT message (docs/home-assistant.md): `{"prices":
/// [{"start": ISO-8601, "end": ISO-8601 (optional), "price": €/kWh excl. VAT}]}`,
/// 15-minute or hourly. Checked whole: one bad entry refuses the message.
pub fn parse_message(payload: &[u8]) -> Result<DayAhead, String> {
    let m: Message = serde_json::from_slice(payload).map_err(|e| e.to_string())?;
    if m.prices.is_empty() {
        return Err("no prices".into());
    }
    let mut out = DayAhead::default();
    let starts: Vec<DateTime<Utc>> = m.prices.iter().map(|e| e.start.to_utc()).collect();
    for (i, e) in m.prices.iter().enumerate() {
        let start = starts[i];
        // Without an end: until the next start, or as long as the one before.
        let end = match (e.end, starts.get(i + 1)) {
            (Some(end), _) => end.to_utc(),
            (None, Some(next)) => *next,
            (None, None) if i > 0 => start + (start - starts[i - 1]),
            (None, None) => start + TimeDelta::minutes(15),
        };
        check(&format!("prices[{i}]"), start, end, e.price)?;
        if i > 0 && start < starts[i - 1] + TimeDelta::minutes(15) {
            return Err(format!(
                "prices[{i}]: {} is not after the price before",
                e.start
            ));
        }
        out.insert(start, end, e.price);
    }
    Ok(out)
}

#[derive(Deserialize)]
struct EzAnswer {
    base: Vec<EzPrice>,
}

#[derive(Deserialize)]
struct EzPrice {
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    price: EzValue,
}

#[derive(Deserialize)]
struct EzValue {
    value: String,
}

/// The day-ahead prices (`base`: EPEX excl. VAT, €/kWh as text) of an EnergyZero answer.
pub fn parse_energyzero(body: &str) -> Result<DayAhead, String> {
    let a: EzAnswer = serde_json::from_str(body).map_err(|e| e.to_string())?;
    if a.base.is_empty() {
        return Err("no prices".into());
    }
    let mut out = DayAhead::default();
    for (i, p) in a.base.iter().enumerate() {
        let v: f64 = p
            .price
            .value
            .parse()
            .map_err(|_| format!("base[{i}]: `{}` is not a number", p.price.value))?;
        check(&format!("base[{i}]"), p.start, p.end, v)?;
        out.insert(p.start, p.end, v);
    }
    Ok(out)
}

/// The request for local `day`'s 15-minute prices.
pub fn request_url(ez: &EnergyZero, day: NaiveDate) -> String {
    format!(
        "{}?energyType=ENERGY_TYPE_ELECTRICITY&interval=INTERVAL_QUARTER&date={}",
        ez.url,
        day.format("%d-%m-%Y")
    )
}

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("{url}: not published yet")]
    NotYet { url: String },
    #[error("{url}: {why}")]
    Http { url: String, why: String },
    #[error("{url}: not an EnergyZero answer: {why}")]
    Answer { url: String, why: String },
}

/// EnergyZero's prices at `url`.
async fn fetch(url: &str) -> Result<DayAhead, FetchError> {
    let http = |why: String| FetchError::Http {
        url: url.to_owned(),
        why,
    };
    let answer = crate::http::get(url, TIMEOUT).await.map_err(http)?;
    match answer.status {
        200 => {}
        404 => {
            return Err(FetchError::NotYet {
                url: url.to_owned(),
            });
        }
        s => return Err(http(format!("HTTP {s}"))),
    }
    parse_energyzero(&answer.body).map_err(|why| FetchError::Answer {
        url: url.to_owned(),
        why,
    })
}

/// The local days whose prices are wanted at `now` and missing: today, and tomorrow
/// from 13:00.
pub fn wanted(prices: &Prices, now: DateTime<Utc>) -> Vec<NaiveDate> {
    let local = now.with_timezone(&TZ);
    let today = local.date_naive();
    let mut days = vec![today];
    if local.hour() >= PUBLISHED_HOUR {
        days.push(today + Days::new(1));
    }
    days.retain(|d| !prices.has_day(*d));
    days
}

/// How long until the next local 13:00 after `now`.
fn until_published(now: DateTime<Utc>) -> Duration {
    let local = now.with_timezone(&TZ);
    let mut day = local.date_naive();
    if local.hour() >= PUBLISHED_HOUR {
        day = day + Days::new(1);
    }
    let at = day
        .and_hms_opt(PUBLISHED_HOUR, 0, 0)
        .and_then(|t| t.and_local_timezone(TZ).earliest())
        .map_or(now, |t| t.to_utc());
    (at - now).to_std().unwrap_or(Duration::from_secs(60)) + Duration::from_secs(5 * 60)
}

/// Fetches EnergyZero's prices for today and (from 13:00) tomorrow into `book` until
/// `cancel`, trying again after a failure a little later each time.
pub async fn run(ez: EnergyZero, book: PriceBook, clock: Clock, cancel: CancellationToken) {
    let mut failures = 0usize;
    loop {
        let now: DateTime<Utc> = clock.now().into();
        let mut wait = until_published(now).min(Duration::from_secs(6 * 3600));
        for day in wanted(&book.current(), now) {
            let url = request_url(&ez, day);
            match fetch(&url).await {
                Ok(p) => {
                    if failures > 0 {
                        tracing::info!(%day, "Day-ahead prices fetched again.");
                    }
                    failures = 0;
                    let n = book.merge(&p, "energyzero", now);
                    tracing::debug!(%day, quarters = n, "Day-ahead prices fetched.");
                }
                Err(e) => {
                    let retry = RETRY[failures.min(RETRY.len() - 1)];
                    match (&e, failures) {
                        (FetchError::NotYet { .. }, _) => {
                            tracing::debug!(%day, retry_in = ?retry, "Day-ahead prices not published yet.");
                        }
                        (_, 0) => {
                            tracing::warn!(%day, error = %e, retry_in = ?retry, "Cannot fetch the day-ahead prices; the contract's average stands in.");
                        }
                        _ => {
                            tracing::debug!(%day, error = %e, "Day-ahead prices still not fetched.")
                        }
                    }
                    failures += 1;
                    wait = wait.min(retry);
                    break;
                }
            }
        }
        tokio::select! {
            () = cancel.cancelled() => return,
            () = tokio::time::sleep(wait) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn local(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
        TZ.with_ymd_and_hms(y, m, d, h, min, 0)
            .earliest()
            .unwrap()
            .to_utc()
    }

    #[test]
    fn an_mqtt_message_in_quarters_or_hours_is_read_whole_or_refused() {
        let ok = br#"{"prices":[
            {"start":"2027-01-05T00:00:00+01:00","end":"2027-01-05T00:15:00+01:00","price":0.0842},
            {"start":"2027-01-05T00:15:00+01:00","price":-0.0123},
            {"start":"2027-01-05T00:30:00+01:00","price":0.09}]}"#;
        let p = parse_message(ok).unwrap();
        assert_eq!(p.quarters.len(), 3);
        assert_eq!(p.at(local(2027, 1, 5, 0, 20)), Some(-0.0123));
        // Hourly (Nord Pool's raw_today: start, end, value) covers four quarters.
        let hourly = br#"{"prices":[{"start":"2027-01-05T10:00:00+01:00","end":"2027-01-05T11:00:00+01:00","value":0.1}]}"#;
        let p = parse_message(hourly).unwrap();
        assert_eq!(p.quarters.len(), 4);
        for (bad, why) in [
            (&br#"{"prices":[]}"#[..], "no prices"),
            (br#"{"prices":[{"start":"2027-01-05T00:00:00+01:00","price":84.2}]}"#, "€/MWh"),
            (br#"{"prices":[{"start":"2027-01-05T00:07:00+01:00","price":0.1}]}"#, "quarter hour"),
            (br#"{"prices":[{"start":"2027-01-05T00:00:00+01:00","end":"2027-01-05T00:30:00+01:00","price":0.1}]}"#, "not a quarter hour or an hour"),
            (br#"{"prices":[{"start":"2027-01-05T00:15:00+01:00","price":0.1},{"start":"2027-01-05T00:00:00+01:00","price":0.1}]}"#, "not a quarter hour"),
            (br#"{"prices":[{"start":"yesterday","price":0.1}]}"#, "input"),
            (br#"{"prices":[{"start":"2027-01-05T00:00:00+01:00","price":0.1,"currency":"EUR"}]}"#, "unknown field"),
        ] {
            let e = parse_message(bad).unwrap_err();
            assert!(e.contains(why), "{}: {e}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn energyzeros_answer_gives_the_base_price_per_quarter() {
        let body = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/energyzero/2025-10-26.json"
        ))
        .unwrap();
        let p = parse_energyzero(&body).unwrap();
        // The autumn DST day has 25 hours: 100 quarter hours.
        assert_eq!(p.quarters.len(), 100);
        let prices = Prices {
            day_ahead: p,
            ..Prices::default()
        };
        assert!(prices.has_day(NaiveDate::from_ymd_opt(2025, 10, 26).unwrap()));
        assert!(!prices.has_day(NaiveDate::from_ymd_opt(2025, 10, 27).unwrap()));
        assert!(parse_energyzero(r#"{"base":[]}"#).is_err());
        assert!(parse_energyzero(r#"{"base":[{"start":"2025-10-26T00:00:00Z","end":"2025-10-26T00:15:00Z","price":{"value":"abc"}}]}"#).is_err());
    }

    #[test]
    fn today_is_wanted_at_once_and_tomorrow_from_one_oclock() {
        let empty = Prices::default();
        let morning = local(2027, 3, 27, 9, 0);
        assert_eq!(
            wanted(&empty, morning),
            [NaiveDate::from_ymd_opt(2027, 3, 27).unwrap()]
        );
        let afternoon = local(2027, 3, 27, 13, 30);
        assert_eq!(wanted(&empty, afternoon).len(), 2);
        assert_eq!(
            until_published(morning),
            Duration::from_secs(4 * 3600 + 300)
        );
        // Across the spring DST night: from 13:30 to 13:00 the next day is 22.5 hours.
        assert_eq!(
            until_published(afternoon),
            Duration::from_secs(22 * 3600 + 1800 + 300)
        );
        let q = local(2027, 3, 27, 10, 0);
        assert_eq!(
            request_url(
                &EnergyZero {
                    url: "http://x/p".into()
                },
                q.with_timezone(&TZ).date_naive()
            ),
            "http://x/p?energyType=ENERGY_TYPE_ELECTRICITY&interval=INTERVAL_QUARTER&date=27-03-2027"
        );
    }

    #[test]
    fn the_book_merges_forgets_old_prices_and_keeps_them_in_the_store() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("store")).unwrap();
        let book = PriceBook::new(Some(store.clone()));
        let now = local(2027, 1, 10, 12, 0);
        let mut p = DayAhead::default();
        p.insert(
            now - TimeDelta::days(3),
            now - TimeDelta::days(3) + TimeDelta::hours(1),
            0.1,
        );
        p.insert(now, now + TimeDelta::hours(1), 0.2);
        assert_eq!(
            book.merge(&p, "mqtt", now),
            4,
            "three days old is not taken"
        );
        assert_eq!(book.merge(&p, "mqtt", now), 0, "nothing new");
        let kept = PriceBook::new(Some(store)).current();
        assert_eq!(
            kept.day_ahead.quarters.len(),
            4,
            "three days old is forgotten"
        );
        assert_eq!(kept.now(now + TimeDelta::minutes(50)), Some(0.2));
        assert_eq!(kept.source.as_deref(), Some("mqtt"));
    }
}
