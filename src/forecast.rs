//! The sun forecast nomhub fetches itself (`[forecast] source = "open-meteo"`): Open-Meteo's
//! irradiance on the plane of the panels, a quarter hour at a time, turned into the
//! roof's PV power and handed to the hot-water strategy like a forecast from Home
//! Assistant. Fetched every `refresh` (and again after a failure, a little later each
//! time), with a timeout; the last answer is kept in the store, so a restart plans with
//! it at once.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use crate::clock::Clock;
use crate::config::forecast::OpenMeteo;
use crate::store::Store;
use crate::strategy::sun::ForecastMessage;
use crate::strategy::{Change, StrategyHandle};

/// What is lost between the sunlight on the panels and the AC power: inverter,
/// wiring, dirt, mismatch (PVWatts' usual 14 % and an inverter's 3 %).
const SYSTEM_FACTOR: f64 = 0.84;
/// Power falls this much per kelvin of cell temperature above 25 °C …
const TEMP_COEFF: f64 = -0.004;
/// … and the cells run this much warmer than the air per W/m² of sunlight.
const CELL_K_PER_W_M2: f64 = 0.03;
/// One fetch may take this long.
const TIMEOUT: Duration = Duration::from_secs(20);
/// After a failure the next try comes after these waits (then every `refresh`).
const RETRY: [Duration; 4] = [
    Duration::from_secs(60),
    Duration::from_secs(5 * 60),
    Duration::from_secs(15 * 60),
    Duration::from_secs(60 * 60),
];
/// The store's record of the last answer.
const RECORD: &str = "forecast";

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("{url}: {why}")]
    Http { url: String, why: String },
    #[error("{url}: not an Open-Meteo answer: {why}")]
    Answer { url: String, why: String },
}

/// The request for the next two days of 15-minute irradiance on the panels.
pub fn request_url(om: &OpenMeteo) -> String {
    // Open-Meteo's azimuth: 0 = south, -90 = east, 90 = west.
    let azimuth = om.azimuth - 180.0;
    format!(
        "{}?latitude={}&longitude={}&minutely_15=global_tilted_irradiance,temperature_2m&tilt={}&azimuth={azimuth}&forecast_days=2&timeformat=unixtime",
        om.url, om.latitude, om.longitude, om.tilt
    )
}

#[derive(Deserialize)]
struct Answer {
    minutely_15: Series,
}

#[derive(Deserialize)]
struct Series {
    time: Vec<i64>,
    global_tilted_irradiance: Vec<Option<f64>>,
    #[serde(default)]
    temperature_2m: Vec<Option<f64>>,
}

/// The roof's PV forecast from an Open-Meteo answer: each value is the mean of the
/// quarter hour before its time; the forecast runs until the first missing value.
pub fn pv_forecast(body: &str, kwp: f64, issued: DateTime<Utc>) -> Result<ForecastMessage, String> {
    let a: Answer = serde_json::from_str(body).map_err(|e| e.to_string())?;
    let s = a.minutely_15;
    if s.time.len() != s.global_tilted_irradiance.len() {
        return Err(format!(
            "{} times but {} irradiance values",
            s.time.len(),
            s.global_tilted_irradiance.len()
        ));
    }
    let first = *s.time.first().ok_or("no values")?;
    if s.time.windows(2).any(|w| w[1] - w[0] != 900) {
        return Err("the times are not 15 minutes apart".into());
    }
    let pv_w: Vec<f64> = s
        .global_tilted_irradiance
        .iter()
        .enumerate()
        .map_while(|(i, g)| {
            let g = g.filter(|g| g.is_finite())?.max(0.0);
            let air = s.temperature_2m.get(i).copied().flatten().unwrap_or(25.0);
            let cell = air + CELL_K_PER_W_M2 * g;
            let temp = (1.0 + TEMP_COEFF * (cell - 25.0)).clamp(0.5, 1.2);
            Some(g * kwp * SYSTEM_FACTOR * temp)
        })
        .collect();
    if pv_w.is_empty() {
        return Err("no irradiance values".into());
    }
    Ok(ForecastMessage {
        issued: Some(issued),
        start: DateTime::from_timestamp(first - 900, 0).ok_or("a time out of range")?,
        pv_w,
    })
}

/// The store's copy of the last answer.
#[derive(Debug, Serialize, Deserialize)]
struct Saved {
    fetched: DateTime<Utc>,
    body: String,
}

/// Open-Meteo's answer at `url`.
async fn fetch(url: &str) -> Result<String, FetchError> {
    let http = |why: String| FetchError::Http {
        url: url.to_owned(),
        why,
    };
    match crate::http::get(url, TIMEOUT).await.map_err(http)? {
        crate::http::Answer { status: 200, body } => Ok(body),
        a => Err(http(format!("HTTP {}", a.status))),
    }
}

/// Hands a forecast to the strategy; false once nobody takes it (nomhub stops).
async fn hand_over(strategy: &StrategyHandle, m: ForecastMessage) -> bool {
    strategy
        .change(Change::Forecast(Arc::new(m)), "open-meteo")
        .await
}

