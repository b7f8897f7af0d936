//! `cargo bench --bench ledger`: a simulated year booked at the daemon's real rate
//! (five counters read every 2 s, a commit each minute, 15-minute buckets pruned to
//! 42 days), then the disk it takes and the time to answer a month and a year view.
//! `NOMHUB_BENCH_DAYS` shortens the year for a quick look. Prints Markdown for
//! docs/performance.md.

use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime};

use chrono::{DateTime, TimeZone, Utc};
use nomhub::config::{LedgerSetup, Term, TrustClock};
use nomhub::ledger::{Budget, BundleId, Ledger, Period, PeriodKind, Series, SettlementRule};
use nomhub::model::{DeviceId, PointKey, WattHours};
use nomhub::sim::Dwelling;

fn term(device: &str, point: &str, sign: i64) -> Term {
    Term {
        device: DeviceId::new(device).expect("id"),
        point: PointKey::new(point).expect("key"),
        sign,
        max_power_w: 70_000.0,
    }
}

fn setup(store: std::path::PathBuf) -> LedgerSetup {
    let mut series = BTreeMap::new();
    let import = term("grid", "import_energy", 1);
    let export = term("grid", "export_energy", 1);
    let pv = term("inverter", "ac_energy", 1);
    let inst = term("installations", "import_energy", 1);
    let heat = term("heat_pump", "heat_energy_hot_water", 1);
    let neg = |t: &Term| Term {
        sign: -1,
        ..t.clone()
    };
    series.insert(Series::GridImport, vec![import.clone()]);
    series.insert(Series::GridExport, vec![export.clone()]);
    series.insert(Series::Pv, vec![pv.clone()]);
    series.insert(Series::BuildingBound, vec![inst.clone()]);
    series.insert(Series::HotWater, vec![heat]);
    series.insert(
        Series::Household,
        vec![import, pv, neg(&export), neg(&inst)],
    );
    let flat = |kwh: i64| Budget::from_weights(WattHours(kwh * 1000), &nomhub::ledger::calc::DAYS);
    let mut budgets = BTreeMap::new();
    budgets.insert(BundleId::Pv, flat(5272));
    budgets.insert(BundleId::Household, flat(2600));
    budgets.insert(BundleId::BuildingBound, flat(2352));
    budgets.insert(BundleId::EnergyUsed, flat(4952));
    budgets.insert(BundleId::HotWater, flat(2054));
    LedgerSetup {
        store,
        trust_clock: TrustClock::Always,
        flush: Duration::from_secs(60),
        fine_days: 42,
        rule: SettlementRule {
            month: 4,
            day: 1,
            ..SettlementRule::default()
        },
        net_metering_until: chrono::NaiveDate::from_ymd_opt(2026, 12, 31).expect("date"),
        // The demo's kind of contract (dynamic, day-ahead prices): grid import and export
        // are booked in euros too, as in a home after 2027 (NOMHUB_BENCH_TARIFF=0: kWh only).
        tariff: (std::env::var("NOMHUB_BENCH_TARIFF").as_deref() != Ok("0")).then(|| {
            let mut t = nomhub::config::tariff::parse_file(
                "tariff-dynamic-2027.toml",
                nomhub::config::tariff::DYNAMIC_2027,
            )
            .expect("the shipped tariff");
            t.net_metering_until = chrono::NaiveDate::from_ymd_opt(2026, 12, 31).expect("date");
            t
        }),
        budgets,
        series,
        promises: Default::default(),
    }
}

fn dir_size(p: &std::path::Path) -> u64 {
    std::fs::read_dir(p)
        .map(|rd| {
            rd.flatten()
                .map(|e| match e.metadata() {
                    Ok(m) if m.is_dir() => dir_size(&e.path()),
                    Ok(m) => m.len(),
                    Err(_) => 0,
                })
                .sum()
        })
        .unwrap_or(0)
}

fn median(mut v: Vec<Duration>) -> (Duration, Duration) {
    v.sort();
    (v[v.len() / 2], v[v.len() * 95 / 100])
}

