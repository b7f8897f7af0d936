//! Folds poll reports into the current snapshot, served on a `watch` channel.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde::Serialize;
use tokio::sync::{mpsc, watch};

use crate::device::PollReport;
use crate::model::{DeviceId, PointKey, Sample};

/// How a device is doing, from its last polls.
#[derive(Debug, Clone, Default, Serialize)]
pub struct DeviceStatus {
    pub online: bool,
    #[serde(skip)]
    pub last_success: Option<SystemTime>,
    /// Polls reported, failed or not.
    pub polls: u64,
    pub errors: u64,
    pub last_error: Option<String>,
    /// How long the last poll that sent requests took, in milliseconds.
    pub last_poll_ms: Option<f64>,
    /// How long polls take, for `/metrics`.
    #[serde(skip)]
    pub latency: Latency,
}

/// Upper bounds (seconds) of the poll-latency histogram's buckets; a Modbus TCP poll on
/// the LAN takes milliseconds, an RS485 one at 9600 baud tens to hundreds.
pub const LATENCY_BOUNDS: [f64; 10] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0];

/// A histogram of poll durations: counts per bucket (not cumulative; the last one is
/// everything above the largest bound), their sum and count.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Latency {
    pub buckets: [u64; LATENCY_BOUNDS.len() + 1],
    pub sum_seconds: f64,
    pub count: u64,
}

impl Latency {
    pub fn observe(&mut self, took: Duration) {
        let s = took.as_secs_f64();
        let i = LATENCY_BOUNDS
            .iter()
            .position(|&b| s <= b)
            .unwrap_or(LATENCY_BOUNDS.len());
        self.buckets[i] += 1;
        self.sum_seconds += s;
        self.count += 1;
    }

    /// (upper bound, count) pairs, the last bound infinite.
    pub fn pairs(&self) -> Vec<(f64, u64)> {
        LATENCY_BOUNDS
            .iter()
            .copied()
            .chain([f64::INFINITY])
            .zip(self.buckets)
            .collect()
    }
}

/// Every point's latest sample and every device's status.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Snapshot {
    pub points: BTreeMap<(DeviceId, PointKey), Sample>,
    pub devices: BTreeMap<DeviceId, DeviceStatus>,
}

impl Snapshot {
    pub fn get(&self, device: &str, point: &str) -> Option<&Sample> {
        self.points
            .iter()
            .find(|((d, p), _)| d.as_str() == device && p.as_str() == point)
            .map(|(_, s)| s)
    }

    pub fn apply(&mut self, report: PollReport) {
        let status = self.devices.entry(report.device.clone()).or_default();
        status.polls += 1;
        if report.requests > 0 {
            status.latency.observe(report.took);
            status.last_poll_ms = Some(report.took.as_secs_f64() * 1000.0);
        }
        match &report.error {
            Some(e) => {
                status.online = false;
                status.errors += 1;
                status.last_error = Some(e.clone());
            }
            None => {
                status.online = true;
                status.last_success = report.samples.first().map(|s| s.at);
            }
        }
        for s in report.samples {
            self.points.insert((s.device.clone(), s.point.clone()), s);
        }
    }
}

/// Runs the fold until every sender is gone.
pub async fn run(mut reports: mpsc::Receiver<PollReport>, out: watch::Sender<Arc<Snapshot>>) {
    let mut snap = Snapshot::default();
    while let Some(r) = reports.recv().await {
        snap.apply(r);
        out.send_replace(Arc::new(snap.clone()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_falls_in_the_first_bucket_that_holds_it() {
        let mut l = Latency::default();
        for ms in [1, 5, 6, 300, 9000] {
            l.observe(Duration::from_millis(ms));
        }
        let pairs = l.pairs();
        assert_eq!(pairs[0], (0.005, 2), "1 ms and exactly 5 ms");
        assert_eq!(pairs[1], (0.01, 1));
        assert_eq!(pairs[6], (0.5, 1));
        assert_eq!(pairs[10], (f64::INFINITY, 1));
        assert_eq!(l.count, 5);
        assert!((l.sum_seconds - 9.312).abs() < 1e-9);
    }
}
