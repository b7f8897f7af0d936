//! Operations: `/api/health` (is nomhub doing its job; for monitors, installers and
//! systemd's status line) and `/metrics` (Prometheus text format).

use std::collections::BTreeMap;
use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;
use serde::Serialize;
use tokio::sync::watch;

use crate::ledger::LedgerStatus;
use crate::mqtt::MqttStatus;
use crate::state::{DeviceStatus, Snapshot};
use crate::supervisor::{Supervisor, TaskHealth};

/// What the operations endpoints read besides the dashboard's feeds.
#[derive(Clone)]
pub struct OpsFeeds {
    pub supervisor: Supervisor,
    pub mqtt: Option<watch::Receiver<MqttStatus>>,
}

/// Everything read once per request, so one answer is consistent.
#[derive(Debug)]
struct Reading {
    tasks: BTreeMap<String, TaskHealth>,
    failure: Option<String>,
    uptime_seconds: f64,
    snapshot: Arc<Snapshot>,
    ledger: Option<Arc<LedgerStatus>>,
    mqtt: Option<MqttStatus>,
    held: Option<usize>,
    /// With a dynamic tariff: the price of a kWh now, and whether the contract's
    /// average stands in for a missing day-ahead price.
    price: Option<crate::tariff::QuarterPrice>,
}

impl Reading {
    fn take(feeds: &super::Feeds) -> Self {
        let ops = &feeds.ops;
        Self {
            tasks: ops.supervisor.health(),
            failure: ops.supervisor.failure(),
            uptime_seconds: ops.supervisor.uptime().as_secs_f64(),
            snapshot: feeds.views.snapshot.borrow().clone(),
            ledger: feeds.views.ledger_status(),
            mqtt: ops.mqtt.as_ref().map(|m| m.borrow().clone()),
            held: feeds.views.control.as_ref().map(|c| c.borrow().held.len()),
            price: price_now(&feeds.views),
        }
    }
}

/// The price of a kWh now under the tariff, at the ledger's time.
fn price_now(views: &crate::views::Views) -> Option<crate::tariff::QuarterPrice> {
    let tariff = views.ledger.as_ref()?.setup().tariff.as_ref()?;
    let now = views.ledger_status()?.at?;
    let prices = views.prices.as_ref()?.current();
    Some(tariff.price(now, prices.now(now)))
}

/// How nomhub is doing, as `/api/health` answers.
#[derive(Debug, Serialize)]
pub struct Health {
    /// `ok`; `degraded` (working, but a device, the broker or the clock is missing);
    /// `failing` (a task is down or the store cannot be written: HTTP 503).
    pub status: &'static str,
    /// What makes it less than `ok`, in words.
    pub problems: Vec<String>,
    pub version: &'static str,
    pub uptime_seconds: f64,
    pub tasks: BTreeMap<String, TaskHealth>,
    pub devices: BTreeMap<String, DeviceStatus>,
    pub ledger: Option<LedgerHealth>,
    pub mqtt: Option<MqttStatus>,
}

#[derive(Debug, Serialize)]
pub struct LedgerHealth {
    /// When the ledger last summed up where the bundles stand.
    pub at: Option<chrono::DateTime<chrono::Utc>>,
    pub clock_trusted: bool,
    pub store_error: Option<String>,
    /// Counters that went back and stayed back (a meter replaced or reset), oldest first:
    /// the ledger counts on from where each went back to.
    pub rebases: Vec<RebaseHealth>,
}

#[derive(Debug, Serialize)]
pub struct RebaseHealth {
    pub device: String,
    pub point: String,
    pub at: Option<chrono::DateTime<chrono::Utc>>,
    pub previous_kwh: f64,
    pub base_kwh: f64,
}

/// How long a re-based counter makes nomhub `degraded`: long enough for someone to see
/// it and check the meter.
pub const REBASE_SHOWN: chrono::TimeDelta = chrono::TimeDelta::hours(24);

