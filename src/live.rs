//! The dwelling's live flows, read from the snapshot: which device points add up to
//! PV power, grid power, the home's consumption and the heat pump, and where the
//! tank, outdoor and room temperatures come from.
//!
//! PV and grid follow the ledger's series (the devices whose counters feed `pv` and
//! `grid_import`), so the live figures and the bundle agree on what is measured where.
//! Without a ledger, PV is every inverter and the grid is unknown.

use serde::Serialize;

use crate::config::Config;
use crate::ledger::Series;
use crate::model::{Celsius, DeviceId, PointKey, Value, Watts};
use crate::profile::{DeviceKind, Role};
use crate::state::Snapshot;

type PointRef = (DeviceId, PointKey);

/// A live figure nomhub derives for the whole dwelling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Flow {
    PvPower,
    GridPower,
    HomePower,
    HeatPumpPower,
    TankTemperature,
    OutdoorTemperature,
    RoomTemperature,
}

impl Flow {
    pub const ALL: [Flow; 7] = [
        Flow::PvPower,
        Flow::GridPower,
        Flow::HomePower,
        Flow::HeatPumpPower,
        Flow::TankTemperature,
        Flow::OutdoorTemperature,
        Flow::RoomTemperature,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Flow::PvPower => "pv_power",
            Flow::GridPower => "grid_power",
            Flow::HomePower => "home_power",
            Flow::HeatPumpPower => "heat_pump_power",
            Flow::TankTemperature => "tank_temperature",
            Flow::OutdoorTemperature => "outdoor_temperature",
            Flow::RoomTemperature => "room_temperature",
        }
    }

    pub fn is_power(self) -> bool {
        matches!(
            self,
            Flow::PvPower | Flow::GridPower | Flow::HomePower | Flow::HeatPumpPower
        )
    }
}

/// Where each flow is read from.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FlowMap {
    pv: Vec<PointRef>,
    grid: Vec<PointRef>,
    heat_pump: Vec<PointRef>,
    tank: Option<PointRef>,
    outdoor: Option<PointRef>,
    room: Option<PointRef>,
}

/// One reading of every flow that has a source; `None` where a source is unavailable.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Live {
    pub pv_power: Option<Watts>,
    /// + import, − export.
    pub grid_power: Option<Watts>,
    /// Everything the home uses, the heat pump included: grid + PV.
    pub home_power: Option<Watts>,
    pub heat_pump_power: Option<Watts>,
    pub tank_temperature: Option<Celsius>,
    pub outdoor_temperature: Option<Celsius>,
    pub room_temperature: Option<Celsius>,
}

impl Live {
    /// The flow as a number in its unit (W or °C).
    pub fn get(&self, flow: Flow) -> Option<f64> {
        match flow {
            Flow::PvPower => self.pv_power.map(|w| w.0),
            Flow::GridPower => self.grid_power.map(|w| w.0),
            Flow::HomePower => self.home_power.map(|w| w.0),
            Flow::HeatPumpPower => self.heat_pump_power.map(|w| w.0),
            Flow::TankTemperature => self.tank_temperature.map(|c| c.0),
            Flow::OutdoorTemperature => self.outdoor_temperature.map(|c| c.0),
            Flow::RoomTemperature => self.room_temperature.map(|c| c.0),
        }
    }
}

impl FlowMap {
    pub fn from_config(config: &Config) -> Self {
        let devices: Vec<(DeviceId, &crate::profile::Profile)> = config
            .devices
            .iter()
            .filter_map(|d| {
                Some((
                    d.id.get_ref().clone(),
                    config.profiles.get(d.profile.get_ref())?,
                ))
            })
            .collect();
        let point_with = |profile: &crate::profile::Profile, roles: &[Role]| {
            roles.iter().find_map(|r| {
                profile
                    .file
                    .points
                    .iter()
                    .find(|p| p.role == Some(*r))
                    .map(|p| p.key.clone())
            })
        };
        let power = [Role::AcPower, Role::ElectricPower];
        let series_devices = |s: Series| -> Vec<PointRef> {
            let mut out: Vec<PointRef> = Vec::new();
            let terms = config
                .ledger
                .as_ref()
                .and_then(|l| l.series.get(&s))
                .map(Vec::as_slice)
                .unwrap_or_default();
            for t in terms {
                if let Some((id, p)) = devices.iter().find(|(id, _)| *id == t.device)
                    && let Some(key) = point_with(p, &power)
                    && !out.iter().any(|(d, _)| d == id)
                {
                    out.push((id.clone(), key));
                }
            }
            out
        };
        let of_kind = |kind: DeviceKind, roles: &[Role]| -> Vec<PointRef> {
            devices
                .iter()
                .filter(|(_, p)| p.kind == kind)
                .filter_map(|(id, p)| Some((id.clone(), point_with(p, roles)?)))
                .collect()
        };
        let first = |role: Role| -> Option<PointRef> {
            devices
                .iter()
                .find_map(|(id, p)| Some((id.clone(), point_with(p, &[role])?)))
        };
        let pv = if config.ledger.is_some() {
            series_devices(Series::Pv)
        } else {
            of_kind(DeviceKind::Inverter, &power)
        };
        Self {
            pv,
            grid: series_devices(Series::GridImport),
            heat_pump: of_kind(DeviceKind::HeatPump, &[Role::ElectricPower]),
            tank: first(Role::TankTemperature),
            outdoor: first(Role::OutdoorTemperature),
            room: first(Role::RoomTemperature),
        }
    }

