//! An MQTT broker inside nomhub (rumqttd), so `nomhub demo` shows Home Assistant's side
//! with no broker installed. It keeps retained messages and sends last wills as mosquitto
//! does (`tests/mqtt.rs` runs the same tests against both); it listens on loopback only,
//! without authentication or persistence: a demo's broker, not a home's.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    #[error("the embedded MQTT broker cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("the embedded MQTT broker's configuration: {0}")]
    Config(#[from] toml::de::Error),
    #[error("the embedded MQTT broker did not start listening on {0} within 5 s")]
    NotListening(SocketAddr),
}

/// Largest message the broker takes: Home Assistant's device discovery for a heat pump
/// with all its points is tens of kB.
const MAX_PAYLOAD: usize = 1 << 20;

fn config(addr: SocketAddr) -> Result<rumqttd::Config, toml::de::Error> {
    toml::from_str(&format!(
        r#"
id = 0
[router]
id = 0
max_connections = 64
max_outgoing_packet_count = 200
max_segment_size = 4194304
max_segment_count = 4

[v4.1]
name = "nomhub-demo"
listen = "{addr}"
next_connection_delay_ms = 1
[v4.1.connections]
connection_timeout_ms = 10000
max_payload_size = {MAX_PAYLOAD}
max_inflight_count = 100
dynamic_filters = true
"#
    ))
}

/// Starts the broker on `listen` (a loopback address; port 0 picks a free one) on its own
/// threads, for the rest of the process; returns the address once it accepts connections.
pub fn start(listen: SocketAddr) -> Result<SocketAddr, BrokerError> {
    // rumqttd reports a taken port only in its log: find out first, and learn the port.
    let addr = TcpListener::bind(listen)
        .and_then(|l| l.local_addr())
        .map_err(|source| BrokerError::Listen {
            addr: listen,
            source,
        })?;
    let config = config(addr)?;
    std::thread::Builder::new()
        .name("mqtt-broker".to_owned())
        .spawn(move || {
            if let Err(e) = rumqttd::Broker::new(config).start() {
                tracing::error!(error = %e, "The embedded MQTT broker stopped.");
            }
        })
        .map_err(|source| BrokerError::Listen { addr, source })?;
    let deadline = Instant::now() + Duration::from_secs(5);
    while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
        if Instant::now() > deadline {
            return Err(BrokerError::NotListening(addr));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(addr)
}
