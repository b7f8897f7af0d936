//! One poller per device: profile + bus handle → samples, tier by tier.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde::Serialize;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::counter::{CounterGuard, Verdict};
use super::point::decode_point;
use super::sunspec;
use crate::clock::Clock;
use crate::modbus::BusHandle;
use crate::model::{DeviceId, Sample, Unavailable, Value};
use crate::profile::{Block, Profile, ResolvedProfile, plan_tiers};

/// What kind of failure a poll met, from the bus to `/api/health` and Home Assistant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PollErrorKind {
    /// The device did not answer (no link, a timeout, the bus restarting): it is offline.
    Unreachable,
    /// It answered with a refusal that may pass (busy, gateway) or a short reply.
    Transient,
    /// It refused a block for good (illegal address or function).
    Permanent,
    /// Its profile could not be matched to it (SunSpec discovery failed).
    Unidentified,
}

/// Why a poll failed: its kind and the first error's text.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PollError {
    pub kind: PollErrorKind,
    pub text: String,
}

impl PollError {
    fn from_bus(e: &crate::modbus::BusError) -> Self {
        let kind = if !e.is_transient() {
            PollErrorKind::Permanent
        } else if e.reached_device() {
            PollErrorKind::Transient
        } else {
            PollErrorKind::Unreachable
        };
        Self {
            kind,
            text: e.to_string(),
        }
    }
}

impl std::fmt::Display for PollError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

/// What a poller reports after polling one tier.
#[derive(Debug, Clone, Serialize)]
pub struct PollReport {
    pub device: DeviceId,
    /// The tier polled; empty for a device not yet identified.
    pub tier: String,
    pub samples: Vec<Sample>,
    /// The first error of this poll, if any request failed.
    pub error: Option<PollError>,
    /// Requests sent in this poll.
    pub requests: usize,
    /// Requests the device answered with registers.
    pub answered: usize,
    /// How long the poll took on the wire (zero when nothing was sent).
    pub took: Duration,
    /// The profile as resolved against the device (SunSpec: its discovered models),
    /// once it is identified; control writes through it.
    #[serde(skip)]
    pub profile: Option<Arc<ResolvedProfile>>,
}

/// How long a block the device refused for good waits before it is asked again, by
/// refusals in a row; the last wait repeats. A two-second burst of refusals (a gateway
/// rebooting) costs at most the first wait.
pub const REFUSED_RETRY: [Duration; 5] = [
    Duration::from_secs(10),
    Duration::from_secs(60),
    Duration::from_secs(300),
    Duration::from_secs(1800),
    Duration::from_secs(3600),
];

/// A block refused for good, and when it is asked again.
#[derive(Debug)]
struct Refused {
    why: String,
    refusals: u32,
    retry_at: Instant,
}

/// Everything a poller needs to know about its device.
#[derive(Clone)]
pub struct DeviceSpec {
    pub id: DeviceId,
    pub profile: Profile,
    pub unit: u8,
    pub bus: BusHandle,
    /// Overrides the profile's tier intervals (e.g. a faster demo).
    pub interval_override: Option<Duration>,
    /// Stamps the samples.
    pub clock: Clock,
}

/// Resolves the profile (SunSpec discovery when needed) against the live device.
pub async fn resolve(spec: &DeviceSpec) -> Result<ResolvedProfile, String> {
    match &spec.profile.file.sunspec {
        None => spec.profile.resolve().map_err(|e| e.to_string()),
        Some(s) => {
            let (_, models) = sunspec::discover(&spec.bus, spec.unit, &s.bases)
                .await
                .map_err(|e| e.to_string())?;
            spec.profile
                .resolve_sunspec(&models)
                .map_err(|e| e.to_string())
        }
    }
}

