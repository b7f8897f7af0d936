//! Folds poll reports into the current snapshot, served on a `watch` channel.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde::Serialize;
use tokio::sync::{mpsc, watch};

use crate::device::{PollErrorKind, PollReport};
use crate::model::{DeviceId, PointKey, Sample};
use crate::profile::ResolvedProfile;

/// How a device is doing, from the last poll of each of its tiers together.
#[derive(Debug, Clone, Default, Serialize)]
pub struct DeviceStatus {
    /// The device answers: some tier's last poll read registers. Blocks refused beside
    /// blocks that read leave it online (those points are unavailable, each with its
    /// reason, and the tier is incomplete); a poll it does not answer counts for every
    /// tier. Offline after `offline_after` polls in a row that read nothing.
    pub online: bool,
    /// Each tier's last poll: whether it read everything it asked (false: the device is
    /// degraded, `last_error` says why).
    pub tiers: BTreeMap<String, bool>,
    /// Each tier's last poll: whether it read any block at all.
    #[serde(skip)]
    pub answering: BTreeMap<String, bool>,
    /// Polls in a row that read nothing.
    pub misses: u32,
    /// The kind of the last error.
    pub last_error_kind: Option<PollErrorKind>,
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
    /// Its profile as resolved against it (SunSpec: the models found), once identified.
    #[serde(skip)]
    pub profile: Option<Arc<ResolvedProfile>>,
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

    /// Folds one poll in; a device that was online shows offline after `offline_after`
    /// polls in a row that read nothing (`[hub] offline_after`; 0 and 1: at the first).
    pub fn apply(&mut self, report: PollReport, offline_after: u32) {
        let status = self.devices.entry(report.device.clone()).or_default();
        status.polls += 1;
        if report.requests > 0 {
            status.latency.observe(report.took);
            status.last_poll_ms = Some(report.took.as_secs_f64() * 1000.0);
        }
        if let Some(p) = report.profile {
            status.profile = Some(p);
        }
        if report.tier.is_empty() {
            // Not identified: the device as a whole, whatever its tiers did before.
            status.tiers.clear();
            status.answering.clear();
        } else {
            status.tiers.remove("");
            status.answering.remove("");
        }
        status
            .tiers
            .insert(report.tier.clone(), report.error.is_none());
        status.answering.insert(
            report.tier.clone(),
            report.answered > 0 || report.error.is_none(),
        );
        if let Some(e) = &report.error {
            status.errors += 1;
            status.last_error = Some(e.text.clone());
            status.last_error_kind = Some(e.kind);
            if matches!(
                e.kind,
                PollErrorKind::Unreachable | PollErrorKind::Unidentified
            ) {
                // Silence is the device's, not the tier's.
                status.answering.values_mut().for_each(|ok| *ok = false);
            }
        } else {
            status.last_success = report.samples.first().map(|s| s.at);
        }
        if status.answering.values().any(|ok| *ok) {
            status.misses = 0;
            status.online = true;
        } else {
            status.misses = status.misses.saturating_add(1);
            if status.misses >= offline_after {
                status.online = false;
            }
        }
        for s in report.samples {
            self.points.insert((s.device.clone(), s.point.clone()), s);
        }
    }
}

