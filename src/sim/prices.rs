//! Day-ahead prices for the simulated dwelling, served the way EnergyZero's public API
//! serves them (`/public/v1/prices?date=DD-MM-YYYY&interval=INTERVAL_QUARTER`), so the
//! demo and the tests run nomhub's own price client against them.
//!
//! The prices follow the shape of the Dutch market: cheap at night, a morning and a
//! larger evening peak, a dip under the midday sun that goes below zero on sunny
//! spring and summer weekends. Tomorrow's are published at 13:00 (simulated time).

use std::f64::consts::PI;
use std::net::SocketAddr;

use chrono::{DateTime, Datelike, Days, NaiveDate, TimeDelta, Timelike, Utc, Weekday};
use serde_json::json;
use tokio_util::sync::CancellationToken;
use warp::Filter;

use crate::clock::{Clock, TZ};

/// The simulated day-ahead price (€/kWh excluding VAT) of the quarter hour holding `at`.
pub fn price(at: DateTime<Utc>) -> f64 {
    let local = at.with_timezone(&TZ);
    let hour = f64::from(local.hour()) + f64::from(local.minute()) / 60.0;
    let bump = |centre: f64, width: f64| (-((hour - centre) / width).powi(2)).exp();
    // How strong the midday sun is: most in June.
    let season = (2.0 * PI * (f64::from(local.ordinal()) - 172.0) / 365.0).cos() * 0.5 + 0.5;
    let weekend = matches!(local.weekday(), Weekday::Sat | Weekday::Sun);
    let mut p = 0.085 + 0.045 * bump(8.0, 1.5) + 0.09 * bump(19.0, 2.0)
        - (0.05 + 0.09 * season) * bump(13.5, 2.5);
    if weekend {
        p -= 0.03 * bump(13.5, 2.5);
    }
    (p * 100_000.0).round() / 100_000.0
}

/// EnergyZero's answer for local `day`, 15-minute prices.
pub fn answer(day: NaiveDate) -> serde_json::Value {
    let from = crate::ledger::period::local_midnight(day);
    let to = crate::ledger::period::local_midnight(day + Days::new(1));
    let fmt = |t: DateTime<Utc>| t.format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let base: Vec<_> = crate::ledger::period::quarters_of(day)
        .map(|t| {
            let end = t + TimeDelta::minutes(15);
            json!({"start": fmt(t), "end": fmt(end), "price": {"value": price(t).to_string()}})
        })
        .collect();
    json!({"interval": 1, "range": {"start": fmt(from), "end": fmt(to)}, "base": base})
}

/// Serves the prices on loopback until `cancel`; a day after tomorrow, or tomorrow
/// before 13:00 on `clock`, is not published yet (404).
pub async fn serve(clock: Clock, cancel: CancellationToken) -> std::io::Result<SocketAddr> {
    let route = warp::path!("public" / "v1" / "prices")
        .and(warp::query::<std::collections::HashMap<String, String>>())
        .map(move |q: std::collections::HashMap<String, String>| {
            let now = DateTime::<Utc>::from(clock.now()).with_timezone(&TZ);
            let day = q
                .get("date")
                .and_then(|d| NaiveDate::parse_from_str(d, "%d-%m-%Y").ok());
            let latest = if now.hour() >= 13 {
                now.date_naive() + Days::new(1)
            } else {
                now.date_naive()
            };
            match day {
                Some(d) if d <= latest => warp::reply::with_status(
                    warp::reply::json(&answer(d)),
                    warp::http::StatusCode::OK,
                ),
                _ => warp::reply::with_status(
                    warp::reply::json(&json!({"error": "no prices"})),
                    warp::http::StatusCode::NOT_FOUND,
                ),
            }
        });
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
    let addr = listener.local_addr()?;
    tokio::spawn(
        warp::serve(route)
            .incoming(listener)
            .graceful(async move { cancel.cancelled().await })
            .run(),
    );
    Ok(addr)
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn the_simulated_market_is_dear_in_the_evening_and_below_zero_on_sunny_weekends() {
        let at = |m, d, h| TZ.with_ymd_and_hms(2027, m, d, h, 0, 0).unwrap().to_utc();
        // Saturday 5 June 2027.
        assert!(price(at(6, 5, 13)) < 0.0, "{}", price(at(6, 5, 13)));
        assert!(price(at(6, 5, 19)) > 0.15);
        // A winter weekday: positive all day, dearest at 19:00.
        let day: Vec<f64> = (0..24).map(|h| price(at(1, 12, h))).collect();
        assert!(day.iter().all(|p| *p > 0.0), "{day:?}");
        let dearest = day
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .unwrap()
            .0;
        assert_eq!(dearest, 19);
        // An answer EnergyZero's parser takes, 92 quarters on the spring DST day.
        let a = answer(NaiveDate::from_ymd_opt(2027, 3, 28).unwrap());
        let p = crate::prices::parse_energyzero(&a.to_string()).unwrap();
        assert_eq!(p.quarters.len(), 92);
    }
}