/// Per-device polling state: plans, counter guards, failure bookkeeping.
pub struct Poller {
    pub id: DeviceId,
    pub profile: Arc<ResolvedProfile>,
    unit: u8,
    bus: BusHandle,
    clock: Clock,
    tiers: Vec<(String, Vec<Block>)>,
    guards: HashMap<usize, CounterGuard>,
    /// Blocks the device refused for good (illegal address or function), each asked
    /// again later: a gateway or heat pump that is booting, or confused by a second
    /// master, answers so for a while.
    refused: HashMap<(u16, u16), Refused>,
    /// Polls in a row in which a request failed and none answered: the device is not
    /// there, so it is asked less often.
    failures: u32,
    /// Whether a failed poll was logged and no [`CLEAN_POLLS`] clean ones followed yet.
    failing: bool,
    /// Polls in a row in which every request was answered.
    clean: u32,
}

/// Clean polls in a row after which a device that failed counts as answering again: a
/// device that fails a request now and then is logged once, not at every failure.
pub const CLEAN_POLLS: u32 = 5;

impl Poller {
    pub fn new(spec: &DeviceSpec, profile: ResolvedProfile) -> Self {
        let tiers = plan_tiers(&profile);
        let guards = profile
            .points
            .iter()
            .enumerate()
            .filter_map(|(i, p)| p.counter.map(|c| (i, CounterGuard::new(c.max_power_w))))
            .collect();
        Self {
            id: spec.id.clone(),
            profile: Arc::new(profile),
            unit: spec.unit,
            bus: spec.bus.clone(),
            clock: spec.clock.clone(),
            tiers,
            guards,
            refused: HashMap::new(),
            failures: 0,
            failing: false,
            clean: 0,
        }
    }

    pub fn tiers(&self) -> &[(String, Vec<Block>)] {
        &self.tiers
    }

    /// Polls every tier once (used by `devices check` and at start).
    pub async fn poll_all(&mut self) -> Vec<PollReport> {
        let mut out = Vec::new();
        for t in 0..self.tiers.len() {
            out.push(self.poll_tier(t).await);
        }
        out
    }

    /// Reads every block of tier `t` and decodes its points.
    pub async fn poll_tier(&mut self, t: usize) -> PollReport {
        // Taken out for the poll and put back after, so the plan is not copied each time.
        let (tier, blocks) = std::mem::take(&mut self.tiers[t]);
        let began = Instant::now();
        let mut samples = Vec::new();
        // Errors of requests sent, and refusals of blocks still waiting to be asked again:
        // only the first count as a failed poll (backoff, logging).
        let (mut failed, mut waiting): (Option<PollError>, Option<PollError>) = (None, None);
        let (mut requests, mut answered) = (0, 0);
        // A device that gave no answer at all is not asked for the tier's other blocks
        // in this poll: each request would hold the bus (and every other device on it)
        // for another timeout.
        let mut silent: Option<String> = None;
        for block in &blocks {
            let at = self.clock.now();
            let key = (block.addr, block.count);
            if let Some(r) = self.refused.get(&key)
                && Instant::now() < r.retry_at
            {
                for &i in &block.points {
                    samples.push(self.sample(i, Err(Unavailable::PollFailed(r.why.clone())), at));
                }
                waiting.get_or_insert_with(|| PollError {
                    kind: PollErrorKind::Permanent,
                    text: r.why.clone(),
                });
                continue;
            }
            if let Some(why) = &silent {
                for &i in &block.points {
                    samples.push(self.sample(i, Err(Unavailable::PollFailed(why.clone())), at));
                }
                continue;
            }
            requests += 1;
            match self.bus.call(self.unit, block.op()).await {
                Ok(words) => {
                    answered += 1;
                    if let Some(r) = self.refused.remove(&key) {
                        tracing::info!(device = %self.id, register = block.addr, refusals = r.refusals, "Register block answers again.");
                    }
                    for &i in &block.points {
                        let value = decode_point(&self.profile.points[i], block.addr, &words);
                        let (value, read_at) = self.guard(i, value, at);
                        samples.push(self.sample(i, value, read_at));
                    }
                }
                Err(e) => {
                    let error = PollError::from_bus(&e);
                    let text = error.text.clone();
                    for &i in &block.points {
                        samples.push(self.sample(
                            i,
                            Err(Unavailable::PollFailed(text.clone())),
                            at,
                        ));
                    }
                    if e.is_transient() {
                        if error.kind == PollErrorKind::Unreachable {
                            silent = Some(text);
                        }
                        failed.get_or_insert(error);
                    } else {
                        self.refuse(key, &e);
                        waiting.get_or_insert(error);
                    }
                }
            }
        }
        self.tiers[t] = (tier.clone(), blocks);
        self.clean = if failed.is_some() {
            0
        } else {
            self.clean.saturating_add(1)
        };
        match &failed {
            Some(e) if !self.failing => {
                self.failing = true;
                tracing::warn!(device = %self.id, error = %e, answered, requests, "Device poll failed.");
            }
            Some(e) => {
                tracing::debug!(device = %self.id, error = %e, answered, requests, "Device poll still failing.")
            }
            None if self.failing && self.clean >= CLEAN_POLLS => {
                self.failing = false;
                tracing::info!(device = %self.id, "Device answers again.");
            }
            None => {}
        }
        // Only a device that answered nothing is asked less often.
        self.failures = if failed.is_some() && answered == 0 {
            self.failures.saturating_add(1)
        } else {
            0
        };
        let error = failed.or(waiting);
        PollReport {
            device: self.id.clone(),
            tier,
            samples,
            error,
            requests,
            answered,
            took: began.elapsed(),
            profile: Some(self.profile.clone()),
        }
    }

