//! What nomhub has changed on the devices and how to undo it: the value each point
//! had before nomhub first wrote it, the writes that bring every point to the value
//! its winning claim wants, and the restores for points nobody claims any more.
//! Pure: the task does the writes and reports back with [`Actuator::done`].

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A device point, `(device, point key)`.
pub type PointRef = (String, String);

/// Values closer than this are the same (registers hold tenths at most).
const SAME: f64 = 1e-3;

/// A point nomhub has taken over.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Held {
    /// What the point had before nomhub first wrote it: what it gets back.
    pub original: f64,
    /// What nomhub wants it to have now; `None` while it is being handed back.
    pub wanted: Option<f64>,
    pub since: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WriteKind {
    /// A claim's value.
    Assert,
    /// The original value, handed back.
    Restore,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Write {
    pub device: String,
    pub point: String,
    pub value: f64,
    pub kind: WriteKind,
}

/// The points nomhub holds and when each was last written.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Actuator {
    /// Keyed `device.point` so the record reads well as JSON.
    held: BTreeMap<String, Held>,
    #[serde(skip)]
    last_write: BTreeMap<PointRef, DateTime<Utc>>,
}

fn key((d, p): &PointRef) -> String {
    format!("{d}.{p}")
}

fn same(a: f64, b: f64) -> bool {
    (a - b).abs() < SAME
}

impl Actuator {
    /// Points held now, with their originals.
    pub fn held(&self) -> &BTreeMap<String, Held> {
        &self.held
    }

    fn may_write(&self, p: &PointRef, now: DateTime<Utc>, every: Duration) -> bool {
        self.last_write
            .get(p)
            .is_none_or(|t| (now - *t).to_std().is_ok_and(|d| d >= every))
    }

    /// The writes due at `now`: every point in `wanted` brought to its value (its
    /// original noted first, from `current`), every held point no longer wanted
    /// brought back to its original, no point written twice within `every`.
    /// `current` reads a point's present value (`None` when unknown: nothing is
    /// taken over without knowing what to give back).
    pub fn plan(
        &mut self,
        wanted: &BTreeMap<PointRef, f64>,
        current: impl Fn(&PointRef) -> Option<f64>,
        now: DateTime<Utc>,
        every: Duration,
    ) -> Vec<Write> {
        let mut writes = Vec::new();
        for (p, &value) in wanted {
            let now_value = current(p);
            match self.held.get_mut(&key(p)) {
                Some(h) => h.wanted = Some(value),
                None => {
                    let Some(original) = now_value else { continue };
                    self.held.insert(
                        key(p),
                        Held {
                            original,
                            wanted: Some(value),
                            since: now,
                        },
                    );
                }
            }
            // Written again when the device lost it (volatile registers after a
            // controller restart) as well as when the claim changed.
            if now_value.is_none_or(|v| !same(v, value)) && self.may_write(p, now, every) {
                writes.push(Write {
                    device: p.0.clone(),
                    point: p.1.clone(),
                    value,
                    kind: WriteKind::Assert,
                });
            }
        }
        let released: Vec<(PointRef, f64)> = self
            .held
            .iter()
            .filter_map(|(k, h)| {
                let (d, pt) = k.split_once('.')?;
                let p = (d.to_owned(), pt.to_owned());
                (!wanted.contains_key(&p)).then_some((p, h.original))
            })
            .collect();
        for (p, original) in released {
            if let Some(h) = self.held.get_mut(&key(&p)) {
                h.wanted = None;
            }
            match current(&p) {
                Some(v) if same(v, original) => {
                    self.held.remove(&key(&p));
                }
                _ if self.may_write(&p, now, every) => writes.push(Write {
                    device: p.0.clone(),
                    point: p.1.clone(),
                    value: original,
                    kind: WriteKind::Restore,
                }),
                _ => {}
            }
        }
        writes
    }

    /// Makes `value` what a held point gets back, whatever it had before nomhub took
    /// it over (an SG Ready contact goes back to "normal", not to where it was found).
    pub fn give_back_as(&mut self, p: &PointRef, value: f64) {
        if let Some(h) = self.held.get_mut(&key(p)) {
            h.original = value;
        }
    }

    /// Notes a write's result; a restore that succeeded ends the hold.
    pub fn done(&mut self, w: &Write, ok: bool, now: DateTime<Utc>) {
        let p = (w.device.clone(), w.point.clone());
        self.last_write.insert(p.clone(), now);
        if ok && w.kind == WriteKind::Restore {
            self.held.remove(&key(&p));
        }
    }

