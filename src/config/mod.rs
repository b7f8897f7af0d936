//! `nomhub.toml`: serde types, loading, and a validation pass that reports every
//! problem at once, each with file, line and column.

pub mod control;
pub mod dwelling;
pub mod forecast;
pub mod ledger;
pub mod mqtt;
pub mod tariff;
pub mod web;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;
use toml::de::{DeTable, DeValue, ValueDeserializer};

use crate::modbus::{BusSettings, Transport};
use crate::model::{BusId, DeviceId, Dur};
use crate::profile::ProfileSet;
use crate::report::{Issue, Report};

pub use control::{
    ControlConfig, ControlSetup, LegionellaSetup, SgReadySetup, SgWiring, TankSetup,
};
pub use dwelling::{Contact, DwellingConfig, Home, Role};
pub use ledger::{BundleConfig, LedgerConfig, LedgerSetup, SettlementConfig, Term, TrustClock};
pub use mqtt::{Deadband, MqttConfig, MqttSetup};
pub use web::{Auth, WebConfig, WebSetup};

/// The example configuration, every key with its default (`nomhub print-config`).
pub const EXAMPLE: &str = include_str!("../../config/nomhub.example.toml");

/// The configuration `nomhub demo` runs with (the simulated dwelling's devices).
pub const DEMO: &str = include_str!("../../config/demo.toml");

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HubConfig {
    /// Shown in the dashboard and as the Home Assistant hub device.
    #[serde(default = "default_name")]
    pub name: String,
    /// Load device profiles from this directory instead of the built-in ones.
    #[serde(default)]
    pub integrations_dir: Option<PathBuf>,
    /// The address of nomhub's web page; Home Assistant links its devices to it.
    #[serde(default)]
    pub url: Option<String>,
    /// A device is shown offline after this many polls in a row that read nothing (one
    /// lost request does not show); one poll that reads brings it back.
    #[serde(default = "default_offline_after")]
    pub offline_after: Spanned<u32>,
}

impl Default for HubConfig {
    fn default() -> Self {
        Self {
            name: default_name(),
            integrations_dir: None,
            url: None,
            offline_after: default_offline_after(),
        }
    }
}

fn default_offline_after() -> Spanned<u32> {
    Spanned::new(0..0, 3)
}

