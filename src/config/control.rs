//! `[control]`: nomhub may write to the heat pump. Without this section it only
//! watches; with it the hot-water strategy and the `[[rule]]`s act.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use crate::model::{DeviceId, Dur, Mode, SgState};
use crate::profile::schema::PointFile;
use crate::profile::{DeviceKind, ProfileSet, Role};

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
    /// The heat pump's SG Ready input.
    #[serde(default)]
    pub sg_ready: Option<Spanned<SgReadyConfig>>,
    /// The hot-water tank, as its label gives it.
    #[serde(default)]
    pub tank: Option<Spanned<TankConfig>>,
    /// `guarantee` (the thermostat's comfort at least, for the least grid heat) or
    /// `more` (also charge before the usual draws).
    #[serde(default = "default_comfort")]
    pub comfort: Spanned<String>,
}

fn default_comfort() -> Spanned<String> {
    Spanned::new(0..0, "guarantee".to_owned())
}

/// `[control.tank]`: the tank the strategy plans for, from its label and the installer.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TankConfig {
    /// Nominal volume, litres.
    pub litres: Spanned<f64>,
    /// The label's standby heat loss S, W (EU energy label: the tank at 65 °C in a
    /// 20 °C room); without it, a tank of year A's make and this volume.
    #[serde(default)]
    pub standby_loss_w: Option<Spanned<f64>>,
    /// Where the tank sensor sits, as a share of the tank's height from the bottom.
    #[serde(default)]
    pub sensor_height: Option<Spanned<f64>>,
}

/// A tank of this many litres (a bit below a small boiler's 50 l is a kitchen
/// heater, above 1000 l a buffer vessel).
const TANK_L: std::ops::RangeInclusive<f64> = 50.0..=1000.0;
/// Standby losses of the tanks on the market, W.
const STANDBY_W: std::ops::RangeInclusive<f64> = 5.0..=300.0;
/// A sensor at the very bottom or top says nothing about what the tank holds.
const SENSOR_HEIGHT: std::ops::RangeInclusive<f64> = 0.1..=0.9;

/// `[control.tank]`, checked: the tank as its label and the installer give it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TankSetup {
    pub litres: f64,
    /// The label's standby loss S, W (at 65 °C in a 20 °C room).
    pub standby_loss_w: Option<f64>,
    /// The sensor's height, a share of the tank's from the bottom.
    pub sensor_height: Option<f64>,
}

/// `[control.tank]`, checked (None without the section, or with a wrong figure, which
/// is an error).
fn tank(c: Option<&Spanned<TankConfig>>, problems: &mut Vec<Problem>) -> Option<TankSetup> {
    let c = c?.get_ref();
    let mut within =
        |name: &str, v: &Spanned<f64>, range: std::ops::RangeInclusive<f64>, unit: &str| {
            let x = *v.get_ref();
            if range.contains(&x) {
                Some(x)
            } else {
                problems.push((
                    Some(v.span()),
                    format!(
                        "control.tank: {name} {x}{unit} is outside {}..={}{unit}",
                        range.start(),
                        range.end()
                    ),
                ));
                None
            }
        };
    let litres = within("litres", &c.litres, TANK_L, " l");
    let loss_w = c
        .standby_loss_w
        .as_ref()
        .map(|w| within("standby_loss_w", w, STANDBY_W, " W"));
    let height = c
        .sensor_height
        .as_ref()
        .map(|h| within("sensor_height", h, SENSOR_HEIGHT, ""));
    // Given and wrong is an error (reported above).
    let given = |v: Option<Option<f64>>| v.map_or(Some(None), |v| v.map(Some));
    Some(TankSetup {
        litres: litres?,
        standby_loss_w: given(loss_w)?,
        sensor_height: given(height)?,
    })
}

/// `[control.sg_ready]`: nomhub signals the heat pump through its SG Ready input.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SgReadyConfig {
    /// Two relay outputs wired to the heat pump's SG Ready terminals; without them, the
    /// heat pump's own SG Ready registers (its profile's `sg_ready` role, or
    /// `sg_ready_a` and `sg_ready_b`).
    #[serde(default)]
    pub contacts: Option<Spanned<ContactsConfig>>,
    /// A state is kept at least this long (the heat pump's compressor and the
    /// installer's rules of thumb ask for 10 minutes).
    #[serde(default = "default_min_state")]
    pub min_state: Spanned<Dur>,
    /// A lock (state 1) lasts at most this long, and the next one may start only this
    /// long after it ended.
    #[serde(default = "default_max_lock")]
    pub max_lock: Spanned<Dur>,
    /// What the heat pump heats the tank to in state 3, °C: its own setting (often
    /// its hot-water target plus a raise the installer sets).
    #[serde(default = "default_raised_target")]
    pub raised_target: Spanned<f64>,
    /// How the hot-water strategy acts: `setpoint` or `sg_ready`; by default the
    /// setpoint where the heat pump has a writable one.
    #[serde(default)]
    pub hot_water: Option<Spanned<String>>,
}