    /// Every held point back to its original, at once (shutdown).
    pub fn restore_all(&self) -> Vec<Write> {
        self.held
            .iter()
            .filter_map(|(k, h)| {
                let (d, p) = k.split_once('.')?;
                Some(Write {
                    device: d.to_owned(),
                    point: p.to_owned(),
                    value: h.original,
                    kind: WriteKind::Restore,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_750_000_000 + s, 0).unwrap_or_default()
    }

    fn p(x: &str) -> PointRef {
        ("heat_pump".to_owned(), x.to_owned())
    }

    const EVERY: Duration = Duration::from_secs(60);

    #[test]
    fn takes_over_knowing_the_original_and_gives_it_back() {
        let mut a = Actuator::default();
        let wanted: BTreeMap<_, _> = [(p("setpoint"), 55.0)].into();
        // Nothing is known of the point yet: no write, nothing held.
        let w = a.plan(&wanted, |_| None, at(0), EVERY);
        assert!(w.is_empty() && a.held().is_empty());

        let w = a.plan(&wanted, |_| Some(40.0), at(1), EVERY);
        assert_eq!(w.len(), 1);
        assert_eq!((w[0].value, w[0].kind), (55.0, WriteKind::Assert));
        a.done(&w[0], true, at(1));
        assert_eq!(a.held()["heat_pump.setpoint"].original, 40.0);

        // The device shows the value: nothing to do.
        let w = a.plan(&wanted, |_| Some(55.0), at(100), EVERY);
        assert!(w.is_empty());
        // The controller restarted and forgot it: written again, once a minute at most.
        let w = a.plan(&wanted, |_| Some(40.0), at(120), EVERY);
        assert_eq!(w.len(), 1);
        a.done(&w[0], true, at(120));
        let w = a.plan(&wanted, |_| Some(40.0), at(150), EVERY);
        assert!(w.is_empty(), "rate limited: {w:?}");

        // Released: back to 40, and once that took, nothing is held.
        let none = BTreeMap::new();
        let w = a.plan(&none, |_| Some(55.0), at(200), EVERY);
        assert_eq!(a.held()["heat_pump.setpoint"].wanted, None);
        assert_eq!((w[0].value, w[0].kind), (40.0, WriteKind::Restore));
        // A failed restore keeps the hold and is tried again later.
        a.done(&w[0], false, at(200));
        assert!(a.held().contains_key("heat_pump.setpoint"));
        let w = a.plan(&none, |_| Some(55.0), at(230), EVERY);
        assert!(w.is_empty());
        let w = a.plan(&none, |_| Some(55.0), at(260), EVERY);
        a.done(&w[0], true, at(260));
        assert!(a.held().is_empty());
    }

    #[test]
    fn a_new_claim_keeps_the_first_original() {
        let mut a = Actuator::default();
        let first: BTreeMap<_, _> = [(p("setpoint"), 55.0)].into();
        let w = a.plan(&first, |_| Some(40.0), at(0), EVERY);
        a.done(&w[0], true, at(0));
        let second: BTreeMap<_, _> = [(p("setpoint"), 60.0)].into();
        let w = a.plan(&second, |_| Some(55.0), at(90), EVERY);
        assert_eq!(a.held()["heat_pump.setpoint"].wanted, Some(60.0));
        assert_eq!(w[0].value, 60.0);
        assert_eq!(a.held()["heat_pump.setpoint"].original, 40.0);
        assert_eq!(a.restore_all()[0].value, 40.0);
    }

    #[test]
    fn a_point_already_back_is_let_go_without_a_write() {
        let mut a = Actuator::default();
        let wanted: BTreeMap<_, _> = [(p("mode"), 1.0)].into();
        let w = a.plan(&wanted, |_| Some(0.0), at(0), EVERY);
        a.done(&w[0], true, at(0));
        let w = a.plan(&BTreeMap::new(), |_| Some(0.0), at(10), EVERY);
        assert!(w.is_empty() && a.held().is_empty());
    }

    #[test]
    fn a_point_can_be_given_back_as_a_value_of_its_own() {
        let mut a = Actuator::default();
        let wanted: BTreeMap<_, _> = [(p("relay_2"), 1.0)].into();
        // Found on (left there by hand): still handed back off.
        let w = a.plan(&wanted, |_| Some(1.0), at(0), EVERY);
        assert!(w.is_empty());
        a.give_back_as(&p("relay_2"), 0.0);
        let w = a.plan(&BTreeMap::new(), |_| Some(1.0), at(10), EVERY);
        assert_eq!((w[0].value, w[0].kind), (0.0, WriteKind::Restore));
    }

    #[test]
    fn survives_a_restart_through_its_record() {
        let mut a = Actuator::default();
        let wanted: BTreeMap<_, _> = [(p("setpoint"), 55.0)].into();
        let w = a.plan(&wanted, |_| Some(40.0), at(0), EVERY);
        a.done(&w[0], true, at(0));
        let json = serde_json::to_string(&a).unwrap();
        let mut b: Actuator = serde_json::from_str(&json).unwrap();
        // After the restart the device still shows 55: the original is still 40.
        let w = b.plan(&BTreeMap::new(), |_| Some(55.0), at(10), EVERY);
        assert_eq!(w[0].value, 40.0);
    }
}