    /// A block refused for good once more: asked again after the next wait of
    /// [`REFUSED_RETRY`]; logged at the first refusal only.
    fn refuse(&mut self, key: (u16, u16), e: &crate::modbus::BusError) {
        let r = self.refused.entry(key).or_insert(Refused {
            why: String::new(),
            refusals: 0,
            retry_at: Instant::now(),
        });
        r.refusals += 1;
        r.why = e.to_string();
        let wait = REFUSED_RETRY[(r.refusals as usize - 1).min(REFUSED_RETRY.len() - 1)];
        r.retry_at = Instant::now() + wait;
        if r.refusals == 1 {
            tracing::warn!(device = %self.id, register = key.0, error = %e, retry_in = ?wait, "Register block refused; it is asked again later.");
        } else {
            tracing::debug!(device = %self.id, register = key.0, refusals = r.refusals, retry_in = ?wait, "Register block still refused.");
        }
    }

    /// Counters pass the plausibility checks before anyone sees them.
    fn guard(
        &mut self,
        i: usize,
        value: Result<Value, Unavailable>,
        at: SystemTime,
    ) -> (Result<Value, Unavailable>, SystemTime) {
        match self.guards.get_mut(&i) {
            Some(guard) => check_counter(guard, &self.id, &self.profile.points[i], value, at),
            None => (value, at),
        }
    }

    fn sample(&self, i: usize, value: Result<Value, Unavailable>, at: SystemTime) -> Sample {
        Sample {
            device: self.id.clone(),
            point: self.profile.points[i].key.clone(),
            value,
            at,
        }
    }

    /// Time until the next poll after `failures` polls in a row that read nothing: the
    /// tier's interval, doubled per failure up to a minute, with jitter.
    fn backoff(&self, interval: Duration) -> Duration {
        if self.failures == 0 {
            return interval;
        }
        let factor = 2u32.saturating_pow(self.failures.min(6));
        let d = (interval * factor)
            .min(Duration::from_secs(60))
            .max(interval);
        d + d.mul_f64(fastrand::f64() * 0.2)
    }
}