/// Fetches Open-Meteo's forecast every `refresh` until `cancel`, and hands each to the
/// strategy; starts with the one the store kept.
pub async fn run(
    om: OpenMeteo,
    strategy: StrategyHandle,
    store: Option<Store>,
    clock: Clock,
    cancel: CancellationToken,
) {
    let url = request_url(&om);
    let saved = store
        .as_ref()
        .and_then(|s| s.state::<Saved>(RECORD).ok().flatten());
    if let Some(saved) = saved
        && let Ok(m) = pv_forecast(&saved.body, om.kwp, saved.fetched)
    {
        tracing::info!(fetched = %saved.fetched, "Sun forecast taken from the store.");
        hand_over(&strategy, m).await;
    }
    let mut failures = 0usize;
    loop {
        let fetched = fetch(&url).await;
        let now: DateTime<Utc> = clock.now().into();
        let outcome = fetched.and_then(|body| {
            let m = pv_forecast(&body, om.kwp, now).map_err(|why| FetchError::Answer {
                url: url.clone(),
                why,
            })?;
            Ok((body, m))
        });
        let wait = match outcome {
            Ok((body, m)) => {
                if failures > 0 {
                    tracing::info!("The sun forecast is fetched again.");
                }
                failures = 0;
                tracing::debug!(quarters = m.pv_w.len(), "Sun forecast fetched.");
                if let Some(s) = &store
                    && let Err(e) = s.set_state(RECORD, &Saved { fetched: now, body })
                {
                    tracing::warn!(error = %e, "Cannot keep the sun forecast in the store.");
                }
                if !hand_over(&strategy, m).await {
                    return;
                }
                om.refresh
            }
            Err(e) => {
                let wait = retry_after(failures, om.refresh);
                if failures == 0 {
                    tracing::warn!(error = %e, retry_in = ?wait, "Cannot fetch the sun forecast; the strategy plans with what it has (then the sun it learned).");
                } else {
                    tracing::debug!(error = %e, retry_in = ?wait, "Sun forecast still not fetched.");
                }
                failures += 1;
                wait
            }
        };
        tokio::select! {
            () = cancel.cancelled() => return,
            () = tokio::time::sleep(wait) => {}
        }
    }
}

/// The wait before the next try after `failures` failures in a row (never longer
/// than the usual refresh).
pub fn retry_after(failures: usize, refresh: Duration) -> Duration {
    RETRY[failures.min(RETRY.len() - 1)].min(refresh)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roof() -> OpenMeteo {
        OpenMeteo {
            url: OpenMeteo::URL.to_owned(),
            latitude: 52.1,
            longitude: 5.18,
            kwp: 5.6,
            tilt: 40.0,
            azimuth: 190.0,
            refresh: Duration::from_secs(3 * 3600),
        }
    }

    #[test]
    fn the_request_asks_for_the_panels_plane_in_open_meteos_terms() {
        let url = request_url(&roof());
        assert!(
            url.starts_with("https://api.open-meteo.com/v1/forecast?latitude=52.1&longitude=5.18"),
            "{url}"
        );
        assert!(
            url.contains("minutely_15=global_tilted_irradiance,temperature_2m"),
            "{url}"
        );
        assert!(
            url.contains("tilt=40&azimuth=10"),
            "south-south-west is 10° west of south: {url}"
        );
        assert!(url.contains("timeformat=unixtime"), "{url}");
    }

    #[test]
    fn irradiance_becomes_the_roofs_power_until_the_first_gap() {
        let body = r#"{"latitude":52.1,"minutely_15_units":{"global_tilted_irradiance":"W/m²"},
            "minutely_15":{"time":[1780300800,1780301700,1780302600,1780303500],
            "global_tilted_irradiance":[0.0,1000.0,-3.0,null],"temperature_2m":[10.0,10.0,10.0,10.0]}}"#;
        let now = DateTime::from_timestamp(1_780_290_000, 0).unwrap_or_default();
        let m = pv_forecast(body, 5.6, now).unwrap_or_else(|e| unreachable!("{e}"));
        // The first value is the quarter hour before its time.
        assert_eq!(m.start.timestamp(), 1_780_300_800 - 900);
        assert_eq!(m.issued, Some(now));
        assert_eq!(m.pv_w.len(), 3, "up to the missing value");
        // 1000 W/m² on 5.6 kWp: 5.6 kW less 16 %, cells at 40 °C (−6 %).
        assert!(
            (m.pv_w[1] - 5600.0 * 0.84 * 0.94).abs() < 1.0,
            "{}",
            m.pv_w[1]
        );
        assert_eq!(m.pv_w[2], 0.0, "a negative irradiance is none");
        for bad in [
            "{}",
            r#"{"minutely_15":{"time":[1,2],"global_tilted_irradiance":[1]}}"#,
            r#"{"minutely_15":{"time":[0,600],"global_tilted_irradiance":[1,2]}}"#,
            r#"{"minutely_15":{"time":[0],"global_tilted_irradiance":[null]}}"#,
        ] {
            assert!(pv_forecast(bad, 5.6, now).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_failed_fetch_is_tried_again_sooner_then_later() {
        let refresh = Duration::from_secs(3 * 3600);
        let waits: Vec<u64> = (0..6).map(|n| retry_after(n, refresh).as_secs()).collect();
        assert_eq!(waits, [60, 300, 900, 3600, 3600, 3600]);
        assert_eq!(retry_after(3, Duration::from_secs(1800)).as_secs(), 1800);
    }
}