fn main() {
    let days: u32 = std::env::var("NOMHUB_BENCH_DAYS")
        .ok()
        .and_then(|d| d.parse().ok())
        .unwrap_or(365);
    // nomhub restarts now and then (updates, power cuts): the store is closed and opened
    // again every this many simulated days.
    let restart_days: u64 = std::env::var("NOMHUB_BENCH_RESTART_DAYS")
        .ok()
        .and_then(|d| d.parse().ok())
        .unwrap_or(7);
    let dir = tempfile::tempdir().expect("tempdir");
    let mut ledger = Ledger::open(setup(dir.path().join("store"))).expect("ledger");
    let written_before = bytes_written();
    let mut growth = Vec::new();
    let mut restarts = 0u64;
    let start: DateTime<Utc> = Utc
        .with_ymd_and_hms(2026, 3, 31, 22, 0, 0)
        .single()
        .expect("start");
    let mut d = Dwelling::new(start);
    let counters = [
        ("grid", "import_energy"),
        ("grid", "export_energy"),
        ("inverter", "ac_energy"),
        ("installations", "import_energy"),
        ("heat_pump", "heat_energy_hot_water"),
    ]
    .map(|(a, b)| {
        (
            DeviceId::new(a).expect("id"),
            PointKey::new(b).expect("key"),
        )
    });
    let steps = u64::from(days) * 86_400 / 2;
    let t0 = Instant::now();
    let mut commits = 0u64;
    // The simulator's day-ahead prices, two days at a time as a home has them.
    let prices_for = |from: DateTime<Utc>| {
        let mut p = nomhub::tariff::DayAhead::default();
        let mut t = from;
        while t < from + chrono::Duration::days(2) {
            let q = t + chrono::Duration::minutes(15);
            p.insert(t, q, nomhub::sim::prices::price(t));
            t = q;
        }
        std::sync::Arc::new(p)
    };
    ledger.set_prices(prices_for(start));
    for step in 0..steps {
        d.advance(2.0);
        let at = SystemTime::from(d.now);
        let values = [
            d.grid_import_kwh,
            d.grid_export_kwh,
            d.pv_kwh,
            d.installations_kwh,
            d.dhw_heat_kwh,
        ];
        for ((dev, pt), kwh) in counters.iter().zip(values) {
            ledger.reading(dev, pt, WattHours((kwh * 1000.0).round() as i64), at, true);
        }
        if step % 30 == 29 {
            ledger.commit().expect("commit");
            commits += 1;
        }
        if step % 1800 == 1799 {
            ledger.prune(d.now).expect("prune");
        }
        // Once a simulated day: the store's size, and a restart every `restart_days`.
        if step % 43_200 == 43_199 {
            let day = step / 43_200 + 1;
            if [1, 7, 30, 90, 180, 365].contains(&day) {
                growth.push((day, dir_size(dir.path())));
            }
            if restart_days > 0 && day % restart_days == 0 {
                ledger.commit().expect("commit");
                drop(ledger);
                ledger = Ledger::open(setup(dir.path().join("store"))).expect("reopen");
                restarts += 1;
            }
            ledger.set_prices(prices_for(d.now));
        }
    }
    ledger.commit().expect("commit");
    let booking = t0.elapsed();
    let written = bytes_written().zip(written_before).map(|(a, b)| a - b);
    let size = dir_size(dir.path());
    let sled_size = ledger.store().size_on_disk().expect("size");

    // The last full day booked: its month and settlement year are full of buckets.
    let now = d.now - chrono::Duration::days(1);
    let month = Period::at(PeriodKind::Month, now, &ledger.setup.rule);
    let year = Period::at(PeriodKind::Settlement, now, &ledger.setup.rule);
    let time = |f: &dyn Fn()| {
        let runs: Vec<Duration> = (0..200)
            .map(|_| {
                let t = Instant::now();
                f();
                t.elapsed()
            })
            .collect();
        median(runs)
    };
    let month_view = time(&|| {
        ledger.positions(month, now).expect("positions");
        ledger.history(month).expect("history");
    });
    let year_view = time(&|| {
        ledger.positions(year, now).expect("positions");
        ledger.history(year).expect("history");
    });
    let forecast = time(&|| {
        ledger.forecast(now).expect("forecast");
    });

    println!(
        "| simulated days | readings | commits | booking time | store on disk (files) | sled's own count |"
    );
    println!("|---:|---:|---:|---:|---:|---:|");
    println!(
        "| {days} | {} | {commits} | {:.1?} | {:.1} MB | {:.1} MB |",
        steps * 5,
        booking,
        size as f64 / 1e6,
        sled_size as f64 / 1e6
    );
    println!();
    println!("Restarted every {restart_days} simulated days ({restarts} restarts).");
    if let Some(w) = written {
        println!(
            "Written to disk while booking: {:.0} MB, {:.1} MB per simulated day.",
            w as f64 / 1e6,
            w as f64 / 1e6 / f64::from(days)
        );
    }
    println!();
    println!("| after day | store on disk |");
    println!("|---:|---:|");
    for (day, bytes) in &growth {
        println!("| {day} | {:.1} MB |", *bytes as f64 / 1e6);
    }
    println!();
    println!("| view | median | p95 |");
    println!("|---|---:|---:|");
    println!(
        "| month {month} (positions + 1 bucket per day) | {:.2?} | {:.2?} |",
        month_view.0, month_view.1
    );
    println!(
        "| settlement year {year} (positions + 1 bucket per month) | {:.2?} | {:.2?} |",
        year_view.0, year_view.1
    );
    println!(
        "| settlement forecast | {:.2?} | {:.2?} |",
        forecast.0, forecast.1
    );
}

/// Bytes this process has caused to be written to storage (Linux `/proc/self/io`).
fn bytes_written() -> Option<u64> {
    std::fs::read_to_string("/proc/self/io")
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("write_bytes:"))
        .and_then(|v| v.trim().parse().ok())
}
