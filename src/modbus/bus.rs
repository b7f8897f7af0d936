//! One owner per physical bus (an RS485 line or a TCP endpoint): every unit on it
//! is reached through this actor, so requests never interleave on the wire.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::{Mutex, mpsc, oneshot};
use tokio::time::{Instant, timeout};
use tokio_modbus::client::{Context, Reader, Writer};
use tokio_modbus::prelude::{Slave, SlaveContext};
use tokio_util::sync::CancellationToken;

use super::error::BusError;
use crate::model::BusId;

/// The four Modbus data tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RegisterKind {
    Coil,
    Discrete,
    Input,
    Holding,
}

impl RegisterKind {
    pub fn is_bit(self) -> bool {
        matches!(self, RegisterKind::Coil | RegisterKind::Discrete)
    }
}

impl fmt::Display for RegisterKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RegisterKind::Coil => "coil",
            RegisterKind::Discrete => "discrete",
            RegisterKind::Input => "input",
            RegisterKind::Holding => "holding",
        })
    }
}

impl std::str::FromStr for RegisterKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "coil" => RegisterKind::Coil,
            "discrete" => RegisterKind::Discrete,
            "input" => RegisterKind::Input,
            "holding" => RegisterKind::Holding,
            _ => {
                return Err(format!(
                    "unknown register kind `{s}` (expected holding, input, coil or discrete)"
                ));
            }
        })
    }
}

/// One request on the bus.
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    /// Read `count` registers or bits; bits come back as words 0/1.
    Read {
        kind: RegisterKind,
        addr: u16,
        count: u16,
    },
    /// FC6 for one word, FC16 for several.
    WriteRegisters { addr: u16, words: Vec<u16> },
    /// FC5.
    WriteCoil { addr: u16, value: bool },
}

impl Op {
    pub fn addr(&self) -> u16 {
        match self {
            Op::Read { addr, .. }
            | Op::WriteRegisters { addr, .. }
            | Op::WriteCoil { addr, .. } => *addr,
        }
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Op::Read { kind, addr, count } => write!(f, "read {kind} {addr}+{count}"),
            Op::WriteRegisters { addr, words } => write!(f, "write holding {addr}+{}", words.len()),
            Op::WriteCoil { addr, .. } => write!(f, "write coil {addr}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Transport {
    Tcp { host: String, port: u16 },
    Rtu { serial: String, baud: u32 },
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Transport::Tcp { host, port } => write!(f, "tcp://{host}:{port}"),
            Transport::Rtu { serial, baud } => write!(f, "rtu://{serial}@{baud}"),
        }
    }
}

/// How a bus actor behaves; built from `[[bus]]` in the config or from CLI flags.
#[derive(Debug, Clone)]
pub struct BusSettings {
    pub id: BusId,
    pub transport: Transport,
    /// Per request, connect included.
    pub timeout: Duration,
    /// Quiet time after every frame (RS485 devices need ≥ 3.5 character times).
    pub frame_gap: Duration,
    /// Upper bound for the reconnect backoff.
    pub backoff_max: Duration,
    /// Quiet time after connecting before the first request (Huawei's SDongle drops
    /// requests that come at once).
    pub connect_delay: Duration,
}

impl BusSettings {
    pub fn new(id: BusId, transport: Transport) -> Self {
        let frame_gap = match &transport {
            // 3.5 characters of 11 bits, never below 1.75 ms (the spec's value above 19200 Bd).
            Transport::Rtu { baud, .. } => {
                Duration::from_secs_f64((38.5 / f64::from((*baud).max(1))).max(0.00175))
            }
            Transport::Tcp { .. } => Duration::ZERO,
        };
        Self {
            id,
            transport,
            timeout: Duration::from_secs(1),
            frame_gap,
            backoff_max: Duration::from_secs(30),
            connect_delay: Duration::ZERO,
        }
    }
}

struct Job {
    unit: u8,
    op: Op,
    reply: oneshot::Sender<Result<Vec<u16>, BusError>>,
}

/// A cheap, cloneable front for a bus actor.
#[derive(Clone)]
pub struct BusHandle {
    bus: BusId,
    tx: mpsc::Sender<Job>,
}

