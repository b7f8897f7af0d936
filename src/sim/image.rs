//! Register images served over Modbus TCP by tokio-modbus's own server, with
//! fault switches per unit.

use std::collections::{BTreeMap, HashMap};
use std::future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio_modbus::prelude::{ExceptionCode, Request, Response, SlaveRequest};
use tokio_modbus::server::tcp::{Server, accept_tcp_connection};
use tokio_util::sync::CancellationToken;

use crate::modbus::RegisterKind;

/// A misbehaviour a simulated unit can be switched into.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Fault {
    /// Never answers (the client times out).
    Silent,
    /// Answers every request with "server device failure" (0x04).
    Exception,
    /// Answers every request with "illegal function" (0x01).
    IllegalFunction,
    /// Answers every request with "illegal data address" (0x02), as a gateway or heat
    /// pump does while it boots or when a second master confuses it.
    IllegalAddress,
    /// Answers every request with "illegal data value" (0x03).
    IllegalValue,
    /// Answers reads with random words.
    Garbage,
    /// Answers three requests in ten, at random, with "server device failure" (0x04):
    /// a noisy RS485 line or an overloaded gateway.
    Flaky,
    /// Energy counters read 5 kWh less (the dwelling applies this).
    CounterBackwards,
    /// The meter was swapped for one that reads 12 kWh and counts on from there (the
    /// dwelling applies this; switched off, the old count shows again).
    MeterReplaced,
}

impl Fault {
    /// Every fault's name, as `FromStr` reads it.
    pub const NAMES: &str = "silent, exception, illegal_function, illegal_address, illegal_value, garbage, flaky, counter_backwards, meter_replaced";
}

impl std::str::FromStr for Fault {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "silent" => Ok(Fault::Silent),
            "exception" => Ok(Fault::Exception),
            "illegal_function" => Ok(Fault::IllegalFunction),
            "illegal_address" => Ok(Fault::IllegalAddress),
            "illegal_value" => Ok(Fault::IllegalValue),
            "garbage" => Ok(Fault::Garbage),
            "flaky" => Ok(Fault::Flaky),
            "counter_backwards" => Ok(Fault::CounterBackwards),
            "meter_replaced" => Ok(Fault::MeterReplaced),
            _ => Err(format!("unknown fault `{s}` ({})", Fault::NAMES)),
        }
    }
}

/// One unit's registers.
#[derive(Debug, Clone, Default)]
pub struct UnitImage {
    pub holding: BTreeMap<u16, u16>,
    pub input: BTreeMap<u16, u16>,
    pub coils: BTreeMap<u16, bool>,
    pub discrete: BTreeMap<u16, bool>,
    /// Holding registers a client may write.
    pub writable: Vec<u16>,
    /// Strict units refuse reads that touch an undefined address (like Luxtronik);
    /// lenient ones read zeros there.
    pub strict: bool,
    pub fault: Option<Fault>,
    /// Under [`Fault::MeterReplaced`]: each counter register's true count when the
    /// meter was swapped.
    pub replaced: BTreeMap<u16, f64>,
    /// Requests answered, the seed of [`Fault::Flaky`]'s draws (the same sequence on
    /// every run).
    pub answered: u64,
}

impl UnitImage {
    /// Whether a [`Fault::Flaky`] unit fails this request: three in ten (splitmix64 of
    /// the request count).
    fn flake(&mut self) -> bool {
        self.answered += 1;
        let mut z = self.answered.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        (z ^ (z >> 31)) % 10 < 3
    }

    pub fn set(&mut self, kind: RegisterKind, addr: u16, words: &[u16]) {
        let map = match kind {
            RegisterKind::Holding => &mut self.holding,
            RegisterKind::Input => &mut self.input,
            RegisterKind::Coil => {
                self.coils
                    .insert(addr, words.first().is_some_and(|w| *w != 0));
                return;
            }
            RegisterKind::Discrete => {
                self.discrete
                    .insert(addr, words.first().is_some_and(|w| *w != 0));
                return;
            }
        };
        for (i, w) in words.iter().enumerate() {
            map.insert(addr.wrapping_add(i as u16), *w);
        }
    }

