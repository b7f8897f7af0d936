//! nomhub on the simulated dwelling with its dashboard on a free loopback port.

use std::net::SocketAddr;

use nomhub::app;
use nomhub::config::{Auth, WebSetup};
use nomhub::web;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// The password of the user `anna` that [`start_at`] adds.
pub const PASSWORD: &str = "zonnepanelen-op-het-dak";

/// The manual [`start_polling`] puts in the manuals folder, and its contents.
pub const MANUAL: &str = "Warmtepomp handleiding.pdf";
pub const MANUAL_BYTES: &[u8] = b"%PDF-1.4 handleiding";

pub struct Dashboard {
    pub addr: SocketAddr,
    pub app: app::App,
    pub tasks: TaskTracker,
    pub dir: tempfile::TempDir,
}

/// The dwelling frozen (`speed` 0) or running at `speed`, nomhub on it in-process
/// (polling quickly, for tests) with simulated history before today, the dashboard
/// with `auth`, and a user `anna`.
pub async fn start_at(speed: f64, auth: Auth, cancel: &CancellationToken) -> Dashboard {
    let now = chrono::DateTime::<chrono::Utc>::from(nomhub::clock::now());
    start_polling("200ms", now, speed, auth, cancel).await
}

/// As [`start_at`], the dwelling's day starting at `at`, every device polled every
/// `poll` (the demo's is "2s").
pub async fn start_polling(
    poll: &str,
    at: chrono::DateTime<chrono::Utc>,
    speed: f64,
    auth: Auth,
    cancel: &CancellationToken,
) -> Dashboard {
    start_with(poll, at, speed, auth, cancel).await
}

async fn start_with(
    poll: &str,
    at: chrono::DateTime<chrono::Utc>,
    speed: f64,
    auth: Auth,
    cancel: &CancellationToken,
) -> Dashboard {
    let now = chrono::DateTime::<chrono::Utc>::from(nomhub::clock::now());
    let sim = super::dwelling_at(speed, at, cancel).await;
    let dir = tempfile::tempdir().unwrap();
    let text = nomhub::config::demo_text(sim.addr.port(), dir.path())
        .replace("poll = \"2s\"", &format!("poll = \"{poll}\""));
    let mut cfg = nomhub::config::parse("nomhub.toml", &text).unwrap();
    // The ledger trusts the clock, as on a Pi that NTP has synchronised: what the pages
    // show must not depend on whether this machine's kernel says its clock is.
    cfg.ledger.as_mut().unwrap().trust_clock = nomhub::ledger::setup::TrustClock::Always;
    // Manuals: a PDF, a drawing only a program opens, and a hidden file.
    let manuals = dir.path().join("manuals");
    std::fs::create_dir_all(&manuals).unwrap();
    std::fs::write(manuals.join(MANUAL), MANUAL_BYTES).unwrap();
    std::fs::write(manuals.join("schema.dwg"), b"drawing").unwrap();
    std::fs::write(manuals.join(".hidden"), b"not listed").unwrap();
    cfg.home.manuals = Some(manuals);
    // Day-ahead prices as the demo has them: the simulator's, fetched like EnergyZero's.
    let prices = nomhub::sim::prices::serve(nomhub::clock::Clock::System, cancel.clone())
        .await
        .unwrap();
    cfg.prices = Some(nomhub::config::tariff::EnergyZero {
        url: format!("http://{prices}/public/v1/prices"),
    });
    let tasks = TaskTracker::new();
    let mut ledger = app::open_ledger(&cfg).unwrap();
    // The months before today, as the demo has them.
    nomhub::sim::history::seed(ledger.as_mut().unwrap(), now).unwrap();
    cfg.web = Some(WebSetup {
        listen: ([127, 0, 0, 1], 0).into(),
        auth,
        metrics: true,
    });
    let app = app::start(&cfg, ledger, &nomhub::clock::Clock::System, &tasks, cancel).unwrap();
    web::users::add(app.store.as_ref().unwrap(), "anna", PASSWORD).unwrap();
    // The pages show bundles once the ledger has reported.
    let mut ledger = app.views.ledger_changes().unwrap();
    tokio::time::timeout(
        std::time::Duration::from_secs(20),
        ledger.wait_for(|s| s.at.is_some()),
    )
    .await
    .expect("the ledger reports within 20 s")
    .unwrap();
    let addr = app.web.unwrap();
    Dashboard {
        addr,
        app,
        tasks,
        dir,
    }
}
