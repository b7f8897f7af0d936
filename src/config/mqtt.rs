//! `[mqtt]`: the broker nomhub publishes to and the Home Assistant discovery
//! settings, resolved into an [`MqttSetup`] the MQTT task runs with.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use crate::model::Dur;

use super::ledger::Problem;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MqttConfig {
    pub host: Spanned<String>,
    /// Default 1883, or 8883 with `tls`.
    #[serde(default)]
    pub port: Option<u16>,
    #[serde(default)]
    pub user: Option<String>,
    /// Prefer `password_file`: it keeps the secret out of the config.
    #[serde(default)]
    pub password: Option<Spanned<String>>,
    /// A file whose first line is the password.
    #[serde(default)]
    pub password_file: Option<Spanned<PathBuf>>,
    #[serde(default)]
    pub tls: bool,
    /// PEM file of the certificate authorities to trust; the system's otherwise.
    #[serde(default)]
    pub ca_file: Option<Spanned<PathBuf>>,
    /// Default `nomhub-<node_id>`.
    #[serde(default)]
    pub client_id: Option<Spanned<String>>,
    #[serde(default = "default_prefix")]
    pub discovery_prefix: Spanned<String>,
    /// Prefix of every unique id and discovery id; one per nomhub on a broker.
    #[serde(default = "default_node_id")]
    pub node_id: Spanned<String>,
    /// Where states and commands live; default the node id.
    #[serde(default)]
    pub base_topic: Option<Spanned<String>>,
    /// Where Home Assistant announces itself; default `<discovery_prefix>/status`.
    #[serde(default)]
    pub ha_status_topic: Option<Spanned<String>>,
    /// A state is published again after this long even when it has not changed.
    #[serde(default = "default_max_interval")]
    pub max_interval: Dur,
    #[serde(default)]
    pub deadband: Deadband,
    /// Messages waiting for the broker; when full, states are dropped (the full set
    /// is sent again after the next connect).
    #[serde(default = "default_queue")]
    pub queue: Spanned<usize>,
}

/// Changes smaller than these are not published until `max_interval` passes.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Deadband {
    #[serde(default = "default_power_w")]
    pub power_w: f64,
    #[serde(default = "default_energy_wh")]
    pub energy_wh: f64,
    #[serde(default = "default_temperature_c")]
    pub temperature_c: f64,
}

impl Default for Deadband {
    fn default() -> Self {
        Self {
            power_w: default_power_w(),
            energy_wh: default_energy_wh(),
            temperature_c: default_temperature_c(),
        }
    }
}

fn default_power_w() -> f64 {
    10.0
}
fn default_energy_wh() -> f64 {
    10.0
}
fn default_temperature_c() -> f64 {
    0.1
}
fn default_prefix() -> Spanned<String> {
    Spanned::new(0..0, "homeassistant".to_owned())
}
fn default_node_id() -> Spanned<String> {
    Spanned::new(0..0, "nomhub".to_owned())
}
fn default_max_interval() -> Dur {
    Dur(Duration::from_secs(300))
}
fn default_queue() -> Spanned<usize> {
    Spanned::new(0..0, 256)
}

/// Everything the MQTT task needs, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct MqttSetup {
    pub host: String,
    pub port: u16,
    pub credentials: Option<(String, String)>,
    /// `Some` with TLS: the CA file, or `None` inside for the system's roots.
    pub tls: Option<Option<PathBuf>>,
    pub client_id: String,
    pub discovery_prefix: String,
    pub node_id: String,
    pub base_topic: String,
    pub ha_status_topic: String,
    pub max_interval: Duration,
    pub deadband: Deadband,
    pub queue: usize,
}

impl MqttSetup {
    /// A plain connection to `host:port` with every other setting at its default.
    pub fn plain(host: &str, port: u16) -> Self {
        Self {
            host: host.to_owned(),
            port,
            credentials: None,
            tls: None,
            client_id: "nomhub-nomhub".to_owned(),
            discovery_prefix: "homeassistant".to_owned(),
            node_id: "nomhub".to_owned(),
            base_topic: "nomhub".to_owned(),
            ha_status_topic: "homeassistant/status".to_owned(),
            max_interval: default_max_interval().0,
            deadband: Deadband::default(),
            queue: default_queue().into_inner(),
        }
    }
}