fn default_name() -> String {
    "nomhub".to_owned()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BusType {
    Tcp,
    Rtu,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BusConfig {
    pub id: Spanned<BusId>,
    #[serde(rename = "type")]
    pub kind: BusType,
    #[serde(default)]
    pub host: Option<String>,
    #[serde(default = "default_port")]
    pub port: u16,
    #[serde(default)]
    pub serial: Option<String>,
    #[serde(default)]
    pub baud: Option<u32>,
    #[serde(default)]
    pub timeout: Option<Dur>,
    #[serde(default)]
    pub frame_gap: Option<Dur>,
    /// Quiet time after connecting, before the first request.
    #[serde(default)]
    pub connect_delay: Option<Dur>,
}

fn default_port() -> u16 {
    502
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceConfig {
    pub id: Spanned<DeviceId>,
    /// Display name; defaults to the id.
    #[serde(default)]
    pub name: Option<String>,
    pub profile: Spanned<String>,
    /// Modbus devices: the bus they are on (required there).
    #[serde(default)]
    pub bus: Option<Spanned<String>>,
    /// The Modbus unit id, 0–255 (checked with its place; a plain `u8` would refuse 300
    /// without naming the key or the range). Required with `bus`.
    #[serde(default)]
    pub unit: Option<Spanned<u32>>,
    /// A smart meter's P1 port (a profile with `protocol = "p1"`): where to read it.
    #[serde(default)]
    pub p1: Option<Spanned<P1Link>>,
    /// Polls every tier at this interval instead of the profile's.
    #[serde(default)]
    pub poll: Option<Dur>,
}

/// Where a P1 port is read: `{ tcp = "host:port" }` (ser2net, a dongle),
/// `{ serial = "/dev/ttyUSB0" }` (with `dsmr22 = true` for a DSMR 2.2/3.0 meter), or
/// `{ homewizard = "http://192.168.1.40" }` (a HomeWizard P1 meter's local API).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct P1Link {
    #[serde(default)]
    pub tcp: Option<String>,
    #[serde(default)]
    pub serial: Option<String>,
    #[serde(default)]
    pub dsmr22: bool,
    /// A HomeWizard Wi-Fi P1 meter's address: `http://192.168.1.40` for its local API
    /// version 1 (switched on in the Energy app), `https://192.168.1.40` with `token` for
    /// version 2.
    #[serde(default)]
    pub homewizard: Option<String>,
    /// API version 2: the token `nomhub p1 pair` got from the meter.
    #[serde(default)]
    pub token: Option<String>,
    /// API version 2: a PEM file with the CA that signs the meter's certificate, instead
    /// of HomeWizard's own.
    #[serde(default)]
    pub ca: Option<String>,
}

impl P1Link {
    /// The link as the P1 reader takes it; `None` unless exactly one of `tcp` and
    /// `serial` is given (a checked config always has one).
    pub fn source(&self) -> Option<crate::p1::Source> {
        match (&self.tcp, &self.serial, &self.homewizard) {
            (Some(t), None, None) => Some(crate::p1::Source::Tcp(t.clone())),
            (None, Some(path), None) => Some(crate::p1::Source::Serial {
                path: path.clone(),
                dsmr22: self.dsmr22,
            }),
            (None, None, Some(url)) => {
                let v2 = match (&self.token, url.starts_with("https://")) {
                    (None, false) if url.starts_with("http://") && self.ca.is_none() => None,
                    (Some(token), true) if crate::p1::source::valid_token(token) => {
                        let ca_pem = match &self.ca {
                            Some(path) => std::fs::read(path).ok()?,
                            None => crate::p1::source::HOMEWIZARD_CA.to_vec(),
                        };
                        Some(crate::p1::source::V2 {
                            token: token.clone(),
                            ca_pem,
                        })
                    }
                    _ => return None,
                };
                Some(crate::p1::Source::HomeWizard(
                    crate::p1::source::HomeWizard {
                        url: url.clone(),
                        v2,
                    },
                ))
            }
            _ => None,
        }
    }
}

/// A loaded, validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub path: String,
    pub hub: HubConfig,
    pub buses: Vec<BusConfig>,
    pub devices: Vec<DeviceConfig>,
    pub profiles: ProfileSet,
    pub dwelling: DwellingConfig,
    /// The home as the dashboard shows it (`[dwelling]`, `[[contact]]`).
    pub home: Home,
    /// The ledger, when the file has a `[ledger]` section.
    pub ledger: Option<LedgerSetup>,
    /// Home Assistant over MQTT, when the file has an `[mqtt]` section.
    pub mqtt: Option<MqttSetup>,
    /// nomhub's writes to the heat pump, when the file has a `[control]` section.
    pub control: Option<ControlSetup>,
    /// The dashboard and REST API, when the file has a `[web]` section.
    pub web: Option<WebSetup>,
    /// Open-Meteo's sun forecast for the roof, when `[forecast]` asks for it.
    pub forecast: Option<forecast::OpenMeteo>,
    /// EnergyZero's day-ahead prices, when `[tariff] prices` asks for them.
    pub prices: Option<tariff::EnergyZero>,
    /// The file's text: the parts other modules check (the `[[rule]]`s, by `rules`)
    /// are read from it, with their places.
    pub text: std::sync::Arc<str>,
    /// Advice that does not stop nomhub (a bundle below the NOM Keur, say).
    pub warnings: Vec<Issue>,
}

impl DeviceConfig {
    /// The unit id as the wire has it (a config with one above 247 is refused; a P1
    /// device has none).
    pub fn unit(&self) -> u8 {
        self.unit
            .as_ref()
            .map_or(0, |u| u8::try_from(*u.get_ref()).unwrap_or(u8::MAX))
    }

    /// The Modbus bus the device is on; `None` for a P1 meter.
    pub fn bus_id(&self) -> Option<&str> {
        self.bus.as_ref().map(|b| b.get_ref().as_str())
    }
}

impl Config {
    /// Each bus's settings: its own keys, and where it leaves them out, what its
    /// devices' profiles ask for (the longest `timeout` and `connect_delay` of them: a
    /// Huawei inverter's slow link slows its whole bus).
    pub fn bus_settings(&self) -> Vec<BusSettings> {
        self.buses
            .iter()
            .map(|b| {
                let mut s = bus_settings(b);
                let profiles = self
                    .devices
                    .iter()
                    .filter(|d| d.bus_id() == Some(b.id.get_ref().as_str()))
                    .filter_map(|d| self.profiles.get(d.profile.get_ref()));
                for p in profiles {
                    let m = &p.file.modbus;
                    if b.timeout.is_none()
                        && let Some(t) = m.timeout
                    {
                        s.timeout = s.timeout.max(t.0);
                    }
                    if b.connect_delay.is_none()
                        && let Some(d) = m.connect_delay
                    {
                        s.connect_delay = s.connect_delay.max(d.0);
                    }
                }
                s
            })
            .collect()
    }
}

/// A cron expression, with an error on one line that names the fields.
pub fn schedule(text: &str) -> Result<cron::Schedule, String> {
    const FIELDS: &str = "second minute hour day-of-month month day-of-week [year]";
    let n = text.split_whitespace().count();
    if !(6..=7).contains(&n) {
        return Err(format!("{n} fields, cron wants 6 or 7: {FIELDS}"));
    }
    <cron::Schedule as std::str::FromStr>::from_str(text).map_err(|e| {
        let why = e.to_string();
        let last = why.lines().last().unwrap_or_default().trim().to_owned();
        format!("{last} (fields: {FIELDS})")
    })
}

pub fn bus_settings(b: &BusConfig) -> BusSettings {
    let transport = match b.kind {
        BusType::Tcp => Transport::Tcp {
            host: b.host.clone().unwrap_or_default(),
            port: b.port,
        },
        BusType::Rtu => Transport::Rtu {
            serial: b.serial.clone().unwrap_or_default(),
            baud: b.baud.unwrap_or(9600),
        },
    };
    let mut s = BusSettings::new(b.id.get_ref().clone(), transport);
    if let Some(t) = b.timeout {
        s.timeout = t.0;
    }
    if let Some(g) = b.frame_gap {
        s.frame_gap = g.0;
    }
    if let Some(d) = b.connect_delay {
        s.connect_delay = d.0;
    }
    s
}

/// A file's name (for messages) and text, or a report that it cannot be read.
pub fn read(path: &Path) -> Result<(String, String), Report> {
    let name = path.display().to_string();
    match std::fs::read_to_string(path) {
        Ok(text) => Ok((name, text)),
        Err(e) => {
            let mut r = Report::default();
            r.push(Issue::at(&name, "", None, format!("cannot read: {e}")));
            Err(r)
        }
    }
}

/// The TOML document in `text`, as much of it as parses; syntax errors go to `report`.
pub(crate) fn document<'t>(name: &str, text: &'t str, report: &mut Report) -> DeTable<'t> {
    let (doc, syntax) = DeTable::parse_recoverable(text);
    for e in syntax {
        report.push(Issue::at(name, text, e.span(), e.message().to_owned()));
    }
    doc.into_inner()
}

