//! The profile file format (`integrations/<kind>/<id>.toml`), decoded strictly,
//! and its resolved form with wire addresses that pollers use.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::modbus::{DataType, RegisterKind, WordOrder};
use crate::model::{Dur, PointKey, Unit};

/// What a device is; the folder under `integrations/` gives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceKind {
    HeatPump,
    Inverter,
    Meter,
    /// A relay module (SG Ready contacts, or other loads switched by a rule).
    Relay,
}

impl DeviceKind {
    pub fn from_folder(folder: &str) -> Option<Self> {
        match folder {
            "heat_pump" => Some(Self::HeatPump),
            "inverter" => Some(Self::Inverter),
            "meter" => Some(Self::Meter),
            "relay" => Some(Self::Relay),
            _ => None,
        }
    }
}

/// A profile file as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileFile {
    pub id: String,
    pub vendor: String,
    pub model: String,
    /// Where the register facts come from (manual, table, open-source map).
    pub source: String,
    #[serde(default)]
    pub notes: Option<String>,
    /// How the device is read: Modbus (the default) or a smart meter's P1 port.
    #[serde(default)]
    pub protocol: Protocol,
    /// Named poll intervals; a point uses `fast` unless it names another tier.
    pub poll_tiers: BTreeMap<String, Dur>,
    /// Modbus only.
    #[serde(default)]
    pub modbus: ModbusProfile,
    /// Present for SunSpec devices: point addresses are then offsets inside the model
    /// that `point.model` names, found by walking the device's model chain.
    #[serde(default)]
    pub sunspec: Option<SunSpecProfile>,
    /// How `nomhub modbus scan` tells this device from others: every check must hold.
    #[serde(default)]
    pub identify: Vec<IdentifyCheck>,
    #[serde(rename = "point")]
    pub points: Vec<PointFile>,
}

/// One check of [`ProfileFile::identify`]: a point of the profile reads, and a text
/// starts with `prefix` or a number lies within `min..=max`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentifyCheck {
    pub point: PointKey,
    #[serde(default)]
    pub prefix: Option<String>,
    #[serde(default)]
    pub min: Option<f64>,
    #[serde(default)]
    pub max: Option<f64>,
}

/// How a device is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Protocol {
    #[default]
    Modbus,
    /// A DSMR smart meter's P1 port: telegrams, not registers (`crate::p1`).
    P1,
}

/// What a P1 point is, of what a telegram says (`crate::p1::Reading`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum P1Field {
    /// Import (delivered to the home), both tariffs together, and each.
    ImportTotal,
    ImportT1,
    ImportT2,
    ExportTotal,
    ExportT1,
    ExportT2,
    /// The tariff in force, 1 or 2.
    Tariff,
    PowerImport,
    PowerExport,
    /// Import less export: + import, − export.
    GridPower,
    VoltageL1,
    VoltageL2,
    VoltageL3,
    CurrentL1,
    CurrentL2,
    CurrentL3,
    /// Per phase, import less export.
    PowerL1,
    PowerL2,
    PowerL3,
    EquipmentId,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModbusProfile {
    /// 0 when the manual gives wire addresses, 1 when it counts registers from 1.
    #[serde(default)]
    pub address_base: u16,
    #[serde(default)]
    pub word_order: WordOrder,
    /// Most registers one request may ask for (the device's limit; ≤ 125).
    #[serde(default = "default_max_block")]
    pub max_block: u16,
    /// Unused registers a request may span to join two points (0 when the device
    /// refuses reads across gaps).
    #[serde(default = "default_max_gap")]
    pub max_gap: u16,
    /// Per request; slow devices need more (the bus takes the longest of its devices'
    /// unless its own `timeout` is set).
    #[serde(default)]
    pub timeout: Option<Dur>,
    /// Quiet time the device needs after a connect before it answers (likewise).
    #[serde(default)]
    pub connect_delay: Option<Dur>,
    /// Unit id and TCP port the device usually has, as hints for the installer.
    #[serde(default)]
    pub default_unit: Option<u8>,
    #[serde(default)]
    pub default_port: Option<u16>,
}

impl Default for ModbusProfile {
    fn default() -> Self {
        Self {
            address_base: 0,
            word_order: WordOrder::default(),
            max_block: default_max_block(),
            max_gap: default_max_gap(),
            timeout: None,
            connect_delay: None,
            default_unit: None,
            default_port: None,
        }
    }
}