/// `[a-z0-9_]+`: usable in discovery ids, unique ids and entity ids.
fn is_entity_id_part(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// A topic nomhub publishes under: no wildcards, no empty levels.
fn is_topic(s: &str) -> bool {
    !s.is_empty()
        && !s.contains(['+', '#', '\0'])
        && !s.starts_with('/')
        && !s.ends_with('/')
        && !s.contains("//")
}

pub fn resolve(m: &MqttConfig, problems: &mut Vec<Problem>) -> MqttSetup {
    let mut problem = |span: std::ops::Range<usize>, msg: String| problems.push((Some(span), msg));
    if m.host.get_ref().trim().is_empty() {
        problem(m.host.span(), "mqtt: `host` is empty".to_owned());
    }
    let node_id = m.node_id.get_ref().clone();
    if !is_entity_id_part(&node_id) {
        problem(
            m.node_id.span(),
            format!("mqtt: node_id `{node_id}` must match [a-z0-9_]+ (it starts every entity id)"),
        );
    }
    let prefix = m.discovery_prefix.get_ref().clone();
    if !is_topic(&prefix) {
        problem(
            m.discovery_prefix.span(),
            format!("mqtt: discovery_prefix `{prefix}` is not a topic without wildcards"),
        );
    }
    let base_topic = match &m.base_topic {
        Some(b) => {
            if !is_topic(b.get_ref()) {
                problem(
                    b.span(),
                    format!(
                        "mqtt: base_topic `{}` must be a topic without wildcards or empty levels",
                        b.get_ref()
                    ),
                );
            }
            b.get_ref().clone()
        }
        None => node_id.clone(),
    };
    let ha_status_topic = match &m.ha_status_topic {
        Some(t) => {
            if t.get_ref().is_empty() || t.get_ref().contains(['+', '#']) {
                problem(
                    t.span(),
                    format!("mqtt: ha_status_topic `{}` is not a topic", t.get_ref()),
                );
            }
            t.get_ref().clone()
        }
        None => format!("{prefix}/status"),
    };
    let password = match (&m.password, &m.password_file) {
        (Some(p), None) => Some(p.get_ref().clone()),
        (None, Some(f)) => match std::fs::read_to_string(f.get_ref()) {
            Ok(text) => Some(text.lines().next().unwrap_or_default().to_owned()),
            Err(e) => {
                problem(
                    f.span(),
                    format!(
                        "mqtt: cannot read password_file {}: {e}",
                        f.get_ref().display()
                    ),
                );
                None
            }
        },
        (Some(p), Some(_)) => {
            problem(
                p.span(),
                "mqtt: give `password` or `password_file`, not both".to_owned(),
            );
            None
        }
        (None, None) => None,
    };
    let credentials = match (&m.user, password) {
        (Some(u), p) => Some((u.clone(), p.unwrap_or_default())),
        (None, Some(_)) => {
            let span = m
                .password
                .as_ref()
                .map(Spanned::span)
                .or_else(|| m.password_file.as_ref().map(Spanned::span))
                .unwrap_or_else(|| m.host.span());
            problem(span, "mqtt: a password needs a `user` as well".to_owned());
            None
        }
        (None, None) => None,
    };
    if let Some(ca) = &m.ca_file {
        if !m.tls {
            problem(
                ca.span(),
                "mqtt: `ca_file` is only used with `tls = true`".to_owned(),
            );
        } else if let Err(e) = std::fs::metadata(ca.get_ref()) {
            problem(
                ca.span(),
                format!("mqtt: cannot read ca_file {}: {e}", ca.get_ref().display()),
            );
        }
    }
    let client_id = match &m.client_id {
        Some(c) => {
            if c.get_ref().is_empty() || c.get_ref().len() > 64 {
                problem(
                    c.span(),
                    "mqtt: client_id must be 1 to 64 characters".to_owned(),
                );
            }
            c.get_ref().clone()
        }
        None => format!("nomhub-{node_id}"),
    };
    let queue = *m.queue.get_ref();
    if !(16..=100_000).contains(&queue) {
        problem(
            m.queue.span(),
            format!("mqtt: queue {queue} is outside 16..=100000"),
        );
    }
    if m.max_interval.0 < Duration::from_secs(10) {
        problem(
            m.host.span(),
            "mqtt: max_interval must be at least 10s".to_owned(),
        );
    }
    let d = m.deadband;
    if [d.power_w, d.energy_wh, d.temperature_c]
        .iter()
        .any(|v| !v.is_finite() || *v < 0.0)
    {
        problem(
            m.host.span(),
            "mqtt: deadband values must be zero or more".to_owned(),
        );
    }
    MqttSetup {
        host: m.host.get_ref().clone(),
        port: m.port.unwrap_or(if m.tls { 8883 } else { 1883 }),
        credentials,
        tls: m
            .tls
            .then(|| m.ca_file.as_ref().map(|c| c.get_ref().clone())),
        client_id,
        discovery_prefix: prefix,
        node_id,
        base_topic,
        ha_status_topic,
        max_interval: m.max_interval.0,
        deadband: d,
        queue,
    }
}