/// Reads and validates a config file.
pub fn load(path: &Path) -> Result<Config, Report> {
    let (name, text) = read(path)?;
    parse(&name, &text)
}

/// Parses and validates config `text`; `name` is used in messages. The sections other
/// modules check (the rules, discovery) are checked by `setup::parse`.
pub fn parse(name: &str, text: &str) -> Result<Config, Report> {
    let (config, report) = parse_with_problems(name, text);
    report.into_result(config)
}

/// As [`parse`], giving back what could be read beside the problems, so the checks of
/// other parts can still report theirs.
pub fn parse_with_problems(name: &str, text: &str) -> (Config, Report) {
    let mut report = Report::default();
    let doc = document(name, text, &mut report);
    let mut hub = HubConfig::default();
    let mut buses = Vec::new();
    // The ids of `[[bus]]` tables that did not parse: their problems are reported, and
    // a device on one is not also told there is no such bus.
    let mut broken_buses: Vec<String> = Vec::new();
    let mut devices = Vec::new();
    let mut dwelling = DwellingConfig::default();
    let mut settlement = SettlementConfig::default();
    let mut bundles = Vec::new();
    let mut ledger_config: Option<LedgerConfig> = None;
    let mut mqtt_config: Option<MqttConfig> = None;
    let mut control_config: Option<ControlConfig> = None;
    let mut web_config: Option<WebConfig> = None;
    let mut forecast_config: Option<forecast::ForecastConfig> = None;
    let mut tariff_config: Option<tariff::TariffConfig> = None;
    let mut has_rules = false;
    let mut contact_configs: Vec<dwelling::ContactConfig> = Vec::new();
    for (key, value) in doc {
        let key_span = key.span();
        match key.get_ref().as_ref() {
            "hub" => {
                if let Some(h) = item(name, text, value, &mut report) {
                    hub = h;
                }
            }
            "bus" => {
                broken_buses = table_ids(&value);
                buses = items(name, text, "bus", key_span, value, &mut report);
                broken_buses.retain(|id| !buses.iter().any(|b: &BusConfig| b.id.get_ref().as_str() == id));
            }
            "device" => devices = items(name, text, "device", key_span, value, &mut report),
            "dwelling" => {
                if let Some(d) = item(name, text, value, &mut report) {
                    dwelling = d;
                }
            }
            "settlement" => {
                if let Some(s) = item(name, text, value, &mut report) {
                    settlement = s;
                }
            }
            "bundle" => bundles = entries(name, text, "bundle", key_span, value, &mut report),
            "ledger" => ledger_config = item(name, text, value, &mut report),
            "mqtt" => mqtt_config = item(name, text, value, &mut report),
            "control" => control_config = item(name, text, value, &mut report),
            "web" => web_config = item(name, text, value, &mut report),
            "forecast" => forecast_config = item(name, text, value, &mut report),
            "tariff" => tariff_config = item(name, text, value, &mut report),
            // Checked against the devices by `rules::from_config`.
            "rule" => has_rules = true,
            "contact" => {
                contact_configs = items(name, text, "contact", key_span, value, &mut report)
            }
            other => report.push(Issue::at(
                name,
                text,
                Some(key_span),
                format!(
                    "unknown key `{other}`, expected one of `hub`, `bus`, `device`, `dwelling`, `settlement`, `bundle`, `ledger`, `mqtt`, `control`, `web`, `forecast`, `tariff`, `rule`, `contact`"
                ),
            )),
        }
    }
    let profiles = match &hub.integrations_dir {
        Some(dir) => ProfileSet::from_dir(dir),
        None => ProfileSet::embedded(),
    };
    // A broken profile is reported with its own place; the devices are then not also
    // told their profiles are unknown.
    let (profiles, profiles_read) = match profiles {
        Ok(p) => (p, true),
        Err(r) => {
            report.extend(r);
            (ProfileSet::default(), false)
        }
    };
    validate(
        name,
        text,
        &buses,
        &broken_buses,
        &devices,
        profiles_read.then_some(&profiles),
        &mut report,
    );
    if text.trim().is_empty() {
        // Say what is missing rather than run idle. (A file with only a ledger is fine:
        // the ledger tools and a dwelling without readable meters use one.)
        report.push(Issue::at(
            name,
            text,
            None,
            "the file is empty: nomhub needs a [[bus]] with a [[device]] on it, or a [ledger] (`nomhub print-config` shows every key)",
        ));
    }
    let (mut problems, mut warned) = (Vec::new(), Vec::new());
    if !(1..=100).contains(hub.offline_after.get_ref()) {
        problems.push((
            Some(hub.offline_after.span()),
            format!(
                "hub: offline_after {} is outside 1..=100 (polls in a row that read nothing)",
                hub.offline_after.get_ref()
            ),
        ));
    }
    let tariff = tariff_config
        .as_ref()
        .and_then(|t| tariff::resolve(t, &mut problems, &mut warned));
    if tariff_config.is_some()
        && let Some(simple) = settlement
            .supply_price
            .as_ref()
            .or(settlement.feed_in_price.as_ref())
    {
        problems.push((
            Some(simple.span()),
            "settlement: `supply_price` and `feed_in_price` are the simple form of [tariff]; with a [tariff] give the prices there only".to_owned(),
        ));
    }
    let ledger = match &ledger_config {
        Some(l) => Some(ledger::resolve(
            &ledger::Sections {
                dwelling: &dwelling,
                settlement: &settlement,
                bundles: &bundles,
                ledger: l,
                tariff: tariff.as_ref().map(|(t, _)| t),
            },
            &devices,
            &profiles,
            &mut problems,
            &mut warned,
        )),
        None => {
            if !bundles.is_empty() {
                warned.push((None, "bundles are configured but there is no [ledger] section, so nothing is booked against them".to_owned()));
            }
            None
        }
    };
    let mqtt = mqtt_config
        .as_ref()
        .map(|m| mqtt::resolve(m, &mut problems));
    let control = control_config
        .as_ref()
        .map(|c| control::resolve(c, &devices, &profiles, &mut problems));
    let home = dwelling::resolve(
        &dwelling,
        &contact_configs,
        Path::new(name),
        &mut problems,
        &mut warned,
    );
    let ledger = ledger.map(|mut l| {
        l.promises = crate::ledger::setup::Promises {
            room_c: home.room_temperature.0,
            pv_guarantee: home.pv_guarantee,
        };
        l
    });
    let web = web_config
        .as_ref()
        .map(|w| web::resolve(w, ledger.is_some(), &mut problems));
    let forecast = forecast_config
        .as_ref()
        .and_then(|f| forecast::resolve(f, &mut problems));
    if tariff_config.is_some() && ledger_config.is_none() {
        warned.push((
            None,
            "[tariff] without a [ledger]: nothing books the euros".to_owned(),
        ));
    }
    if forecast.is_some() && control.is_none() {
        warned.push((None, "[forecast] without [control]: the forecast is fetched for nothing, no strategy plans with it".to_owned()));
    }
    if control
        .as_ref()
        .is_some_and(|c| c.heat_pump.is_some() && c.tank.is_none())
    {
        warned.push((None, "[control] without [control.tank]: the hot-water strategy plans for a 200 l tank; give the tank's volume and label (docs/configuration.md)".to_owned()));
    }
    if control.is_some() && ledger.is_none() {
        warned.push((None, "[control] without a [ledger] store: what nomhub changed on the heat pump is not remembered across a crash".to_owned()));
    }
    if control.is_none() && has_rules {
        warned.push((
            None,
            "[[rule]]s are checked but not run: add a [control] section to let nomhub act"
                .to_owned(),
        ));
    }
    for (span, msg) in problems {
        report.push(Issue::at(name, text, span, msg));
    }
    let mut warnings: Vec<Issue> = warned
        .into_iter()
        .map(|(span, msg)| Issue::at(name, text, span, msg))
        .collect();
    warnings.sort_by_key(|i| i.line);
    let config = Config {
        path: name.to_owned(),
        hub,
        buses,
        devices,
        profiles,
        dwelling,
        home,
        ledger,
        mqtt,
        control,
        web,
        forecast,
        prices: tariff.and_then(|(_, source)| source),
        text: text.into(),
        warnings,
    };
    report.issues.sort_by_key(|i| i.line);
    (config, report)
}

