//! The P1 reader against the simulated dwelling's smart meter: over TCP (as ser2net
//! serves a P1 cable) and over a serial line (a `socat` pseudo-terminal pair), every
//! telegram checked; each fault of a real port counted and dropped, never read.

#![allow(clippy::unwrap_used)] // test code may panic

mod support;

use std::time::Duration;

use nomhub::modbus::{DataType, RegisterKind, WordOrder, decode};
use nomhub::p1::source::{self, Counts, Event, Source};
use nomhub::sim::p1::P1Fault;
use nomhub::sim::{Bank, UNIT_GRID_METER};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// The simulated SDM630's grid import, Wh, as its registers hold it.
fn sdm_import_wh(bank: &Bank) -> i64 {
    let units = bank.lock();
    let g = units.get(&UNIT_GRID_METER).unwrap();
    let words = [
        g.get(RegisterKind::Input, 0x48).unwrap(),
        g.get(RegisterKind::Input, 0x49).unwrap(),
    ];
    let kwh = decode(&words, DataType::F32, WordOrder::ABCD)
        .unwrap()
        .as_f64()
        .unwrap();
    (kwh * 1000.0).round() as i64
}

/// Events for `secs` seconds, counted.
async fn collect(rx: &mut mpsc::Receiver<Event>, secs: f64) -> (Vec<Event>, Counts) {
    let mut events = Vec::new();
    let mut counts = Counts::default();
    let until = tokio::time::Instant::now() + Duration::from_secs_f64(secs);
    while let Ok(Some(e)) = tokio::time::timeout_at(until, rx.recv()).await {
        counts.count(&e);
        events.push(e);
    }
    (events, counts)
}

