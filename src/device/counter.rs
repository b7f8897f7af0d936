//! Plausibility checks for energy counters: nothing reaches the ledger before it
//! passes here.

use std::time::{Duration, SystemTime};

use crate::model::WattHours;

/// What became of one counter reading.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The first reading seen; it sets the baseline.
    First,
    /// A plausible step up (or no change) of `delta`.
    Accepted {
        delta: WattHours,
    },
    /// The counter restarted near zero: a new meter or a reset. The new value becomes
    /// the baseline; nothing is booked for the jump.
    Replaced {
        previous: WattHours,
    },
    /// Rejected; the baseline stays where it was.
    Backwards {
        previous: WattHours,
    },
    TooFast {
        delta: WattHours,
        limit: WattHours,
    },
}

impl Verdict {
    pub fn is_accepted(&self) -> bool {
        matches!(
            self,
            Verdict::First | Verdict::Accepted { .. } | Verdict::Replaced { .. }
        )
    }

    pub fn reason(&self) -> Option<String> {
        match self {
            Verdict::Backwards { previous } => Some(format!(
                "counter ran backwards from {:.3} kWh",
                previous.kwh()
            )),
            Verdict::TooFast { delta, limit } => Some(format!(
                "counter rose {:.3} kWh, more than the device's power allows ({:.3} kWh)",
                delta.kwh(),
                limit.kwh()
            )),
            _ => None,
        }
    }
}

/// A replaced meter starts below this.
const NEW_METER_MAX: WattHours = WattHours(10_000);

/// Tracks one counter's last accepted reading.
#[derive(Debug, Clone)]
pub struct CounterGuard {
    max_power_w: f64,
    last: Option<(WattHours, SystemTime)>,
}

impl CounterGuard {
    pub fn new(max_power_w: f64) -> Self {
        Self {
            max_power_w,
            last: None,
        }
    }

    /// Resumes from a reading kept elsewhere (the ledger's last booked value).
    pub fn resume(max_power_w: f64, value: WattHours, at: SystemTime) -> Self {
        Self {
            max_power_w,
            last: Some((value, at)),
        }
    }

    pub fn last(&self) -> Option<WattHours> {
        self.last.map(|(v, _)| v)
    }

    pub fn check(&mut self, value: WattHours, at: SystemTime) -> Verdict {
        let Some((prev, prev_at)) = self.last else {
            self.last = Some((value, at));
            return Verdict::First;
        };
        if value < prev {
            // A real meter swap: the old counter was well above the new one, which starts near zero.
            if value <= NEW_METER_MAX && prev.0 > 4 * NEW_METER_MAX.0 {
                self.last = Some((value, at));
                return Verdict::Replaced { previous: prev };
            }
            return Verdict::Backwards { previous: prev };
        }
        let elapsed = at.duration_since(prev_at).unwrap_or(Duration::ZERO);
        // The most the device could have passed, plus one resolution step of slack
        // (float32 counters and 0.1 kWh registers move in visible steps).
        let limit = WattHours(
            (self.max_power_w * elapsed.as_secs_f64() / 3600.0 * 1.2).ceil() as i64 + 100,
        );
        let delta = WattHours(value.0 - prev.0);
        if delta > limit {
            return Verdict::TooFast { delta, limit };
        }
        self.last = Some((value, at));
        Verdict::Accepted { delta }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn judges_counter_readings() {
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let at = |s: u64| t0 + Duration::from_secs(s);
        let mut g = CounterGuard::new(10_000.0); // 10 kW: 10 kWh per hour at most
        let rows: &[(u64, i64, Verdict)] = &[
            (0, 5_000_000, Verdict::First),
            (
                60,
                5_000_100,
                Verdict::Accepted {
                    delta: WattHours(100),
                },
            ),
            (
                120,
                5_000_050,
                Verdict::Backwards {
                    previous: WattHours(5_000_100),
                },
            ),
            (
                180,
                6_000_000,
                Verdict::TooFast {
                    delta: WattHours(999_900),
                    limit: WattHours(500),
                },
            ),
            // the baseline stayed at 5_000_100 @ 60 s; an hour later 10 kWh is fine
            (
                3660,
                5_010_000,
                Verdict::Accepted {
                    delta: WattHours(9_900),
                },
            ),
            (
                3700,
                12,
                Verdict::Replaced {
                    previous: WattHours(5_010_000),
                },
            ),
            (
                3760,
                40,
                Verdict::Accepted {
                    delta: WattHours(28),
                },
            ),
        ];
        for (s, v, want) in rows {
            assert_eq!(&g.check(WattHours(*v), at(*s)), want, "at {s}s value {v}");
        }
    }
}
