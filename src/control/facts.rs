//! What rules read in the daemon, built from the snapshot, the live flows and the
//! ledger, and the events that happened since the last tick. A reading older than
//! `stale_after`, unavailable, or from a device that is offline has no value: an
//! expression that reads it fails rather than act on old data.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use rhai::{Dynamic, Map};

use crate::ledger::{BundleId, LedgerStatus, PeriodKind, Status};
use crate::live::FlowMap;
use crate::model::Value;
use crate::profile::Role;
use crate::rules::{self, Event, EventKind, Facts};
use crate::state::Snapshot;
use crate::strategy::Mode;

/// A device's points as rules name them: the key, and the role as a second name.
#[derive(Debug, Clone, PartialEq)]
pub struct DevicePoints {
    pub device: String,
    pub points: Vec<(String, Option<Role>)>,
}

/// The snapshot without what is too old to act on.
pub fn fresh(snap: &Snapshot, now: SystemTime, stale_after: Duration) -> Snapshot {
    let mut out = Snapshot {
        points: BTreeMap::new(),
        devices: snap.devices.clone(),
    };
    for (k, s) in &snap.points {
        let online = snap.devices.get(&s.device).is_some_and(|d| d.online);
        let recent = now
            .duration_since(s.at)
            .map_or(true, |age| age <= stale_after);
        if online && recent && s.value.is_ok() {
            out.points.insert(k.clone(), s.clone());
        }
    }
    out
}

fn dynamic(v: &Value) -> Dynamic {
    match v {
        Value::Text(t) => Dynamic::from(t.clone()),
        Value::Bool(b) => Dynamic::from(*b),
        other => other.as_f64().map_or(Dynamic::UNIT, Dynamic::from),
    }
}

/// Everything a rule may read at this tick; `snap` is already [`fresh`].
pub fn facts(
    snap: &Snapshot,
    flows: &FlowMap,
    devices: &[DevicePoints],
    ledger: Option<&LedgerStatus>,
    mode: Mode,
    charging: bool,
) -> Facts {
    let mut f = rules::flow_facts(&flows.read(snap), mode, charging);
    let mut online = Map::new();
    for d in devices {
        let mut m = Map::new();
        for (key, role) in &d.points {
            let v = snap
                .get(&d.device, key)
                .and_then(|s| s.value.as_ref().ok())
                .map_or(Dynamic::UNIT, dynamic);
            if let Some(r) = role {
                m.entry(r.as_str().into()).or_insert_with(|| v.clone());
            }
            m.insert(key.as_str().into(), v);
        }
        f.map(&d.device, m);
        let up = snap
            .devices
            .get(d.device.as_str())
            .is_some_and(|s| s.online);
        online.insert(d.device.as_str().into(), Dynamic::from(up));
    }
    f.map("online", online);
    if let Some(status) = ledger {
        for (name, kind) in [
            ("bundle", PeriodKind::Month),
            ("settlement", PeriodKind::Settlement),
        ] {
            let mut bundles = Map::new();
            for p in status
                .positions
                .iter()
                .filter(|p| p.period.kind == kind && p.running)
            {
                let kwh = |wh: crate::model::WattHours| Dynamic::from(wh.0 as f64 / 1000.0);
                let mut m = Map::new();
                m.insert("used".into(), kwh(p.used));
                m.insert("expected".into(), kwh(p.expected));
                m.insert("remaining".into(), kwh(p.remaining));
                m.insert("bundle".into(), kwh(p.bundle));
                m.insert("projected".into(), kwh(p.projected));
                bundles.insert(p.bundle_id.as_str().into(), Dynamic::from_map(m));
            }
            f.map(name, bundles);
        }
    }
    f
}

/// Whether this month's building-bound use is above its expected position (beyond
/// the on-track band): the hot-water strategy then keeps grid heat short.
pub fn building_bound_above(ledger: Option<&LedgerStatus>) -> bool {
    ledger.is_some_and(|l| {
        l.positions.iter().any(|p| {
            p.bundle_id == BundleId::BuildingBound
                && p.period.kind == PeriodKind::Month
                && p.running
                && p.status == Status::Above
        })
    })
}

/// What the events compare between ticks.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Seen {
    pub online: BTreeMap<String, bool>,
    pub mode: Option<Mode>,
    pub charging: bool,
}