fn readings(events: &[Event]) -> Vec<&nomhub::p1::Reading> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Reading(r) => Some(r.as_ref()),
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn telegrams_over_tcp_read_as_the_grid_meter_counts_and_faults_are_dropped() {
    let cancel = CancellationToken::new();
    // Frozen, so the telegram and the SDM630 can be compared to the Wh.
    let sim = support::dwelling_at(0.0, nomhub::sim::dwelling::today_at(12), &cancel).await;
    let (port, addr) =
        nomhub::sim::p1::start(sim.bank.clone(), Duration::from_millis(100), &cancel)
            .await
            .unwrap();
    let (tx, mut rx) = mpsc::channel(64);
    tokio::spawn(source::run(
        Source::Tcp(addr.to_string()),
        tx,
        cancel.clone(),
    ));

    let (events, counts) = collect(&mut rx, 1.5).await;
    assert_eq!(events.first(), Some(&Event::Link(true)));
    assert!(counts.telegrams >= 5, "{counts:?}");
    assert_eq!(
        (counts.bad_crc, counts.invalid, counts.cut),
        (0, 0, 0),
        "{counts:?}"
    );
    let last = *readings(&events).last().unwrap();
    assert_eq!(last.import_total_wh(), Some(sdm_import_wh(&sim.bank)));
    assert_eq!(
        last.tariff,
        Some(nomhub::sim::p1::tariff_at(sim.bank.now()) as u8)
    );

    // Each fault: nothing read while it lasts, and counted by why.
    for fault in [
        P1Fault::BadCrc,
        P1Fault::Cut,
        P1Fault::Garbage,
        P1Fault::Silent,
    ] {
        port.set_fault(Some(fault));
        // What was on its way before the fault came.
        collect(&mut rx, 0.3).await;
        let (events, counts) = collect(&mut rx, 1.0).await;
        assert!(readings(&events).is_empty(), "{fault:?}: {counts:?}");
        let seen = match fault {
            P1Fault::BadCrc => counts.bad_crc,
            P1Fault::Cut => counts.cut,
            P1Fault::Garbage => counts.garbage_bytes,
            _ => u64::from(events.is_empty()),
        };
        assert!(seen > 0, "{fault:?}: {counts:?}");
    }
    // A counter that goes back is a good telegram: the reader hands it on, and the
    // counter guard behind it (as for every meter) refuses to book it.
    port.set_fault(Some(P1Fault::CounterBack));
    collect(&mut rx, 0.3).await;
    let (events, _) = collect(&mut rx, 0.5).await;
    let back = readings(&events)[0].import_total_wh().unwrap();
    assert_eq!(back, sdm_import_wh(&sim.bank) - 1000);
    // And back to good.
    port.set_fault(None);
    collect(&mut rx, 0.3).await;
    let (events, counts) = collect(&mut rx, 0.5).await;
    assert!(counts.telegrams >= 2, "{counts:?}");
    assert_eq!(
        readings(&events)[0].import_total_wh(),
        Some(sdm_import_wh(&sim.bank))
    );
    cancel.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn telegrams_over_a_serial_line() {
    let dir = tempfile::tempdir().unwrap();
    let (meter, host) = (dir.path().join("meter"), dir.path().join("host"));
    let _socat = support::pty_pair(&meter, &host).await;
    let cancel = CancellationToken::new();
    let sim = support::dwelling_at(60.0, nomhub::sim::dwelling::today_at(12), &cancel).await;
    let port = nomhub::sim::p1::P1Port::new(sim.bank.clone());
    tokio::spawn(port.clone().run(Duration::from_millis(200), cancel.clone()));
    let writer = port.write_serial(meter.display().to_string(), cancel.clone());
    tokio::spawn(async move { writer.await.unwrap() });
    let (tx, mut rx) = mpsc::channel(64);
    let serial = Source::Serial {
        path: host.display().to_string(),
        dsmr22: false,
    };
    tokio::spawn(source::run(serial, tx, cancel.clone()));
    let (events, counts) = collect(&mut rx, 2.0).await;
    assert!(counts.telegrams >= 4, "{counts:?}");
    assert_eq!((counts.bad_crc, counts.invalid), (0, 0), "{counts:?}");
    // The dwelling runs: the counters only go up.
    let imports: Vec<i64> = readings(&events)
        .iter()
        .filter_map(|r| r.import_total_wh())
        .collect();
    assert!(imports.windows(2).all(|w| w[0] <= w[1]), "{imports:?}");
    cancel.cancel();
}

/// The P1 meter as the grid meter of record in nomhub itself: its points in the
/// snapshot beside the SDM630's, the ledger booking the grid from it, and through every
/// fault of its port the ledger equal to the telegrams' counters to the Wh.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ledger_books_the_grid_from_p1_exactly_through_every_fault() {
    use nomhub::app;
    let cancel = CancellationToken::new();
    // Midday at 120x: the house imports and exports, and the counters move.
    let sim = support::dwelling_at(120.0, nomhub::sim::dwelling::today_at(12), &cancel).await;
    let (port, p1_addr) =
        nomhub::sim::p1::start(sim.bank.clone(), Duration::from_millis(100), &cancel)
            .await
            .unwrap();
    let store = tempfile::tempdir().unwrap();
    let text = format!(
        r#"
[[bus]]
id = "sim"
type = "tcp"
host = "127.0.0.1"
port = {port}

[[device]]
id = "grid"
profile = "eastron-sdm630"
bus = "sim"
unit = 2
poll = "200ms"

[[device]]
id = "meter"
name = "Smart meter"
profile = "dsmr-p1"
p1 = {{ tcp = "{p1_addr}" }}

[ledger]
store = "{store}"
flush = "1s"
trust_clock = "always"
grid_import = ["meter.import_energy"]
grid_export = ["meter.export_energy"]
"#,
        port = sim.addr.port(),
        store = store.path().display(),
    );
    let cfg = nomhub::config::parse("p1.toml", &text).unwrap();
    let tasks = tokio_util::task::TaskTracker::new();
    let ledger = app::open_ledger(&cfg).unwrap();
    let app = app::start(&cfg, ledger, &nomhub::clock::Clock::System, &tasks, &cancel).unwrap();
    let rx = app.views.snapshot.clone();
    let import = |snap: &nomhub::state::Snapshot, dev: &str| {
        snap.get(dev, "import_energy")
            .and_then(|s| s.value.as_ref().ok().and_then(|v| v.as_f64()))
            .map(|wh| wh as i64)
    };
    let first = support::eventually(10, "the P1 meter's first telegram", || {
        let snap = rx.borrow().clone();
        async move { import(&snap, "meter") }
    })
    .await;
    {
        let snap = rx.borrow().clone();
        assert!(snap.devices["meter"].online);
        // The tariffs add up, and the meter's power is the grid's.
        let t = |k: &str| {
            snap.get("meter", k)
                .unwrap()
                .value
                .as_ref()
                .unwrap()
                .as_f64()
                .unwrap()
        };
        assert_eq!(
            t("import_energy_t1") + t("import_energy_t2"),
            t("import_energy")
        );
        assert!(snap.get("meter", "voltage_l1").unwrap().value.is_ok());
    }
    // Every fault in turn, a second each.
    for fault in [
        P1Fault::BadCrc,
        P1Fault::Cut,
        P1Fault::Garbage,
        P1Fault::CounterBack,
        P1Fault::Silent,
    ] {
        port.set_fault(Some(fault));
        tokio::time::sleep(Duration::from_secs(1)).await;
        let snap = rx.borrow().clone();
        let err = snap.devices["meter"].last_error.clone().unwrap_or_default();
        match fault {
            P1Fault::BadCrc => assert!(err.contains("CRC"), "{err}"),
            P1Fault::Cut => assert!(err.contains("cut off"), "{err}"),
            P1Fault::Garbage => assert!(err.contains("outside any telegram"), "{err}"),
            _ => {}
        }
        port.set_fault(None);
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    // The dwelling stops; the ledger books up to the meter's last telegram.
    sim.bank.set_paused(true);
    let last = support::eventually(10, "the P1 meter still", || {
        let rx = rx.clone();
        async move {
            let a = import(&rx.borrow(), "meter");
            tokio::time::sleep(Duration::from_millis(500)).await;
            a.filter(|a| Some(*a) == import(&rx.borrow(), "meter"))
        }
    })
    .await;
    assert!(last > first, "the house imported nothing");
    // The smart meter and the SDM630 agree on the grid (both count the same wire).
    let sdm = import(&rx.borrow(), "grid").unwrap();
    assert!((sdm - last).abs() <= 2, "SDM630 {sdm} Wh, P1 {last} Wh");
    cancel.cancel();
    tasks.close();
    tasks.wait().await;
    drop(app);
    let booked = support::booked_import(cfg.ledger.clone().unwrap());
    assert_eq!(
        booked,
        last - first,
        "booked {booked} of {first} → {last} Wh"
    );
}

/// A HomeWizard Wi-Fi P1 meter's local API, on a loopback server in its shape: its
/// answers read like telegrams, a 403 (the API switched off) and a broken answer are
/// told apart, and the counters move on between answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_homewizard_p1_meter_over_its_local_api() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};
    use warp::Filter;
    let fixture =
        std::fs::read_to_string(support::root().join("tests/fixtures/p1/homewizard-v1-data.json"))
            .unwrap();
    let asked = Arc::new(AtomicU32::new(0));
    let counter = asked.clone();
    // Answers 1–3 good (the import rising a Wh each time), 4 broken, 5–6 refused (403),
    // then good again.
    let route = warp::path!("api" / "v1" / "data").map(move || {
        let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
        let body = fixture.replace(
            "10830.511",
            &format!("{:.3}", 10830.511 + f64::from(n) / 1000.0),
        );
        match n {
            4 => warp::http::Response::builder()
                .status(200)
                .body("{\"total_power_import_t1_kwh\": -5}".to_owned()),
            5 | 6 => warp::http::Response::builder()
                .status(403)
                .body("{\"error\":\"api disabled\"}".to_owned()),
            _ => warp::http::Response::builder().status(200).body(body),
        }
        .unwrap()
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let cancel = CancellationToken::new();
    let stop = cancel.clone();
    tokio::spawn(
        warp::serve(route)
            .incoming(listener)
            .graceful(async move { stop.cancelled().await })
            .run(),
    );
    let (tx, mut rx) = mpsc::channel(64);
    tokio::spawn(source::run(
        Source::HomeWizard(source::HomeWizard {
            url: format!("http://{addr}"),
            v2: None,
        }),
        tx,
        cancel.clone(),
    ));
    // Six answers and the backoff after the refusals (1 s, 2 s), then good ones again.
    let (events, counts) = collect(&mut rx, 8.0).await;
    cancel.cancel();
    let imports: Vec<i64> = readings(&events)
        .iter()
        .map(|r| r.import_wh[0].unwrap())
        .collect();
    assert_eq!(
        &imports[..3],
        &[10_830_512, 10_830_513, 10_830_514],
        "{events:?}"
    );
    assert!(
        imports.len() >= 4,
        "good again after the refusals: {imports:?}"
    );
    assert_eq!(counts.invalid, 1, "the negative counter: {counts:?}");
    assert!(events.contains(&Event::Link(false)), "the 403s");
    let r = readings(&events)[0];
    assert_eq!((r.tariff, r.grid_w()), (Some(2), Some(-543.0)));
}

/// In `dir`: a CA of its own and, signed by it, a device certificate named the way
/// HomeWizard names its devices (no name the address could match).
fn device_certificates(dir: &std::path::Path, ca: &str) {
    support::certificates(
        dir,
        ca,
        "/CN=appliance\\/p1dongle\\/5c2fafaabbcc",
        "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n",
    );
}

const TOKEN: &str = "0123456789ABCDEF0123456789ABCDEF";

/// The nomhub binary with `args`, off the test's async threads (it talks to a server
/// they run).
async fn run_nomhub(args: &[&str]) -> std::process::Output {
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        support::nomhub(&args)
    })
    .await
    .unwrap()
}

