//! The simulated dwelling's smart meter on its P1 port: a DSMR 5.0 telegram every
//! second of the same grid its SDM630 measures (the SDM630's import and export, split
//! over tariff 1 — nights and weekends — and tariff 2 as they grow), served on TCP the
//! way ser2net serves a real P1 cable, or written to a serial device (a `socat`
//! pseudo-terminal in the tests). [`P1Fault`]s damage it the ways a real port does.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Datelike, Timelike, Utc, Weekday};
use chrono_tz::Europe::Amsterdam;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use super::dwelling::UNIT_GRID_METER;
use super::image::Bank;
use crate::modbus::{DataType, RegisterKind, WordOrder, decode};
use crate::p1::telegram::crc16;

/// How a P1 port goes wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum P1Fault {
    /// Every telegram's CRC is wrong (one digit flipped on the way).
    BadCrc,
    /// Every telegram is cut off halfway.
    Cut,
    /// Line noise instead of telegrams.
    Garbage,
    /// The meter sends nothing.
    Silent,
    /// Telegrams whose import counter is 1 kWh below the last good one.
    CounterBack,
}

impl P1Fault {
    pub fn as_str(self) -> &'static str {
        match self {
            P1Fault::BadCrc => "bad-crc",
            P1Fault::Cut => "cut",
            P1Fault::Garbage => "garbage",
            P1Fault::Silent => "silent",
            P1Fault::CounterBack => "counter-back",
        }
    }
}

/// The meter's own registers: the SDM630's counters split by tariff.
#[derive(Debug, Default)]
struct Registers {
    /// Import and export per tariff (1, 2), kWh, and the SDM630 totals they were
    /// last brought up to.
    import: [f64; 2],
    export: [f64; 2],
    seen: Option<(f64, f64)>,
}

/// The P1 port: what it sends and the fault it has.
#[derive(Debug, Clone)]
pub struct P1Port {
    bank: Bank,
    fault: Arc<Mutex<Option<P1Fault>>>,
    registers: Arc<Mutex<Registers>>,
    sent: broadcast::Sender<Arc<Vec<u8>>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Tariff 1 (low) at night (23:00–07:00) and at weekends, else tariff 2, local time.
pub fn tariff_at(at: DateTime<Utc>) -> usize {
    let local = at.with_timezone(&Amsterdam);
    let weekend = matches!(local.weekday(), Weekday::Sat | Weekday::Sun);
    if weekend || local.hour() >= 23 || local.hour() < 7 {
        1
    } else {
        2
    }
}

impl P1Port {
    /// The port of the dwelling behind `bank`; nothing is sent until [`P1Port::run`].
    pub fn new(bank: Bank) -> Self {
        Self {
            bank,
            fault: Arc::default(),
            registers: Arc::default(),
            sent: broadcast::channel(16).0,
        }
    }

    pub fn set_fault(&self, fault: Option<P1Fault>) {
        *lock(&self.fault) = fault;
    }