impl BusHandle {
    pub fn id(&self) -> &BusId {
        &self.bus
    }

    /// Sends one request and waits for its answer (reads give words; writes give none).
    pub async fn call(&self, unit: u8, op: Op) -> Result<Vec<u16>, BusError> {
        let stopped = || BusError::Stopped {
            bus: self.bus.clone(),
        };
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Job { unit, op, reply })
            .await
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

/// The actor's side of a bus: its settings and the queue its handles feed. It can be
/// run again after a run died (the supervisor restarts it): the queue, and every
/// request waiting in it, outlives the run.
#[derive(Clone)]
pub struct BusActor {
    settings: BusSettings,
    jobs: Arc<Mutex<mpsc::Receiver<Job>>>,
}

impl BusActor {
    pub fn id(&self) -> &BusId {
        &self.settings.id
    }

    /// Serves requests until `cancel` fires or every handle is dropped. A request
    /// under way when a run dies gets [`BusError::Stopped`]; the next run serves the
    /// rest of the queue.
    pub async fn run(&self, cancel: CancellationToken) {
        let mut jobs = self.jobs.lock().await;
        run(&self.settings, &mut jobs, cancel).await;
    }
}

/// A bus's handle and its actor, not yet running.
pub fn channel(settings: BusSettings) -> (BusHandle, BusActor) {
    let (tx, rx) = mpsc::channel(64);
    let handle = BusHandle {
        bus: settings.id.clone(),
        tx,
    };
    let actor = BusActor {
        settings,
        jobs: Arc::new(Mutex::new(rx)),
    };
    (handle, actor)
}

/// Starts a bus actor on the current runtime, unsupervised (the installer's one-shot
/// tools and tests; the daemon runs its actors under the supervisor); it ends when
/// `cancel` fires or every handle is dropped.
pub fn spawn(settings: BusSettings, cancel: CancellationToken) -> BusHandle {
    let (handle, actor) = channel(settings);
    tokio::spawn(async move { actor.run(cancel).await });
    handle
}

struct Link {
    ctx: Option<Context>,
    /// Connect attempts are refused until then (capped exponential backoff with jitter).
    retry_at: Option<Instant>,
    backoff: Duration,
    logged_down: bool,
}

async fn run(cfg: &BusSettings, jobs: &mut mpsc::Receiver<Job>, cancel: CancellationToken) {
    let mut link = Link {
        ctx: None,
        retry_at: None,
        backoff: Duration::from_millis(250),
        logged_down: false,
    };
    loop {
        let job = tokio::select! {
            () = cancel.cancelled() => break,
            job = jobs.recv() => match job { Some(job) => job, None => break },
        };
        let result = serve(cfg, &mut link, job.unit, &job.op).await;
        if let Err(e) = &result
            && e.drops_link()
        {
            link.ctx = None;
        }
        if job.reply.send(result).is_err() {
            tracing::debug!(bus = %cfg.id, "Caller left before the reply.");
        }
        if !cfg.frame_gap.is_zero() {
            tokio::time::sleep(cfg.frame_gap).await;
        }
    }
    if let Some(mut ctx) = link.ctx.take() {
        use tokio_modbus::client::Client;
        if let Err(e) = ctx.disconnect().await {
            tracing::debug!(bus = %cfg.id, error = %e, "Disconnect failed.");
        }
    }
}

async fn connect(cfg: &BusSettings) -> Result<Context, BusError> {
    let err = |source| BusError::Connect {
        bus: cfg.id.clone(),
        target: cfg.transport.to_string(),
        source,
    };
    match &cfg.transport {
        Transport::Tcp { host, port } => {
            let addr = tokio::net::lookup_host((host.as_str(), *port))
                .await
                .map_err(err)?
                .next()
                .ok_or_else(|| err(std::io::Error::other("host has no address")))?;
            let stream = timeout(cfg.timeout, tokio::net::TcpStream::connect(addr))
                .await
                .map_err(|_| err(std::io::ErrorKind::TimedOut.into()))?
                .map_err(err)?;
            stream.set_nodelay(true).map_err(err)?;
            Ok(tokio_modbus::client::tcp::attach(stream))
        }
        Transport::Rtu { serial, baud } => {
            let builder = tokio_serial::new(serial, *baud);
            let port = tokio_serial::SerialStream::open(&builder)
                .map_err(|e| err(std::io::Error::other(e)))?;
            Ok(tokio_modbus::client::rtu::attach(port))
        }
    }
}

async fn serve(
    cfg: &BusSettings,
    link: &mut Link,
    unit: u8,
    op: &Op,
) -> Result<Vec<u16>, BusError> {
    if link.ctx.is_none() {
        if let Some(at) = link.retry_at
            && Instant::now() < at
        {
            return Err(BusError::Backoff {
                bus: cfg.id.clone(),
                target: cfg.transport.to_string(),
                retry_in: at - Instant::now(),
            });
        }
        match connect(cfg).await {
            Ok(ctx) => {
                if !cfg.connect_delay.is_zero() {
                    tokio::time::sleep(cfg.connect_delay).await;
                }
                if link.logged_down {
                    tracing::info!(bus = %cfg.id, target = %cfg.transport, "Bus reconnected.");
                }
                link.ctx = Some(ctx);
                link.retry_at = None;
                link.backoff = Duration::from_millis(250);
                link.logged_down = false;
            }
            Err(e) => {
                let jitter = link.backoff.mul_f64(fastrand::f64() * 0.5);
                link.retry_at = Some(Instant::now() + link.backoff + jitter);
                link.backoff = (link.backoff * 2).min(cfg.backoff_max);
                if link.logged_down {
                    tracing::debug!(bus = %cfg.id, error = %e, "Bus still unreachable.");
                } else {
                    tracing::warn!(bus = %cfg.id, error = %e, "Bus unreachable.");
                    link.logged_down = true;
                }
                return Err(e);
            }
        }
    }
    let Some(ctx) = link.ctx.as_mut() else {
        return Err(BusError::Stopped {
            bus: cfg.id.clone(),
        });
    };
    ctx.set_slave(Slave(unit));
    let call = async {
        match op {
            Op::Read { kind, addr, count } => match kind {
                RegisterKind::Holding => ctx.read_holding_registers(*addr, *count).await,
                RegisterKind::Input => ctx.read_input_registers(*addr, *count).await,
                RegisterKind::Coil => ctx
                    .read_coils(*addr, *count)
                    .await
                    .map(|r| r.map(bits_to_words)),
                RegisterKind::Discrete => ctx
                    .read_discrete_inputs(*addr, *count)
                    .await
                    .map(|r| r.map(bits_to_words)),
            },
            Op::WriteRegisters { addr, words } if words.len() == 1 => ctx
                .write_single_register(*addr, words[0])
                .await
                .map(|r| r.map(|()| Vec::new())),
            Op::WriteRegisters { addr, words } => ctx
                .write_multiple_registers(*addr, words)
                .await
                .map(|r| r.map(|()| Vec::new())),
            Op::WriteCoil { addr, value } => ctx
                .write_single_coil(*addr, *value)
                .await
                .map(|r| r.map(|()| Vec::new())),
        }
    };
    let answer = timeout(cfg.timeout, call)
        .await
        .map_err(|_| BusError::Timeout {
            bus: cfg.id.clone(),
            unit,
            op: op.to_string(),
            timeout: cfg.timeout,
        })?;
    let mut words = answer
        .map_err(|source| BusError::Link {
            bus: cfg.id.clone(),
            unit,
            source,
        })?
        .map_err(|code| BusError::Refused {
            bus: cfg.id.clone(),
            unit,
            op: op.to_string(),
            code,
        })?;
    if let Op::Read { count, .. } = op
        && words.len() < usize::from(*count)
    {
        return Err(BusError::ShortReply {
            bus: cfg.id.clone(),
            unit,
            op: op.to_string(),
            got: words.len(),
        });
    }
    if let Op::Read { count, .. } = op {
        // Bit reads come back padded to whole bytes.
        words.truncate(usize::from(*count));
    }
    Ok(words)
}

fn bits_to_words(bits: Vec<bool>) -> Vec<u16> {
    bits.into_iter().map(u16::from).collect()
}
