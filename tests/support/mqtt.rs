//! A real mosquitto broker per test on a free loopback port, and a recording client.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use tokio_util::sync::CancellationToken;

fn mosquitto_binary() -> PathBuf {
    for dir in std::env::var("PATH")
        .unwrap_or_default()
        .split(':')
        .chain(["/usr/sbin", "/usr/local/sbin"])
    {
        let p = PathBuf::from(dir).join("mosquitto");
        if p.is_file() {
            return p;
        }
    }
    panic!(
        "mosquitto is not installed; the MQTT tests need a real broker: \
         run ./test.sh (which installs it) or `sudo apt-get install -y mosquitto`"
    );
}

/// A mosquitto process; killed when dropped.
pub struct Broker {
    pub port: u16,
    /// With [`Broker::start_tls`]: the TLS listener's port and the CA that signed it.
    pub tls: Option<(u16, PathBuf)>,
    child: Option<Child>,
    dir: tempfile::TempDir,
}

impl Broker {
    /// The broker `nomhub demo` embeds, in this process, on a free port (it cannot be
    /// restarted or stopped).
    pub fn embedded() -> Broker {
        let addr = nomhub::mqtt::broker::start(([127, 0, 0, 1], 0).into()).unwrap();
        Broker {
            port: addr.port(),
            tls: None,
            child: None,
            dir: tempfile::tempdir().unwrap(),
        }
    }

    pub fn start() -> Broker {
        let mut b = Broker {
            port: super::free_port(),
            tls: None,
            child: None,
            dir: tempfile::tempdir().unwrap(),
        };
        b.restart();
        b
    }

    /// A broker with a plain listener (`port`) and a TLS one (`tls`), whose
    /// certificate for localhost and 127.0.0.1 is signed by a CA made for the test.
    pub fn start_tls() -> Broker {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        super::certificates(
            d,
            "nomhub test CA",
            "/CN=localhost",
            "subjectAltName=DNS:localhost,IP:127.0.0.1\n",
        );
        let ca = d.join("ca.pem");
        let mut b = Broker {
            port: super::free_port(),
            tls: Some((super::free_port(), ca)),
            child: None,
            dir,
        };
        b.restart();
        b
    }

    /// Starts mosquitto (again) on the same port, with nothing retained.
    pub fn restart(&mut self) {
        self.stop();
        let conf = self.dir.path().join("mosquitto.conf");
        // `user root`: mosquitto started as root keeps root and can read the test's
        // key files (it drops to `mosquitto` otherwise); as any other user it is ignored.
        let mut text = format!(
            "user root\nper_listener_settings false\nallow_anonymous true\npersistence false\nmax_keepalive 60\nlistener {} 127.0.0.1\n",
            self.port
        );
        if let Some((port, _)) = &self.tls {
            let d = self.dir.path().display();
            text.push_str(&format!(
                "listener {port} 127.0.0.1\ncafile {d}/ca.pem\ncertfile {d}/server.pem\nkeyfile {d}/server.key\n"
            ));
        }
        std::fs::write(&conf, text).unwrap();
        let child = Command::new(mosquitto_binary())
            .arg("-c")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.child = Some(child);
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        let last = self.tls.as_ref().map_or(self.port, |(p, _)| *p);
        while std::net::TcpStream::connect(("127.0.0.1", last)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "mosquitto did not listen on {}",
                self.port
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().unwrap();
            c.wait().unwrap();
        }
    }

    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.stop();
    }
}

/// One received message.
#[derive(Debug, Clone)]
pub struct Msg {
    pub topic: String,
    pub payload: Vec<u8>,
    pub retain: bool,
}

impl Msg {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.payload).into_owned()
    }
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.payload)
            .unwrap_or_else(|e| panic!("{}: not JSON ({e}): {}", self.topic, self.text()))
    }
}

/// A client that records everything on the topics it subscribed to.
pub struct Recorder {
    pub client: AsyncClient,
    log: Arc<Mutex<Vec<Msg>>>,
    cancel: CancellationToken,
}

impl Recorder {
    pub async fn connect(port: u16, filters: &[&str]) -> Recorder {
        let id = format!("test-{}", fastrand::u32(..));
        let mut o = MqttOptions::new(id, "127.0.0.1", port);
        o.set_max_packet_size(1 << 20, 1 << 20);
        let (client, mut events) = AsyncClient::new(o, 64);
        for f in filters {
            client.subscribe(*f, QoS::AtLeastOnce).await.unwrap();
        }
        let log = Arc::new(Mutex::new(Vec::new()));
        let cancel = CancellationToken::new();
        let (l, c) = (log.clone(), cancel.clone());
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
        let mut ready = Some(ready_tx);
        tokio::spawn(async move {
            loop {
                let e = tokio::select! {
                    () = c.cancelled() => break,
                    e = events.poll() => e,
                };
                match e {
                    Ok(Event::Incoming(Packet::SubAck(_))) => {
                        if let Some(r) = ready.take() {
                            r.send(()).unwrap();
                        }
                    }
                    Ok(Event::Incoming(Packet::Publish(p))) => l.lock().unwrap().push(Msg {
                        topic: p.topic.clone(),
                        payload: p.payload.to_vec(),
                        retain: p.retain,
                    }),
                    Ok(_) => {}
                    Err(e) => {
                        eprintln!("test recorder: {e}");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
            }
        });
        if !filters.is_empty() {
            tokio::time::timeout(Duration::from_secs(5), ready_rx)
                .await
                .expect("no SUBACK from the broker")
                .unwrap();
        }
        Recorder {
            client,
            log,
            cancel,
        }
    }

    pub fn all(&self) -> Vec<Msg> {
        self.log.lock().unwrap().clone()
    }

    pub fn clear(&self) {
        self.log.lock().unwrap().clear();
    }

    /// The last message on each topic.
    pub fn latest(&self) -> BTreeMap<String, Msg> {
        self.all()
            .into_iter()
            .map(|m| (m.topic.clone(), m))
            .collect()
    }

    pub fn last_on(&self, topic: &str) -> Option<Msg> {
        self.all().into_iter().rev().find(|m| m.topic == topic)
    }

    /// Waits until a message on `topic` satisfies `pred`.
    pub async fn wait(&self, secs: u64, topic: &str, pred: impl Fn(&Msg) -> bool) -> Msg {
        let seen: Vec<String> = self
            .all()
            .iter()
            .filter(|m| m.topic == topic)
            .map(|m| format!("{} bytes, retain {}", m.payload.len(), m.retain))
            .collect();
        let topics: std::collections::BTreeSet<String> =
            self.all().into_iter().map(|m| m.topic).collect();
        let what = format!(
            "a matching message on {topic} (seen before waiting: {seen:?}; topics seen: {})",
            topics.len()
        );
        super::eventually(secs, &what, || {
            let found = self
                .all()
                .into_iter()
                .rev()
                .find(|m| m.topic == topic && pred(m));
            async move { found }
        })
        .await
    }

    pub async fn send(&self, topic: &str, payload: &[u8], retain: bool) {
        self.client
            .publish(topic, QoS::AtLeastOnce, retain, payload.to_vec())
            .await
            .unwrap();
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}
