//! `[control]`: nomhub may write to the heat pump. Without this section it only
//! watches; with it the hot-water strategy and the `[[rule]]`s act.

use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use crate::model::Mode;
use crate::model::{DeviceId, Dur};
use crate::profile::{ProfileSet, Role};

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
    pub tick: Spanned<Dur>,
    /// A point is written at most once in this long (restores included).
    #[serde(default = "default_min_write_interval")]
    pub min_write_interval: Spanned<Dur>,
    /// A reading older than this counts as missing.
    #[serde(default = "default_stale_after")]
    pub stale_after: Spanned<Dur>,
    /// The weekly legionella run of the smart strategy.
    #[serde(default)]
    pub legionella: LegionellaConfig,
}

/// `[control.legionella]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LegionellaConfig {
    /// `false`: no run (the heat pump has its own legionella program).
    #[serde(default = "yes")]
    pub enabled: bool,
    /// The minutes a run may start in: a cron expression, local time.
    #[serde(default = "default_window")]
    pub window: Spanned<String>,
    /// The whole tank is heated to this, °C.
    #[serde(default = "default_legionella_c")]
    pub temperature: Spanned<f64>,
}

impl Default for LegionellaConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            window: default_window(),
            temperature: default_legionella_c(),
        }
    }
}

fn yes() -> bool {
    true
}
fn default_window() -> Spanned<String> {
    Spanned::new(0..0, LegionellaSetup::DEFAULT_WINDOW.to_owned())
}
fn default_legionella_c() -> Spanned<f64> {
    Spanned::new(0..0, 60.0)
}

/// The weekly legionella run as configured: a charge of the whole tank to
/// `temperature_c` in the minutes `window` matches (cron, local time).
#[derive(Debug, Clone, PartialEq)]
pub struct LegionellaSetup {
    pub window: cron::Schedule,
    pub temperature_c: f64,
}

impl LegionellaSetup {
    /// Saturdays 11:00–16:00 (the sunniest hours of the weekend).
    pub const DEFAULT_WINDOW: &str = "0 * 11-15 * * Sat";
}

impl Default for LegionellaSetup {
    fn default() -> Self {
        Self {
            window: Self::DEFAULT_WINDOW
                .parse()
                .unwrap_or_else(|e| unreachable!("the default window parses: {e}")),
            temperature_c: 60.0,
        }
    }
}

/// Legionella needs at least this (and the heat pump's hot water seldom goes beyond 65 °C).
const LEGIONELLA_C: std::ops::RangeInclusive<f64> = 55.0..=70.0;

fn default_mode() -> Spanned<String> {
    Spanned::new(0..0, "smart".to_owned())
}
fn default_tick() -> Spanned<Dur> {
    Spanned::new(0..0, Dur(Duration::from_secs(10)))
}
fn default_min_write_interval() -> Spanned<Dur> {
    Spanned::new(0..0, Dur(Duration::from_secs(60)))
}
fn default_stale_after() -> Spanned<Dur> {
    Spanned::new(0..0, Dur(Duration::from_secs(120)))
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
    pub legionella: Option<LegionellaSetup>,
}

impl ControlSetup {
    /// No `[control]`: nothing to act on; control only owns the strategy's settings.
    pub fn passive() -> Self {
        Self {
            heat_pump: None,
            mode: Mode::Smart,
            tick: default_tick().get_ref().0,
            min_write_interval: default_min_write_interval().get_ref().0,
            stale_after: default_stale_after().get_ref().0,
            legionella: None,
        }
    }
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
        ("tick", &c.tick),
        ("min_write_interval", &c.min_write_interval),
        ("stale_after", &c.stale_after),
    ] {
        if d.get_ref().0.is_zero() {
            problems.push((
                Some(d.span()),
                format!("control: `{name}` must be longer than 0s"),
            ));
        }
    }
    let l = &c.legionella;
    let window = super::schedule(l.window.get_ref())
        .map_err(|e| {
            problems.push((
                Some(l.window.span()),
                format!("control: legionella window `{}`: {e}", l.window.get_ref()),
            ));
        })
        .ok();
    let temperature_c = *l.temperature.get_ref();
    if !LEGIONELLA_C.contains(&temperature_c) {
        problems.push((
            Some(l.temperature.span()),
            format!(
                "control: legionella temperature {temperature_c} °C is outside {}..={} °C",
                LEGIONELLA_C.start(),
                LEGIONELLA_C.end()
            ),
        ));
    }
    let legionella = window.filter(|_| l.enabled).map(|window| LegionellaSetup {
        window,
        temperature_c,
    });
    ControlSetup {
        legionella,
        heat_pump,
        mode,
        tick: c.tick.get_ref().0,
        min_write_interval: c.min_write_interval.get_ref().0,
        stale_after: c.stale_after.get_ref().0,
    }
}

#[cfg(test)]
mod tests {
    use crate::config::parse;

    const BASE: &str = r#"
[[bus]]
id = "gw"
type = "tcp"
host = "127.0.0.1"

[[device]]
id = "heat_pump"
profile = "alpha_innotec-luxtronik2"
bus = "gw"
unit = 1

[control]
"#;

    fn legionella(section: &str) -> Option<super::LegionellaSetup> {
        let text = format!("{BASE}{section}");
        let config = parse("nomhub.toml", &text).unwrap_or_else(|r| panic!("{r:?}"));
        config.control.and_then(|c| c.legionella)
    }

    #[test]
    fn the_legionella_run_is_on_by_default_and_can_be_moved_or_switched_off() {
        let default = legionella("");
        assert_eq!(default, Some(Default::default()));
        let moved = legionella(
            "[control.legionella]\nwindow = \"0 * 12-14 * * Sun\"\ntemperature = 62.0\n",
        );
        let moved = moved.unwrap_or_else(|| panic!("no run"));
        assert_eq!(moved.temperature_c, 62.0);
        assert_eq!(moved.window.to_string(), "0 * 12-14 * * Sun");
        assert_eq!(legionella("[control.legionella]\nenabled = false\n"), None);
    }
}
