//! A P1 meter as a device: telegrams from its port become poll reports like any
//! poller's, each point of its profile a sample, counters through the same
//! plausibility checks; a damaged telegram is a failed poll that reads nothing, and a
//! port that stays silent makes the meter unreachable.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::points::value;
use super::source::{self, Dropped, Event, Source};
use crate::clock::Clock;
use crate::device::poller::check_counter;
use crate::device::{CounterGuard, PollError, PollErrorKind, PollReport};
use crate::model::{DeviceId, Sample};
use crate::profile::ResolvedProfile;

/// No good telegram for this long: the meter is unreachable (a DSMR 4 meter sends
/// every ten seconds).
pub const SILENT_AFTER: Duration = Duration::from_secs(30);

/// The tier every P1 sample comes in.
pub const TIER: &str = "telegram";

/// Reads the P1 meter `id` at `link` until `cancel`, sending a report per telegram.
pub async fn run(
    id: DeviceId,
    profile: Arc<ResolvedProfile>,
    link: Source,
    clock: Clock,
    out: mpsc::Sender<PollReport>,
    cancel: CancellationToken,
) {
    let (tx, mut rx) = mpsc::channel(64);
    let reader = tokio::spawn(source::run(link.clone(), tx, cancel.child_token()));
    let mut guards: HashMap<usize, CounterGuard> = profile
        .points
        .iter()
        .enumerate()
        .filter_map(|(i, p)| p.counter.map(|c| (i, CounterGuard::new(c.max_power_w))))
        .collect();
    let mut silence = tokio::time::interval(SILENT_AFTER);
    silence.tick().await;
    // Log a run of drops once, and the first good telegram after it.
    let mut failing = false;
    loop {
        let event = tokio::select! {
            () = cancel.cancelled() => break,
            e = rx.recv() => e,
            _ = silence.tick() => {
                let e = PollError { kind: PollErrorKind::Unreachable, text: format!("no telegram from {link} for {} s", SILENT_AFTER.as_secs()) };
                if !failing {
                    tracing::warn!(device = %id, p1 = %link, "P1 meter silent.");
                    failing = true;
                }
                if out.send(report(&id, &profile, Vec::new(), Some(e))).await.is_err() {
                    break;
                }
                continue;
            }
        };
        let Some(event) = event else { break };
        let r = match event {
            Event::Reading(r) => {
                silence.reset();
                if failing {
                    tracing::info!(device = %id, p1 = %link, "P1 meter sends good telegrams again.");
                    failing = false;
                }
                let at = clock.now();
                let samples = profile
                    .points
                    .iter()
                    .enumerate()
                    .filter_map(|(i, p)| {
                        let v = value(p, p.p1?, &r);
                        let (v, read_at) = match guards.get_mut(&i) {
                            Some(g) => check_counter(g, &id, p, v, at),
                            None => (v, at),
                        };
                        Some(Sample {
                            device: id.clone(),
                            point: p.key.clone(),
                            value: v,
                            at: read_at,
                        })
                    })
                    .collect();
                report(&id, &profile, samples, None)
            }
            Event::Dropped(d) => {
                let text = match &d {
                    Dropped::Bad(e) => format!("telegram dropped: {e}"),
                    Dropped::Cut(n) => format!("telegram cut off ({n} bytes) dropped"),
                    Dropped::Garbage(n) => format!("{n} bytes outside any telegram dropped"),
                };
                if !failing {
                    tracing::warn!(device = %id, p1 = %link, "{text}");
                    failing = true;
                } else {
                    tracing::debug!(device = %id, p1 = %link, "{text}");
                }
                let e = PollError {
                    kind: PollErrorKind::Transient,
                    text,
                };
                report(&id, &profile, Vec::new(), Some(e))
            }
            Event::Link(true) => continue,
            Event::Link(false) => {
                let e = PollError {
                    kind: PollErrorKind::Unreachable,
                    text: format!("cannot read {link}"),
                };
                report(&id, &profile, Vec::new(), Some(e))
            }
        };
        if out.send(r).await.is_err() {
            break;
        }
    }
    reader.abort();
}

fn report(
    id: &DeviceId,
    profile: &Arc<ResolvedProfile>,
    samples: Vec<Sample>,
    error: Option<PollError>,
) -> PollReport {
    PollReport {
        device: id.clone(),
        tier: TIER.to_owned(),
        // Nothing is asked of a P1 port: no requests, no round-trip time.
        answered: usize::from(error.is_none()),
        requests: 0,
        samples,
        error,
        took: Duration::ZERO,
        profile: Some(profile.clone()),
    }
}