/// The events between `before` (`None` at startup) and `now`.
pub fn events(before: Option<&Seen>, now: &Seen) -> Vec<Event> {
    let ev = |kind, subject: &str| Event {
        kind,
        subject: subject.to_owned(),
    };
    let Some(before) = before else {
        return vec![ev(EventKind::Startup, "nomhub")];
    };
    let mut out = Vec::new();
    for (device, &up) in &now.online {
        let was = before.online.get(device).copied();
        if was.is_some_and(|w| w != up) || (was.is_none() && up) {
            let kind = if up {
                EventKind::DeviceOnline
            } else {
                EventKind::DeviceOffline
            };
            out.push(ev(kind, device));
        }
    }
    if let (Some(a), Some(b)) = (before.mode, now.mode)
        && a != b
    {
        out.push(ev(EventKind::ModeChanged, b.as_str()));
    }
    if before.charging != now.charging {
        let kind = if now.charging {
            EventKind::ChargeStarted
        } else {
            EventKind::ChargeFinished
        };
        out.push(ev(kind, "heat_pump"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{DeviceId, PointKey, Sample, Unavailable};
    use crate::state::DeviceStatus;

    fn sample(
        device: &str,
        point: &str,
        value: Result<Value, Unavailable>,
        at: SystemTime,
    ) -> Sample {
        Sample {
            device: DeviceId::new(device).unwrap(),
            point: PointKey::new(point).unwrap(),
            value,
            at,
        }
    }

    fn snapshot(now: SystemTime) -> Snapshot {
        let mut s = Snapshot::default();
        let old = now - Duration::from_secs(600);
        for x in [
            sample(
                "heat_pump",
                "tank_temperature",
                Ok(Value::Temperature(crate::model::Celsius(48.5))),
                now,
            ),
            sample(
                "heat_pump",
                "outdoor_temperature",
                Ok(Value::Temperature(crate::model::Celsius(9.0))),
                old,
            ),
            sample(
                "heat_pump",
                "operating_mode",
                Ok(Value::Text("hot_water".into())),
                now,
            ),
            sample(
                "heat_pump",
                "flow_temperature",
                Err(Unavailable::PollFailed("timeout".into())),
                now,
            ),
        ] {
            s.points.insert((x.device.clone(), x.point.clone()), x);
        }
        s.devices.insert(
            DeviceId::new("heat_pump").unwrap(),
            DeviceStatus {
                online: true,
                ..DeviceStatus::default()
            },
        );
        s
    }

    fn eval(f: &Facts, src: &str) -> Result<Dynamic, String> {
        let e = rules::Expr::compile(src, f).map_err(|e| e.to_string())?;
        e.eval(f).map_err(|e| e.to_string())
    }

    #[test]
    fn old_missing_and_unavailable_readings_have_no_value() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_750_000_000);
        let snap = fresh(&snapshot(now), now, Duration::from_secs(120));
        let devices = [DevicePoints {
            device: "heat_pump".into(),
            points: vec![
                ("tank_temperature".into(), Some(Role::TankTemperature)),
                ("outdoor_temperature".into(), None),
                ("operating_mode".into(), Some(Role::OperatingMode)),
                ("flow_temperature".into(), None),
                ("hot_water_setpoint".into(), Some(Role::DhwSetpoint)),
            ],
        }];
        let f = facts(
            &snap,
            &FlowMap::default(),
            &devices,
            None,
            Mode::Smart,
            false,
        );
        assert_eq!(
            eval(&f, "heat_pump.tank_temperature").unwrap().as_float(),
            Ok(48.5)
        );
        assert_eq!(
            eval(&f, "heat_pump.operating_mode == \"hot_water\"")
                .unwrap()
                .as_bool(),
            Ok(true)
        );
        assert_eq!(eval(&f, "online.heat_pump").unwrap().as_bool(), Ok(true));
        for stale in [
            "heat_pump.outdoor_temperature > 5.0",
            "heat_pump.flow_temperature > 5.0",
            "heat_pump.dhw_setpoint > 5.0",
        ] {
            let e = eval(&f, stale).unwrap_err();
            assert!(e.contains("no current value"), "{stale}: {e}");
        }
        // The offline device loses every reading.
        let mut down = snapshot(now);
        down.devices.values_mut().for_each(|d| d.online = false);
        let f = facts(
            &fresh(&down, now, Duration::from_secs(120)),
            &FlowMap::default(),
            &devices,
            None,
            Mode::Off,
            false,
        );
        assert!(eval(&f, "heat_pump.tank_temperature > 1.0").is_err());
        assert_eq!(eval(&f, "online.heat_pump").unwrap().as_bool(), Ok(false));
    }

    #[test]
    fn events_follow_what_changed() {
        let start = events(None, &Seen::default());
        assert_eq!(start[0].kind, EventKind::Startup);
        let a = Seen {
            online: [("grid".to_owned(), true)].into(),
            mode: Some(Mode::Smart),
            charging: false,
        };
        let b = Seen {
            online: [("grid".to_owned(), false)].into(),
            mode: Some(Mode::Off),
            charging: true,
        };
        let kinds: Vec<_> = events(Some(&a), &b)
            .into_iter()
            .map(|e| (e.kind, e.subject))
            .collect();
        assert_eq!(
            kinds,
            [
                (EventKind::DeviceOffline, "grid".to_owned()),
                (EventKind::ModeChanged, "off".to_owned()),
                (EventKind::ChargeStarted, "heat_pump".to_owned()),
            ]
        );
        assert!(events(Some(&a), &a).is_empty());
    }

    #[test]
    fn only_a_running_month_of_building_bound_use_above_expected_is_strict() {
        use crate::ledger::bundle::Position;
        use crate::ledger::period::Period;
        use crate::model::WattHours;
        let day = chrono::NaiveDate::from_ymd_opt(2026, 11, 24).unwrap();
        let position = |bundle_id, kind, status, running| Position {
            bundle_id,
            period: Period::containing(kind, day, &Default::default()),
            used: WattHours(0),
            estimated: WattHours(0),
            bundle: WattHours(0),
            expected: WattHours(0),
            projected: WattHours(0),
            remaining: WattHours(0),
            status,
            good: false,
            running,
            data_from: None,
        };
        let status = |p: Position| LedgerStatus {
            positions: vec![p],
            ..LedgerStatus::default()
        };
        let (bb, month) = (BundleId::BuildingBound, PeriodKind::Month);
        assert!(building_bound_above(Some(&status(position(
            bb,
            month,
            Status::Above,
            true
        )))));
        for other in [
            position(bb, month, Status::OnTrack, true),
            position(bb, month, Status::Above, false),
            position(bb, PeriodKind::Year, Status::Above, true),
            position(BundleId::Household, month, Status::Above, true),
        ] {
            let what = format!("{other:?}");
            assert!(!building_bound_above(Some(&status(other))), "{what}");
        }
        assert!(!building_bound_above(None));
    }
}
