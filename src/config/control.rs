//! `[control]`: nomhub may write to the heat pump. Without this section it only
//! watches; with it the hot-water strategy and the `[[rule]]`s act.

use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use crate::model::{DeviceId, Dur};
use crate::profile::{ProfileSet, Role};
use crate::strategy::Mode;

use super::DeviceConfig;
use super::ledger::Problem;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ControlConfig {
    /// The device the hot-water strategy drives; default the one whose profile has a
    /// writable `dhw_setpoint`.
    #[serde(default)]
    pub heat_pump: Option<Spanned<DeviceId>>,
    /// The strategy's mode at the first start (later starts resume the last one).
    #[serde(default = "default_mode")]
    pub mode: Spanned<String>,
    /// How often rules are checked and claims written.
    #[serde(default = "default_tick")]
    pub tick: Dur,
    /// A point is written at most once in this long (restores included).
    #[serde(default = "default_min_write_interval")]
    pub min_write_interval: Dur,
    /// A reading older than this counts as missing.
    #[serde(default = "default_stale_after")]
    pub stale_after: Dur,
}

fn default_mode() -> Spanned<String> {
    Spanned::new(0..0, "smart".to_owned())
}
fn default_tick() -> Dur {
    Dur(Duration::from_secs(10))
}
fn default_min_write_interval() -> Dur {
    Dur(Duration::from_secs(60))
}
fn default_stale_after() -> Dur {
    Dur(Duration::from_secs(120))
}

/// `[control]`, checked against the devices.
#[derive(Debug, Clone, PartialEq)]
pub struct ControlSetup {
    /// The device the strategy drives, when there is one with a writable DHW setpoint.
    pub heat_pump: Option<DeviceId>,
    pub mode: Mode,
    pub tick: Duration,
    pub min_write_interval: Duration,
    pub stale_after: Duration,
}

/// Whether `profile` of a device gives the strategy a writable DHW setpoint.
fn has_setpoint(devices: &[DeviceConfig], profiles: &ProfileSet, id: &DeviceId) -> Option<bool> {
    let d = devices.iter().find(|d| d.id.get_ref() == id)?;
    let p = profiles.get(d.profile.get_ref())?;
    Some(
        p.file
            .points
            .iter()
            .any(|pt| pt.role == Some(Role::DhwSetpoint) && pt.write.is_some()),
    )
}

pub fn resolve(
    c: &ControlConfig,
    devices: &[DeviceConfig],
    profiles: &ProfileSet,
    problems: &mut Vec<Problem>,
) -> ControlSetup {
    let mode = Mode::parse(c.mode.get_ref()).unwrap_or_else(|| {
        problems.push((
            Some(c.mode.span()),
            format!(
                "control: mode `{}` is not one of {}",
                c.mode.get_ref(),
                Mode::ALL.map(Mode::as_str).join(", ")
            ),
        ));
        Mode::Off
    });
    let heat_pump = match &c.heat_pump {
        Some(id) => match has_setpoint(devices, profiles, id.get_ref()) {
            Some(true) => Some(id.get_ref().clone()),
            Some(false) => {
                problems.push((
                    Some(id.span()),
                    format!(
                        "control: device `{}` has no writable point with role `dhw_setpoint` in its profile",
                        id.get_ref()
                    ),
                ));
                None
            }
            None => {
                problems.push((
                    Some(id.span()),
                    format!(
                        "control: heat_pump `{}` is not a [[device]] id",
                        id.get_ref()
                    ),
                ));
                None
            }
        },
        None => devices
            .iter()
            .map(|d| d.id.get_ref())
            .find(|id| has_setpoint(devices, profiles, id) == Some(true))
            .cloned(),
    };
    for (name, d) in [
        ("tick", c.tick),
        ("min_write_interval", c.min_write_interval),
        ("stale_after", c.stale_after),
    ] {
        if d.0.is_zero() {
            problems.push((None, format!("control: `{name}` must be longer than 0")));
        }
    }
    ControlSetup {
        heat_pump,
        mode,
        tick: c.tick.0,
        min_write_interval: c.min_write_interval.0,
        stale_after: c.stale_after.0,
    }
}