    /// Sends a telegram every `every` until `cancel`.
    pub async fn run(self, every: Duration, cancel: CancellationToken) {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = cancel.cancelled() => return,
                _ = tick.tick() => {}
            }
            if let Some(bytes) = self.next_bytes() {
                // Nobody listening is fine: a P1 port sends whether read or not.
                self.sent.send(Arc::new(bytes)).ok();
            }
        }
    }

    /// The next second's bytes on the wire, after the fault.
    pub fn next_bytes(&self) -> Option<Vec<u8>> {
        let fault = *lock(&self.fault);
        let t = self.telegram(fault == Some(P1Fault::CounterBack))?;
        match fault {
            None | Some(P1Fault::CounterBack) => Some(t),
            Some(P1Fault::BadCrc) => {
                // A digit of the first counter changed after the CRC was made.
                let mut t = t;
                if let Some(at) = t.windows(10).position(|w| w == b"1-0:1.8.1(") {
                    let d = &mut t[at + 10];
                    *d = if *d == b'9' { b'8' } else { *d + 1 };
                }
                Some(t)
            }
            Some(P1Fault::Cut) => Some(t[..t.len() / 2].to_vec()),
            Some(P1Fault::Garbage) => Some(
                (0..t.len())
                    .map(|i| [0x00, 0xff, b'(', b'*', b'!', b'7', b'\r'][i % 7])
                    .collect(),
            ),
            Some(P1Fault::Silent) => None,
        }
    }

    /// A DSMR 5.0 telegram of the grid meter now; `back`: its import 1 kWh lower.
    fn telegram(&self, back: bool) -> Option<Vec<u8>> {
        let now = self.bank.now();
        let f32_at = |regs: &crate::sim::UnitImage, addr: u16| {
            let words = [
                regs.get(RegisterKind::Input, addr)?,
                regs.get(RegisterKind::Input, addr + 1)?,
            ];
            decode(&words, DataType::F32, WordOrder::ABCD)
                .ok()?
                .as_f64()
        };
        let (import, export, power, phases) = {
            let units = self.bank.lock();
            let g = units.get(&UNIT_GRID_METER)?;
            let phase = |ph: u16| {
                (
                    f32_at(g, ph * 2).unwrap_or(0.0),
                    f32_at(g, 6 + ph * 2).unwrap_or(0.0),
                    f32_at(g, 12 + ph * 2).unwrap_or(0.0),
                )
            };
            (
                f32_at(g, 0x48)?,
                f32_at(g, 0x4A)?,
                f32_at(g, 0x34)?,
                [phase(0), phase(1), phase(2)],
            )
        };
        let mut r = lock(&self.registers);
        let tariff = tariff_at(now);
        match r.seen {
            // First telegram: the totals split 45/55 over the tariffs.
            None => {
                r.import = [import * 0.45, import * 0.55];
                r.export = [export * 0.45, export * 0.55];
            }
            Some((i0, e0)) => {
                r.import[tariff - 1] += (import - i0).max(0.0);
                r.export[tariff - 1] += (export - e0).max(0.0);
            }
        }
        r.seen = Some((import, export));
        let (mut imp, exp) = (r.import, r.export);
        if back {
            imp[tariff - 1] -= 1.0;
        }
        drop(r);
        let local = now.with_timezone(&Amsterdam);
        let dst = if local.offset().to_string() == "CEST" {
            'S'
        } else {
            'W'
        };
        let kw = |w: f64| w.max(0.0) / 1000.0;
        let mut t = String::from("/ISk5\\2MT382-1000 NOMHUB-SIM\r\n\r\n1-3:0.2.8(50)\r\n");
        t.push_str(&format!(
            "0-0:1.0.0({}{dst})\r\n0-0:96.1.1(4E4F4D4855422D53494D2D5031)\r\n",
            local.format("%y%m%d%H%M%S")
        ));
        for (obis, kwh) in [
            ("1-0:1.8.1", imp[0]),
            ("1-0:1.8.2", imp[1]),
            ("1-0:2.8.1", exp[0]),
            ("1-0:2.8.2", exp[1]),
        ] {
            t.push_str(&format!("{obis}({:010.3}*kWh)\r\n", kwh.max(0.0)));
        }
        t.push_str(&format!(
            "0-0:96.14.0({tariff:04})\r\n1-0:1.7.0({:06.3}*kW)\r\n1-0:2.7.0({:06.3}*kW)\r\n",
            kw(power),
            kw(-power)
        ));
        t.push_str("0-0:96.7.21(00002)\r\n0-0:96.7.9(00001)\r\n1-0:99.97.0(0)(0-0:96.7.19)\r\n");
        t.push_str("1-0:32.32.0(00000)\r\n1-0:32.36.0(00000)\r\n0-0:96.13.0()\r\n");
        for (i, (volts, amps, _)) in phases.iter().enumerate() {
            t.push_str(&format!("1-0:{}.7.0({volts:05.1}*V)\r\n", 32 + 20 * i));
            t.push_str(&format!(
                "1-0:{}.7.0({:03.0}*A)\r\n",
                31 + 20 * i,
                amps.abs()
            ));
        }
        for (i, (_, _, watts)) in phases.iter().enumerate() {
            t.push_str(&format!(
                "1-0:{}.7.0({:06.3}*kW)\r\n",
                21 + 20 * i,
                kw(*watts)
            ));
            t.push_str(&format!(
                "1-0:{}.7.0({:06.3}*kW)\r\n",
                22 + 20 * i,
                kw(-watts)
            ));
        }
        t.push('!');
        t.push_str(&format!("{:04X}\r\n", crc16(t.as_bytes())));
        Some(t.into_bytes())
    }

    /// Serves the port on `listener` (as ser2net does) until `cancel`.
    pub async fn serve_tcp(self, listener: TcpListener, cancel: CancellationToken) {
        loop {
            let (mut stream, _) = tokio::select! {
                () = cancel.cancelled() => return,
                a = listener.accept() => match a {
                    Ok(a) => a,
                    Err(_) => continue,
                },
            };
            let mut rx = self.sent.subscribe();
            let cancel = cancel.clone();
            tokio::spawn(async move {
                while let Some(bytes) = next_sent(&mut rx, &cancel).await {
                    if stream.write_all(&bytes).await.is_err() {
                        return;
                    }
                }
            });
        }
    }

    /// Writes the port's bytes to the serial device at `path` until `cancel`.
    pub async fn write_serial(
        self,
        path: String,
        cancel: CancellationToken,
    ) -> std::io::Result<()> {
        let mut port = tokio::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .await?;
        let mut rx = self.sent.subscribe();
        while let Some(bytes) = next_sent(&mut rx, &cancel).await {
            port.write_all(&bytes).await?;
            port.flush().await?;
        }
        Ok(())
    }
}

