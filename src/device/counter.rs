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
    /// The counter went back and stayed back, rising plausibly from there, for
    /// [`REBASE_AFTER`] readings and [`REBASE_AFTER_TIME`]: a meter replaced or reset
    /// (to zero or to a value of its own). The
    /// first of those readings is the new base; `delta` is what the meter passed since
    /// it (nothing is booked for the jump back).
    Rebased {
        previous: WattHours,
        base: WattHours,
        delta: WattHours,
    },
    /// Rejected; the baseline stays where it was. `first` on the first reading of a
    /// run below the baseline (later ones of the same run are not news).
    Backwards {
        previous: WattHours,
        first: bool,
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
            Verdict::First | Verdict::Accepted { .. } | Verdict::Rebased { .. }
        )
    }

    pub fn reason(&self) -> Option<String> {
        match self {
            Verdict::Backwards { previous, .. } => Some(format!(
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

/// A counter that reads below its baseline this many times in a row, rising plausibly
/// from the first of them, for at least [`REBASE_AFTER_TIME`], is re-based there; a
/// single low reading, or a few in a second (a P1 meter sends one a second), is a
/// glitch, and the counter's return to where it was is booked as if it never happened.
pub const REBASE_AFTER: u32 = 3;
/// ... and the counter stayed back this long (a meter replaced stays back for good).
pub const REBASE_AFTER_TIME: Duration = Duration::from_secs(5);

/// Tracks one counter's last accepted reading.
#[derive(Debug, Clone)]
pub struct CounterGuard {
    max_power_w: f64,
    /// How long a run back must last to be a new meter ([`REBASE_AFTER_TIME`]; none
    /// for readings the device layer already vetted).
    stay: Duration,
    last: Option<(WattHours, SystemTime)>,
    /// A run of readings below the baseline: its first value, its last reading and
    /// how many.
    below: Option<Below>,
    /// When the last re-base's base was read (the first low reading of its run).
    based_at: Option<SystemTime>,
}

#[derive(Debug, Clone, Copy)]
struct Below {
    base: WattHours,
    /// When the run began.
    since: SystemTime,
    last: (WattHours, SystemTime),
    seen: u32,
}

impl CounterGuard {
    pub fn new(max_power_w: f64) -> Self {
        Self {
            max_power_w,
            stay: REBASE_AFTER_TIME,
            last: None,
            below: None,
            based_at: None,
        }
    }

    /// Resumes from a reading kept elsewhere (the ledger's last booked value).
    pub fn resume(max_power_w: f64, value: WattHours, at: SystemTime) -> Self {
        Self {
            last: Some((value, at)),
            ..Self::new(max_power_w)
        }
    }

    /// For readings a device's guard already passed (the ledger's): a run back that
    /// reaches here is a new meter the device layer waited out, followed after
    /// [`REBASE_AFTER`] readings without waiting again.
    pub fn vetted(self) -> Self {
        Self {
            stay: Duration::ZERO,
            ..self
        }
    }

    /// The most the device could pass from `from` to `to`, plus one resolution step of
    /// slack (float32 counters and 0.1 kWh registers move in visible steps).
    fn limit(&self, from: SystemTime, to: SystemTime) -> WattHours {
        let elapsed = to.duration_since(from).unwrap_or(Duration::ZERO);
        WattHours((self.max_power_w * elapsed.as_secs_f64() / 3600.0 * 1.2).ceil() as i64 + 100)
    }

    /// When the base of the last re-base was read.
    pub fn based_at(&self) -> Option<SystemTime> {
        self.based_at
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
            // A meter replaced or reset (near zero or not) stays below; a glitch does
            // not. Still below, and rising plausibly from the run's last reading?
            // (Readings a device's guard vetted were checked step by step there; the
            // step from a re-based meter's base, read seconds earlier, is not a rate.)
            let run = self.below.filter(|b| {
                value >= b.last.0
                    && (self.stay.is_zero() || value.0 - b.last.0.0 <= self.limit(b.last.1, at).0)
            });
            let Some(mut run) = run else {
                self.below = Some(Below {
                    base: value,
                    since: at,
                    last: (value, at),
                    seen: 1,
                });
                return Verdict::Backwards {
                    previous: prev,
                    first: true,
                };
            };
            run.seen += 1;
            run.last = (value, at);
            let stayed = at.duration_since(run.since).unwrap_or(Duration::ZERO);
            if run.seen >= REBASE_AFTER && stayed >= self.stay {
                self.last = Some((value, at));
                self.below = None;
                self.based_at = Some(run.since);
                return Verdict::Rebased {
                    previous: prev,
                    base: run.base,
                    delta: WattHours(value.0 - run.base.0),
                };
            }
            self.below = Some(run);
            return Verdict::Backwards {
                previous: prev,
                first: false,
            };
        }
        // Back at or above the baseline: a low run was a glitch.
        self.below = None;
        let limit = self.limit(prev_at, at);
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
    fn the_ledger_follows_a_re_base_whose_base_was_read_seconds_before() {
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        // 1 kW at most: 0.3 Wh a second; the house (at a simulator's speed) counts far
        // more between the base and the next reading.
        let mut g = CounterGuard::resume(1_000.0, WattHours(5_000_000), at(0)).vetted();
        assert!(matches!(
            g.check(WattHours(12_000), at(1_000)),
            Verdict::Backwards { .. }
        ));
        assert!(matches!(
            g.check(WattHours(12_500), at(6_300)),
            Verdict::Backwards { .. }
        ));
        assert_eq!(
            g.check(WattHours(12_510), at(6_600)),
            Verdict::Rebased {
                previous: WattHours(5_000_000),
                base: WattHours(12_000),
                delta: WattHours(510),
            }
        );
    }

    #[test]
    fn a_few_low_readings_in_a_second_are_a_glitch_not_a_new_meter() {
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let mut g = CounterGuard::new(10_000.0);
        assert_eq!(g.check(WattHours(5_000_000), at(0)), Verdict::First);
        // A P1 meter's telegrams a kWh low, ten a second for a second.
        for i in 1..=10 {
            let v = g.check(WattHours(4_999_000 + i), at(100 * i as u64));
            assert!(matches!(v, Verdict::Backwards { .. }), "{i}: {v:?}");
        }
        // Back where it was, and a little on: booked from the old baseline.
        assert_eq!(
            g.check(WattHours(5_000_012), at(1_200)),
            Verdict::Accepted {
                delta: WattHours(12)
            }
        );
    }

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
                    first: true,
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
            // A single reading near zero is a glitch now, not a new meter.
            (
                3700,
                12,
                Verdict::Backwards {
                    previous: WattHours(5_010_000),
                    first: true,
                },
            ),
            (
                3760,
                5_010_040,
                Verdict::Accepted {
                    delta: WattHours(40),
                },
            ),
        ];
        for (s, v, want) in rows {
            assert_eq!(&g.check(WattHours(*v), at(*s)), want, "at {s}s value {v}");
        }
    }

    #[test]
    fn a_counter_that_stays_back_is_rebased_and_a_glitch_is_ignored() {
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let at = |s: u64| t0 + Duration::from_secs(s);
        let mut g = CounterGuard::new(10_000.0);
        g.check(WattHours(5_000_000), at(0));
        // One low reading, then back: a glitch, the baseline never moved.
        assert!(matches!(
            g.check(WattHours(0), at(10)),
            Verdict::Backwards { first: true, .. }
        ));
        assert_eq!(
            g.check(WattHours(5_000_010), at(20)),
            Verdict::Accepted {
                delta: WattHours(10)
            }
        );
        // A meter replaced by one at 12 kWh (too high to count as "near zero"): three
        // readings in a row below the old one, rising as the house uses it.
        assert!(matches!(
            g.check(WattHours(12_000), at(30)),
            Verdict::Backwards { first: true, .. }
        ));
        assert!(matches!(
            g.check(WattHours(12_005), at(40)),
            Verdict::Backwards { first: false, .. }
        ));
        assert_eq!(
            g.check(WattHours(12_020), at(50)),
            Verdict::Rebased {
                previous: WattHours(5_000_010),
                base: WattHours(12_000),
                delta: WattHours(20),
            }
        );
        assert_eq!(
            g.check(WattHours(12_030), at(60)),
            Verdict::Accepted {
                delta: WattHours(10)
            }
        );
        // Low readings that do not rise plausibly from each other start over.
        g.check(WattHours(10_000), at(70));
        g.check(WattHours(500), at(80));
        assert!(matches!(
            g.check(WattHours(9_000), at(90)),
            Verdict::Backwards { first: true, .. }
        ));
        assert_eq!(g.last(), Some(WattHours(12_030)));
    }
}