    /// The flows this dwelling has a source for.
    /// Whether `flow` is one device's point as it is (one inverter's power, the one
    /// tank sensor): the same figure the device's own entity shows.
    pub fn single_source(&self, flow: Flow) -> bool {
        match flow {
            Flow::PvPower => self.pv.len() == 1,
            Flow::GridPower => self.grid.len() == 1,
            Flow::HomePower => false,
            Flow::HeatPumpPower => self.heat_pump.len() == 1,
            Flow::TankTemperature => self.tank.is_some(),
            Flow::OutdoorTemperature => self.outdoor.is_some(),
            Flow::RoomTemperature => self.room.is_some(),
        }
    }

    pub fn flows(&self) -> Vec<Flow> {
        Flow::ALL
            .into_iter()
            .filter(|f| match f {
                Flow::PvPower => !self.pv.is_empty(),
                Flow::GridPower => !self.grid.is_empty(),
                Flow::HomePower => !self.pv.is_empty() && !self.grid.is_empty(),
                Flow::HeatPumpPower => !self.heat_pump.is_empty(),
                Flow::TankTemperature => self.tank.is_some(),
                Flow::OutdoorTemperature => self.outdoor.is_some(),
                Flow::RoomTemperature => self.room.is_some(),
            })
            .collect()
    }

    pub fn read(&self, snap: &Snapshot) -> Live {
        let value = |(d, p): &PointRef| {
            snap.points
                .get(&(d.clone(), p.clone()))
                .and_then(|s| s.value.as_ref().ok())
        };
        let sum = |refs: &[PointRef]| -> Option<Watts> {
            if refs.is_empty() {
                return None;
            }
            let mut total = 0.0;
            for r in refs {
                total += value(r)?.as_f64()?;
            }
            Some(Watts(total))
        };
        let temperature = |r: &Option<PointRef>| match value(r.as_ref()?)? {
            Value::Temperature(c) => Some(*c),
            other => other.as_f64().map(Celsius),
        };
        let pv_power = sum(&self.pv);
        let grid_power = sum(&self.grid);
        Live {
            pv_power,
            grid_power,
            home_power: match (pv_power, grid_power) {
                (Some(p), Some(g)) => Some(Watts(p.0 + g.0)),
                _ => None,
            },
            heat_pump_power: sum(&self.heat_pump),
            tank_temperature: temperature(&self.tank),
            outdoor_temperature: temperature(&self.outdoor),
            room_temperature: temperature(&self.room),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Sample;
    use std::time::SystemTime;

    fn demo() -> Config {
        crate::config::demo(5020, std::path::Path::new("/tmp/x")).unwrap()
    }

    fn put(snap: &mut Snapshot, d: &str, p: &str, v: Value) {
        let key = (DeviceId::new(d).unwrap(), PointKey::new(p).unwrap());
        snap.points.insert(
            key.clone(),
            Sample {
                device: key.0,
                point: key.1,
                value: Ok(v),
                at: SystemTime::UNIX_EPOCH,
            },
        );
    }

    #[test]
    fn the_demo_dwelling_has_every_flow_but_room_temperature() {
        let map = FlowMap::from_config(&demo());
        assert_eq!(
            map.flows(),
            vec![
                Flow::PvPower,
                Flow::GridPower,
                Flow::HomePower,
                Flow::HeatPumpPower,
                Flow::TankTemperature,
                Flow::OutdoorTemperature
            ]
        );
    }

    #[test]
    fn home_is_grid_plus_pv_and_unknown_when_a_part_is() {
        let map = FlowMap::from_config(&demo());
        let mut snap = Snapshot::default();
        put(
            &mut snap,
            "inverter",
            "ac_power",
            Value::Power(Watts(3000.0)),
        );
        assert_eq!(map.read(&snap).home_power, None);
        put(&mut snap, "grid", "power", Value::Power(Watts(-2200.0)));
        put(
            &mut snap,
            "heat_pump",
            "tank_temperature",
            Value::Temperature(Celsius(48.5)),
        );
        let live = map.read(&snap);
        assert_eq!(live.pv_power, Some(Watts(3000.0)));
        assert_eq!(live.grid_power, Some(Watts(-2200.0)));
        assert_eq!(live.home_power, Some(Watts(800.0)));
        assert_eq!(live.tank_temperature, Some(Celsius(48.5)));
        assert_eq!(live.get(Flow::HeatPumpPower), None);
    }
}