/// A HomeWizard P1 meter's local API version 2 on loopback: HTTPS with `dir`'s device
/// certificate; `POST /api/user` refuses once (the button not yet pressed), then hands
/// out [`TOKEN`]; `GET /api/measurement` answers the fixture to that token only.
async fn homewizard_v2(dir: &std::path::Path, cancel: &CancellationToken) -> std::net::SocketAddr {
    use hyper::{Request, Response, StatusCode};
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};
    let certs: Vec<_> = CertificateDer::pem_file_iter(dir.join("server.pem"))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let key = PrivateKeyDer::from_pem_file(dir.join("server.key")).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let measurement = std::fs::read_to_string(
        support::root().join("tests/fixtures/p1/homewizard-v2-measurement.json"),
    )
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let pairings = Arc::new(AtomicU32::new(0));
    let cancel = cancel.clone();
    tokio::spawn(async move {
        loop {
            let (tcp, _) = tokio::select! {
                () = cancel.cancelled() => return,
                a = listener.accept() => a.unwrap(),
            };
            let (acceptor, measurement, pairings) =
                (acceptor.clone(), measurement.clone(), pairings.clone());
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return; // a client that refused the certificate
                };
                let service =
                    hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                        let v2 = req.headers().get("X-Api-Version").is_some_and(|v| v == "2");
                        let authorised = req
                            .headers()
                            .get("Authorization")
                            .is_some_and(|v| v.as_bytes() == format!("Bearer {TOKEN}").as_bytes());
                        let (status, body) = match (req.method().as_str(), req.uri().path()) {
                            ("POST", "/api/user") if v2 => {
                                if pairings.fetch_add(1, Ordering::SeqCst) == 0 {
                                    (
                                        StatusCode::FORBIDDEN,
                                        r#"{"error":"user:creation-not-enabled"}"#.to_owned(),
                                    )
                                } else {
                                    (
                                        StatusCode::OK,
                                        format!(r#"{{"token":"{TOKEN}","name":"local/nomhub"}}"#),
                                    )
                                }
                            }
                            ("GET", "/api/measurement") if v2 && authorised => {
                                (StatusCode::OK, measurement.clone())
                            }
                            ("GET", "/api/measurement") => (
                                StatusCode::UNAUTHORIZED,
                                r#"{"error":"user:unauthorized"}"#.to_owned(),
                            ),
                            _ => (StatusCode::NOT_FOUND, "{}".to_owned()),
                        };
                        async move { Response::builder().status(status).body(body) }
                    });
                let io = hyper_util::rt::TokioIo::new(tls);
                if let Err(e) = hyper::server::conn::http1::Builder::new()
                    .serve_connection(io, service)
                    .await
                {
                    eprintln!("test HomeWizard: {e}");
                }
            });
        }
    });
    addr
}

