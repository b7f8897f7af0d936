//! The vocabulary every module shares: ids, units as types, samples.
//!
//! Signs (see `docs/conventions.md`): grid power is + import / − export, PV ≥ 0,
//! consumers ≥ 0. Profiles normalise device signs with `sign = "invert"`.

use std::fmt;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

/// An id made of `[a-z0-9_]+`: device ids and point keys.
fn is_id(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

macro_rules! id_type {
    ($name:ident, $what:literal) => {
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Checks the `[a-z0-9_]+` rule.
            pub fn new(s: &str) -> Result<Self, String> {
                if is_id(s) {
                    Ok(Self(s.to_owned()))
                } else {
                    Err(format!(concat!($what, " `{}` must match [a-z0-9_]+"), s))
                }
            }
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl std::borrow::Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                Self::new(&s).map_err(serde::de::Error::custom)
            }
        }
    };
}

id_type!(DeviceId, "device id");
id_type!(PointKey, "point key");
id_type!(BusId, "bus id");

/// Electric power in watts.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Serialize, Deserialize)]
pub struct Watts(pub f64);

/// Energy in whole watt-hours: the ledger's unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct WattHours(pub i64);

/// Temperature in degrees Celsius.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Serialize, Deserialize)]
pub struct Celsius(pub f64);

impl WattHours {
    pub fn kwh(self) -> f64 {
        self.0 as f64 / 1000.0
    }

    /// `kwh` to the nearest Wh.
    pub fn from_kwh(kwh: f64) -> Self {
        WattHours((kwh * 1000.0).round() as i64)
    }
}

/// The unit a profile point is given in. Values are normalised on decoding:
/// power to W, energy to Wh, temperatures to °C.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Unit {
    #[serde(rename = "W")]
    Watt,
    #[serde(rename = "kW")]
    Kilowatt,
    #[serde(rename = "Wh")]
    WattHour,
    #[serde(rename = "kWh")]
    KilowattHour,
    #[serde(rename = "°C")]
    Celsius,
    #[serde(rename = "K")]
    Kelvin,
    #[serde(rename = "V")]
    Volt,
    #[serde(rename = "A")]
    Ampere,
    #[serde(rename = "Hz")]
    Hertz,
    #[serde(rename = "%")]
    Percent,
    #[serde(rename = "VA")]
    VoltAmpere,
    #[serde(rename = "var")]
    Var,
    #[serde(rename = "min")]
    Minute,
    #[serde(rename = "l/min")]
    LitrePerMinute,
}

impl Unit {
    pub fn symbol(self) -> &'static str {
        match self {
            Unit::Watt | Unit::Kilowatt => "W",
            Unit::WattHour | Unit::KilowattHour => "Wh",
            Unit::Celsius => "°C",
            Unit::Kelvin => "K",
            Unit::Volt => "V",
            Unit::Ampere => "A",
            Unit::Hertz => "Hz",
            Unit::Percent => "%",
            Unit::VoltAmpere => "VA",
            Unit::Var => "var",
            Unit::Minute => "min",
            Unit::LitrePerMinute => "l/min",
        }
    }

    pub fn is_energy(self) -> bool {
        matches!(self, Unit::WattHour | Unit::KilowattHour)
    }
}

/// A decoded, scaled, unit-normalised value.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Value {
    Power(Watts),
    Energy(WattHours),
    Temperature(Celsius),
    /// Any other measured quantity; `unit` says which ("V", "Hz", ...).
    Number {
        value: f64,
        unit: Option<Unit>,
    },
    Bool(bool),
    /// Strings, and enumerations mapped to their names by the profile.
    Text(String),
}

impl Value {
    /// The value as a plain number in its normalised unit (W, Wh, °C, ...).
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Power(w) => Some(w.0),
            Value::Energy(e) => Some(e.0 as f64),
            Value::Temperature(c) => Some(c.0),
            Value::Number { value, .. } => Some(*value),
            Value::Bool(b) => Some(f64::from(u8::from(*b))),
            Value::Text(_) => None,
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Power(w) => write!(f, "{:.0} W", w.0),
            Value::Energy(e) => write!(f, "{:.3} kWh", e.kwh()),
            Value::Temperature(c) => write!(f, "{:.1} °C", c.0),
            Value::Number { value, unit } => match unit {
                Some(u) => write!(f, "{} {}", trim_float(*value), u.symbol()),
                None => write!(f, "{}", trim_float(*value)),
            },
            Value::Bool(b) => write!(f, "{}", if *b { "on" } else { "off" }),
            Value::Text(s) => write!(f, "{s}"),
        }
    }
}

fn trim_float(v: f64) -> String {
    let s = format!("{v:.3}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    s.to_owned()
}

/// Why a point has no value right now.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "reason", content = "detail")]
pub enum Unavailable {
    /// The device returned its "not available" marker for this point.
    NotImplemented,
    /// The poll failed; the text says how.
    PollFailed(String),
    /// An energy counter reading was rejected by the plausibility checks.
    Rejected(String),
}

/// One point's reading from one poll.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Sample {
    pub device: DeviceId,
    pub point: PointKey,
    pub value: Result<Value, Unavailable>,
    #[serde(with = "unix_millis")]
    pub at: SystemTime,
}

