//! Shared test helpers: buses against the simulator, fixtures, polling until a condition.
#![allow(dead_code, clippy::unwrap_used)]

pub mod browser;
pub mod mqtt;
pub mod web;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use nomhub::modbus::{BusHandle, BusSettings, Transport, bus};
use nomhub::model::BusId;
use nomhub::sim::fixture::Fixture;
use nomhub::sim::{self, Bank, SimHandle, SimOptions};
use tokio_util::sync::CancellationToken;

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs `openssl` with `args` in `dir` (certificates for the TLS tests); fails loudly
/// when it is missing.
pub fn openssl(dir: &std::path::Path, args: &[&str]) {
    let out = std::process::Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("openssl is not installed: `sudo apt-get install -y openssl`");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// In `dir`: a CA of its own (`ca.pem`, `ca.key`, named `ca_name`) and a server
/// certificate it signed (`server.pem`, `server.key`) with `subject` and the X.509 v3
/// extensions in `ext` (openssl's extfile lines).
pub fn certificates(dir: &std::path::Path, ca_name: &str, subject: &str, ext: &str) {
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let ca_subject = format!("/CN={ca_name}");
    openssl(
        dir,
        &[
            &["req", "-x509"][..],
            &ec,
            &[
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
                "-days",
                "2",
                "-subj",
                &ca_subject,
            ],
        ]
        .concat(),
    );
    openssl(
        dir,
        &[
            &["req"][..],
            &ec,
            &[
                "-keyout",
                "server.key",
                "-out",
                "server.csr",
                "-subj",
                subject,
            ],
        ]
        .concat(),
    );
    std::fs::write(dir.join("server.ext"), ext).unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.pem",
            "-days",
            "2",
            "-extfile",
            "server.ext",
        ],
    );
}

/// A free TCP port on loopback (free when asked; a test binds it soon after).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A bus actor to `addr` with a short timeout and backoff, as tests want.
pub fn tcp_bus(addr: SocketAddr, cancel: &CancellationToken) -> BusHandle {
    let mut s = BusSettings::new(
        BusId::new("test").unwrap(),
        Transport::Tcp {
            host: addr.ip().to_string(),
            port: addr.port(),
        },
    );
    s.timeout = Duration::from_millis(300);
    s.backoff_max = Duration::from_millis(500);
    bus::spawn(s, cancel.clone())
}

/// Every fixture under tests/fixtures/registers, with its file name.
pub fn fixtures() -> Vec<(String, Fixture)> {
    let dir = root().join("tests/fixtures/registers");
    let mut out: Vec<(String, Fixture)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap();
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            let f = Fixture::parse(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
            (name, f)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// Serves one fixture's unit image on a free loopback port.
pub async fn serve_fixture(f: &Fixture, cancel: &CancellationToken) -> SocketAddr {
    let bank = Bank::default();
    bank.insert(f.unit, f.image().unwrap());
    sim::serve_bank(bank, cancel.clone()).await.unwrap()
}

/// The simulated dwelling, frozen (speed 0) unless `speed` says otherwise.
pub async fn dwelling(speed: f64, cancel: &CancellationToken) -> SimHandle {
    dwelling_at(speed, SimOptions::default().start, cancel).await
}

/// The simulated dwelling from `start` (simulated time).
pub async fn dwelling_at(
    speed: f64,
    start: chrono::DateTime<chrono::Utc>,
    cancel: &CancellationToken,
) -> SimHandle {
    let opts = SimOptions {
        speed,
        start,
        tick: Duration::from_millis(50),
        ..SimOptions::default()
    };
    sim::start(opts, cancel.clone()).await.unwrap()
}

/// Polls `f` every 50 ms until it returns Some, or panics after `secs` seconds with `what`.
pub async fn eventually<T, F, Fut>(secs: u64, what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Runs the nomhub binary and waits for it (for tests with no simulator in-process).
pub fn nomhub(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_nomhub"))
        .args(args)
        .output()
        .unwrap()
}

/// Runs the nomhub binary, which must succeed; its output.
pub fn nomhub_ok(args: &[&str]) -> std::process::Output {
    let out = nomhub(args);
    assert!(
        out.status.success(),
        "nomhub {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Starts `nomhub run --config CONFIG` in the background, its log piped.
pub fn daemon(config: &std::path::Path) -> std::process::Child {
    std::process::Command::new(env!("CARGO_BIN_EXE_nomhub"))
        .args(["run", "--config"])
        .arg(config)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

/// Stops a [`daemon`] with SIGTERM; it must exit cleanly. Returns its log.
pub fn sigterm(child: std::process::Child) -> String {
    let status = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    let log = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success(),
        "nomhub run failed:
{log}"
    );
    log
}

/// Runs the nomhub binary, which must succeed, and parses its standard output as JSON.
pub fn nomhub_json_sync(args: &[&str]) -> serde_json::Value {
    serde_json::from_slice(&nomhub_ok(args).stdout).unwrap()
}

/// Cases as folders: every folder below `dir` (at least `min`, in name order) is handed
/// with its name to `got`, whose text must equal the folder's `expected.err`
/// (`NOMHUB_BLESS=1` rewrites the files instead; review the diff).
pub fn folder_cases(dir: &str, min: usize, got: impl Fn(&str, &std::path::Path) -> String) {
    let dir = root().join(dir);
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert!(names.len() >= min, "{names:?}");
    let bless = std::env::var_os("NOMHUB_BLESS").is_some();
    for name in names {
        let case = dir.join(&name);
        let text = got(&name, &case);
        let expected = case.join("expected.err");
        if bless {
            std::fs::write(&expected, &text).unwrap();
        }
        let want = std::fs::read_to_string(&expected).unwrap();
        assert_eq!(
            text, want,
            "case {name} (NOMHUB_BLESS=1 rewrites expected.err; review the diff)"
        );
    }
}

/// Starts `socat` linking two pseudo-terminals at `a` and `b` (a serial line for the
/// RTU and P1 tests); killed when dropped.
#[allow(dead_code)] // not every test binary uses every helper
pub async fn pty_pair(a: &std::path::Path, b: &std::path::Path) -> tokio::process::Child {
    let child = tokio::process::Command::new("socat")
        .arg(format!("pty,raw,echo=0,link={}", a.display()))
        .arg(format!("pty,raw,echo=0,link={}", b.display()))
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("socat is needed for the serial-line tests ({e}); install it with: sudo apt-get install -y socat (./test.sh does this)"));
    eventually(5, "socat's pseudo-terminals", || {
        let ready = a.exists() && b.exists();
        async move { ready.then_some(()) }
    })
    .await;
    child
}

/// The grid import a ledger store booked, Wh, every day of it.
#[allow(dead_code)]
pub fn booked_import(setup: nomhub::config::LedgerSetup) -> i64 {
    nomhub::ledger::Ledger::open(setup)
        .unwrap()
        .sum(
            &[nomhub::ledger::Series::GridImport],
            chrono::NaiveDate::MIN,
            chrono::NaiveDate::MAX - chrono::Days::new(2),
        )
        .unwrap()
        .wh
}
