//! Day-ahead prices fetched from a price service in EnergyZero's format: a recorded
//! answer served on loopback (the autumn DST day), a day not published yet, the book
//! kept in the store; and nomhub as a whole against the simulated dwelling and its
//! price server, booking the grid's euros at the prices it fetched.

#![allow(clippy::unwrap_used)] // test code may panic

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::TimeZone;
use nomhub::clock::{Clock, TZ};
use nomhub::config::tariff::EnergyZero;
use nomhub::prices::PriceBook;
use tokio_util::sync::CancellationToken;
use warp::Filter;

/// Serves `tests/fixtures/energyzero/2025-10-26.json` for 26 October 2025 and 404
/// for any other day; records the dates asked for.
async fn energyzero(cancel: &CancellationToken) -> (std::net::SocketAddr, Arc<Mutex<Vec<String>>>) {
    let body =
        std::fs::read_to_string(support::root().join("tests/fixtures/energyzero/2025-10-26.json"))
            .unwrap();
    let asked = Arc::new(Mutex::new(Vec::new()));
    let seen = asked.clone();
    let route = warp::path!("public" / "v1" / "prices")
        .and(warp::query::<std::collections::HashMap<String, String>>())
        .map(move |q: std::collections::HashMap<String, String>| {
            let date = q.get("date").cloned().unwrap_or_default();
            seen.lock().unwrap().push(date.clone());
            assert_eq!(
                q.get("interval").map(String::as_str),
                Some("INTERVAL_QUARTER")
            );
            assert_eq!(
                q.get("energyType").map(String::as_str),
                Some("ENERGY_TYPE_ELECTRICITY")
            );
            let (status, text) = if date == "26-10-2025" {
                (200, body.clone())
            } else {
                (404, r#"{"error":"no prices"}"#.to_owned())
            };
            warp::http::Response::builder()
                .status(status)
                .header("Content-Type", "application/json")
                .body(text)
        });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let cancel = cancel.clone();
    tokio::spawn(
        warp::serve(route)
            .incoming(listener)
            .graceful(async move { cancel.cancelled().await })
            .run(),
    );
    (addr, asked)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn energyzeros_prices_are_fetched_for_today_and_tomorrow_once_published_and_kept() {
    let cancel = CancellationToken::new();
    let (addr, asked) = energyzero(&cancel).await;
    let dir = tempfile::tempdir().unwrap();
    let store = nomhub::store::Store::open(&dir.path().join("store")).unwrap();
    let book = PriceBook::new(Some(store.clone()));
    // 26 October 2025 at 14:00: today's prices are out, and tomorrow's should be.
    let at = TZ
        .with_ymd_and_hms(2025, 10, 26, 14, 0, 0)
        .unwrap()
        .to_utc();
    let clock = Clock::scaled(at.into(), 1.0);
    let ez = EnergyZero {
        url: format!("http://{addr}/public/v1/prices"),
    };
    let task = tokio::spawn(nomhub::prices::run(
        ez,
        book.clone(),
        clock,
        cancel.child_token(),
    ));
    let mut rx = book.subscribe();
    tokio::time::timeout(
        Duration::from_secs(10),
        rx.wait_for(|p| !p.day_ahead.quarters.is_empty()),
    )
    .await
    .expect("no prices fetched")
    .unwrap();
    support::eventually(10, "tomorrow asked for", || {
        let n = asked.lock().unwrap().len();
        async move { (n >= 2).then_some(()) }
    })
    .await;
    let prices = book.current();
    // The 25-hour day, every quarter hour, from local midnight (22:00 UTC, summer time).
    assert_eq!(prices.day_ahead.quarters.len(), 100);
    assert!(prices.has_day(chrono::NaiveDate::from_ymd_opt(2025, 10, 26).unwrap()));
    assert_eq!(prices.source.as_deref(), Some("energyzero"));
    let first = TZ.with_ymd_and_hms(2025, 10, 26, 0, 0, 0).unwrap().to_utc();
    assert_eq!(first.timestamp(), 1_761_429_600);
    assert_eq!(prices.day_ahead.at(first), Some(0.0364));
    assert_eq!(*asked.lock().unwrap(), ["26-10-2025", "27-10-2025"]);
    cancel.cancel();
    task.await.unwrap();
    drop(book);
    // Kept for a restart.
    assert_eq!(
        PriceBook::new(Some(store))
            .current()
            .day_ahead
            .quarters
            .len(),
        100
    );
}

/// nomhub with `[tariff] prices = "energyzero"` against the simulated dwelling and its
/// price server: today's prices are fetched and the grid import is booked at them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nomhub_books_the_grid_at_the_prices_it_fetched() {
    let cancel = CancellationToken::new();
    let sim = support::dwelling(60.0, &cancel).await;
    let clock = Clock::System;
    let prices = nomhub::sim::prices::serve(clock.clone(), cancel.clone())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut config = nomhub::config::demo(sim.addr.port(), &dir.path().join("store")).unwrap();
    if let Some(l) = &mut config.ledger {
        l.trust_clock = nomhub::ledger::setup::TrustClock::Always;
    }
    config.prices = Some(EnergyZero {
        url: format!("http://{prices}/public/v1/prices"),
    });
    let ledger = nomhub::app::open_ledger(&config).unwrap();
    let tasks = tokio_util::task::TaskTracker::new();
    let app = nomhub::app::start(&config, ledger, &clock, &tasks, &cancel).unwrap();
    let book = app.views.prices.clone().unwrap();
    let mut rx = book.subscribe();
    let today = nomhub::ledger::period::local_date(clock.now().into());
    tokio::time::timeout(Duration::from_secs(10), rx.wait_for(|p| p.has_day(today)))
        .await
        .expect("today's prices not fetched")
        .unwrap();
    // Booked at them once fetched: the day's euros grow beyond what was priced at the
    // average in the first moments.
    let status = support::eventually(30, "euros booked at the fetched prices", || {
        let s = app.views.ledger_status();
        async move {
            let s = s?;
            let day = *s
                .euros
                .iter()
                .find(|e| e.period.kind == nomhub::ledger::PeriodKind::Day)?;
            (day.import_eur > 0.0 && day.import_eur > 2.0 * day.fallback_eur).then_some(day)
        }
    })
    .await;
    assert!(status.fallback_eur <= status.import_eur, "{status:?}");
    cancel.cancel();
    tasks.close();
    tasks.wait().await;
}