mod unix_millis {
    use std::time::{SystemTime, UNIX_EPOCH};

    pub fn serialize<S: serde::Serializer>(t: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
        let ms = t
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        s.serialize_u64(ms)
    }
}

/// A duration written as text in config and profiles: `"500ms"`, `"10s"`, `"5m"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Dur(pub std::time::Duration);

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        humantime::parse_duration(&s).map(Dur).map_err(|e| {
            serde::de::Error::custom(format!("`{s}` is not a duration like \"10s\": {e}"))
        })
    }
}

impl Serialize for Dur {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&humantime::format_duration(self.0).to_string())
    }
}

/// The hot-water strategy's mode: vocabulary the config, the rules and the strategy
/// share (re-exported as `strategy::Mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// The heat pump follows its own settings.
    Off,
    /// Charge the tank with PV surplus, keep comfort at the usual draw times.
    Smart,
    /// Keep the tank at the solar target, sun or not.
    Boost,
}

impl Mode {
    pub const ALL: [Mode; 3] = [Mode::Off, Mode::Smart, Mode::Boost];

    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Off => "off",
            Mode::Smart => "smart",
            Mode::Boost => "boost",
        }
    }

    pub fn parse(s: &str) -> Option<Mode> {
        Mode::ALL.into_iter().find(|m| m.as_str() == s)
    }
}

/// The four states of a heat pump's SG Ready input (the label of the German heat
/// pump association BWP): vocabulary profiles, the config, rules and control share.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SgState {
    /// 1: the utility's lock, the heat pump does not start (its frost protection runs).
    Lock,
    /// 2: the heat pump follows its own settings.
    Normal,
    /// 3: running is recommended (surplus): most heat pumps raise their hot-water and
    /// often also their heating targets.
    Recommend,
    /// 4: run now, to the highest targets the installer allowed.
    Force,
}

impl SgState {
    pub const ALL: [SgState; 4] = [
        SgState::Lock,
        SgState::Normal,
        SgState::Recommend,
        SgState::Force,
    ];

    /// Its name in profiles and payloads (`recommend`).
    pub fn as_str(self) -> &'static str {
        match self {
            SgState::Lock => "lock",
            SgState::Normal => "normal",
            SgState::Recommend => "recommend",
            SgState::Force => "force",
        }
    }

    /// Its number on the label, 1 to 4.
    pub fn number(self) -> u8 {
        match self {
            SgState::Lock => 1,
            SgState::Normal => 2,
            SgState::Recommend => 3,
            SgState::Force => 4,
        }
    }

    /// The state of number `n` (1 to 4; a fraction or anything else is none).
    pub fn from_number(n: f64) -> Option<SgState> {
        SgState::ALL
            .into_iter()
            .find(|s| (f64::from(s.number()) - n).abs() < 1e-9)
    }

    pub fn parse(s: &str) -> Option<SgState> {
        SgState::ALL.into_iter().find(|m| m.as_str() == s)
    }

    /// The two contacts (A, B) of the label: A alone locks, neither is normal, B alone
    /// recommends, both force.
    pub fn contacts(self) -> (bool, bool) {
        match self {
            SgState::Lock => (true, false),
            SgState::Normal => (false, false),
            SgState::Recommend => (false, true),
            SgState::Force => (true, true),
        }
    }

    pub fn from_contacts(a: bool, b: bool) -> SgState {
        match (a, b) {
            (true, false) => SgState::Lock,
            (false, false) => SgState::Normal,
            (false, true) => SgState::Recommend,
            (true, true) => SgState::Force,
        }
    }
}

impl std::fmt::Display for SgState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.number(), self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sg_states_number_name_and_contacts_agree() {
        for s in SgState::ALL {
            assert_eq!(SgState::from_number(f64::from(s.number())), Some(s));
            assert_eq!(SgState::parse(s.as_str()), Some(s));
            let (a, b) = s.contacts();
            assert_eq!(SgState::from_contacts(a, b), s);
        }
        assert_eq!(SgState::from_number(2.5), None);
        assert_eq!(SgState::from_number(0.0), None);
    }

    #[test]
    fn ids_accept_only_lowercase_digits_and_underscores() {
        assert!(DeviceId::new("heat_pump_1").is_ok());
        for bad in ["", "Heat", "heat-pump", "a.b", "ü"] {
            assert!(DeviceId::new(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn values_print_in_their_unit() {
        assert_eq!(Value::Power(Watts(1234.4)).to_string(), "1234 W");
        assert_eq!(
            Value::Energy(WattHours(1_234_567)).to_string(),
            "1234.567 kWh"
        );
        assert_eq!(Value::Temperature(Celsius(48.25)).to_string(), "48.2 °C");
        let hz = Value::Number {
            value: 50.0,
            unit: Some(Unit::Hertz),
        };
        assert_eq!(hz.to_string(), "50 Hz");
    }
}
