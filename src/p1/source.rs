//! Where telegrams come from: a TCP stream (ser2net, or a P1-to-Wi-Fi dongle that
//! serves the raw port), a serial port (a P1 cable: 115200 8N1 for DSMR 4 and 5,
//! 9600 7E1 for DSMR 2.2 and 3.0), or a HomeWizard P1 meter's local API. The link is opened again after it drops, with
//! backoff; every telegram is checked before it is handed on, and what was dropped is
//! counted by why.

use std::time::Duration;

use serde::Serialize;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::frame::{Frame, Framer};
use super::telegram::{Reading, Telegram, TelegramError};

/// How to reach the meter's P1 port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// `host:port` of ser2net or a dongle serving the raw port.
    Tcp(String),
    /// A serial device; `dsmr22`: 9600 baud 7E1 (DSMR 2.2 and 3.0), else 115200 8N1.
    Serial { path: String, dsmr22: bool },
    /// A HomeWizard Wi-Fi P1 meter's local API (v1), e.g. `http://192.168.1.40`.
    HomeWizard(String),
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Tcp(a) => write!(f, "tcp {a}"),
            Source::Serial { path, .. } => write!(f, "serial {path}"),
            Source::HomeWizard(url) => write!(f, "HomeWizard {url}"),
        }
    }
}

/// What the reader hands on.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A checked telegram, read.
    Reading(Box<Reading>),
    /// Something dropped, and why.
    Dropped(Dropped),
    /// The link is up (true) or down (false).
    Link(bool),
}

/// Why bytes were dropped.
#[derive(Debug, Clone, PartialEq)]
pub enum Dropped {
    /// A telegram that failed its checks.
    Bad(TelegramError),
    /// A telegram cut off (bytes).
    Cut(usize),
    /// Bytes outside any telegram.
    Garbage(usize),
}

/// Telegrams read and dropped, by why, since start.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub telegrams: u64,
    pub bad_crc: u64,
    pub invalid: u64,
    pub cut: u64,
    pub garbage_bytes: u64,
}

impl Counts {
    pub fn count(&mut self, e: &Event) {
        match e {
            Event::Reading(_) => self.telegrams += 1,
            Event::Dropped(Dropped::Bad(TelegramError::Crc { .. })) => self.bad_crc += 1,
            Event::Dropped(Dropped::Bad(_)) => self.invalid += 1,
            Event::Dropped(Dropped::Cut(_)) => self.cut += 1,
            Event::Dropped(Dropped::Garbage(n)) => self.garbage_bytes += *n as u64,
            Event::Link(_) => {}
        }
    }
}

/// What one frame gives.
pub fn event(frame: Frame) -> Event {
    match frame {
        Frame::Telegram(bytes) => match Telegram::parse(&bytes).and_then(|t| t.reading()) {
            Ok(r) => Event::Reading(Box::new(r)),
            Err(e) => Event::Dropped(Dropped::Bad(e)),
        },
        Frame::Cut(n) => Event::Dropped(Dropped::Cut(n)),
        Frame::Garbage(n) => Event::Dropped(Dropped::Garbage(n)),
    }
}

/// Reads `stream` until it ends or `cancel`, sending an event per frame.
pub async fn read_stream<R: AsyncRead + Unpin>(
    mut stream: R,
    tx: &mpsc::Sender<Event>,
    cancel: &CancellationToken,
) -> std::io::Result<()> {
    let mut framer = Framer::default();
    let mut buf = [0u8; 2048];
    loop {
        let n = tokio::select! {
            () = cancel.cancelled() => return Ok(()),
            n = stream.read(&mut buf) => n?,
        };
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        framer.push(&buf[..n]);
        while let Some(frame) = framer.next_frame() {
            if tx.send(event(frame)).await.is_err() {
                return Ok(());
            }
        }
    }
}

/// Waits between attempts to open the link: 1 s, doubling to 30 s.
const BACKOFF: [Duration; 6] = [
    Duration::from_secs(1),
    Duration::from_secs(2),
    Duration::from_secs(4),
    Duration::from_secs(8),
    Duration::from_secs(16),
    Duration::from_secs(30),
];