/// A counter's reading through its plausibility checks (the poller's and the P1
/// reader's): a reading that went back, or rose faster than the device can pass, is
/// refused; a counter that went back and stayed back is counted on from there. With
/// the value, the time it stands for: a re-base passes on its base, as read then.
pub fn check_counter(
    guard: &mut CounterGuard,
    device: &DeviceId,
    p: &crate::profile::PointDef,
    value: Result<Value, Unavailable>,
    at: SystemTime,
) -> (Result<Value, Unavailable>, SystemTime) {
    let Ok(Value::Energy(e)) = value else {
        return (value, at);
    };
    let verdict = guard.check(e, at);
    // Where the reading came from, for the log: its register, or the telegram's field.
    let from = match p.p1 {
        Some(f) => format!("P1 {f:?}"),
        None => format!("register {}", p.addr),
    };
    match &verdict {
        Verdict::Rebased { previous, base, .. } => {
            tracing::warn!(device = %device, point = %p.key, from = %from, previous_kwh = previous.kwh(), base_kwh = base.kwh(), now_kwh = e.kwh(), "Meter counter went back and stayed back; counting on from where it went back to.");
            // The run's first reading goes out first, as read then, so the ledger
            // books what the meter passed since; this reading follows at the next poll.
            return (Ok(Value::Energy(*base)), guard.based_at().unwrap_or(at));
        }
        Verdict::Backwards { first: false, .. } => {
            let reason = verdict.reason().unwrap_or_default();
            tracing::debug!(device = %device, point = %p.key, from = %from, value_kwh = e.kwh(), "Counter reading still below its last; rejected.");
            return (Err(Unavailable::Rejected(reason)), at);
        }
        v if !v.is_accepted() => {
            let reason = v.reason().unwrap_or_default();
            tracing::warn!(device = %device, point = %p.key, from = %from, value_kwh = e.kwh(), reason = %reason, "Counter reading rejected.");
            return (Err(Unavailable::Rejected(reason)), at);
        }
        _ => {}
    }
    (Ok(Value::Energy(e)), at)
}

/// Runs a device's poller until `cancel`: resolves the profile (retrying), then
/// polls each tier at its interval and sends the reports to `out`.
pub async fn run(spec: DeviceSpec, out: mpsc::Sender<PollReport>, cancel: CancellationToken) {
    let mut wait = Duration::from_secs(1);
    let profile = loop {
        match resolve(&spec).await {
            Ok(p) => break p,
            Err(e) => {
                tracing::warn!(device = %spec.id, error = %e, "Cannot identify the device; retrying.");
                let report = PollReport {
                    device: spec.id.clone(),
                    tier: String::new(),
                    samples: Vec::new(),
                    error: Some(PollError {
                        kind: PollErrorKind::Unidentified,
                        text: e,
                    }),
                    requests: 0,
                    answered: 0,
                    took: Duration::ZERO,
                    profile: None,
                };
                if out.send(report).await.is_err() {
                    return;
                }
                tokio::select! {
                    () = cancel.cancelled() => return,
                    () = tokio::time::sleep(wait) => {}
                }
                wait = (wait * 2).min(Duration::from_secs(60));
            }
        }
    };
    let mut poller = Poller::new(&spec, profile);
    let intervals: Vec<Duration> = poller
        .tiers
        .iter()
        .map(|(t, _)| {
            spec.interval_override.unwrap_or_else(|| {
                poller
                    .profile
                    .tiers
                    .get(t)
                    .copied()
                    .unwrap_or(Duration::from_secs(10))
            })
        })
        .collect();
    let mut due: Vec<Instant> = vec![Instant::now(); intervals.len()];
    loop {
        let Some((t, next)) = due.iter().copied().enumerate().min_by_key(|(_, d)| *d) else {
            return;
        };
        tokio::select! {
            () = cancel.cancelled() => return,
            () = tokio::time::sleep_until(next) => {}
        }
        let report = poller.poll_tier(t).await;
        due[t] = Instant::now() + poller.backoff(intervals[t]);
        if out.send(report).await.is_err() {
            return;
        }
    }
}
