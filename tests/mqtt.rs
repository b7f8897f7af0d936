//! Home Assistant over MQTT against a real mosquitto: discovery retained, states
//! following the simulated dwelling, availability per device, the last will, the
//! birth message, a broker restart, a broker that comes late, removed devices, and
//! command payloads that must be refused; the retained-message and last-will tests also
//! against the demo's embedded broker.

#![allow(clippy::unwrap_used)] // test code may panic

mod support;

use std::process::{Command, Stdio};
use std::time::Duration;

use nomhub::app::{self, App};
use nomhub::clock::Clock;
use nomhub::sim::Fault;
use nomhub::strategy::{Mode, Setting};
use support::mqtt::{Broker, Recorder};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

const DEVICES: &str = r#"
[[device]]
id = "inverter"
name = "PV inverter"
profile = "sunspec-inverter"
bus = "sim"
unit = 1
poll = "300ms"

[[device]]
id = "grid"
name = "Grid meter"
profile = "eastron-sdm630"
bus = "sim"
unit = 2
poll = "300ms"

[[device]]
id = "heat_pump"
name = "Heat pump"
profile = "alpha_innotec-luxtronik2"
bus = "sim"
unit = 4
poll = "300ms"
"#;

const INSTALLATIONS: &str = r#"
[[device]]
id = "installations"
profile = "eastron-sdm120"
bus = "sim"
unit = 3
poll = "300ms"
"#;

fn config_text(
    sim_port: u16,
    broker_port: u16,
    store: &std::path::Path,
    with_installations: bool,
) -> String {
    let (extra, building_bound) = if with_installations {
        (
            INSTALLATIONS,
            r#"building_bound = ["installations.import_energy"]"#,
        )
    } else {
        ("", "")
    };
    format!(
        r#"
[hub]
name = "Test dwelling"
url = "http://127.0.0.1:8080"

[[bus]]
id = "sim"
type = "tcp"
host = "127.0.0.1"
port = {sim_port}
timeout = "300ms"
{DEVICES}{extra}
[settlement]
supply_price = 0.30
feed_in_price = 0.05

[bundle.pv]
yearly_kwh = 5000
shape = "pv"

[bundle.household]
yearly_kwh = 2600
shape = "household"

[ledger]
store = "{}"
flush = "1s"
trust_clock = "always"
pv = ["inverter.ac_energy"]
grid_import = ["grid.import_energy"]
grid_export = ["grid.export_energy"]
{building_bound}

[mqtt]
host = "127.0.0.1"
port = {broker_port}
"#,
        store.display()
    )
}

struct Running {
    app: App,
    tasks: TaskTracker,
    cancel: CancellationToken,
}

impl Running {
    async fn stop(self) {
        self.cancel.cancel();
        self.tasks.close();
        tokio::time::timeout(Duration::from_secs(10), self.tasks.wait())
            .await
            .unwrap();
    }
}

fn start(text: &str) -> Running {
    let config = nomhub::config::parse("test.toml", text).unwrap();
    let ledger = app::open_ledger(&config).unwrap();
    let (tasks, cancel) = (TaskTracker::new(), CancellationToken::new());
    let app = app::start(&config, ledger, &Clock::System, &tasks, &cancel).unwrap();
    Running { app, tasks, cancel }
}

async fn connected(r: &Running) {
    let mut m = r.app.mqtt.clone().unwrap();
    tokio::time::timeout(Duration::from_secs(10), m.wait_for(|s| s.connected))
        .await
        .expect("nomhub did not connect to the broker")
        .unwrap();
}

/// A broker, the simulated dwelling and a store: what every test starts from.
struct Scene {
    broker: Broker,
    sim: nomhub::sim::SimHandle,
    store: tempfile::TempDir,
    cancel: CancellationToken,
}

impl Scene {
    async fn new(broker: Broker, speed: f64) -> Scene {
        let cancel = CancellationToken::new();
        let sim = support::dwelling(speed, &cancel).await;
        Scene {
            broker,
            sim,
            store: tempfile::tempdir().unwrap(),
            cancel,
        }
    }

