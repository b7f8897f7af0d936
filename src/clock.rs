//! The one place that reads the wall clock, and the time zone every period lives in.
//!
//! A [`Clock`] is either the system clock or a scaled clock for the simulated
//! dwelling (the demo runs a day in minutes). Everything that stamps or books
//! energy takes a `Clock`, so the demo and the tests drive time the same way.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

/// The time zone of every period, bucket and bundle month.
pub const TZ: chrono_tz::Tz = chrono_tz::Europe::Amsterdam;

/// Now, as the system says.
#[allow(clippy::disallowed_methods)] // the one place the wall clock is read
pub fn now() -> SystemTime {
    SystemTime::now()
}

/// Where time comes from.
#[derive(Debug, Clone)]
pub enum Clock {
    /// The system clock.
    System,
    /// Simulated time: `origin` at the moment `started`, running `speed` times real time.
    Scaled(Arc<Scaled>),
}

#[derive(Debug)]
pub struct Scaled {
    origin: SystemTime,
    started: Instant,
    speed: f64,
}

impl Clock {
    /// A clock that reads `origin` now and then runs `speed` times faster than real time.
    pub fn scaled(origin: SystemTime, speed: f64) -> Self {
        Clock::Scaled(Arc::new(Scaled {
            origin,
            started: Instant::now(),
            speed: speed.max(0.0),
        }))
    }

    pub fn now(&self) -> SystemTime {
        match self {
            Clock::System => now(),
            Clock::Scaled(s) => {
                s.origin + Duration::from_secs_f64(s.started.elapsed().as_secs_f64() * s.speed)
            }
        }
    }

    /// Whether this clock can be trusted to book energy into periods: a scaled clock
    /// always; the system clock once the kernel says it is synchronised (NTP), since a
    /// Raspberry Pi has no battery-backed clock and starts at a stale time.
    pub fn is_synchronised(&self) -> bool {
        match self {
            Clock::System => kernel_clock_synchronised(),
            Clock::Scaled(_) => true,
        }
    }
}

/// Asks the kernel whether an NTP daemon (systemd-timesyncd, chrony, ntpd) has
/// synchronised the clock: `ntp_adjtime` answers `TIME_ERROR` while it has not.
#[allow(unsafe_code)]
fn kernel_clock_synchronised() -> bool {
    let mut tx = zeroed_timex();
    // SAFETY: `ntp_adjtime` with `modes == 0` only reads the kernel's clock state
    // into the struct we own; it changes nothing.
    let state = unsafe { libc::ntp_adjtime(&mut tx) };
    state >= 0 && state != libc::TIME_ERROR && tx.status & libc::STA_UNSYNC == 0
}

#[allow(unsafe_code)]
fn zeroed_timex() -> libc::timex {
    // SAFETY: `timex` is a plain C struct of integers, for which all-zero is valid.
    unsafe { std::mem::zeroed() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scaled_clock_runs_faster() {
        let origin = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let c = Clock::scaled(origin, 3600.0);
        std::thread::sleep(Duration::from_millis(20));
        let ran = c.now().duration_since(origin).unwrap_or_default();
        assert!(ran >= Duration::from_secs(72), "ran {ran:?}");
        assert!(c.is_synchronised());
    }
}