    pub fn get(&self, kind: RegisterKind, addr: u16) -> Option<u16> {
        match kind {
            RegisterKind::Holding => self.holding.get(&addr).copied(),
            RegisterKind::Input => self.input.get(&addr).copied(),
            RegisterKind::Coil => self.coils.get(&addr).map(|b| u16::from(*b)),
            RegisterKind::Discrete => self.discrete.get(&addr).map(|b| u16::from(*b)),
        }
    }

    fn read(&self, kind: RegisterKind, addr: u16, count: u16) -> Result<Vec<u16>, ExceptionCode> {
        if count == 0 || count > if kind.is_bit() { 2000 } else { 125 } {
            return Err(ExceptionCode::IllegalDataValue);
        }
        let mut out = Vec::with_capacity(usize::from(count));
        let mut any = false;
        for i in 0..count {
            let a = addr
                .checked_add(i)
                .ok_or(ExceptionCode::IllegalDataAddress)?;
            match self.get(kind, a) {
                Some(v) => {
                    any = true;
                    out.push(v);
                }
                None if self.strict => return Err(ExceptionCode::IllegalDataAddress),
                None => out.push(0),
            }
        }
        if !any {
            return Err(ExceptionCode::IllegalDataAddress);
        }
        if self.fault == Some(Fault::Garbage) {
            for w in &mut out {
                *w = fastrand::u16(..);
            }
        }
        Ok(out)
    }
}

/// Every unit behind one simulated gateway, shared by the server and the dwelling.
#[derive(Debug, Clone, Default)]
pub struct Bank {
    units: Arc<Mutex<HashMap<u8, UnitImage>>>,
    paused: Arc<std::sync::atomic::AtomicBool>,
    /// The dwelling's simulated time (unix ms), for what stamps its own readings (the
    /// P1 meter's clock).
    now_ms: Arc<std::sync::atomic::AtomicI64>,
}

impl Bank {
    /// The lock is never held across an await.
    pub fn lock(&self) -> MutexGuard<'_, HashMap<u8, UnitImage>> {
        match self.units.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    pub fn insert(&self, unit: u8, image: UnitImage) {
        self.lock().insert(unit, image);
    }

    pub fn set_fault(&self, unit: u8, fault: Option<Fault>) {
        if let Some(u) = self.lock().get_mut(&unit) {
            u.fault = fault;
        }
    }

    /// Freezes (or thaws) the physics behind the bank: registers keep their values.
    pub fn set_paused(&self, paused: bool) {
        self.paused
            .store(paused, std::sync::atomic::Ordering::SeqCst);
    }

    pub fn is_paused(&self) -> bool {
        self.paused.load(std::sync::atomic::Ordering::SeqCst)
    }

    pub fn set_now(&self, now: chrono::DateTime<chrono::Utc>) {
        self.now_ms
            .store(now.timestamp_millis(), std::sync::atomic::Ordering::SeqCst);
    }

