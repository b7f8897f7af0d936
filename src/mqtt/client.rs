//! The MQTT task: one rumqttc connection with a last will, discovery and states
//! sent on every connect and on Home Assistant's birth message, states published
//! when they change (deadband, maximum interval), commands checked and handed to
//! the strategy. A broker that is away never holds anything else up: nothing is
//! queued while disconnected, and the full set goes out again after the next connect.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use rumqttc::{
    AsyncClient, ClientError, Event, LastWill, MqttOptions, Outgoing, Packet, QoS,
    TlsConfiguration, Transport,
};
use serde::Serialize;
use tokio::sync::watch;
use tokio::time::{Instant, MissedTickBehavior, sleep_until};
use tokio_util::sync::CancellationToken;

use super::discovery::{Discovery, Source, Target};
use super::state::{UNKNOWN, View, as_number, render};
use crate::config::MqttSetup;
use crate::strategy::Change;
use crate::views::Views;

/// How the MQTT link is doing, for health pages and tests.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct MqttStatus {
    pub connected: bool,
    pub connects: u64,
    pub published: u64,
    /// Messages not queued because the outgoing queue was full.
    pub dropped: u64,
    pub rejected_commands: u64,
    pub last_error: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum MqttError {
    #[error("mqtt: cannot read the CA file {path}")]
    CaFile {
        path: String,
        #[source]
        source: rustls::pki_types::pem::Error,
    },
    #[error("mqtt: TLS set-up")]
    Tls(#[from] rustls::Error),
}

/// Connection options from the setup: last will, credentials, TLS.
pub fn options(setup: &MqttSetup, status_topic: &str) -> Result<MqttOptions, MqttError> {
    let mut o = MqttOptions::new(&setup.client_id, &setup.host, setup.port);
    o.set_keep_alive(Duration::from_secs(30));
    o.set_clean_session(true);
    o.set_last_will(LastWill::new(
        status_topic,
        "offline",
        QoS::AtLeastOnce,
        true,
    ));
    // Discovery payloads of a hub with every bundle run to some tens of kB.
    o.set_max_packet_size(512 * 1024, 512 * 1024);
    if let Some((user, password)) = &setup.credentials {
        o.set_credentials(user, password);
    }
    if let Some(ca) = &setup.tls {
        o.set_transport(Transport::tls_with_config(TlsConfiguration::Rustls(
            Arc::new(tls_config(ca.as_deref())?),
        )));
    }
    Ok(o)
}

fn tls_config(ca: Option<&std::path::Path>) -> Result<rustls::ClientConfig, MqttError> {
    use rustls::pki_types::{CertificateDer, pem::PemObject};
    let mut roots = rustls::RootCertStore::empty();
    match ca {
        Some(path) => {
            let certs: Result<Vec<_>, _> = CertificateDer::pem_file_iter(path)
                .and_then(Iterator::collect)
                .map_err(|source| MqttError::CaFile {
                    path: path.display().to_string(),
                    source,
                });
            roots.add_parsable_certificates(certs?);
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            for e in &found.errors {
                tracing::warn!(error = %e, "Cannot load a system certificate.");
            }
            roots.add_parsable_certificates(found.certs);
        }
    }
    Ok(rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_root_certificates(roots)
    .with_no_client_auth())
}

/// A payload as it may appear in a log line: short, escaped.
fn shown(payload: &[u8]) -> String {
    let text = String::from_utf8_lossy(&payload[..payload.len().min(80)]);
    let mut s: String = text.escape_debug().collect();
    if payload.len() > 80 {
        s.push_str(&format!("… ({} bytes)", payload.len()));
    }
    s
}

struct Published {
    payload: String,
    at: Instant,
}

struct Publisher {
    setup: MqttSetup,
    discovery: Discovery,
    client: AsyncClient,
    connected: bool,
    last: BTreeMap<String, Published>,
    status: watch::Sender<MqttStatus>,
}

impl Publisher {
    fn publish(&mut self, topic: &str, qos: QoS, payload: Vec<u8>) -> bool {
        match self.client.try_publish(topic, qos, true, payload) {
            Ok(()) => {
                self.status.send_modify(|s| s.published += 1);
                true
            }
            Err(ClientError::TryRequest(_) | ClientError::Request(_)) => {
                self.status.send_modify(|s| s.dropped += 1);
                false
            }
        }
    }

    /// Everything after a connect or a birth message: status, discovery, states.
    fn announce(&mut self, feeds: &Views) {
        let status = self.discovery.topics.status();
        self.publish(&status, QoS::AtLeastOnce, b"online".to_vec());
        for d in self.discovery.devices.clone() {
            let topic = self.discovery.topics.config(&d.object_id);
            self.publish(&topic, QoS::AtLeastOnce, d.payload.to_string().into_bytes());
        }
        self.states(feeds, true);
    }

    /// Publishes the states that changed beyond their deadband, or all when `force`.
    fn states(&mut self, feeds: &Views, force: bool) {
        if !self.connected {
            return;
        }
        let snapshot = feeds.snapshot.borrow().clone();
        // A device that told who it is: its discovery again, with that.
        for object_id in super::discovery::with_identity(&mut self.discovery, &snapshot) {
            if let Some(d) = self
                .discovery
                .devices
                .iter()
                .find(|d| d.object_id == object_id)
            {
                let (topic, payload) = (
                    self.discovery.topics.config(&d.object_id),
                    d.payload.to_string().into_bytes(),
                );
                tracing::info!(device = %object_id, "Device info known; announced again.");
                self.publish(&topic, QoS::AtLeastOnce, payload);
            }
        }
        let ledger = feeds.ledger_status();
        let settings = feeds.strategy.settings.borrow().clone();
        let control = feeds.control.as_ref().map(|c| c.borrow().clone());
        let live = feeds.flows.read(&snapshot);
        let prices = feeds.prices.as_ref().map(|p| p.current());
        let tariff = feeds
            .ledger
            .as_ref()
            .and_then(|l| l.setup().tariff.as_ref());
        let view = View {
            snapshot: &snapshot,
            live: &live,
            ledger: ledger.as_deref(),
            settings: &settings,
            control: control.as_ref(),
            prices: tariff.zip(prices.as_deref()),
        };
        let now = Instant::now();
        let mut rendered: Vec<(String, String)> = Vec::new();
        for (topic, source) in &self.discovery.states {
            let Some(mut payload) = render(source, &view) else {
                continue;
            };
            let previous = self.last.get(topic);
            if let Some(p) = previous {
                let (new, old) = (as_number(&payload), as_number(&p.payload));
                if source.never_decreases()
                    && let (Some(n), Some(o)) = (new, old)
                    && n < o
                {
                    payload.clone_from(&p.payload);
                }
                let stale = now.duration_since(p.at) >= self.setup.max_interval;
                let within = match (new, old) {
                    (Some(n), Some(o)) => (n - o).abs() < source.deadband(&self.setup.deadband),
                    // A first value always goes out; after that, only changes that matter.
                    _ => payload == p.payload || (!source.change_matters() && p.payload != UNKNOWN),
                };
                if !force && !stale && (within || payload == p.payload) {
                    continue;
                }
            }
            rendered.push((topic.clone(), payload));
        }
        for (topic, payload) in rendered {
            let qos = match self.discovery.states.get(&topic) {
                Some(Source::DeviceAvailability(_)) => QoS::AtLeastOnce,
                _ => QoS::AtMostOnce,
            };
            if self.publish(&topic, qos, payload.clone().into_bytes()) {
                self.last.insert(topic, Published { payload, at: now });
            }
        }
    }

    /// A command: checked, then handed to the strategy; refused ones are logged and
    /// the current state sent again so Home Assistant shows what holds.
    async fn command(&mut self, feeds: &Views, topic: &str, target: Target, payload: &[u8]) {
        let checked = match target {
            Target::Mode => Change::mode(payload),
            Target::Setting(s) => Change::setting(s, payload),
            Target::Boost => Change::press(payload),
            Target::Forget => Change::forget(payload),
        };
        match checked {
            Ok(change) => {
                if !feeds.strategy.change(change, "mqtt").await {
                    tracing::warn!(topic, "The strategy has stopped; command not applied.");
                }
            }
            Err(e) => {
                tracing::warn!(topic, payload = %shown(payload), error = %e, "Command refused.");
                self.status.send_modify(|s| s.rejected_commands += 1);
                let state = topic.strip_suffix("/set").unwrap_or(topic).to_owned();
                self.last.remove(&state);
                self.states(feeds, false);
            }
        }
    }

    /// A retained discovery config of ours that the current config no longer has.
    fn clear_if_stale(&mut self, topic: &str, payload: &[u8]) {
        let Some(id) = self.discovery.topics.our_object_id(topic) else {
            return;
        };
        if payload.is_empty() || self.discovery.devices.iter().any(|d| d.object_id == id) {
            return;
        }
        tracing::info!(
            topic,
            "Removing a device no longer in the config from Home Assistant."
        );
        self.publish(topic, QoS::AtLeastOnce, Vec::new());
    }

    fn subscribe(&self) -> Result<(), ClientError> {
        let t = &self.discovery.topics;
        self.client
            .try_subscribe(&self.setup.ha_status_topic, QoS::AtLeastOnce)?;
        self.client
            .try_subscribe(format!("{}/device/+/config", t.prefix), QoS::AtLeastOnce)?;
        let commands: BTreeSet<&String> = self.discovery.commands.keys().collect();
        for c in commands {
            // A command acts when it is sent, not again at every connect: a retained one
            // (an automation set to retain, or a payload too large to take, which would
            // drop the connection at every subscribe) is cleared before subscribing.
            self.client
                .try_publish(c, QoS::AtLeastOnce, true, Vec::<u8>::new())?;
            self.client.try_subscribe(c, QoS::AtLeastOnce)?;
        }
        // A forecast is not a command: a retained one is the latest there is, and its
        // time says whether it still counts.
        if let Some(f) = &self.discovery.forecast {
            self.client.try_subscribe(f, QoS::AtLeastOnce)?;
        }
        // Prices likewise: a retained set is the latest there is.
        if let Some(p) = &self.discovery.prices {
            self.client.try_subscribe(p, QoS::AtLeastOnce)?;
        }
        Ok(())
    }

    /// Day-ahead prices from Home Assistant: checked whole, then merged into the price
    /// book; a refused set is logged with its topic, payload and what is wrong.
    fn prices(&mut self, feeds: &Views, topic: &str, payload: &[u8]) {
        let Some(book) = &feeds.prices else {
            return;
        };
        match crate::prices::parse_message(payload) {
            Ok(p) => {
                let n = book.merge(&p, "mqtt", crate::clock::now().into());
                tracing::debug!(topic, quarters = n, "Day-ahead prices taken.");
            }
            Err(e) => {
                tracing::warn!(topic, payload = %shown(payload), error = %e, "Day-ahead prices refused.");
                self.status.send_modify(|s| s.rejected_commands += 1);
            }
        }
    }

    /// A sun forecast from Home Assistant: checked, then handed to the strategy; a
    /// refused one is logged with its topic, payload and what is wrong.
    async fn forecast(&mut self, feeds: &Views, topic: &str, payload: &[u8]) {
        match crate::strategy::sun::parse(payload) {
            Ok(f) => {
                let change = Change::Forecast(std::sync::Arc::new(f));
                if !feeds.strategy.change(change, "mqtt").await {
                    tracing::warn!(topic, "The strategy has stopped; forecast not used.");
                }
            }
            Err(e) => {
                tracing::warn!(topic, payload = %shown(payload), error = %e, "Sun forecast refused.");
                self.status.send_modify(|s| s.rejected_commands += 1);
            }
        }
    }
}

const BACKOFF_MIN: Duration = Duration::from_secs(1);
const BACKOFF_MAX: Duration = Duration::from_secs(60);

/// Runs until `cancel`; then publishes `offline` and disconnects.
pub async fn run(
    setup: MqttSetup,
    discovery: Discovery,
    feeds: Views,
    status: watch::Sender<MqttStatus>,
    cancel: CancellationToken,
) -> Result<(), MqttError> {
    let opts = options(&setup, &discovery.topics.status())?;
    let (client, mut events) = AsyncClient::new(opts, setup.queue);
    let mut p = Publisher {
        setup,
        discovery,
        client,
        connected: false,
        last: BTreeMap::new(),
        status,
    };
    let mut tick = tokio::time::interval(Duration::from_secs(5));
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut backoff = BACKOFF_MIN;
    let mut warned = false;
    let mut retry_at: Option<Instant> = None;
    let mut resend_at: Option<Instant> = None;
    let mut snapshot = feeds.snapshot.clone();
    let mut settings = feeds.strategy.settings.clone();
    let mut ledger = feeds.ledger_changes();
    let mut control = feeds.control.clone();
    let far = || Instant::now() + Duration::from_secs(86_400);
    loop {
        tokio::select! {
            () = cancel.cancelled() => break,
            () = sleep_until(retry_at.unwrap_or_else(far)), if retry_at.is_some() => retry_at = None,
            () = sleep_until(resend_at.unwrap_or_else(far)), if resend_at.is_some() => {
                resend_at = None;
                if p.connected {
                    tracing::info!("Home Assistant is back; sending discovery and states again.");
                    p.announce(&feeds);
                }
            }
            event = events.poll(), if retry_at.is_none() => match event {
                Ok(Event::Incoming(Packet::ConnAck(_))) => {
                    p.connected = true;
                    warned = false;
                    backoff = BACKOFF_MIN;
                    tracing::info!(broker = %format!("{}:{}", p.setup.host, p.setup.port), "MQTT connected.");
                    p.status.send_modify(|s| { s.connected = true; s.connects += 1; s.last_error = None; });
                    if let Err(e) = p.subscribe() {
                        tracing::warn!(error = %e, "Cannot subscribe; commands and birth messages will be missed until the next connect.");
                    }
                    p.announce(&feeds);
                }
                Ok(Event::Incoming(Packet::Publish(m))) => {
                    if m.topic == p.setup.ha_status_topic {
                        if m.payload.as_ref() == b"online" {
                            // A small random delay, so many publishers do not answer at once.
                            resend_at = Some(Instant::now() + Duration::from_millis(500 + fastrand::u64(..1500)));
                        }
                    } else if p.discovery.prices.as_deref() == Some(m.topic.as_str()) {
                        if !m.payload.is_empty() {
                            p.prices(&feeds, &m.topic, &m.payload);
                        }
                    } else if p.discovery.forecast.as_deref() == Some(m.topic.as_str()) {
                        if !m.payload.is_empty() {
                            p.forecast(&feeds, &m.topic, &m.payload).await;
                        }
                    } else if let Some(&target) = p.discovery.commands.get(&m.topic) {
                        if m.retain {
                            // Left from before the connect, despite the clearing: not a command now.
                            if !m.payload.is_empty() {
                                tracing::warn!(topic = %m.topic, payload = %shown(&m.payload), "A retained command was ignored: a command acts only when it is sent.");
                            }
                        } else {
                            p.command(&feeds, &m.topic, target, &m.payload).await;
                        }
                    } else if m.retain {
                        p.clear_if_stale(&m.topic, &m.payload);
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    let broker = format!("{}:{}", p.setup.host, p.setup.port);
                    if p.connected {
                        tracing::warn!(broker, error = %e, "MQTT connection lost; reconnecting.");
                    } else if !warned {
                        tracing::warn!(broker, error = %e, "MQTT broker unreachable; nomhub goes on and keeps trying.");
                    } else {
                        tracing::debug!(broker, error = %e, retry_in = ?backoff, "MQTT broker still unreachable.");
                    }
                    warned = true;
                    p.connected = false;
                    p.status.send_modify(|s| { s.connected = false; s.last_error = Some(e.to_string()); });
                    let jitter = Duration::from_millis(fastrand::u64(..=backoff.as_millis() as u64 / 4));
                    retry_at = Some(Instant::now() + backoff + jitter);
                    backoff = (backoff * 2).min(BACKOFF_MAX);
                }
            },
            changed = snapshot.changed() => {
                if changed.is_err() { break; }
                p.states(&feeds, false);
            }
            Ok(()) = settings.changed() => p.states(&feeds, false),
            Ok(()) = async { match ledger.as_mut() { Some(l) => l.changed().await, None => std::future::pending().await } } => {
                p.states(&feeds, false);
            }
            Ok(()) = async { match control.as_mut() { Some(c) => c.changed().await, None => std::future::pending().await } } => {
                p.states(&feeds, false);
            }
            _ = tick.tick() => p.states(&feeds, false),
        }
    }
    if p.connected {
        p.publish(
            &p.discovery.topics.status(),
            QoS::AtLeastOnce,
            b"offline".to_vec(),
        );
        // Wait for the broker's PUBACK of `offline` before disconnecting: a broker may
        // drop a publish that arrives just before a DISCONNECT (rumqttd was seen to), and
        // then Home Assistant would never hear that nomhub stopped. `offline` was queued
        // last, so the acknowledgement of the latest publish sent is its.
        let acked = tokio::time::timeout(Duration::from_secs(2), async {
            let mut last_sent = None;
            loop {
                match events.poll().await {
                    Ok(Event::Outgoing(Outgoing::Publish(pkid))) => last_sent = Some(pkid),
                    Ok(Event::Incoming(Packet::PubAck(ack))) if Some(ack.pkid) == last_sent => {
                        break;
                    }
                    Err(_) => break,
                    Ok(_) => {}
                }
            }
        })
        .await;
        if acked.is_err() {
            tracing::warn!("The broker did not acknowledge `offline` within 2 s.");
        }
        if let Err(e) = p.client.try_disconnect() {
            tracing::warn!(error = %e, "Cannot queue the MQTT disconnect.");
        }
        // Let the event loop send what is queued, up to the disconnect.
        let flushed = tokio::time::timeout(Duration::from_secs(2), async {
            loop {
                match events.poll().await {
                    Ok(Event::Outgoing(Outgoing::Disconnect)) | Err(_) => break,
                    Ok(_) => {}
                }
            }
        })
        .await;
        if flushed.is_err() {
            tracing::warn!("MQTT disconnect did not complete within 2 s.");
        } else {
            tracing::info!("MQTT offline published and disconnected.");
        }
    }
    Ok(())
}