/// How often a HomeWizard P1 meter is asked, and how long an answer may take.
pub const HOMEWIZARD_EVERY: Duration = Duration::from_secs(1);
const HOMEWIZARD_TIMEOUT: Duration = Duration::from_secs(3);

/// Asks a HomeWizard P1 meter for its data every second until `cancel`; after a failed
/// request, with backoff.
async fn poll_homewizard(url: &str, tx: &mpsc::Sender<Event>, cancel: &CancellationToken) {
    let data = format!("{}/api/v1/data", url.trim_end_matches('/'));
    let mut failures = 0usize;
    let mut up = false;
    while !cancel.is_cancelled() {
        let answer = crate::http::get(&data, HOMEWIZARD_TIMEOUT).await;
        let event = match answer {
            Ok(a) if a.status == 200 => {
                failures = 0;
                if !up {
                    up = true;
                    if tx.send(Event::Link(true)).await.is_err() {
                        return;
                    }
                }
                match super::homewizard::reading(&a.body) {
                    Ok(r) => Event::Reading(Box::new(r)),
                    Err(e) => Event::Dropped(Dropped::Bad(e)),
                }
            }
            failed => {
                let why = match failed {
                    Ok(a) if a.status == 403 => {
                        "403: the local API is off (switch it on in the HomeWizard Energy app)"
                            .to_owned()
                    }
                    Ok(a) => format!("HTTP {}", a.status),
                    Err(e) => e,
                };
                if failures == 0 {
                    tracing::warn!(p1 = %data, error = %why, "HomeWizard P1 meter does not answer; asking again.");
                }
                failures += 1;
                up = false;
                Event::Link(false)
            }
        };
        if tx.send(event).await.is_err() {
            return;
        }
        let wait = if failures == 0 {
            HOMEWIZARD_EVERY
        } else {
            BACKOFF[(failures - 1).min(BACKOFF.len() - 1)]
        };
        tokio::select! {
            () = cancel.cancelled() => return,
            () = tokio::time::sleep(wait) => {}
        }
    }
}

/// Reads `source` until `cancel`, opening it again (with backoff) whenever it fails.
pub async fn run(source: Source, tx: mpsc::Sender<Event>, cancel: CancellationToken) {
    if let Source::HomeWizard(url) = &source {
        return poll_homewizard(url, &tx, &cancel).await;
    }
    let mut failures = 0usize;
    while !cancel.is_cancelled() {
        let result = match open(&source).await {
            Ok(stream) => {
                failures = 0;
                if tx.send(Event::Link(true)).await.is_err() {
                    return;
                }
                read_stream(stream, &tx, &cancel).await
            }
            Err(e) => Err(e),
        };
        if cancel.is_cancelled() {
            return;
        }
        if let Err(e) = result {
            if failures == 0 {
                tracing::warn!(p1 = %source, error = %e, "P1 port lost; opening it again.");
            }
            if tx.send(Event::Link(false)).await.is_err() {
                return;
            }
        }
        let wait = BACKOFF[failures.min(BACKOFF.len() - 1)];
        failures += 1;
        tokio::select! {
            () = cancel.cancelled() => return,
            () = tokio::time::sleep(wait) => {}
        }
    }
}

async fn open(source: &Source) -> std::io::Result<Box<dyn AsyncRead + Unpin + Send>> {
    Ok(match source {
        Source::Tcp(addr) => Box::new(tokio::net::TcpStream::connect(addr).await?),
        Source::Serial { path, dsmr22 } => Box::new(open_serial(path, *dsmr22)?),
        Source::HomeWizard(_) => return Err(std::io::ErrorKind::Unsupported.into()),
    })
}

fn open_serial(path: &str, dsmr22: bool) -> std::io::Result<tokio_serial::SerialStream> {
    use tokio_serial::{DataBits, Parity, SerialPortBuilderExt, StopBits};
    let (baud, bits, parity) = if dsmr22 {
        (9600, DataBits::Seven, Parity::Even)
    } else {
        (115_200, DataBits::Eight, Parity::None)
    };
    tokio_serial::new(path, baud)
        .data_bits(bits)
        .parity(parity)
        .stop_bits(StopBits::One)
        .open_native_async()
        .map_err(std::io::Error::other)
}