    fn config(&self, with_installations: bool) -> String {
        config_text(
            self.sim.addr.port(),
            self.broker.port,
            self.store.path(),
            with_installations,
        )
    }

    fn start(&self, with_installations: bool) -> Running {
        start(&self.config(with_installations))
    }
}

impl Drop for Scene {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_is_retained_and_states_follow_the_simulator() {
    discovery_and_states(Broker::start()).await;
}

/// The demo's embedded broker passes the same test as mosquitto.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_embedded_broker_keeps_discovery_retained() {
    discovery_and_states(Broker::embedded()).await;
}

async fn discovery_and_states(broker: Broker) {
    let scene = Scene::new(broker, 60.0).await;
    let run = scene.start(true);
    connected(&run).await;
    let first = Recorder::connect(scene.broker.port, &["homeassistant/device/+/config"]).await;
    first
        .wait(10, "homeassistant/device/nomhub_heat_pump/config", |_| true)
        .await;
    // A client arriving later gets everything from the broker's retained store.
    let ha = Recorder::connect(
        scene.broker.port,
        &["homeassistant/device/+/config", "nomhub/#"],
    )
    .await;
    let hub = ha
        .wait(10, "homeassistant/device/nomhub_hub/config", |m| m.retain)
        .await
        .json();
    assert_eq!(hub["origin"]["name"], "nomhub");
    assert_eq!(hub["device"]["identifiers"][0], "nomhub_hub");
    assert_eq!(hub["device"]["configuration_url"], "http://127.0.0.1:8080");
    let cmps = hub["components"].as_object().unwrap();
    for key in [
        "pv_power",
        "grid_power",
        "home_power",
        "heat_pump_power",
        "tank_temperature",
        "energy_pv",
        "energy_grid_import",
        "energy_household",
        "energy_building_bound",
        "pv_month_used",
        "household_settlement_remaining",
        "household_month_status",
        "forecast_cost",
        "hot_water_mode",
        "hot_water_boost",
        "hot_water_forget",
        "comfort_temperature",
    ] {
        assert!(cmps.contains_key(key), "hub has no `{key}`");
    }
    for d in ["inverter", "grid", "installations", "heat_pump"] {
        let dev = ha
            .wait(5, &format!("homeassistant/device/nomhub_{d}/config"), |m| {
                m.retain
            })
            .await
            .json();
        assert_eq!(dev["device"]["via_device"], "nomhub_hub");
    }
    // The inverter says who it is (SunSpec's common model): announced again with it.
    let inverter = ha
        .wait(10, "homeassistant/device/nomhub_inverter/config", |m| {
            m.json()["device"]["serial_number"] == "SIM0001"
        })
        .await
        .json();
    assert_eq!(
        inverter["device"]["manufacturer"], "nomhub-sim",
        "{inverter}"
    );
    assert_eq!(inverter["device"]["model"], "SIM-5000");
    assert_eq!(inverter["device"]["sw_version"], "1.0.0");
    assert_eq!(
        inverter["components"]["serial_number"]["enabled_by_default"],
        false
    );
    assert_eq!(
        ha.wait(5, "nomhub/status", |m| m.retain).await.text(),
        "online"
    );
    assert_eq!(
        ha.wait(5, "nomhub/device/heat_pump/availability", |m| m.text()
            == "online")
            .await
            .text(),
        "online"
    );
    // States follow the simulator: the PV counter keeps rising (60× real time).
    let topic = "nomhub/device/inverter/point/ac_energy";
    let number = |m: &support::mqtt::Msg| m.text().parse::<f64>().ok();
    let first = number(&ha.wait(10, topic, |m| number(m).is_some()).await).unwrap();
    ha.wait(15, topic, |m| number(m).is_some_and(|v| v > first))
        .await;
    // The hub's live values and the bundle figures arrive, well-formed.
    let pv = ha
        .wait(5, "nomhub/hub/live/pv_power", |m| number(m).is_some())
        .await;
    assert!(number(&pv).unwrap() >= 0.0);
    let bundle = ha
        .wait(10, "nomhub/hub/bundle/household/month", |_| true)
        .await
        .json();
    assert!(bundle["bundle"].as_f64().unwrap() > 0.0);
    assert!(bundle["last_reset"].as_str().unwrap().ends_with('Z'));
    let forecast = ha.wait(10, "nomhub/hub/forecast", |_| true).await.json();
    assert!(forecast["eur"].is_number());
    // The guarantees day by day: today, with the tank read, counts once the ledger
    // has held a reading for a moment.
    let days = ha
        .wait(15, "nomhub/hub/guarantees", |m| {
            m.json()["hot_water_days"] == 1
        })
        .await
        .json();
    assert_eq!(days["hot_water_short_days"], 0, "{days}");
    assert!(days["pv_years"].is_array(), "{days}");
    assert_eq!(
        ha.wait(5, "nomhub/hub/strategy/mode", |_| true)
            .await
            .text(),
        "smart"
    );
    // Change-driven: a frozen dwelling publishes nothing new between polls.
    scene.sim.bank.set_paused(true);
    tokio::time::sleep(Duration::from_secs(1)).await;
    ha.clear();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let quiet = ha
        .all()
        .into_iter()
        .filter(|m| m.topic.starts_with("nomhub/device/"))
        .count();
    assert!(
        quiet <= 3,
        "{quiet} device states in 3 s from a frozen dwelling polled every 300 ms"
    );
    run.stop().await;
    assert_eq!(
        ha.wait(5, "nomhub/status", |_| true).await.text(),
        "offline"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_that_stops_answering_goes_unavailable_alone() {
    let scene = Scene::new(Broker::start(), 0.0).await;
    let run = scene.start(true);
    connected(&run).await;
    let ha = Recorder::connect(
        scene.broker.port,
        &[
            "nomhub/device/+/availability",
            "nomhub/device/+/diagnostics",
        ],
    )
    .await;
    ha.wait(5, "nomhub/device/heat_pump/availability", |m| {
        m.text() == "online"
    })
    .await;
    // Only what comes after the fault (the retained state may be an `offline` from
    // before the first poll).
    ha.clear();
    scene.sim.bank.set_fault(4, Some(Fault::Silent));
    ha.wait(15, "nomhub/device/heat_pump/availability", |m| {
        m.text() == "offline"
    })
    .await;
    let diag = ha
        .wait(5, "nomhub/device/heat_pump/diagnostics", |m| {
            m.json()["link"] == "OFF" && m.json()["errors"].as_u64() >= Some(1)
        })
        .await
        .json();
    assert!(diag["errors"].as_u64().unwrap() >= 1, "{diag}");
    // The grid meter on the same bus stays online: no `offline` for it since the fault.
    assert!(
        ha.all()
            .iter()
            .filter(|m| m.topic == "nomhub/device/grid/availability")
            .all(|m| m.text() == "online")
    );
    assert!(run.app.views.snapshot.borrow().devices["grid"].online);
    scene.sim.bank.set_fault(4, None);
    ha.wait(15, "nomhub/device/heat_pump/availability", |m| {
        m.text() == "online"
    })
    .await;
    run.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_is_sent_again_on_the_birth_message_and_after_a_broker_restart() {
    let mut scene = Scene::new(Broker::start(), 0.0).await;
    let run = scene.start(true);
    connected(&run).await;
    let ha = Recorder::connect(
        scene.broker.port,
        &["homeassistant/device/+/config", "nomhub/hub/strategy/mode"],
    )
    .await;
    ha.wait(5, "homeassistant/device/nomhub_hub/config", |_| true)
        .await;
    ha.clear();
    ha.send("homeassistant/status", b"online", false).await;
    // Live (not retained) deliveries: nomhub sent them again.
    ha.wait(6, "homeassistant/device/nomhub_heat_pump/config", |m| {
        !m.retain
    })
    .await;
    ha.wait(6, "nomhub/hub/strategy/mode", |m| !m.retain).await;
    drop(ha);

    // A broker restart loses every retained message (no persistence): nomhub
    // reconnects and announces everything again.
    let mut status = run.app.mqtt.clone().unwrap();
    scene.broker.restart();
    tokio::time::timeout(
        Duration::from_secs(20),
        status.wait_for(|s| s.connects >= 2),
    )
    .await
    .expect("nomhub did not reconnect after the broker restarted")
    .unwrap();
    let ha = Recorder::connect(
        scene.broker.port,
        &["homeassistant/device/+/config", "nomhub/status"],
    )
    .await;
    // Retained, or live when this client subscribed before nomhub announced.
    ha.wait(10, "homeassistant/device/nomhub_grid/config", |_| true)
        .await;
    assert_eq!(ha.wait(5, "nomhub/status", |_| true).await.text(), "online");
    run.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_that_is_down_at_start_holds_nothing_up() {
    let mut broker = Broker::start();
    broker.stop();
    let mut scene = Scene::new(broker, 60.0).await;
    let run = scene.start(true);
    // The ledger books and summarises while the broker is away.
    let mut ledger = run.app.views.ledger_changes().unwrap();
    tokio::time::timeout(
        Duration::from_secs(15),
        ledger.wait_for(|l| l.lifetime.values().any(|wh| wh.0 > 0)),
    )
    .await
    .expect("the ledger stood still while the broker was down")
    .unwrap();
    assert!(!run.app.mqtt.as_ref().unwrap().borrow().connected);
    scene.broker.restart();
    connected(&run).await;
    let ha = Recorder::connect(scene.broker.port, &["homeassistant/device/+/config"]).await;
    ha.wait(10, "homeassistant/device/nomhub_hub/config", |_| true)
        .await;
    run.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_removed_from_the_config_is_removed_from_home_assistant() {
    removed_device(Broker::start()).await;
}

/// The demo's embedded broker passes the same test as mosquitto.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_embedded_broker_forgets_a_cleared_retained_config() {
    removed_device(Broker::embedded()).await;
}

async fn removed_device(broker: Broker) {
    let scene = Scene::new(broker, 0.0).await;
    let run = scene.start(true);
    connected(&run).await;
    let ha = Recorder::connect(scene.broker.port, &["homeassistant/device/+/config"]).await;
    ha.wait(5, "homeassistant/device/nomhub_installations/config", |m| {
        !m.payload.is_empty()
    })
    .await;
    run.stop().await;
    let run = scene.start(false);
    connected(&run).await;
    ha.wait(
        10,
        "homeassistant/device/nomhub_installations/config",
        |m| m.payload.is_empty(),
    )
    .await;
    // The broker no longer holds it: a new client gets no retained config for it.
    let late = Recorder::connect(scene.broker.port, &["homeassistant/device/+/config"]).await;
    late.wait(5, "homeassistant/device/nomhub_grid/config", |m| m.retain)
        .await;
    assert!(
        late.all()
            .iter()
            .all(|m| m.topic != "homeassistant/device/nomhub_installations/config")
    );
    run.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_commands_are_refused_without_effect_and_good_ones_echo_and_survive_a_restart() {
    let scene = Scene::new(Broker::start(), 0.0).await;
    let run = scene.start(true);
    connected(&run).await;
    let before = run.app.views.strategy.settings.borrow().clone();
    let ha = Recorder::connect(scene.broker.port, &["nomhub/hub/strategy/#"]).await;
    let comfort = "nomhub/hub/strategy/comfort_temperature";
    ha.wait(5, comfort, |_| true).await;
    let huge = vec![b'5'; 100_000];
    let bad: [(&str, &[u8]); 9] = [
        ("comfort_temperature/set", b"{\"value\": 50"),
        ("comfort_temperature/set", b"warm"),
        ("comfort_temperature/set", b"99"),
        ("comfort_temperature/set", b"47.3"),
        ("comfort_temperature/set", &huge),
        ("mode/set", b"turbo"),
        ("mode/set", &[0xff, 0xfe, 0x00]),
        ("boost/set", b"yes please"),
        ("forget/set", b"forget it"),
    ];
    ha.clear();
    for (topic, payload) in bad {
        ha.send(&format!("nomhub/hub/strategy/{topic}"), payload, false)
            .await;
    }
    let mut status = run.app.mqtt.clone().unwrap();
    tokio::time::timeout(
        Duration::from_secs(5),
        status.wait_for(|s| s.rejected_commands == 9),
    )
    .await
    .expect("not every bad command was counted as refused")
    .unwrap();
    assert_eq!(*run.app.views.strategy.settings.borrow(), before);
    // The current state is sent again, so Home Assistant shows what holds.
    assert_eq!(ha.wait(5, comfort, |_| true).await.text(), "45");
    assert_eq!(
        ha.wait(5, "nomhub/hub/strategy/mode", |_| true)
            .await
            .text(),
        "smart"
    );

    // Good commands reach the strategy and are echoed on the state topic.
    ha.send("nomhub/hub/strategy/comfort_temperature/set", b"50", false)
        .await;
    ha.send("nomhub/hub/strategy/mode/set", b"boost", false)
        .await;
    ha.send("nomhub/hub/strategy/boost/set", b"PRESS", false)
        .await;
    ha.send("nomhub/hub/strategy/forget/set", b"PRESS", false)
        .await;
    ha.wait(5, comfort, |m| m.text() == "50").await;
    ha.wait(5, "nomhub/hub/strategy/mode", |m| m.text() == "boost")
        .await;
    let s = run.app.views.strategy.settings.borrow().clone();
    assert_eq!(s.mode, Mode::Boost);
    assert_eq!(s.get(Setting::ComfortTemperature), 50.0);
    // The presses were taken (this config has no heat pump under control to act on).
    assert_eq!(status.borrow().rejected_commands, 9);
    run.stop().await;

    // Without [control] the settings are still control's to keep: a restart has them.
    ha.clear();
    let run = scene.start(true);
    let s = run.app.views.strategy.settings.borrow().clone();
    assert_eq!(s.mode, Mode::Boost);
    assert_eq!(s.get(Setting::ComfortTemperature), 50.0);
    connected(&run).await;
    ha.wait(5, "nomhub/hub/strategy/mode", |m| m.text() == "boost")
        .await;
    ha.wait(5, comfort, |m| m.text() == "50").await;
    run.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_last_will_fires_when_nomhub_is_killed() {
    last_will(Broker::start()).await;
}

/// The demo's embedded broker passes the same test as mosquitto.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_embedded_broker_sends_the_last_will() {
    last_will(Broker::embedded()).await;
}

async fn last_will(broker: Broker) {
    let scene = Scene::new(broker, 0.0).await;
    let file = scene.store.path().join("nomhub.toml");
    std::fs::write(&file, scene.config(true)).unwrap();
    let ha = Recorder::connect(scene.broker.port, &["nomhub/status"]).await;
    for signal in ["-KILL", "-TERM"] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_nomhub"))
            .args(["run", "--config"])
            .arg(&file)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        ha.wait(15, "nomhub/status", |m| m.text() == "online").await;
        ha.clear();
        let killed = Command::new("kill")
            .args([signal, &child.id().to_string()])
            .status()
            .unwrap();
        assert!(killed.success());
        child.wait().unwrap();
        // SIGKILL: the broker sends the will; SIGTERM: nomhub says it itself.
        eprintln!("waiting for `offline` after {signal}");
        let m = ha.wait(10, "nomhub/status", |_| true).await;
        assert_eq!(m.text(), "offline", "after {signal}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_to_the_broker_with_its_ca_and_refused_without() {
    let scene = Scene::new(Broker::start_tls(), 0.0).await;
    let (tls_port, ca) = scene.broker.tls.clone().unwrap();
    let plain = format!("port = {}", scene.broker.port);
    let base = scene.config(false);
    // Trusting the test CA: connects, and discovery reaches plain subscribers.
    let with_ca = base.replace(
        &plain,
        &format!(
            "port = {tls_port}\ntls = true\nca_file = \"{}\"",
            ca.display()
        ),
    );
    let run = start(&with_ca);
    connected(&run).await;
    let ha = Recorder::connect(scene.broker.port, &["homeassistant/device/+/config"]).await;
    ha.wait(10, "homeassistant/device/nomhub_hub/config", |_| true)
        .await;
    run.stop().await;
    // The system's roots do not know the test CA: no connection, and it says why.
    let run = start(&base.replace(&plain, &format!("port = {tls_port}\ntls = true")));
    let mut status = run.app.mqtt.clone().unwrap();
    let s = tokio::time::timeout(
        Duration::from_secs(10),
        status.wait_for(|s| s.last_error.is_some()),
    )
    .await
    .unwrap()
    .unwrap()
    .clone();
    assert!(!s.connected);
    let e = s.last_error.unwrap().to_lowercase();
    assert!(e.contains("certificate") || e.contains("tls"), "{e}");
    run.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retained_command_is_never_acted_on_and_an_oversized_one_does_not_make_nomhub_reconnect()
{
    let scene = Scene::new(Broker::start(), 0.0).await;
    let ha = Recorder::connect(scene.broker.port, &[]).await;
    // Left on the broker before nomhub starts: a retained mode, and a retained setting
    // larger than nomhub takes (512 KiB).
    ha.send("nomhub/hub/strategy/mode/set", b"off", true).await;
    let huge = vec![b'5'; 600 * 1024];
    ha.send("nomhub/hub/strategy/comfort_temperature/set", &huge, true)
        .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let run = scene.start(true);
    connected(&run).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let link = run.app.mqtt.clone().unwrap().borrow().clone();
    assert!(link.connected && link.connects == 1, "{link:?}");
    assert_eq!(run.app.views.strategy.settings.borrow().mode, Mode::Smart);
    // The broker holds neither any more.
    let late = Recorder::connect(scene.broker.port, &["nomhub/hub/strategy/+/set"]).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(late.all().is_empty(), "{:?}", late.latest().keys());
    // A command sent now acts.
    ha.send("nomhub/hub/strategy/mode/set", b"boost", false)
        .await;
    let mut settings = run.app.views.strategy.settings.clone();
    tokio::time::timeout(
        Duration::from_secs(5),
        settings.wait_for(|s| s.mode == Mode::Boost),
    )
    .await
    .expect("the command sent after the connect acts")
    .unwrap();
    run.stop().await;
}

/// With a dynamic tariff: day-ahead prices sent by Home Assistant (retained, as its
/// automation does) are taken, shown as the price now and next hour with today's
/// quarter hours, and booked: the grid import's euros follow them; a bad price set is
/// refused without touching the prices; until prices come the contract's average
/// stands in, and says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn day_ahead_prices_from_home_assistant_price_and_book_the_grid() {
    let scene = Scene::new(Broker::start(), 60.0).await;
    let text = scene.config(true).replace(
        "[settlement]\nsupply_price = 0.30\nfeed_in_price = 0.05\n",
        "[tariff]\ncontract_start = \"2026-01-01\"\nimport = \"dynamic\"\nmarkup = 0.02\n\
         average_day_ahead = 0.09\nfeed_in = \"share\"\nfeed_in_share = 1.0\nfeed_in_costs = 0.015\n\n\
         [[tariff.taxes]]\nyear = 2026\nenergy_tax = 0.0916\ntax_credit = 519.80\n",
    );
    assert!(text.contains("[tariff]"));
    let ha = Recorder::connect(
        scene.broker.port,
        &[
            "nomhub/hub/prices",
            "nomhub/hub/costs",
            "homeassistant/device/+/config",
        ],
    )
    .await;
    let run = start(&text);
    connected(&run).await;
    // Before any price: the average, marked.
    let first = ha.wait(10, "nomhub/hub/prices", |_| true).await.json();
    assert_eq!(first["fallback"], true, "{first}");
    let want = |da: f64| ((da + 0.02 + 0.0916) * 1.21 * 10_000.0).round() / 10_000.0;
    assert_eq!(first["import_now"].as_f64().unwrap(), want(0.09));
    // Discovery has the price and cost sensors.
    let hub = ha
        .wait(5, "homeassistant/device/nomhub_hub/config", |_| true)
        .await
        .json();
    for key in [
        "price_now",
        "price_next_hour",
        "feed_in_price_now",
        "cost_today",
        "cost_month",
        "prices_missing",
    ] {
        assert!(hub["components"].get(key).is_some(), "no {key} in {hub}");
    }
    assert!(
        hub["components"]["forecast_cost"]
            .get("state_class")
            .is_none()
    );
    // Home Assistant's automation sends today's and tomorrow's prices, hourly: 0.05
    // now, 0.30 the hour after.
    let now: chrono::DateTime<chrono::Utc> = Clock::System.now().into();
    let hour = |h: i64| {
        let t = now - chrono::TimeDelta::seconds(now.timestamp().rem_euclid(3600))
            + chrono::TimeDelta::hours(h);
        t.with_timezone(&nomhub::clock::TZ).to_rfc3339()
    };
    let mut entries: Vec<String> = (-2..30)
        .map(|h| {
            let price = if h == 1 { 0.30 } else { 0.05 };
            format!(
                r#"{{"start":"{}","end":"{}","value":{price}}}"#,
                hour(h),
                hour(h + 1)
            )
        })
        .collect();
    let good = format!(r#"{{"prices":[{}]}}"#, entries.join(","));
    // A bad set first: prices in €/MWh.
    entries[2] = format!(
        r#"{{"start":"{}","end":"{}","value":84.2}}"#,
        hour(0),
        hour(1)
    );
    let bad = format!(r#"{{"prices":[{}]}}"#, entries.join(","));
    ha.send("nomhub/hub/prices/day_ahead", bad.as_bytes(), true)
        .await;
    let mut status = run.app.mqtt.clone().unwrap();
    tokio::time::timeout(
        Duration::from_secs(5),
        status.wait_for(|s| s.rejected_commands == 1),
    )
    .await
    .expect("the €/MWh set was not refused")
    .unwrap();
    assert!(
        run.app
            .views
            .prices
            .as_ref()
            .unwrap()
            .current()
            .day_ahead
            .quarters
            .is_empty()
    );
    ha.send("nomhub/hub/prices/day_ahead", good.as_bytes(), true)
        .await;
    let p = ha
        .wait(10, "nomhub/hub/prices", |m| m.json()["fallback"] == false)
        .await
        .json();
    assert_eq!(p["import_now"].as_f64().unwrap(), want(0.05), "{p}");
    assert_eq!(p["import_next_hour"].as_f64().unwrap(), want(0.30), "{p}");
    assert_eq!(p["export_now"].as_f64().unwrap(), 0.05 - 0.015, "{p}");
    let today = p["today"].as_array().unwrap();
    assert!(today.len() >= 92, "{p}");
    assert!(today.iter().filter(|v| !v.is_null()).count() >= 8, "{p}");
    // What the house imports from now is booked at 0.05 + markup, tax and VAT.
    let costs = ha
        .wait(20, "nomhub/hub/costs", |m| {
            m.json()["today_import_eur"].as_f64() > Some(0.0)
        })
        .await
        .json();
    assert!(costs["today_eur"].is_number(), "{costs}");
    assert!(
        costs["today_reset"].as_str().unwrap().ends_with('Z'),
        "{costs}"
    );
    run.stop().await;
    // The prices outlive a restart (kept in the store).
    let run = start(&text);
    assert!(
        !run.app
            .views
            .prices
            .as_ref()
            .unwrap()
            .current()
            .day_ahead
            .quarters
            .is_empty()
    );
    run.stop().await;
}