/// `contacts = { device = "relays", a = "relay_1", b = "relay_2" }`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContactsConfig {
    pub device: DeviceId,
    pub a: String,
    pub b: String,
}

fn default_min_state() -> Spanned<Dur> {
    Spanned::new(0..0, Dur(Duration::from_secs(600)))
}
fn default_max_lock() -> Spanned<Dur> {
    Spanned::new(0..0, Dur(Duration::from_secs(7200)))
}
fn default_raised_target() -> Spanned<f64> {
    Spanned::new(0..0, 55.0)
}

/// Where an SG Ready state goes.
#[derive(Debug, Clone, PartialEq)]
pub enum SgWiring {
    /// One register of the heat pump's, with its raw value for each state it offers.
    Register {
        device: DeviceId,
        point: String,
        raw: BTreeMap<SgState, f64>,
    },
    /// Two contacts, A and B of the label: relay outputs, or the heat pump's two SG
    /// input registers (then `enable`, on the same device, switches them on first).
    Contacts {
        device: DeviceId,
        a: String,
        b: String,
        enable: Option<String>,
    },
}

impl SgWiring {
    /// Whether the wiring can signal `state`.
    pub fn offers(&self, state: SgState) -> bool {
        match self {
            SgWiring::Register { raw, .. } => raw.contains_key(&state),
            SgWiring::Contacts { .. } => true,
        }
    }

    /// The points and values that signal `state` (none for a state a register lacks).
    pub fn values(&self, state: SgState) -> Vec<((String, String), f64)> {
        match self {
            SgWiring::Register { device, point, raw } => raw
                .get(&state)
                .map(|v| ((device.to_string(), point.clone()), *v))
                .into_iter()
                .collect(),
            SgWiring::Contacts {
                device,
                a,
                b,
                enable,
            } => {
                let (va, vb) = state.contacts();
                let d = device.to_string();
                let mut out = vec![
                    ((d.clone(), a.clone()), f64::from(u8::from(va))),
                    ((d.clone(), b.clone()), f64::from(u8::from(vb))),
                ];
                if let Some(e) = enable {
                    out.push(((d, e.clone()), 1.0));
                }
                out
            }
        }
    }

    /// The device whose points carry the state.
    pub fn device(&self) -> &DeviceId {
        match self {
            SgWiring::Register { device, .. } | SgWiring::Contacts { device, .. } => device,
        }
    }

    /// The points that carry the state (not the enable switch), each with its value in
    /// state 2: what they go back to when nobody asks for another state.
    pub fn normal(&self) -> Vec<((String, String), f64)> {
        let mut values = self.values(SgState::Normal);
        if let SgWiring::Contacts {
            enable: Some(enable),
            ..
        } = self
        {
            values.retain(|((_, key), _)| key != enable);
        }
        values
    }

    /// The points that carry the state (not the enable switch).
    pub fn signal_points(&self) -> Vec<(String, String)> {
        self.normal().into_iter().map(|(p, _)| p).collect()
    }

    /// The state the device shows, from its points' present values (`None` while one
    /// is unknown, or a register holds a value no state has).
    pub fn read(&self, current: impl Fn(&(String, String)) -> Option<f64>) -> Option<SgState> {
        match self {
            SgWiring::Register { device, point, raw } => {
                let v = current(&(device.to_string(), point.clone()))?;
                raw.iter()
                    .find(|(_, r)| (**r - v).abs() < 1e-6)
                    .map(|(s, _)| *s)
            }
            SgWiring::Contacts {
                device,
                a,
                b,
                enable,
            } => {
                let d = device.to_string();
                if let Some(e) = enable
                    && current(&(d.clone(), e.clone()))? < 0.5
                {
                    return Some(SgState::Normal);
                }
                let a = current(&(d.clone(), a.clone()))? >= 0.5;
                let b = current(&(d, b.clone()))? >= 0.5;
                Some(SgState::from_contacts(a, b))
            }
        }
    }
}