fn item<T: for<'de> Deserialize<'de>>(
    name: &str,
    text: &str,
    value: Spanned<DeValue<'_>>,
    report: &mut Report,
) -> Option<T> {
    let span = value.span();
    T::deserialize(ValueDeserializer::from(value))
        .map_err(|e| {
            report.push(Issue::at(
                name,
                text,
                e.span().or(Some(span)),
                e.message().to_owned(),
            ))
        })
        .ok()
}

/// Each entry of an array of tables on its own, so one bad entry hides no other.
pub(crate) fn items<T: for<'de> Deserialize<'de>>(
    name: &str,
    text: &str,
    what: &str,
    key_span: std::ops::Range<usize>,
    value: Spanned<DeValue<'_>>,
    report: &mut Report,
) -> Vec<T> {
    match value.into_inner() {
        DeValue::Array(entries) => entries
            .into_iter()
            .filter_map(|v| item(name, text, v, report))
            .collect(),
        _ => {
            report.push(Issue::at(
                name,
                text,
                Some(key_span),
                format!("`{what}` must be an array of tables: write [[{what}]]"),
            ));
            Vec::new()
        }
    }
}

/// Each entry of a table of tables (`[bundle.pv]`, `[bundle.household]`) on its own,
/// with the span of its name.
fn entries<T: for<'de> Deserialize<'de>>(
    name: &str,
    text: &str,
    what: &str,
    key_span: std::ops::Range<usize>,
    value: Spanned<DeValue<'_>>,
    report: &mut Report,
) -> Vec<(Spanned<String>, T)> {
    match value.into_inner() {
        DeValue::Table(table) => table
            .into_iter()
            .filter_map(|(k, v)| {
                let key = Spanned::new(k.span(), k.get_ref().to_string());
                item(name, text, v, report).map(|t| (key, t))
            })
            .collect(),
        _ => {
            report.push(Issue::at(
                name,
                text,
                Some(key_span),
                format!("`{what}` must be a table of tables: write [{what}.name]"),
            ));
            Vec::new()
        }
    }
}