/// The next bytes the port sends (a reader that fell behind skips to the newest);
/// `None` at `cancel` or when the port stops.
async fn next_sent(
    rx: &mut broadcast::Receiver<Arc<Vec<u8>>>,
    cancel: &CancellationToken,
) -> Option<Arc<Vec<u8>>> {
    loop {
        tokio::select! {
            () = cancel.cancelled() => return None,
            b = rx.recv() => match b {
                Ok(b) => return Some(b),
                Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => return None,
            },
        }
    }
}

/// Starts the dwelling's P1 port on a free loopback port: a telegram every `every`.
pub async fn start(
    bank: Bank,
    every: Duration,
    cancel: &CancellationToken,
) -> std::io::Result<(P1Port, SocketAddr)> {
    let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
    let addr = listener.local_addr()?;
    let port = P1Port::new(bank);
    tokio::spawn(port.clone().run(every, cancel.clone()));
    tokio::spawn(port.clone().serve_tcp(listener, cancel.clone()));
    Ok((port, addr))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::p1::Telegram;

    fn port_at(hour: u32) -> P1Port {
        let bank = Bank::default();
        let d = crate::sim::Dwelling::new(crate::sim::dwelling::today_at(hour));
        crate::sim::dwelling::install(&bank, &d);
        P1Port::new(bank)
    }

    #[test]
    fn the_telegram_is_the_sdm630s_grid_split_by_tariff() {
        let port = port_at(12);
        let bytes = port.next_bytes().unwrap_or_default();
        let t = Telegram::parse(&bytes)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&bytes)));
        let r = t.reading().unwrap_or_else(|e| panic!("{e}"));
        // The simulated SDM630 starts at 12 345.6 kWh imported, 9 876.5 exported.
        assert_eq!(r.import_total_wh(), Some(12_345_600));
        assert_eq!(r.export_total_wh(), Some(9_876_500));
        assert_eq!(t.version.as_deref(), Some("50"));
        assert!(r.voltage_v.iter().all(|v| v.is_some_and(|v| v > 220.0)));
    }

    #[test]
    fn each_fault_damages_the_telegram_its_way() {
        let port = port_at(12);
        let good = port.next_bytes().unwrap_or_default();
        port.set_fault(Some(P1Fault::BadCrc));
        let bad = port.next_bytes().unwrap_or_default();
        assert!(matches!(
            Telegram::parse(&bad),
            Err(crate::p1::TelegramError::Crc { .. })
        ));
        port.set_fault(Some(P1Fault::Cut));
        assert!(Telegram::parse(&port.next_bytes().unwrap_or_default()).is_err());
        port.set_fault(Some(P1Fault::Silent));
        assert_eq!(port.next_bytes(), None);
        port.set_fault(Some(P1Fault::CounterBack));
        let back = port.next_bytes().unwrap_or_default();
        let read = |b: &[u8]| {
            Telegram::parse(b)
                .and_then(|t| t.reading())
                .ok()
                .and_then(|r| r.import_total_wh())
        };
        assert_eq!(read(&back).zip(read(&good)).map(|(b, g)| g - b), Some(1000));
    }
}