/// Pairing with a HomeWizard P1 meter and reading it over its API version 2: the
/// device's certificate is checked against the CA that signed it (not against its name,
/// which no address matches), a certificate from another CA is refused, and the meter's
/// answers read like telegrams only with the token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_homewizard_p1_meter_over_its_api_version_2_with_a_token() {
    let dir = tempfile::tempdir().unwrap();
    device_certificates(dir.path(), "device-ca");
    // Another CA, which did not sign the device.
    let other = tempfile::tempdir().unwrap();
    device_certificates(other.path(), "other-ca");
    let cancel = CancellationToken::new();
    let addr = homewizard_v2(dir.path(), &cancel).await;
    let url = format!("https://{addr}");
    let ca = dir.path().join("ca.pem");
    let ca = ca.to_str().unwrap();

    // Pairing: refused until the button is pressed, then the token.
    let out = run_nomhub(&[
        "p1",
        "pair",
        "--homewizard",
        &url,
        "--ca",
        ca,
        "--timeout",
        "10s",
    ])
    .await;
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), TOKEN);
    assert!(err.contains("Press the button"), "{err}");

    // Reading with the token: the fixture's counters, as the same reading in v1 gives.
    let (tx, mut rx) = mpsc::channel(64);
    let hw = source::HomeWizard {
        url: url.clone(),
        v2: Some(source::V2 {
            token: TOKEN.to_owned(),
            ca_pem: std::fs::read(dir.path().join("ca.pem")).unwrap(),
        }),
    };
    tokio::spawn(source::run(
        Source::HomeWizard(hw.clone()),
        tx,
        cancel.clone(),
    ));
    let (events, _) = collect(&mut rx, 2.5).await;
    let r = readings(&events);
    assert!(r.len() >= 2, "{events:?}");
    assert_eq!(r[0].import_wh, [Some(10_830_511), Some(2_948_827)]);
    assert_eq!((r[0].tariff, r[0].grid_w()), (Some(2), Some(-543.0)));

    // A wrong token is refused by the meter; a certificate nomhub does not trust, by
    // nomhub: neither reads anything.
    for v2 in [
        source::V2 {
            token: "F".repeat(32),
            ..hw.v2.clone().unwrap()
        },
        source::V2 {
            ca_pem: std::fs::read(other.path().join("ca.pem")).unwrap(),
            ..hw.v2.clone().unwrap()
        },
    ] {
        let (tx, mut rx) = mpsc::channel(64);
        let stop = CancellationToken::new();
        tokio::spawn(source::run(
            Source::HomeWizard(source::HomeWizard {
                url: url.clone(),
                v2: Some(v2),
            }),
            tx,
            stop.clone(),
        ));
        let (events, _) = collect(&mut rx, 1.5).await;
        stop.cancel();
        assert!(readings(&events).is_empty(), "{events:?}");
        assert!(events.contains(&Event::Link(false)), "{events:?}");
    }
    // The CLI says why.
    let bad = "F".repeat(32);
    let out = run_nomhub(&[
        "p1",
        "read",
        "--homewizard",
        &url,
        "--token",
        &bad,
        "--ca",
        ca,
        "--count",
        "1",
        "--timeout",
        "2s",
    ])
    .await;
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cannot read"), "{err}");
    cancel.cancel();
}