/// The `id` strings of an array of tables, as written (before anything is checked).
fn table_ids(value: &Spanned<DeValue<'_>>) -> Vec<String> {
    let DeValue::Array(entries) = value.get_ref() else {
        return Vec::new();
    };
    entries
        .iter()
        .filter_map(|e| match e.get_ref() {
            DeValue::Table(t) => t.iter().find_map(|(k, v)| match v.get_ref() {
                DeValue::String(s) if k.get_ref() == "id" => Some(s.to_string()),
                _ => None,
            }),
            _ => None,
        })
        .collect()
}

fn validate(
    name: &str,
    text: &str,
    buses: &[BusConfig],
    broken_buses: &[String],
    devices: &[DeviceConfig],
    profiles: Option<&ProfileSet>,
    report: &mut Report,
) {
    let mut issue = |span: std::ops::Range<usize>, msg: String| {
        report.push(Issue::at(name, text, Some(span), msg))
    };
    let mut bus_ids = HashSet::new();
    for b in buses {
        let id = b.id.get_ref();
        if !bus_ids.insert(id.as_str()) {
            issue(b.id.span(), format!("bus `{id}` is defined twice"));
        }
        match b.kind {
            BusType::Tcp => {
                if b.host.as_deref().is_none_or(str::is_empty) {
                    issue(b.id.span(), format!("bus `{id}`: a tcp bus needs `host`"));
                }
                if b.serial.is_some() || b.baud.is_some() {
                    issue(
                        b.id.span(),
                        format!("bus `{id}`: `serial` and `baud` belong to rtu buses"),
                    );
                }
            }
            BusType::Rtu => {
                if b.serial.as_deref().is_none_or(str::is_empty) {
                    issue(
                        b.id.span(),
                        format!("bus `{id}`: an rtu bus needs `serial` (e.g. \"/dev/ttyUSB0\")"),
                    );
                }
                if b.host.is_some() {
                    issue(
                        b.id.span(),
                        format!("bus `{id}`: `host` belongs to tcp buses"),
                    );
                }
                if let Some(baud) = b.baud
                    && !(1200..=115_200).contains(&baud)
                {
                    issue(
                        b.id.span(),
                        format!("bus `{id}`: baud {baud} is outside 1200..=115200"),
                    );
                }
            }
        }
        if b.connect_delay
            .is_some_and(|d| d.0 > Duration::from_secs(30))
        {
            issue(
                b.id.span(),
                format!("bus `{id}`: connect_delay must be at most 30s"),
            );
        }
        if b.timeout
            .is_some_and(|t| t.0.is_zero() || t.0 > Duration::from_secs(60))
        {
            issue(
                b.id.span(),
                format!("bus `{id}`: timeout must be more than 0s and at most 60s"),
            );
        }
    }
    let mut device_ids = HashSet::new();
    let mut addresses = HashSet::new();
    for d in devices {
        let id = d.id.get_ref();
        if !device_ids.insert(id.as_str()) {
            issue(d.id.span(), format!("device `{id}` is defined twice"));
        }
        if id.as_str() == "hub" || id.as_str().starts_with("hub_") {
            issue(
                d.id.span(),
                format!("device `{id}`: ids `hub` and `hub_…` are kept for nomhub's own entities"),
            );
        }
        if let Some(profiles) = profiles
            && profiles.get(d.profile.get_ref()).is_none()
        {
            let ids = profiles.ids();
            let known = if ids.is_empty() {
                "none: the integrations_dir holds no profiles (they go in <dir>/<kind>/<name>.toml)"
                    .to_owned()
            } else {
                ids.join(", ")
            };
            issue(
                d.profile.span(),
                format!(
                    "device `{id}`: unknown profile `{}`; known: {known}",
                    d.profile.get_ref()
                ),
            );
        }
        let p1_profile = profiles
            .and_then(|set| set.get(d.profile.get_ref()))
            .is_some_and(|p| p.file.protocol == crate::profile::schema::Protocol::P1);
        // A P1 meter is read from its port; everything else from a Modbus bus.
        match (&d.p1, p1_profile) {
            (Some(link), true) => {
                if d.bus.is_some() || d.unit.is_some() {
                    issue(
                        d.id.span(),
                        format!("device `{id}`: a P1 meter has no `bus` or `unit`, only `p1`"),
                    );
                }
                let l = link.get_ref();
                if let (Some(url), None) = (&l.homewizard, &l.token)
                    && url.starts_with("https://")
                {
                    issue(
                        link.span(),
                        format!(
                            "device `{id}`: a HomeWizard's API version 2 (https://) needs the `token` that `nomhub p1 pair --homewizard {url}` gets"
                        ),
                    );
                } else if let Some(token) = l
                    .token
                    .as_deref()
                    .filter(|t| !crate::p1::source::valid_token(t))
                {
                    issue(
                        link.span(),
                        format!(
                            "device `{id}`: token `{token}` is not a HomeWizard token (32 characters 0-9 and A-F)"
                        ),
                    );
                } else if let Some(ca) = l.ca.as_deref()
                    && let Err(e) = std::fs::read(ca)
                        .map_err(|e| e.to_string())
                        .and_then(|pem| crate::http::Pinned::new(&pem).map(|_| ()))
                {
                    issue(link.span(), format!("device `{id}`: ca `{ca}`: {e}"));
                } else if (l.token.is_some() || l.ca.is_some())
                    && l.homewizard
                        .as_deref()
                        .is_none_or(|u| !u.starts_with("https://"))
                {
                    issue(
                        link.span(),
                        format!(
                            "device `{id}`: `token` and `ca` belong with `homewizard = \"https://<address>\"` (the API's version 2)"
                        ),
                    );
                } else if l.source().is_none() {
                    issue(
                        link.span(),
                        format!(
                            "device `{id}`: p1 needs exactly one of `tcp = \"host:port\"`, `serial = \"/dev/ttyUSB0\"` and `homewizard = \"http://<address>\"` (or `\"https://<address>\"` with a `token`)"
                        ),
                    );
                }
                if link.get_ref().dsmr22 && link.get_ref().serial.is_none() {
                    issue(
                        link.span(),
                        format!("device `{id}`: dsmr22 (9600 baud 7E1) is a serial setting"),
                    );
                }
                continue;
            }
            (None, true) => {
                issue(
                    d.profile.span(),
                    format!(
                        "device `{id}`: profile `{}` reads a smart meter's P1 port; add `p1 = {{ tcp = \"host:port\" }}` or `p1 = {{ serial = \"/dev/ttyUSB0\" }}`",
                        d.profile.get_ref()
                    ),
                );
                continue;
            }
            (Some(link), false) => {
                issue(
                    link.span(),
                    format!(
                        "device `{id}`: `p1` is for a profile with protocol = \"p1\" (dsmr-p1), not `{}`",
                        d.profile.get_ref()
                    ),
                );
            }
            (None, false) => {}
        }
        let (Some(bus_id), Some(unit_at)) = (&d.bus, &d.unit) else {
            issue(
                d.id.span(),
                format!("device `{id}`: a Modbus device needs `bus` and `unit`"),
            );
            continue;
        };
        let bus = buses
            .iter()
            .find(|b| b.id.get_ref().as_str() == bus_id.get_ref());
        let unit = *unit_at.get_ref();
        match bus {
            None => {
                if !broken_buses.contains(bus_id.get_ref()) {
                    issue(
                        bus_id.span(),
                        format!("device `{id}`: no [[bus]] with id `{}`", bus_id.get_ref()),
                    );
                }
                if unit > 247 {
                    issue(
                        unit_at.span(),
                        format!("device `{id}`: unit {unit} is outside 1..=247"),
                    );
                }
            }
            Some(b) => {
                if unit > 247 || (unit == 0 && b.kind == BusType::Rtu) {
                    issue(
                        unit_at.span(),
                        format!("device `{id}`: unit {unit} is outside 1..=247"),
                    );
                }
                if !addresses.insert((bus_id.get_ref().clone(), unit)) {
                    issue(
                        unit_at.span(),
                        format!(
                            "device `{id}`: unit {unit} on bus `{}` is already taken",
                            bus_id.get_ref()
                        ),
                    );
                }
            }
        }
        if d.poll.is_some_and(|p| p.0 < Duration::from_millis(100)) {
            issue(
                d.id.span(),
                format!("device `{id}`: poll must be at least 100ms"),
            );
        }
    }
}