fn default_max_block() -> u16 {
    125
}
fn default_max_gap() -> u16 {
    8
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SunSpecProfile {
    /// Base addresses to look for the `SunS` marker at, in order.
    pub bases: Vec<u16>,
    /// When a device offers several of these models, the first listed wins.
    pub prefer: Vec<u16>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Sign {
    #[default]
    Normal,
    Invert,
}

/// What a point means to nomhub, independent of register numbers: rules and the
/// strategy act through roles, never through addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    AcPower,
    AcEnergy,
    ImportEnergy,
    ExportEnergy,
    TankTemperature,
    DhwSetpoint,
    DhwMode,
    DhwBoost,
    OperatingMode,
    OutdoorTemperature,
    FlowTemperature,
    RoomTemperature,
    ElectricPower,
    ElectricEnergy,
    /// The heat pump's SG Ready state as one register: its `states` name the raw
    /// value of each of `lock`, `normal`, `recommend`, `force` it offers.
    SgReady,
    /// The heat pump's two SG Ready inputs as registers (0/1 each), contact A and B of
    /// the SG Ready label: A alone locks, B alone recommends, both force.
    SgReadyA,
    SgReadyB,
    /// A register that must be 1 before the heat pump listens to its SG inputs.
    SgReadyEnable,
    /// Who made the device, as it says itself (text).
    Manufacturer,
    /// Its model, as it says itself (text).
    Model,
    SerialNumber,
    Firmware,
}

impl Role {
    /// The name profiles, rules and the backtest use (`dhw_setpoint`).
    pub fn as_str(self) -> &'static str {
        match self {
            Role::AcPower => "ac_power",
            Role::AcEnergy => "ac_energy",
            Role::ImportEnergy => "import_energy",
            Role::ExportEnergy => "export_energy",
            Role::TankTemperature => "tank_temperature",
            Role::DhwSetpoint => "dhw_setpoint",
            Role::DhwMode => "dhw_mode",
            Role::DhwBoost => "dhw_boost",
            Role::OperatingMode => "operating_mode",
            Role::OutdoorTemperature => "outdoor_temperature",
            Role::FlowTemperature => "flow_temperature",
            Role::RoomTemperature => "room_temperature",
            Role::ElectricPower => "electric_power",
            Role::ElectricEnergy => "electric_energy",
            Role::SgReady => "sg_ready",
            Role::SgReadyA => "sg_ready_a",
            Role::SgReadyB => "sg_ready_b",
            Role::SgReadyEnable => "sg_ready_enable",
            Role::Manufacturer => "manufacturer",
            Role::Model => "model",
            Role::SerialNumber => "serial_number",
            Role::Firmware => "firmware",
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PointFile {
    pub key: PointKey,
    /// Short display name.
    pub label: String,
    /// Modbus: the register table (required there).
    #[serde(default)]
    pub register: Option<RegisterKind>,
    /// Modbus: the register number as the source gives it (see `address_base`); for
    /// SunSpec profiles the offset from the model's ID register (required there).
    #[serde(default)]
    pub address: Option<u16>,
    /// P1: what of the telegram this point is (required there).
    #[serde(default)]
    pub p1: Option<P1Field>,
    /// SunSpec only: the models this point exists in.
    #[serde(default)]
    pub model: Option<Vec<u16>>,
    #[serde(rename = "type")]
    pub ty: DataType,
    /// Registers of a string.
    #[serde(default)]
    pub length: Option<u16>,
    #[serde(default)]
    pub word_order: Option<WordOrder>,
    #[serde(default = "one")]
    pub scale: f64,
    #[serde(default)]
    pub offset: f64,
    /// SunSpec: offset of the sunssf register holding this point's power-of-ten scale.
    #[serde(default)]
    pub scale_factor: Option<u16>,
    #[serde(default)]
    pub unit: Option<Unit>,
    #[serde(default)]
    pub sign: Sign,
    /// Raw bit patterns that mean "not available".
    #[serde(default)]
    pub invalid: Vec<u64>,
    /// Names for enumeration values: `states = { "0" = "heating", "1" = "hot_water" }`.
    #[serde(default)]
    pub states: BTreeMap<String, String>,
    #[serde(default)]
    pub poll: Option<String>,
    /// Marks an energy counter the ledger may use.
    #[serde(default)]
    pub counter: Option<CounterProfile>,
    #[serde(default)]
    pub write: Option<WriteProfile>,
    #[serde(default)]
    pub role: Option<Role>,
    /// A number about the device rather than a measurement (a software version): Home
    /// Assistant shows it under diagnostics, without statistics.
    #[serde(default)]
    pub diagnostic: bool,
}

impl PointFile {
    /// The register table (a checked Modbus profile has one for every point).
    pub fn reg(&self) -> RegisterKind {
        self.register.unwrap_or(RegisterKind::Holding)
    }

    /// The register number (a checked Modbus profile has one for every point).
    pub fn addr(&self) -> u16 {
        self.address.unwrap_or(0)
    }
}

fn one() -> f64 {
    1.0
}

#[derive(Debug, Clone, Copy, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CounterProfile {
    /// The most power the device can pass; a counter that rises faster is rejected.
    pub max_power_w: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct WriteProfile {
    /// Bounds in engineering units, required for every writable number.
    #[serde(default)]
    pub min: Option<f64>,
    #[serde(default)]
    pub max: Option<f64>,
    /// Read back after writing; a mismatch is an error.
    #[serde(default = "yes")]
    pub verify: bool,
    /// How long the device needs before the read-back shows the new value.
    #[serde(default = "default_settle")]
    pub settle: Dur,
}

impl WriteProfile {
    /// The range a value of type `ty` may be written in: 0..=1 for a bool, else the
    /// profile's bounds (NaN where missing, so nothing passes).
    pub fn bounds(&self, ty: crate::modbus::DataType) -> (f64, f64) {
        match ty {
            crate::modbus::DataType::Bool => (0.0, 1.0),
            _ => (self.min.unwrap_or(f64::NAN), self.max.unwrap_or(f64::NAN)),
        }
    }
}

fn yes() -> bool {
    true
}
fn default_settle() -> Dur {
    Dur(Duration::from_millis(200))
}

/// A point with its wire address and everything needed to decode it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PointDef {
    pub key: PointKey,
    pub label: String,
    pub kind: RegisterKind,
    /// Wire (protocol) address.
    pub addr: u16,
    pub words: u16,
    pub ty: DataType,
    pub order: WordOrder,
    pub scale: f64,
    pub offset: f64,
    pub scale_factor_addr: Option<u16>,
    pub unit: Option<Unit>,
    pub sign: Sign,
    pub invalid: Vec<u64>,
    pub states: BTreeMap<String, String>,
    pub tier: String,
    pub counter: Option<CounterProfile>,
    pub write: Option<WriteProfile>,
    pub role: Option<Role>,
    /// P1 profiles: what of the telegram the point is.
    pub p1: Option<P1Field>,
}

impl PointDef {
    /// First and one-past-last register a read must cover (the scale factor included).
    pub fn span(&self) -> (u32, u32) {
        let (mut lo, mut hi) = (
            u32::from(self.addr),
            u32::from(self.addr) + u32::from(self.words),
        );
        if let Some(sf) = self.scale_factor_addr {
            lo = lo.min(u32::from(sf));
            hi = hi.max(u32::from(sf) + 1);
        }
        (lo, hi)
    }
}

/// A profile ready to poll: wire addresses, tiers as durations.
#[derive(Debug, Clone, Serialize)]
pub struct ResolvedProfile {
    pub id: String,
    pub kind: DeviceKind,
    pub protocol: Protocol,
    pub vendor: String,
    pub model: String,
    pub tiers: BTreeMap<String, Duration>,
    pub max_block: u16,
    pub max_gap: u16,
    pub timeout: Option<Duration>,
    pub points: Vec<PointDef>,
    /// SunSpec: the models the device reported, in chain order.
    pub models: Vec<u16>,
}

impl ResolvedProfile {
    pub fn point(&self, key: &str) -> Option<&PointDef> {
        self.points.iter().find(|p| p.key.as_str() == key)
    }

    pub fn by_role(&self, role: Role) -> Option<&PointDef> {
        self.points.iter().find(|p| p.role == Some(role))
    }
}

#[cfg(test)]
mod tests {
    use super::Role;

    #[test]
    fn role_names_are_the_names_profiles_use() {
        for name in [
            "ac_power",
            "ac_energy",
            "import_energy",
            "export_energy",
            "tank_temperature",
            "dhw_setpoint",
            "dhw_mode",
            "dhw_boost",
            "operating_mode",
            "outdoor_temperature",
            "flow_temperature",
            "room_temperature",
            "electric_power",
            "electric_energy",
            "sg_ready",
            "sg_ready_a",
            "sg_ready_b",
            "sg_ready_enable",
        ] {
            let role: Role = serde_json::from_value(serde_json::json!(name)).unwrap();
            assert_eq!(role.as_str(), name);
        }
    }
}