/// `[control.sg_ready]`, checked against the devices.
#[derive(Debug, Clone, PartialEq)]
pub struct SgReadySetup {
    pub wiring: SgWiring,
    pub min_state: Duration,
    pub max_lock: Duration,
    pub raised_c: f64,
    /// Whether the hot-water strategy acts through SG Ready (else through the setpoint).
    pub for_hot_water: bool,
}

/// The tank temperatures a heat pump's raised SG target can sensibly have, °C.
const RAISED_C: std::ops::RangeInclusive<f64> = 40.0..=70.0;

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
    pub sg_ready: Option<SgReadySetup>,
    /// The tank the strategy plans for (None: year A's).
    pub tank: Option<TankSetup>,
    /// `comfort = "more"`: charge before the usual draws too.
    pub more_comfort: bool,
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
            sg_ready: None,
            tank: None,
            more_comfort: false,
        }
    }
}

/// Whether `profile` of a device gives the strategy a writable DHW setpoint.
fn has_setpoint(devices: &[DeviceConfig], profiles: &ProfileSet, id: &DeviceId) -> Option<bool> {
    let points = points_of(devices, profiles, id)?;
    Some(
        points
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
    let sg = c.sg_ready.as_ref();
    let heat_pump = match &c.heat_pump {
        Some(id) => match has_setpoint(devices, profiles, id.get_ref()) {
            Some(true) => Some(id.get_ref().clone()),
            Some(false) if sg.is_some() => Some(id.get_ref().clone()),
            Some(false) => {
                problems.push((
                    Some(id.span()),
                    format!(
                        "control: device `{}` has no writable point with role `dhw_setpoint` in its profile (nor a [control.sg_ready] to signal it through)",
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
            .or_else(|| {
                // With SG Ready, a heat pump without a setpoint will do.
                sg?;
                devices
                    .iter()
                    .find(|d| {
                        profiles
                            .get(d.profile.get_ref())
                            .is_some_and(|p| p.kind == DeviceKind::HeatPump)
                    })
                    .map(|d| d.id.get_ref())
            })
            .cloned(),
    };
    let sg_ready = sg.and_then(|sg| {
        let Some(hp) = &heat_pump else {
            problems.push((
                Some(sg.span()),
                "control.sg_ready: there is no heat pump to signal; name it with `control.heat_pump`"
                    .to_owned(),
            ));
            return None;
        };
        let setpoint = has_setpoint(devices, profiles, hp) == Some(true);
        sg_ready(sg, hp, setpoint, devices, profiles, problems)
    });
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
    let more_comfort = match c.comfort.get_ref().as_str() {
        "guarantee" => false,
        "more" => true,
        other => {
            problems.push((
                Some(c.comfort.span()),
                format!("control: comfort `{other}` is not one of guarantee, more"),
            ));
            false
        }
    };
    ControlSetup {
        legionella,
        sg_ready,
        more_comfort,
        tank: tank(c.tank.as_ref(), problems),
        heat_pump,
        mode,
        tick: c.tick.get_ref().0,
        min_write_interval: c.min_write_interval.get_ref().0,
        stale_after: c.stale_after.get_ref().0,
    }
}

/// A device's profile points, by id.
pub fn points_of<'a>(
    devices: &[DeviceConfig],
    profiles: &'a ProfileSet,
    id: &DeviceId,
) -> Option<&'a [PointFile]> {
    let d = devices.iter().find(|d| d.id.get_ref() == id)?;
    Some(&profiles.get(d.profile.get_ref())?.file.points)
}

/// Whether a point takes 0 and 1: a coil, or a register written as 0..=1 (the bounds
/// every write is checked against).
fn switch_like(p: &PointFile) -> bool {
    p.write.is_some_and(|w| w.bounds(p.ty) == (0.0, 1.0))
}

/// `[control.sg_ready]` for heat pump `hp`: the contacts named, or the heat pump's own
/// SG Ready registers.
fn sg_ready(
    sg: &Spanned<SgReadyConfig>,
    hp: &DeviceId,
    setpoint: bool,
    devices: &[DeviceConfig],
    profiles: &ProfileSet,
    problems: &mut Vec<Problem>,
) -> Option<SgReadySetup> {
    let c = sg.get_ref();
    let before = problems.len();
    let wiring = match &c.contacts {
        Some(contacts) => {
            let k = contacts.get_ref();
            match points_of(devices, profiles, &k.device) {
                None => {
                    problems.push((
                        Some(contacts.span()),
                        format!(
                            "control.sg_ready: contacts device `{}` is not a [[device]] id",
                            k.device
                        ),
                    ));
                    None
                }
                Some(points) => {
                    for key in [&k.a, &k.b] {
                        match points.iter().find(|p| p.key.as_str() == key) {
                            Some(p) if switch_like(p) => {}
                            Some(_) => problems.push((
                                Some(contacts.span()),
                                format!(
                                    "control.sg_ready: `{}.{key}` is not a writable on/off point (a relay or a 0/1 register)",
                                    k.device
                                ),
                            )),
                            None => problems.push((
                                Some(contacts.span()),
                                format!(
                                    "control.sg_ready: device `{}` has no point `{key}` (its points: {})",
                                    k.device,
                                    points
                                        .iter()
                                        .filter(|p| switch_like(p))
                                        .map(|p| p.key.as_str())
                                        .collect::<Vec<_>>()
                                        .join(", ")
                                ),
                            )),
                        }
                    }
                    if k.a == k.b {
                        problems.push((
                            Some(contacts.span()),
                            "control.sg_ready: contacts `a` and `b` must be two points".to_owned(),
                        ));
                    }
                    Some(SgWiring::Contacts {
                        device: k.device.clone(),
                        a: k.a.clone(),
                        b: k.b.clone(),
                        enable: None,
                    })
                }
            }
        }
        None => {
            let points = points_of(devices, profiles, hp).unwrap_or_default();
            let role = |r: Role| {
                points
                    .iter()
                    .find(|p| p.role == Some(r) && p.write.is_some())
            };
            if let Some(p) = role(Role::SgReady) {
                let raw = p
                    .states
                    .iter()
                    .filter_map(|(raw, name)| Some((SgState::parse(name)?, raw.parse().ok()?)))
                    .collect();
                Some(SgWiring::Register {
                    device: hp.clone(),
                    point: p.key.to_string(),
                    raw,
                })
            } else if let (Some(a), Some(b)) = (role(Role::SgReadyA), role(Role::SgReadyB)) {
                Some(SgWiring::Contacts {
                    device: hp.clone(),
                    a: a.key.to_string(),
                    b: b.key.to_string(),
                    enable: role(Role::SgReadyEnable).map(|p| p.key.to_string()),
                })
            } else {
                problems.push((
                    Some(sg.span()),
                    format!(
                        "control.sg_ready: heat pump `{hp}` has no writable SG Ready registers in its profile; wire two relays to its SG terminals and name them in `contacts`"
                    ),
                ));
                None
            }
        }
    };
    let min_state = c.min_state.get_ref().0;
    let max_lock = c.max_lock.get_ref().0;
    if min_state.is_zero() {
        problems.push((
            Some(c.min_state.span()),
            "control.sg_ready: `min_state` must be longer than 0s".to_owned(),
        ));
    }
    if max_lock < min_state {
        problems.push((
            Some(c.max_lock.span()),
            "control.sg_ready: `max_lock` must be at least `min_state`".to_owned(),
        ));
    }
    let raised_c = *c.raised_target.get_ref();
    if !RAISED_C.contains(&raised_c) {
        problems.push((
            Some(c.raised_target.span()),
            format!(
                "control.sg_ready: raised_target {raised_c} °C is outside {}..={} °C",
                RAISED_C.start(),
                RAISED_C.end()
            ),
        ));
    }
    let for_hot_water = match c.hot_water.as_ref().map(|h| (h, h.get_ref().as_str())) {
        None => !setpoint,
        Some((_, "sg_ready")) => true,
        Some((_, "setpoint")) if setpoint => false,
        Some((h, "setpoint")) => {
            problems.push((
                Some(h.span()),
                format!(
                    "control.sg_ready: hot_water = \"setpoint\", but heat pump `{hp}` has no writable `dhw_setpoint`"
                ),
            ));
            false
        }
        Some((h, other)) => {
            problems.push((
                Some(h.span()),
                format!("control.sg_ready: hot_water `{other}` is not one of setpoint, sg_ready"),
            ));
            false
        }
    };
    if problems.len() > before {
        return None;
    }
    Some(SgReadySetup {
        wiring: wiring?,
        min_state,
        max_lock,
        raised_c,
        for_hot_water,
    })
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

    fn tank(section: &str) -> Option<super::TankSetup> {
        let text = format!("{BASE}{section}");
        let config = parse("nomhub.toml", &text).unwrap_or_else(|r| panic!("{r:?}"));
        config.control.unwrap_or_else(|| panic!("no control")).tank
    }

    #[test]
    fn comfort_is_the_guarantee_unless_more_is_asked_for() {
        let more = |line: &str| {
            let text = format!("{BASE}{line}");
            parse("nomhub.toml", &text)
                .map(|c| {
                    c.control
                        .unwrap_or_else(|| panic!("no control"))
                        .more_comfort
                })
                .map_err(|r| r.to_string())
        };
        assert_eq!(more(""), Ok(false));
        assert_eq!(more("comfort = \"guarantee\"\n"), Ok(false));
        assert_eq!(more("comfort = \"more\"\n"), Ok(true));
        let err = more("comfort = \"lots\"\n").unwrap_err();
        assert!(
            err.contains(
                "nomhub.toml:14:11: control: comfort `lots` is not one of guarantee, more"
            ),
            "{err}"
        );
    }

    #[test]
    fn the_tank_is_what_its_section_says_or_none() {
        assert_eq!(tank(""), None);
        // Without the section the installer is told what the strategy assumes.
        let warned = |section: &str| {
            let config = parse("nomhub.toml", &format!("{BASE}{section}"))
                .unwrap_or_else(|r| panic!("{r:?}"));
            config.warnings.iter().any(|w| {
                w.to_string().contains(
                    "without [control.tank]: the hot-water strategy plans for a 200 l tank",
                )
            })
        };
        assert!(warned(""));
        assert!(!warned("[control.tank]\nlitres = 150\n"));
        assert_eq!(
            tank("[control.tank]\nlitres = 300\nstandby_loss_w = 54\nsensor_height = 0.75\n"),
            Some(super::TankSetup {
                litres: 300.0,
                standby_loss_w: Some(54.0),
                sensor_height: Some(0.75),
            })
        );
    }

    fn sg_setup(profile: &str, extra: &str) -> super::SgReadySetup {
        let text = format!(
            "[[bus]]\nid = \"gw\"\ntype = \"tcp\"\nhost = \"127.0.0.1\"\n\n[[device]]\nid = \"heat_pump\"\nprofile = \"{profile}\"\nbus = \"gw\"\nunit = 1\n\n[control]\n\n[control.sg_ready]\n{extra}"
        );
        let config = parse("nomhub.toml", &text).unwrap_or_else(|r| panic!("{r:?}"));
        let control = config.control.unwrap_or_else(|| panic!("no control"));
        assert_eq!(
            control.heat_pump.map(|h| h.to_string()).as_deref(),
            Some("heat_pump")
        );
        control.sg_ready.unwrap_or_else(|| panic!("no sg_ready"))
    }

    #[test]
    fn sg_ready_through_the_heat_pumps_own_registers() {
        use super::SgWiring;
        use crate::model::SgState;
        // Daikin: one register, its raw value per state; the setpoint stays the strategy's.
        let daikin = sg_setup("daikin-altherma_home_hub", "");
        let SgWiring::Register { point, raw, .. } = &daikin.wiring else {
            panic!("{:?}", daikin.wiring)
        };
        assert_eq!(point, "smart_grid_mode");
        assert_eq!(raw[&SgState::Recommend], 2.0);
        assert_eq!(raw[&SgState::Lock], 1.0);
        assert!(!daikin.for_hot_water);
        assert_eq!(
            daikin.wiring.values(SgState::Force),
            [(("heat_pump".to_owned(), "smart_grid_mode".to_owned()), 3.0)]
        );
        // Stiebel: two inputs and the switch that enables them; input 1 alone recommends.
        let stiebel = sg_setup("stiebel_eltron-isg", "hot_water = \"sg_ready\"\n");
        assert!(stiebel.for_hot_water);
        let values = stiebel.wiring.values(SgState::Recommend);
        let on: Vec<_> = values.iter().map(|((_, k), v)| (k.as_str(), *v)).collect();
        assert_eq!(
            on,
            [
                ("sg_input_2", 0.0),
                ("sg_input_1", 1.0),
                ("sg_ready_on", 1.0)
            ]
        );
        assert_eq!(stiebel.wiring.signal_points().len(), 2);
        // Read back: the switch off means normal, whatever the inputs say.
        let read = |enable: f64| {
            stiebel.wiring.read(|(_, k)| match k.as_str() {
                "sg_ready_on" => Some(enable),
                "sg_input_1" => Some(1.0),
                _ => Some(0.0),
            })
        };
        assert_eq!(read(1.0), Some(SgState::Recommend));
        assert_eq!(read(0.0), Some(SgState::Normal));
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