/// The demo configuration, pointed at a simulator listening on `port`, with its
/// ledger in `store`.
pub fn demo(port: u16, store: &Path) -> Result<Config, Report> {
    parse("<demo>", &demo_text(port, store))
}

/// The demo as `nomhub demo` runs it: also the dwelling's smart meter on its P1 port at
/// `p1`, the grid meter of record, which the ledger books the grid from (the SDM630
/// stays, as a sub-meter on the same wire to compare with).
pub fn demo_with_p1(port: u16, p1: std::net::SocketAddr, store: &Path) -> Result<Config, Report> {
    let meter = format!(
        "[[device]]\nid = \"meter\"\nname = \"Smart meter\"\nprofile = \"dsmr-p1\"\np1 = {{ tcp = \"{p1}\" }}\n\n[ledger]\n"
    );
    let text = demo_text(port, store)
        .replacen("[ledger]\n", &meter, 1)
        .replace(
            "grid_import = [\"grid.import_energy\"]",
            "grid_import = [\"meter.import_energy\"]",
        )
        .replace(
            "grid_export = [\"grid.export_energy\"]",
            "grid_export = [\"meter.export_energy\"]",
        );
    parse("<demo>", &text)
}

/// The text of [`demo`]'s configuration.
pub fn demo_text(port: u16, store: &Path) -> String {
    let store = toml::Value::String(store.display().to_string()).to_string();
    DEMO.replace("port = 5020", &format!("port = {port}"))
        .replace("store = \"/tmp/nomhub-demo\"", &format!("store = {store}"))
}

