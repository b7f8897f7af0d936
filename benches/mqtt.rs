//! `cargo bench --bench mqtt`: the demo dwelling polled every 2 s with the ledger and
//! MQTT running, against a real mosquitto (installed by ./test.sh).
//!
//! 0. The same without MQTT, for comparison.
//! 1. Broker unreachable for a simulated day (the dwelling at 1440× real time for a
//!    minute): resident memory before and after, and what was queued.
//! 2. Latency from a device sample (the poll's timestamp) to the moment a subscriber
//!    receives its state, over the power points of every device.
//!
//! `NOMHUB_BENCH_SECS` (default 60) sets both phases' length. Prints Markdown for
//! docs/performance.md.

#![allow(clippy::unwrap_used)] // a benchmark may panic

#[path = "../tests/support/mod.rs"]
mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use nomhub::clock::{self, Clock};
use nomhub::config::MqttSetup;
use nomhub::model::{DeviceId, PointKey};
use nomhub::sim::{self, SimOptions};
use support::mqtt::Broker;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

struct Run {
    app: nomhub::app::App,
    tasks: TaskTracker,
    cancel: CancellationToken,
    _store: tempfile::TempDir,
}

/// The demo dwelling at `speed`; nomhub's clock is scaled along with it, or the
/// system's when `real_clock` (so sample times compare with the wall clock).
async fn start(speed: f64, real_clock: bool, broker_port: Option<u16>) -> Run {
    let cancel = CancellationToken::new();
    let opts = SimOptions {
        speed,
        ..SimOptions::default()
    };
    let start = opts.start;
    let handle = sim::start(opts, cancel.clone()).await.unwrap();
    let store = tempfile::tempdir().unwrap();
    let mut config = nomhub::config::demo(handle.addr.port(), store.path()).unwrap();
    config.mqtt = broker_port.map(|p| MqttSetup::plain("127.0.0.1", p));
    let ledger = nomhub::app::open_ledger(&config).unwrap();
    let clock = if real_clock {
        Clock::System
    } else {
        Clock::scaled(start.into(), speed)
    };
    let tasks = TaskTracker::new();
    let app = nomhub::app::start(&config, ledger, &clock, &tasks, &cancel).unwrap();
    Run {
        app,
        tasks,
        cancel,
        _store: store,
    }
}

impl Run {
    async fn stop(self) {
        self.cancel.cancel();
        self.tasks.close();
        self.tasks.wait().await;
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let secs: u64 = std::env::var("NOMHUB_BENCH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    let phase = Duration::from_secs(secs);

    // 0. The same day without MQTT, for comparison.
    let run = start(1440.0, false, None).await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    let plain_before = rss_kib();
    tokio::time::sleep(phase).await;
    let plain_after = rss_kib();
    run.stop().await;

    // 1. No broker for a simulated day.
    let mut broker = Broker::start();
    broker.stop();
    let run = start(1440.0, false, Some(broker.port)).await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    let before = rss_kib();
    tokio::time::sleep(phase).await;
    let after = rss_kib();
    let status = run.app.mqtt.as_ref().unwrap().borrow().clone();
    let booked = run
        .app
        .views
        .ledger_status()
        .unwrap()
        .lifetime
        .values()
        .map(|w| w.0)
        .max()
        .unwrap_or(0);
    run.stop().await;
    assert!(!status.connected && status.published == 0);
    let simulated_h = secs as f64 * 1440.0 / 3600.0;

    // 2. Latency with the broker up.
    broker.restart();
    let run = start(60.0, true, Some(broker.port)).await;
    let snapshot = run.app.views.snapshot.clone();
    let latencies = Arc::new(Mutex::new(Vec::<f64>::new()));
    let ha = support::mqtt::Recorder::connect(broker.port, &["nomhub/device/+/point/+"]).await;
    let (l, snap) = (latencies.clone(), snapshot.clone());
    let watcher = tokio::spawn(async move {
        let mut seen = 0;
        loop {
            tokio::time::sleep(Duration::from_millis(5)).await;
            let msgs = ha.all();
            for m in &msgs[seen..] {
                let received = clock::now();
                let Some((device, point)) = m
                    .topic
                    .strip_prefix("nomhub/device/")
                    .and_then(|r| r.split_once("/point/"))
                else {
                    continue;
                };
                if !point.ends_with("power") || m.retain {
                    continue;
                }
                let Ok(published) = m.text().parse::<f64>() else {
                    continue;
                };
                let key = (
                    DeviceId::new(device).unwrap(),
                    PointKey::new(point).unwrap(),
                );
                let s = snap.borrow();
                let Some(sample) = s.points.get(&key) else {
                    continue;
                };
                let value = sample.value.as_ref().ok().and_then(|v| v.as_f64());
                if value.is_some_and(|v| (v - published).abs() < 0.01)
                    && let Ok(d) = received.duration_since(sample.at)
                {
                    l.lock().unwrap().push(d.as_secs_f64() * 1000.0);
                }
            }
            seen = msgs.len();
        }
    });
    tokio::time::sleep(phase).await;
    watcher.abort();
    let published = run.app.mqtt.as_ref().unwrap().borrow().published;
    run.stop().await;
    let mut lat = latencies.lock().unwrap().clone();
    lat.sort_by(f64::total_cmp);
    assert!(!lat.is_empty(), "no power state matched its sample");

    println!("| measure | value |");
    println!("|---|---|");
    println!(
        "| broker unreachable for {simulated_h:.0} simulated hours ({secs} s at 1440×): resident memory | {:.1} MiB → {:.1} MiB ({:+} KiB) |",
        before as f64 / 1024.0,
        after as f64 / 1024.0,
        after as i64 - before as i64
    );
    println!(
        "| the same day without `[mqtt]`, for comparison | {:.1} MiB → {:.1} MiB ({:+} KiB) |",
        plain_before as f64 / 1024.0,
        plain_after as f64 / 1024.0,
        plain_after as i64 - plain_before as i64
    );
    println!(
        "| … messages queued / dropped meanwhile; largest series booked | {} / {}; {:.1} kWh |",
        status.published,
        status.dropped,
        booked as f64 / 1000.0
    );
    println!(
        "| sample → MQTT subscriber, power points ({} samples) | p50 {:.1} ms, p95 {:.1} ms, max {:.1} ms |",
        lat.len(),
        percentile(&lat, 0.5),
        percentile(&lat, 0.95),
        lat[lat.len() - 1]
    );
    println!(
        "| messages published in {secs} s with the broker up (4 devices, 2 s polls) | {published} |"
    );
}