impl From<&crate::store::Rebase> for RebaseHealth {
    fn from(r: &crate::store::Rebase) -> Self {
        Self {
            device: r.device.to_string(),
            point: r.point.to_string(),
            at: chrono::DateTime::from_timestamp_millis(r.at_ms),
            previous_kwh: r.previous_wh as f64 / 1000.0,
            base_kwh: r.base_wh as f64 / 1000.0,
        }
    }
}

pub fn health(feeds: &super::Feeds) -> Health {
    Reading::take(feeds).health()
}

impl Reading {
    fn health(self) -> Health {
        let r = self;
        let mut failing = Vec::new();
        let mut degraded = Vec::new();
        failing.extend(r.failure.clone());
        for (name, t) in &r.tasks {
            if !t.running {
                let why = t.last_error.as_deref().unwrap_or("stopped");
                failing.push(format!("task `{name}` is not running ({why})"));
            }
        }
        for (id, d) in &r.snapshot.devices {
            if !d.online {
                let why = d.last_error.as_deref().unwrap_or("no answer");
                degraded.push(format!("device `{id}` is offline ({why})"));
            } else if let Some(tier) = d.tiers.iter().find_map(|(t, ok)| (!ok).then_some(t)) {
                let why = d.last_error.as_deref().unwrap_or("a request failed");
                degraded.push(format!(
                    "device `{id}` answers, but not all of tier `{tier}` ({why})"
                ));
            }
        }
        if let Some(l) = &r.ledger {
            if let Some(e) = &l.store_error {
                failing.push(format!("the ledger cannot write its store ({e})"));
            }
            if l.at.is_some() && !l.clock_trusted {
                degraded.push("the clock is not synchronised: energy is held back".to_owned());
            }
            for r in l.rebases.iter().map(RebaseHealth::from) {
                if let (Some(at), Some(now)) = (r.at, l.at)
                    && now - at < REBASE_SHOWN
                {
                    degraded.push(format!(
                    "counter `{}.{}` went back from {:.3} to {:.3} kWh at {} and stayed back (meter replaced or reset?); the ledger counts on from {:.3} kWh",
                    r.device,
                    r.point,
                    r.previous_kwh,
                    r.base_kwh,
                    at.with_timezone(&crate::clock::TZ).format("%Y-%m-%d %H:%M"),
                    r.base_kwh
                ));
                }
            }
        }
        if let Some(p) = &r.price
            && p.fallback
        {
            degraded.push(format!(
                "no day-ahead price for now: the contract's average ({:.3} €/kWh) stands in",
                p.day_ahead_eur_kwh
            ));
        }
        if let Some(m) = &r.mqtt
            && !m.connected
        {
            let why = m.last_error.as_deref().unwrap_or("connecting");
            degraded.push(format!("not connected to the MQTT broker ({why})"));
        }
        let status = match (failing.is_empty(), degraded.is_empty()) {
            (false, _) => "failing",
            (true, false) => "degraded",
            (true, true) => "ok",
        };
        Health {
            status,
            problems: failing.into_iter().chain(degraded).collect(),
            version: env!("CARGO_PKG_VERSION"),
            uptime_seconds: r.uptime_seconds,
            devices: r
                .snapshot
                .devices
                .iter()
                .map(|(id, d)| (id.to_string(), d.clone()))
                .collect(),
            ledger: r.ledger.as_ref().map(|l| LedgerHealth {
                at: l.at,
                clock_trusted: l.clock_trusted,
                store_error: l.store_error.clone(),
                rebases: l.rebases.iter().map(RebaseHealth::from).collect(),
            }),
            mqtt: r.mqtt,
            tasks: r.tasks,
        }
    }
}

/// The Prometheus exposition of everything `/api/health` reads, with the ledger's
/// totals and the running periods' bundles.
pub fn metrics(feeds: &super::Feeds) -> String {
    let mut registry = Registry::with_prefix("nomhub");
    registry.register_collector(Box::new(Reading::take(feeds)));
    let mut out = String::new();
    // Writing to a String cannot fail.
    if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &registry) {
        tracing::error!(error = %e, "Cannot encode the metrics.");
    }
    out
}

type Labels<'a> = [(&'static str, &'a str)];