#[cfg(test)]
mod tests {
    use super::schedule;

    /// The crate's modules that may read `config` but that `config` must not read:
    /// they check their own parts of the file (`setup` puts it together).
    const ABOVE: [&str; 13] = [
        "app", "backtest", "cli", "control", "device", "live", "mqtt", "rules", "service", "setup",
        "state", "strategy", "web",
    ];

    fn sources(dir: &str) -> Vec<(String, String)> {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("src")
            .join(dir);
        std::fs::read_dir(&root)
            .unwrap_or_else(|e| panic!("{}: {e}", root.display()))
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "rs"))
            .map(|p| {
                let text = std::fs::read_to_string(&p).unwrap_or_default();
                (p.display().to_string(), text)
            })
            .collect()
    }

    #[test]
    fn config_reads_nothing_above_it_and_the_ledger_does_not_read_config() {
        for (path, text) in sources("config") {
            for m in ABOVE {
                assert!(
                    !text.contains(&format!("crate::{m}::"))
                        && !text.contains(&format!("crate::{m};"))
                        && !text.contains(&format!("crate::{m}::{{")),
                    "{path} reads crate::{m}"
                );
            }
        }
        // config reads the ledger's pure parts; the ledger's setup lives in the ledger.
        for (path, text) in sources("ledger") {
            assert!(
                !text.contains("crate::config"),
                "{path} reads crate::config"
            );
        }
    }

    #[test]
    fn a_bus_takes_the_slow_devices_timeout_and_connect_delay_unless_it_sets_its_own() {
        let text = |bus_extra: &str| {
            format!(
                "[[bus]]\nid = \"lan\"\ntype = \"tcp\"\nhost = \"127.0.0.1\"\n{bus_extra}\n[[device]]\nid = \"inverter\"\nprofile = \"huawei-sun2000\"\nbus = \"lan\"\nunit = 1\n\n[[device]]\nid = \"grid\"\nprofile = \"eastron-sdm630\"\nbus = \"lan\"\nunit = 2\n"
            )
        };
        let settings = |t: &str| {
            super::parse("nomhub.toml", t)
                .unwrap_or_else(|r| panic!("{r:?}"))
                .bus_settings()
                .remove(0)
        };
        let s = settings(&text(""));
        assert_eq!(s.timeout, std::time::Duration::from_secs(5));
        assert_eq!(s.connect_delay, std::time::Duration::from_secs(1));
        let s = settings(&text("timeout = \"2s\"\nconnect_delay = \"0s\"\n"));
        assert_eq!(s.timeout, std::time::Duration::from_secs(2));
        assert_eq!(s.connect_delay, std::time::Duration::ZERO);
    }

    #[test]
    fn a_cron_schedule_error_is_one_line_that_names_the_fields() {
        let five = schedule("0 * 11-15 * Sat").unwrap_err();
        assert!(five.starts_with("5 fields, cron wants 6 or 7"), "{five}");
        let bad = schedule("0 0 25 * * *").unwrap_err();
        assert!(!bad.contains('\n'), "{bad}");
        assert!(bad.contains("day-of-week"), "{bad}");
        assert!(schedule("0 * 11-15 * * Sat").is_ok());
    }
}
