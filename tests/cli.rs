//! The installer's tools as a user runs them, against the simulated dwelling, and
//! checked against an independent Modbus client (Debian's `mbpoll`).

#![allow(clippy::unwrap_used)] // test helpers may panic

mod support;

use std::process::Output;

use tokio::process::Command;
use tokio_util::sync::CancellationToken;

const NOMHUB: &str = env!("CARGO_BIN_EXE_nomhub");

async fn nomhub(args: &[&str]) -> Output {
    Command::new(NOMHUB).args(args).output().await.unwrap()
}

/// Runs nomhub with `--json` among `args`, asserts success and parses its output.
async fn nomhub_json(args: &[&str]) -> serde_json::Value {
    let out = nomhub(args).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(&stdout(&out)).unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Runs mbpoll once against the simulator on `port` (0-based references) and returns
/// `(reference, value)` pairs; `table` is mbpoll's `-t` (3 input, 4 holding, `3:float`, ...).
async fn mbpoll(
    port: &str,
    unit: &str,
    reference: &str,
    table: &str,
    count: &str,
) -> Vec<(u16, String)> {
    let mut args = vec![
        "-m", "tcp", "-a", unit, "-0", "-r", reference, "-t", table, "-c", count, "-p", port,
    ];
    if table.ends_with(":float") {
        args.push("-B"); // high word first, as the SDM meters send it
    }
    args.extend(["127.0.0.1", "-1"]);
    let out = Command::new("mbpoll").args(&args).output().await.unwrap_or_else(|e| {
        panic!("mbpoll is needed for this test ({e}); install it with: sudo apt-get install -y mbpoll (./test.sh does this)")
    });
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "mbpoll failed: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text.lines()
        .filter_map(|l| {
            let l = l.trim();
            let rest = l.strip_prefix('[')?;
            let (r, v) = rest.split_once("]:")?;
            Some((r.parse().ok()?, v.trim().to_owned()))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn modbus_read_agrees_with_mbpoll() {
    let cancel = CancellationToken::new();
    let sim = support::dwelling(0.0, &cancel).await;
    let port = sim.addr.port().to_string();
    // A float32 energy counter of the grid meter (input registers 72, 74).
    let theirs = mbpoll(&port, "2", "72", "3:float", "2").await;
    let json = nomhub_json(&[
        "modbus",
        "read",
        "--host",
        "127.0.0.1",
        "--port",
        &port,
        "--unit",
        "2",
        "--register",
        "input",
        "--address",
        "72",
        "--type",
        "f32",
        "--count",
        "2",
        "--json",
    ])
    .await;
    let values = json["values"].as_array().unwrap();
    assert_eq!(theirs.len(), 2);
    for ((reference, text), v) in theirs.iter().zip(values) {
        assert_eq!(u64::from(*reference), v["address"].as_u64().unwrap());
        let theirs: f32 = text.parse().unwrap();
        assert_eq!(
            theirs,
            v["value"].as_f64().unwrap() as f32,
            "register {reference}"
        );
    }
    // A 16-bit holding register of the heat pump (the SHI DHW setpoint, 40.0 °C raw 400).
    let theirs = mbpoll(&port, "4", "10006", "4", "1").await;
    let ours = nomhub(&[
        "modbus",
        "read",
        "--host",
        "127.0.0.1",
        "--port",
        &port,
        "--unit",
        "4",
        "--address",
        "10006",
    ])
    .await;
    assert_eq!(theirs, vec![(10006, "400".to_owned())]);
    assert!(
        stdout(&ours).starts_with("holding 10006 = 400 "),
        "{}",
        stdout(&ours)
    );
    // What nomhub writes, mbpoll reads back.
    let w = nomhub(&[
        "modbus",
        "write",
        "--host",
        "127.0.0.1",
        "--port",
        &port,
        "--unit",
        "4",
        "--address",
        "10006",
        "--value",
        "48.5",
        "--scale",
        "0.1",
        "--yes",
    ])
    .await;
    assert!(w.status.success(), "{}", String::from_utf8_lossy(&w.stderr));
    let theirs = mbpoll(&port, "4", "10006", "4", "1").await;
    assert_eq!(theirs, vec![(10006, "485".to_owned())]);
    cancel.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn modbus_write_asks_before_writing() {
    let cancel = CancellationToken::new();
    let sim = support::dwelling(0.0, &cancel).await;
    let port = sim.addr.port().to_string();
    let mut child = Command::new(NOMHUB)
        .args([
            "modbus",
            "write",
            "--host",
            "127.0.0.1",
            "--port",
            &port,
            "--unit",
            "4",
            "--address",
            "10006",
            "--value",
            "555",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use tokio::io::AsyncWriteExt;
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(b"no\n").await.unwrap();
    }
    let out = child.wait_with_output().await.unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("Not written."));
    assert_eq!(
        sim.bank.lock()[&4].get(nomhub::modbus::RegisterKind::Holding, 10006),
        Some(400)
    );
    cancel.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn modbus_scan_finds_the_sunspec_inverter_and_its_models() {
    let cancel = CancellationToken::new();
    let sim = support::dwelling(0.0, &cancel).await;
    let port = sim.addr.port().to_string();
    let json = nomhub_json(&[
        "modbus",
        "scan",
        "--host",
        "127.0.0.1",
        "--port",
        &port,
        "--units",
        "1-8",
        "--json",
    ])
    .await;
    let units: Vec<u64> = json["units"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["unit"].as_u64().unwrap())
        .collect();
    assert_eq!(units, vec![1, 2, 3, 4, 5]);
    let inverter = &json["units"][0];
    let models: Vec<u64> = inverter["sunspec"]["models"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_u64().unwrap())
        .collect();
    assert_eq!(models, vec![1, 103]);
    assert_eq!(inverter["sunspec"]["base"], 40000);
    assert_eq!(inverter["values"]["manufacturer"], "nomhub-sim");
    assert!(json["units"][1].get("sunspec").is_none());
    // The others by their profiles' identify checks: an Eastron meter (the SDM630 and
    // SDM120 read alike there), the Luxtronik alone and so with its values; the relay
    // board says nothing of itself.
    let profiles = |i: usize| json["units"][i]["profiles"].clone();
    assert_eq!(
        profiles(1),
        serde_json::json!(["eastron-sdm120", "eastron-sdm630"])
    );
    assert!(json["units"][1].get("values").is_none());
    assert_eq!(profiles(3), serde_json::json!(["alpha_innotec-luxtronik2"]));
    assert_eq!(json["units"][3]["values"]["software_major"], "3");
    assert_eq!(profiles(4), serde_json::json!([]));
    cancel.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn modbus_scan_recognises_every_recorded_device_its_profile_can_identify() {
    let set = nomhub::profile::ProfileSet::embedded().unwrap();
    let mut tried = 0;
    for (name, fixture) in support::fixtures() {
        let p = set.get(&fixture.profile).unwrap();
        if p.file.identify.is_empty() {
            continue;
        }
        tried += 1;
        let cancel = CancellationToken::new();
        let addr = support::serve_fixture(&fixture, &cancel).await;
        let json = nomhub_json(&[
            "modbus",
            "scan",
            "--host",
            "127.0.0.1",
            "--port",
            &addr.port().to_string(),
            "--units",
            &fixture.unit.to_string(),
            "--json",
        ])
        .await;
        let found: Vec<String> = json["units"][0]["profiles"]
            .as_array()
            .unwrap_or_else(|| panic!("{name}: {json}"))
            .iter()
            .map(|p| p.as_str().unwrap().to_owned())
            .collect();
        assert!(found.contains(&fixture.profile), "{name}: {found:?}");
        // Only the Eastron meters share their check.
        assert!(
            found.len() == 1 || found.iter().all(|p| p.starts_with("eastron-")),
            "{name}: {found:?}"
        );
        cancel.cancel();
    }
    assert!(tried >= 8, "{tried}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_config_and_devices_check() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[hub]\nnme = \"x\"\n").unwrap();
    let out = nomhub(&["check-config", bad.to_str().unwrap()]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("bad.toml:2:1: unknown field `nme`"));

    let cancel = CancellationToken::new();
    let sim = support::dwelling(0.0, &cancel).await;
    let good = dir.path().join("good.toml");
    std::fs::write(
        &good,
        nomhub::config::DEMO.replace("port = 5020", &format!("port = {}", sim.addr.port())),
    )
    .unwrap();
    let out = nomhub(&["check-config", good.to_str().unwrap()]).await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let json = nomhub_json(&[
        "devices",
        "check",
        "--config",
        good.to_str().unwrap(),
        "--json",
    ])
    .await;
    let devices = json["devices"].as_array().unwrap();
    assert_eq!(devices.len(), 4);
    let hp = devices.iter().find(|d| d["device"] == "heat_pump").unwrap();
    assert_eq!(hp["online"], true);
    assert_eq!(hp["points"]["tank_temperature"]["value"], 50.0);

    // A unit that does not answer shows up as offline, and the command says so by its exit code.
    sim.bank.set_fault(4, Some(nomhub::sim::Fault::Silent));
    let out = nomhub(&["devices", "check", "--config", good.to_str().unwrap()]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stdout(&out).contains("heat_pump (OFFLINE"),
        "{}",
        stdout(&out)
    );
    assert!(stdout(&out).contains("grid (online)"));
    cancel.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_runs_and_shows_live_values() {
    let out = nomhub(&[
        "demo",
        "--for",
        "4s",
        "--every",
        "2",
        "--http",
        "127.0.0.1:0",
    ])
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = stdout(&out);
    for line in [
        "inverter (online)",
        "grid (online)",
        "heat_pump (online)",
        "installations (online)",
        "meter (online)",
        "P1 port on tcp://",
        "tank_temperature",
        "Dashboard: http://127.0.0.1:",
        "(user `demo`, password `",
        "Stopped.",
    ] {
        assert!(text.contains(line), "missing {line:?} in:\n{text}");
    }
}

/// `nomhub sim` offers the smart meter's P1 port; `nomhub p1 read` reads it as an
/// installer would, and says plainly when a port sends damaged telegrams.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p1_read_reads_the_simulated_meter_and_names_what_it_drops() {
    use tokio::io::{AsyncBufReadExt, BufReader};
    for (fault, good) in [(None, true), (Some("bad-crc"), false)] {
        let mut args = vec!["sim", "--port", "0", "--p1-port", "0"];
        if let Some(f) = fault {
            args.extend(["--p1-fault", f]);
        }
        let mut sim = Command::new(NOMHUB)
            .args(&args)
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(sim.stdout.take().unwrap()).lines();
        let addr = loop {
            let line = lines
                .next_line()
                .await
                .unwrap()
                .expect("the simulator's address");
            if let Some(rest) = line.split("P1 port on tcp://").nth(1) {
                break rest.split_whitespace().next().unwrap().to_owned();
            }
        };
        let out = nomhub(&[
            "p1",
            "read",
            "--tcp",
            &addr,
            "--count",
            "2",
            "--timeout",
            "6s",
            "--json",
        ])
        .await;
        let text = stdout(&out);
        assert_eq!(out.status.success(), good, "{text}");
        let last: serde_json::Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
        let counts = &last["counts"];
        if good {
            assert_eq!(counts["telegrams"], 2, "{text}");
            let first: serde_json::Value =
                serde_json::from_str(text.lines().next().unwrap()).unwrap();
            // The simulated SDM630 starts at 12 345.6 kWh imported, split over T1 and T2.
            let import: i64 = first["import_wh"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_i64().unwrap())
                .sum();
            assert!((12_345_600..12_400_000).contains(&import), "{first}");
        } else {
            assert_eq!(counts["telegrams"], 0, "{text}");
            assert!(counts["bad_crc"].as_u64().unwrap() >= 2, "{text}");
            let errors = String::from_utf8_lossy(&out.stderr);
            assert!(errors.contains("dropped a telegram: CRC"), "{errors}");
        }
        sim.kill().await.unwrap();
    }
}