/// Runs the fold until every sender is gone; a device goes offline after
/// `offline_after` polls in a row that read nothing.
pub async fn run(
    mut reports: mpsc::Receiver<PollReport>,
    out: watch::Sender<Arc<Snapshot>>,
    offline_after: u32,
) {
    let mut snap = Snapshot::default();
    while let Some(r) = reports.recv().await {
        snap.apply(r, offline_after);
        out.send_replace(Arc::new(snap.clone()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::PollError;

    fn report(tier: &str, error: Option<PollErrorKind>) -> PollReport {
        PollReport {
            device: DeviceId::new("heat_pump").unwrap_or_else(|e| panic!("{e}")),
            tier: tier.to_owned(),
            samples: Vec::new(),
            error: error.map(|kind| PollError {
                kind,
                text: format!("{kind:?}"),
            }),
            requests: 1,
            answered: usize::from(error.is_none()),
            took: Duration::from_millis(5),
            profile: None,
        }
    }

    #[test]
    fn a_failing_slow_tier_beside_a_healthy_fast_one_does_not_flap() {
        let mut snap = Snapshot::default();
        let mut seen = Vec::new();
        for i in 0..12 {
            let r = if i % 3 == 2 {
                report("slow", Some(PollErrorKind::Transient))
            } else {
                report("fast", None)
            };
            snap.apply(r, 1);
            seen.push(snap.devices["heat_pump"].online);
        }
        assert!(seen.iter().all(|o| *o), "{seen:?}");
        let d = &snap.devices["heat_pump"];
        assert!(!d.tiers["slow"]);
        assert!(d.tiers["fast"]);
        assert_eq!(d.last_error_kind, Some(PollErrorKind::Transient));
        assert_eq!(d.errors, 4);
    }

    #[test]
    fn a_device_that_does_not_answer_is_offline_at_once_and_back_with_any_tier() {
        let mut snap = Snapshot::default();
        snap.apply(report("fast", None), 1);
        snap.apply(report("slow", None), 1);
        snap.apply(report("slow", Some(PollErrorKind::Unreachable)), 1);
        assert!(!snap.devices["heat_pump"].online);
        // A refusal from the other tier does not say it is back …
        snap.apply(report("fast", Some(PollErrorKind::Permanent)), 1);
        assert!(!snap.devices["heat_pump"].online);
        // … an answer does.
        snap.apply(report("fast", None), 1);
        assert!(snap.devices["heat_pump"].online);
    }

    #[test]
    fn a_tier_with_a_refused_block_beside_blocks_that_read_is_online_but_incomplete() {
        let mut snap = Snapshot::default();
        snap.apply(
            PollReport {
                requests: 3,
                answered: 2,
                ..report("fast", Some(PollErrorKind::Permanent))
            },
            1,
        );
        let d = &snap.devices["heat_pump"];
        assert!(d.online);
        assert!(!d.tiers["fast"]);
        // The same tier with nothing read: offline.
        snap.apply(report("fast", Some(PollErrorKind::Permanent)), 1);
        assert!(!snap.devices["heat_pump"].online);
    }

    #[test]
    fn one_lost_poll_does_not_show_and_one_good_poll_brings_it_back() {
        let mut snap = Snapshot::default();
        snap.apply(report("fast", None), 3);
        let mut seen = Vec::new();
        for _ in 0..3 {
            snap.apply(report("fast", Some(PollErrorKind::Unreachable)), 3);
            seen.push(snap.devices["heat_pump"].online);
        }
        assert_eq!(seen, [true, true, false]);
        snap.apply(report("fast", None), 3);
        assert!(snap.devices["heat_pump"].online);
        // 30 % of the polls lost, never three in a row: it never shows offline.
        for i in 0..30 {
            let lost = i % 3 == 0;
            snap.apply(
                report("fast", lost.then_some(PollErrorKind::Unreachable)),
                3,
            );
            assert!(snap.devices["heat_pump"].online, "poll {i}");
        }
    }

    #[test]
    fn a_device_that_refuses_every_tier_is_offline() {
        let mut snap = Snapshot::default();
        snap.apply(report("fast", None), 1);
        snap.apply(report("slow", None), 1);
        snap.apply(report("fast", Some(PollErrorKind::Transient)), 1);
        assert!(snap.devices["heat_pump"].online, "the slow tier still read");
        snap.apply(report("slow", Some(PollErrorKind::Transient)), 1);
        assert!(!snap.devices["heat_pump"].online);
    }

    #[test]
    fn the_profile_resolved_against_the_device_is_kept_for_control() {
        let set = crate::profile::ProfileSet::embedded().unwrap_or_else(|e| panic!("{e}"));
        let p = set
            .get("eastron-sdm630")
            .and_then(|p| p.resolve().ok())
            .map(Arc::new);
        let mut snap = Snapshot::default();
        snap.apply(
            PollReport {
                profile: p.clone(),
                ..report("fast", None)
            },
            1,
        );
        // Later reports without one (an identification retry) do not drop it.
        snap.apply(report("fast", None), 1);
        let kept = snap.devices["heat_pump"].profile.as_ref();
        assert!(kept.is_some_and(|k| p.as_ref().is_some_and(|p| Arc::ptr_eq(k, p))));
    }

    #[test]
    fn an_unidentified_device_is_offline_until_a_tier_answers() {
        let mut snap = Snapshot::default();
        snap.apply(report("", Some(PollErrorKind::Unidentified)), 1);
        let d = &snap.devices["heat_pump"];
        assert!(!d.online);
        assert_eq!(d.tiers.keys().collect::<Vec<_>>(), [""]);
        snap.apply(report("fast", None), 1);
        let d = &snap.devices["heat_pump"];
        assert!(d.online);
        assert_eq!(d.tiers.keys().collect::<Vec<_>>(), ["fast"]);
    }

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