/// One metric family, written one labelled sample at a time.
fn family<'a, M: EncodeMetric>(
    enc: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    samples: impl IntoIterator<Item = (Vec<(&'static str, &'a str)>, M)>,
) -> Result<(), std::fmt::Error> {
    let mut samples = samples.into_iter().peekable();
    let Some((_, first)) = samples.peek() else {
        return Ok(());
    };
    let mut m = enc.encode_descriptor(name, help, None, first.metric_type())?;
    for (labels, metric) in samples {
        let labels: &Labels = &labels;
        metric.encode(m.encode_family(&labels)?)?;
    }
    Ok(())
}

fn gauge(v: f64) -> ConstGauge<f64> {
    ConstGauge::new(v)
}

fn counter(v: u64) -> ConstCounter<u64> {
    ConstCounter::new(v)
}

fn flag(b: bool) -> ConstGauge<f64> {
    ConstGauge::new(if b { 1.0 } else { 0.0 })
}

impl Collector for Reading {
    fn encode(&self, mut enc: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let e = &mut enc;
        let version = env!("CARGO_PKG_VERSION");
        family(
            e,
            "build_info",
            "The running nomhub's version (always 1).",
            [(vec![("version", version)], gauge(1.0))],
        )?;
        family(
            e,
            "uptime_seconds",
            "Seconds since nomhub started.",
            [(vec![], gauge(self.uptime_seconds))],
        )?;
        let tasks = || {
            self.tasks
                .iter()
                .map(|(n, t)| (vec![("task", n.as_str())], t))
        };
        family(
            e,
            "task_up",
            "Whether a supervised task runs (0 while it waits to be restarted).",
            tasks().map(|(l, t)| (l, flag(t.running))),
        )?;
        family(
            e,
            "task_restarts",
            "How often a supervised task was restarted after it stopped.",
            tasks().map(|(l, t)| (l, counter(t.restarts))),
        )?;
        let devices = || {
            self.snapshot
                .devices
                .iter()
                .map(|(id, d)| (vec![("device", id.as_str())], d))
        };
        family(
            e,
            "device_up",
            "Whether the device's last poll succeeded.",
            devices().map(|(l, d)| (l, flag(d.online))),
        )?;
        family(
            e,
            "device_polls",
            "Polls of the device, failed or not.",
            devices().map(|(l, d)| (l, counter(d.polls))),
        )?;
        family(
            e,
            "device_poll_errors",
            "Polls of the device that failed (timeout, link, exception).",
            devices().map(|(l, d)| (l, counter(d.errors))),
        )?;
        let with_latency: Vec<_> = devices().filter(|(_, d)| d.latency.count > 0).collect();
        if !with_latency.is_empty() {
            let mut m = e.encode_descriptor(
                "device_poll_duration_seconds",
                "How long one poll of the device takes on the wire.",
                None,
                MetricType::Histogram,
            )?;
            for (labels, d) in with_latency {
                let labels: &Labels = &labels;
                m.encode_family(&labels)?
                    .encode_histogram::<prometheus_client::encoding::NoLabelSet>(
                        d.latency.sum_seconds,
                        d.latency.count,
                        &d.latency.pairs(),
                        None,
                    )?;
            }
        }
        if let Some(l) = &self.ledger {
            family(
                e,
                "ledger_energy_kwh",
                "Energy booked per series since the ledger began (kWh).",
                l.lifetime.iter().map(|(s, wh)| {
                    (
                        vec![("series", s.as_str())],
                        ConstCounter::new(wh.kwh().max(0.0)),
                    )
                }),
            )?;
            family(
                e,
                "ledger_clock_trusted",
                "Whether the clock is trusted, so energy is booked (0: held back).",
                [(vec![], flag(l.clock_trusted))],
            )?;
            let mut rebases: BTreeMap<(&str, &str), u64> = BTreeMap::new();
            for r in &l.rebases {
                *rebases
                    .entry((r.device.as_str(), r.point.as_str()))
                    .or_default() += 1;
            }
            family(
                e,
                "ledger_counter_rebases",
                "How often a counter went back and stayed back, so the ledger counts on from its new reading.",
                rebases
                    .into_iter()
                    .map(|((d, p), n)| (vec![("device", d), ("point", p)], counter(n))),
            )?;
            family(
                e,
                "ledger_store_ok",
                "Whether the ledger's last commit to its store succeeded.",
                [(vec![], flag(l.store_error.is_none()))],
            )?;
            let running: Vec<_> = l.positions.iter().filter(|p| p.running).collect();
            let positions = || {
                running.iter().map(|p| {
                    let labels = vec![
                        ("bundle", p.bundle_id.as_str()),
                        ("period", p.period.kind.as_str()),
                    ];
                    (labels, *p)
                })
            };
            for (name, help, value) in [
                (
                    "bundle_used_kwh",
                    "Energy used (or generated, for PV) in the running period.",
                    (|p| p.used.kwh()) as fn(&crate::ledger::Position) -> f64,
                ),
                (
                    "bundle_budget_kwh",
                    "The bundle for the whole running period.",
                    |p| p.bundle.kwh(),
                ),
                (
                    "bundle_expected_kwh",
                    "The bundle of the running period's time already past.",
                    |p| p.expected.kwh(),
                ),
                (
                    "bundle_projected_kwh",
                    "Where the running period is heading.",
                    |p| p.projected.kwh(),
                ),
            ] {
                family(
                    e,
                    name,
                    help,
                    positions().map(|(l, p)| (l, gauge(value(p)))),
                )?;
            }
        }
        if let Some(m) = &self.mqtt {
            family(
                e,
                "mqtt_connected",
                "Whether nomhub is connected to the MQTT broker.",
                [(vec![], flag(m.connected))],
            )?;
            for (name, help, v) in [
                (
                    "mqtt_connects",
                    "Connections made to the broker.",
                    m.connects,
                ),
                (
                    "mqtt_published",
                    "Messages handed to the broker.",
                    m.published,
                ),
                (
                    "mqtt_dropped",
                    "Messages not sent because the outgoing queue was full.",
                    m.dropped,
                ),
                (
                    "mqtt_rejected_commands",
                    "Commands from Home Assistant refused (bad topic or payload).",
                    m.rejected_commands,
                ),
            ] {
                family(e, name, help, [(vec![], counter(v))])?;
            }
        }
        if let Some(p) = &self.price {
            family(
                e,
                "price_eur_kwh",
                "What a kWh from the grid costs now, all in (€).",
                [(vec![], gauge(p.import_eur_kwh))],
            )?;
            family(
                e,
                "day_ahead_missing",
                "1 while the day-ahead price now is missing and the contract's average stands in.",
                [(vec![], flag(p.fallback))],
            )?;
        }
        if let Some(held) = self.held {
            family(
                e,
                "control_points_held",
                "Device points nomhub currently sets (0: the heat pump runs on its own settings).",
                [(vec![], gauge(held as f64))],
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::Latency;
    use std::time::Duration;

    fn reading() -> Reading {
        let mut snapshot = Snapshot::default();
        let mut latency = Latency::default();
        latency.observe(Duration::from_millis(20));
        latency.observe(Duration::from_millis(30));
        snapshot.devices.insert(
            crate::model::DeviceId::new("grid").unwrap(),
            DeviceStatus {
                online: false,
                polls: 7,
                errors: 2,
                latency,
                ..DeviceStatus::default()
            },
        );
        let mut tasks = BTreeMap::new();
        tasks.insert(
            "ledger".to_owned(),
            TaskHealth {
                running: true,
                restarts: 3,
                last_error: None,
            },
        );
        Reading {
            tasks,
            failure: None,
            uptime_seconds: 12.5,
            snapshot: Arc::new(snapshot),
            ledger: None,
            mqtt: Some(MqttStatus {
                connected: true,
                connects: 2,
                ..MqttStatus::default()
            }),
            held: Some(1),
            price: None,
        }
    }

    fn encode(r: Reading) -> String {
        let mut registry = Registry::with_prefix("nomhub");
        registry.register_collector(Box::new(r));
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &registry).unwrap();
        out
    }

    #[test]
    fn metrics_are_well_formed_with_cumulative_buckets() {
        let text = encode(reading());
        for line in [
            "# TYPE nomhub_device_polls counter",
            "nomhub_device_polls_total{device=\"grid\"} 7",
            "nomhub_device_poll_errors_total{device=\"grid\"} 2",
            "nomhub_device_up{device=\"grid\"} 0.0",
            "nomhub_device_poll_duration_seconds_count{device=\"grid\"} 2",
            "nomhub_device_poll_duration_seconds_bucket{le=\"0.025\",device=\"grid\"} 1",
            "nomhub_device_poll_duration_seconds_bucket{le=\"0.05\",device=\"grid\"} 2",
            "nomhub_device_poll_duration_seconds_bucket{le=\"+Inf\",device=\"grid\"} 2",
            "nomhub_task_restarts_total{task=\"ledger\"} 3",
            "nomhub_task_up{task=\"ledger\"} 1.0",
            "nomhub_mqtt_connected 1.0",
            "nomhub_mqtt_connects_total 2",
            "nomhub_control_points_held 1.0",
            "nomhub_uptime_seconds 12.5",
            "# EOF",
        ] {
            assert!(text.lines().any(|l| l == line), "no `{line}` in\n{text}");
        }
        // Every family is described once.
        let types: Vec<_> = text.lines().filter(|l| l.starts_with("# TYPE")).collect();
        let mut unique = types.clone();
        unique.dedup();
        assert_eq!(types, unique);
        assert!(!text.contains("ledger_"), "no ledger, no ledger metrics");
    }

    #[test]
    fn a_re_based_counter_is_listed_and_degrades_health_for_a_day() {
        let at = chrono::DateTime::from_timestamp(1_780_000_000, 0).unwrap();
        let rebase = crate::store::Rebase {
            device: crate::model::DeviceId::new("grid").unwrap(),
            point: crate::model::PointKey::new("import_energy").unwrap(),
            at_ms: at.timestamp_millis(),
            previous_wh: 3_104_250,
            base_wh: 12_000,
        };
        let with = |hours: i64| {
            let mut r = reading();
            r.snapshot = Arc::new(Snapshot::default());
            r.ledger = Some(Arc::new(LedgerStatus {
                at: Some(at + chrono::TimeDelta::hours(hours)),
                clock_trusted: true,
                rebases: vec![rebase.clone()],
                ..LedgerStatus::default()
            }));
            r
        };
        let h = with(2).health();
        assert_eq!(h.status, "degraded", "{:?}", h.problems);
        assert!(
            h.problems[0].contains("`grid.import_energy` went back from 3104.250 to 12.000 kWh"),
            "{:?}",
            h.problems
        );
        let l = h.ledger.unwrap();
        assert_eq!(l.rebases.len(), 1);
        assert_eq!(l.rebases[0].base_kwh, 12.0);
        // A day on it is history: listed, no longer a problem.
        let h = with(25).health();
        assert_eq!(h.status, "ok", "{:?}", h.problems);
        assert_eq!(h.ledger.unwrap().rebases.len(), 1);
        let text = encode(with(25));
        assert!(
            text.lines().any(|l| l
                == "nomhub_ledger_counter_rebases_total{device=\"grid\",point=\"import_energy\"} 1"),
            "{text}"
        );
    }

    #[test]
    fn a_missing_day_ahead_price_degrades_health_and_shows_in_the_metrics() {
        let missing = || {
            let mut r = reading();
            r.snapshot = Arc::new(Snapshot::default());
            r.price = Some(crate::tariff::QuarterPrice {
                import_eur_kwh: 0.2466,
                export_eur_kwh: 0.075,
                net_metering: false,
                day_ahead_eur_kwh: 0.09,
                fallback: true,
            });
            r
        };
        let text = encode(missing());
        assert!(
            text.lines().any(|l| l == "nomhub_day_ahead_missing 1.0"),
            "{text}"
        );
        assert!(
            text.lines().any(|l| l == "nomhub_price_eur_kwh 0.2466"),
            "{text}"
        );
        let r = missing();
        let h = r.health();
        assert_eq!(h.status, "degraded");
        assert!(
            h.problems[0].contains("average (0.090 €/kWh)"),
            "{:?}",
            h.problems
        );
    }
}