    /// The dwelling's simulated time.
    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        let ms = self.now_ms.load(std::sync::atomic::Ordering::SeqCst);
        chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default()
    }

    pub fn fault(&self, unit: u8) -> Option<Fault> {
        self.lock().get(&unit).and_then(|u| u.fault)
    }

    fn answer(
        &self,
        req: SlaveRequest<'static>,
        line: Line,
    ) -> Result<Option<Response>, ExceptionCode> {
        let mut units = self.lock();
        let Some(image) = units.get_mut(&req.slave) else {
            return match line {
                // What a gateway says when nothing answers behind it.
                Line::Gateway => Err(ExceptionCode::GatewayTargetDevice),
                // On an RS485 line an absent unit simply stays silent.
                Line::Serial => Ok(None),
            };
        };
        let fault = image.fault;
        match fault {
            Some(Fault::Silent) => return Ok(None),
            Some(Fault::Exception) => return Err(ExceptionCode::ServerDeviceFailure),
            Some(Fault::Flaky) if image.flake() => {
                return Err(ExceptionCode::ServerDeviceFailure);
            }
            Some(Fault::IllegalFunction) => return Err(ExceptionCode::IllegalFunction),
            Some(Fault::IllegalAddress) => return Err(ExceptionCode::IllegalDataAddress),
            Some(Fault::IllegalValue) => return Err(ExceptionCode::IllegalDataValue),
            _ => {}
        }
        let bits = |w: Vec<u16>| w.into_iter().map(|x| x != 0).collect::<Vec<bool>>();
        Ok(Some(match req.request {
            Request::ReadHoldingRegisters(a, n) => {
                Response::ReadHoldingRegisters(image.read(RegisterKind::Holding, a, n)?)
            }
            Request::ReadInputRegisters(a, n) => {
                Response::ReadInputRegisters(image.read(RegisterKind::Input, a, n)?)
            }
            Request::ReadCoils(a, n) => {
                Response::ReadCoils(bits(image.read(RegisterKind::Coil, a, n)?))
            }
            Request::ReadDiscreteInputs(a, n) => {
                Response::ReadDiscreteInputs(bits(image.read(RegisterKind::Discrete, a, n)?))
            }
            Request::WriteSingleRegister(a, w) => {
                check_writable(image, a, 1)?;
                image.holding.insert(a, w);
                Response::WriteSingleRegister(a, w)
            }
            Request::WriteMultipleRegisters(a, words) => {
                check_writable(image, a, words.len())?;
                image.set(RegisterKind::Holding, a, &words);
                Response::WriteMultipleRegisters(a, words.len() as u16)
            }
            Request::WriteSingleCoil(a, v) => {
                if !image.coils.contains_key(&a) {
                    return Err(ExceptionCode::IllegalDataAddress);
                }
                image.coils.insert(a, v);
                Response::WriteSingleCoil(a, v)
            }
            _ => return Err(ExceptionCode::IllegalFunction),
        }))
    }
}

fn check_writable(image: &UnitImage, addr: u16, n: usize) -> Result<(), ExceptionCode> {
    for i in 0..n {
        let a = addr
            .checked_add(i as u16)
            .ok_or(ExceptionCode::IllegalDataAddress)?;
        if !image.writable.contains(&a) {
            return Err(ExceptionCode::IllegalDataAddress);
        }
    }
    Ok(())
}

/// How the simulated units are reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Line {
    Gateway,
    Serial,
}

struct Service {
    bank: Bank,
    line: Line,
}

impl tokio_modbus::server::Service for Service {
    type Request = SlaveRequest<'static>;
    type Response = Option<Response>;
    type Exception = ExceptionCode;
    type Future = future::Ready<Result<Self::Response, Self::Exception>>;

    fn call(&self, req: Self::Request) -> Self::Future {
        future::ready(self.bank.answer(req, self.line))
    }
}

/// Serves `bank` on `listener` until `cancel` fires.
pub async fn serve(
    listener: TcpListener,
    bank: Bank,
    cancel: CancellationToken,
) -> std::io::Result<()> {
    let server = Server::new(listener);
    let on_connected = |stream, addr: SocketAddr| {
        let bank = bank.clone();
        async move {
            accept_tcp_connection(stream, addr, move |_| {
                Ok(Some(Service {
                    bank: bank.clone(),
                    line: Line::Gateway,
                }))
            })
        }
    };
    let on_error = |e| tracing::debug!(error = %e, "Simulator connection ended.");
    server
        .serve_until(
            &on_connected,
            on_error,
            async move { cancel.cancelled().await },
        )
        .await
        .map(|_| ())
}

/// Serves `bank` as Modbus RTU on a serial port (a real RS485 adapter, or one end of a
/// pseudo-terminal pair for tests) until `cancel` fires.
pub async fn serve_rtu(
    path: &str,
    baud: u32,
    bank: Bank,
    cancel: CancellationToken,
) -> std::io::Result<()> {
    let server = tokio_modbus::server::rtu::Server::new_from_path(path, baud)?;
    let service = Service {
        bank,
        line: Line::Serial,
    };
    server
        .serve_until(service, async move { cancel.cancelled().await })
        .await
        .map(|_| ())
}