/// A meter whose port stays open but sends nothing: after `SILENT_AFTER` without a good
/// telegram, every report says it is unreachable (so the state fold shows it offline
/// after `[hub] offline_after` of them), and it reads nothing. Virtual time.
#[tokio::test(start_paused = true)]
async fn a_silent_p1_meter_is_reported_unreachable() {
    use nomhub::device::PollErrorKind;
    use nomhub::p1::device::{self, SILENT_AFTER};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    // Accepts and keeps the connection, silent.
    tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        std::future::pending::<()>().await;
        drop(tcp);
    });
    let profile = nomhub::profile::ProfileSet::embedded()
        .unwrap()
        .get("dsmr-p1")
        .unwrap()
        .resolve()
        .unwrap();
    let cancel = CancellationToken::new();
    let (tx, mut rx) = mpsc::channel(16);
    let started = tokio::time::Instant::now();
    tokio::spawn(device::run(
        nomhub::model::DeviceId::new("meter").unwrap(),
        std::sync::Arc::new(profile),
        Source::Tcp(addr.to_string()),
        nomhub::clock::Clock::System,
        tx,
        cancel.clone(),
    ));
    for n in 1..=3u32 {
        let report = rx.recv().await.unwrap();
        let e = report.error.expect("a silent meter's report is an error");
        assert_eq!(e.kind, PollErrorKind::Unreachable, "{}", e.text);
        assert!(e.text.contains("no telegram from tcp"), "{}", e.text);
        assert!(report.samples.is_empty());
        assert!(
            started.elapsed() >= SILENT_AFTER * n,
            "report {n} too early"
        );
    }
    cancel.cancel();
}
