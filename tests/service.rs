//! `nomhub run` as systemd runs it: it says READY, feeds the watchdog, writes log lines
//! journald files by priority, answers `/api/health` and `/metrics`, and on SIGTERM says
//! STOPPING, hands the heat pump back and exits cleanly. (SIGKILL and restart:
//! `tests/ledger.rs` for the energy, `tests/control.rs` for the registers.)

#![allow(clippy::unwrap_used)] // test code may panic

mod support;

use std::os::unix::fs::MetadataExt;
use std::os::unix::net::UnixDatagram;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use chrono::TimeZone;
use nomhub::modbus::RegisterKind;
use nomhub::sim::UNIT_HEAT_PUMP;
use tokio_util::sync::CancellationToken;

/// The Luxtronik's hot-water mode and setpoint, and the values it has before nomhub.
const MODE: u16 = 10005;
const SETPOINT: u16 = 10006;
const FACTORY: (u16, u16) = (0, 400);

fn registers(bank: &nomhub::sim::Bank) -> (u16, u16) {
    let units = bank.lock();
    let hp = &units[&UNIT_HEAT_PUMP];
    (
        hp.get(RegisterKind::Holding, MODE).unwrap(),
        hp.get(RegisterKind::Holding, SETPOINT).unwrap(),
    )
}

/// What systemd would receive on its notify socket.
struct Notifications {
    socket: UnixDatagram,
    seen: Vec<String>,
}

impl Notifications {
    /// Waits until a message contains `what`, collecting every message on the way.
    fn wait_for(&mut self, what: &str, secs: u64) -> String {
        let deadline = Instant::now() + Duration::from_secs(secs);
        let mut buf = [0u8; 4096];
        while Instant::now() < deadline {
            if let Ok(n) = self.socket.recv(&mut buf) {
                let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
                self.seen.push(msg.clone());
                if msg.contains(what) {
                    return msg;
                }
            }
        }
        panic!("no `{what}` within {secs} s; got {:?}", self.seen);
    }
}

fn get(addr: &str, path: &str) -> (u16, String) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into();
    let mut r = agent.get(format!("http://{addr}{path}")).call().unwrap();
    (r.status().as_u16(), r.body_mut().read_to_string().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_systemd_it_notifies_feeds_the_watchdog_logs_by_priority_and_stops_cleanly() {
    let cancel = CancellationToken::new();
    // A sunny June noon, frozen: nomhub takes the hot water over at once.
    let noon = chrono_tz::Europe::Amsterdam
        .with_ymd_and_hms(2026, 6, 21, 12, 0, 0)
        .unwrap()
        .with_timezone(&chrono::Utc);
    let sim = support::dwelling_at(0.0, noon, &cancel).await;
    let dir = tempfile::tempdir().unwrap();
    let web = format!("127.0.0.1:{}", support::free_port());
    let text = nomhub::config::demo_text(sim.addr.port(), &dir.path().join("store"))
        .replace("poll = \"2s\"", "poll = \"300ms\"")
        .replace("[control]\n", "[control]\ntick = \"300ms\"\n");
    let text = format!(
        "{text}\n[[rule]]\nname = \"surplus\"\nwhen = \"grid_power < -500.0\"\nthen = [{{ set = \"heat_pump.dhw_setpoint\", value = 60 }}]\n\n[web]\nlisten = \"{web}\"\nauth = \"none\"\n"
    );
    let config = dir.path().join("nomhub.toml");
    std::fs::write(&config, text).unwrap();

    // systemd's side: a notify socket, and a journal stream (here a file) whose device
    // and inode it names in JOURNAL_STREAM.
    let socket_path = dir.path().join("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut notes = Notifications {
        socket,
        seen: Vec::new(),
    };
    let log_path = dir.path().join("journal.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let meta = log.metadata().unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_nomhub"))
        .args(["run", "--config"])
        .arg(&config)
        .env("NOTIFY_SOCKET", &socket_path)
        .env("WATCHDOG_USEC", "600000")
        .env("JOURNAL_STREAM", format!("{}:{}", meta.dev(), meta.ino()))
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();

    let ready = notes.wait_for("READY=1", 20);
    assert!(ready.contains("STATUS="), "{ready}");
    // Fed at half of WatchdogSec (300 ms): at least three in two seconds after ready.
    let started = Instant::now();
    for _ in 0..3 {
        notes.wait_for("WATCHDOG=1", 3);
    }
    assert!(started.elapsed() < Duration::from_secs(3));
    // The status line for `systemctl status` follows the devices.
    let status = notes.wait_for("4/4 devices online", 20);
    assert!(status.contains("points held"), "{status}");

    // Health and metrics, without a login.
    let (code, body) = get(&web, "/api/health");
    assert_eq!(code, 200, "{body}");
    let health: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(
        ["ok", "degraded"].contains(&health["status"].as_str().unwrap()),
        "{health}"
    );
    for task in [
        "state",
        "ledger",
        "control",
        "poller heat_pump",
        "poller grid",
    ] {
        assert_eq!(health["tasks"][task]["running"], true, "{task}: {health}");
    }
    assert_eq!(health["devices"]["grid"]["online"], true, "{health}");
    assert!(health["devices"]["grid"]["last_poll_ms"].as_f64().unwrap() > 0.0);
    let (code, metrics) = get(&web, "/metrics");
    assert_eq!(code, 200);
    for want in [
        "nomhub_device_up{device=\"heat_pump\"} 1",
        "nomhub_device_poll_duration_seconds_count{device=\"inverter\"}",
        "nomhub_device_poll_errors_total{device=\"grid\"} 0",
        "nomhub_ledger_energy_kwh_total{series=\"pv\"}",
        "nomhub_task_up{task=\"ledger\"} 1",
        "nomhub_control_points_held",
    ] {
        assert!(metrics.contains(want), "no `{want}` in\n{metrics}");
    }

    // The rule holds the setpoint; SIGTERM hands it back before the process ends.
    support::eventually(20, "nomhub takes the hot water over", || {
        let got = registers(&sim.bank);
        async move { (got == (1, 600)).then_some(()) }
    })
    .await;
    let out = support::sigterm(child);
    assert!(out.is_empty(), "stderr went to the journal file");
    notes.wait_for("STOPPING=1", 10);
    assert_eq!(registers(&sim.bank), FACTORY);

    // Journal lines: a priority first, no time stamp, no colours, fields as key=value.
    let journal = std::fs::read_to_string(&log_path).unwrap();
    assert!(!journal.contains('\u{1b}'), "{journal}");
    for line in journal.lines() {
        assert!(
            ["<3>", "<4>", "<6>", "<7>"]
                .iter()
                .any(|p| line.starts_with(p)),
            "`{line}` has no priority"
        );
    }
    assert!(
        journal.lines().any(|l| l == "<6>nomhub running. devices=4"),
        "{journal}"
    );
    assert!(
        journal.contains("<6>Ledger committed and flushed."),
        "{journal}"
    );
    cancel.cancel();
}
