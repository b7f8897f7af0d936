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
    /// A HomeWizard Wi-Fi P1 meter's local API.
    HomeWizard(HomeWizard),
}

/// A HomeWizard P1 meter: version 1 of its API at `url` (`http://192.168.1.40`), or with
/// `v2` version 2 (`https://192.168.1.40`, a token, the CA that signs its certificate).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HomeWizard {
    pub url: String,
    pub v2: Option<V2>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct V2 {
    pub token: String,
    /// PEM; HomeWizard's own CA unless the config names another.
    pub ca_pem: Vec<u8>,
}

/// HomeWizard's "Appliance Access CA", which signs every device's HTTPS certificate.
pub const HOMEWIZARD_CA: &[u8] = include_bytes!("homewizard-ca.pem");

/// Whether `token` has the shape HomeWizard's tokens have: 32 characters 0-9, A-F.
pub fn valid_token(token: &str) -> bool {
    token.len() == 32
        && token
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(&b))
}

/// The name nomhub pairs as (`POST /api/user`).
pub const HOMEWIZARD_USER: &str = "local/nomhub";

impl HomeWizard {
    fn api(&self) -> super::homewizard::Api {
        if self.v2.is_some() {
            super::homewizard::Api::V2
        } else {
            super::homewizard::Api::V1
        }
    }

    /// One request for the meter's current data; `pinned`: the HTTPS client for
    /// version 2 (made once, from the CA).
    async fn fetch(
        &self,
        pinned: Option<&Result<crate::http::Pinned, String>>,
        timeout: Duration,
    ) -> Result<crate::http::Answer, String> {
        let url = format!("{}{}", self.url.trim_end_matches('/'), self.api().path());
        match (&self.v2, pinned) {
            (Some(v2), Some(pinned)) => {
                let bearer = format!("Bearer {}", v2.token);
                pinned
                    .as_ref()
                    .map_err(Clone::clone)?
                    .request(
                        "GET",
                        &url,
                        &[("Authorization", &bearer), ("X-Api-Version", "2")],
                        None,
                        timeout,
                    )
                    .await
            }
            _ => crate::http::get(&url, timeout).await,
        }
    }
}

/// Asks a HomeWizard P1 meter (API version 2) for a token for `HOMEWIZARD_USER`, once,
/// through `https` (trusting its CA): `Ok(Some(token))`, or `Ok(None)` while its button
/// has not been pressed.
pub async fn homewizard_pair(
    url: &str,
    https: &crate::http::Pinned,
) -> Result<Option<String>, String> {
    #[derive(serde::Deserialize)]
    struct Token {
        token: String,
    }
    let body = format!("{{\"name\": \"{HOMEWIZARD_USER}\"}}");
    let answer = https
        .request(
            "POST",
            &format!("{}/api/user", url.trim_end_matches('/')),
            &[("X-Api-Version", "2")],
            Some(&body),
            HOMEWIZARD_TIMEOUT,
        )
        .await?;
    match answer.status {
        200 => serde_json::from_str::<Token>(&answer.body)
            .map(|t| Some(t.token))
            .map_err(|e| format!("the meter's answer is not a token: {e}")),
        403 => Ok(None),
        other => Err(format!("HTTP {other}: {}", answer.body)),
    }
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Tcp(a) => write!(f, "tcp {a}"),
            Source::Serial { path, .. } => write!(f, "serial {path}"),
            Source::HomeWizard(hw) => write!(f, "HomeWizard {}", hw.url),
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
async fn poll_homewizard(hw: &HomeWizard, tx: &mpsc::Sender<Event>, cancel: &CancellationToken) {
    let data = format!("{}{}", hw.url.trim_end_matches('/'), hw.api().path());
    let pinned = hw
        .v2
        .as_ref()
        .map(|v2| crate::http::Pinned::new(&v2.ca_pem));
    let mut failures = 0usize;
    let mut up = false;
    while !cancel.is_cancelled() {
        let answer = hw.fetch(pinned.as_ref(), HOMEWIZARD_TIMEOUT).await;
        let event = match answer {
            Ok(a) if a.status == 200 => {
                failures = 0;
                if !up {
                    up = true;
                    if tx.send(Event::Link(true)).await.is_err() {
                        return;
                    }
                }
                match super::homewizard::reading(hw.api(), &a.body) {
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
                    Ok(a) if a.status == 401 => {
                        "401: the meter refuses the token (pair again: `nomhub p1 pair`)".to_owned()
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
    if let Source::HomeWizard(hw) = &source {
        return poll_homewizard(hw, &tx, &cancel).await;
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

#[cfg(test)]
mod homewizard_tests {
    #[test]
    fn homewizards_ca_is_a_usable_trust_anchor() {
        // An X.509 v1 certificate without extensions: rustls takes it as a root.
        assert!(crate::http::Pinned::new(super::HOMEWIZARD_CA).is_ok());
        assert!(super::valid_token("0123456789ABCDEF0123456789ABCDEF"));
        assert!(!super::valid_token("0123456789abcdef0123456789abcdef"));
    }
}
