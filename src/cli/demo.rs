//! `nomhub demo`: the simulated dwelling, polled, booked, published to an embedded (or
//! given) broker and served on the dashboard, with the live values printed.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config;
use crate::sim::{self, SimOptions};

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Simulated seconds per real second.
    #[arg(long, default_value_t = 60.0)]
    pub speed: f64,
    /// Port for the simulator (0 = any free port).
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    /// Stop after this long (e.g. "30s"); runs until Ctrl-C when absent.
    #[arg(long = "for", value_parser = humantime::parse_duration)]
    pub run_for: Option<Duration>,
    /// Seconds between printed tables.
    #[arg(long, default_value_t = 5)]
    pub every: u64,
    /// Keep the demo's ledger in this directory (default: a temporary one, removed at the end).
    #[arg(long)]
    pub store: Option<PathBuf>,
    /// Publish to this MQTT broker for Home Assistant (e.g. 192.168.1.10:1883); without
    /// it the demo embeds a broker on 127.0.0.1:1883 (or a free port when that is taken).
    #[arg(long, value_name = "HOST:PORT")]
    pub mqtt: Option<String>,
    /// Serve the dashboard on this address (port 0: any free port).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    pub http: std::net::SocketAddr,
}

/// The demo's one "manual".
const DEMO_MANUAL: &str = "nomhub demo\n\nIn een echte woning staan hier de handleidingen van de warmtepomp, de omvormer en\nde ventilatie: de installateur zet ze in de map die [dwelling] manuals noemt.\n\nIn a real home the manuals of the heat pump, the inverter and the ventilation are\nlisted here: the installer puts them in the folder [dwelling] manuals names.\n";

pub(super) async fn demo(args: DemoArgs) -> anyhow::Result<ExitCode> {
    let cancel = CancellationToken::new();
    let opts = SimOptions {
        listen: ([127, 0, 0, 1], args.port).into(),
        speed: args.speed,
        ..SimOptions::default()
    };
    let start = opts.start;
    // The dwelling outlives nomhub, so nomhub can hand the heat pump back at the end.
    let sim_cancel = CancellationToken::new();
    let handle = sim::start(opts, sim_cancel.clone()).await?;
    let store = match &args.store {
        Some(dir) => dir.clone(),
        None => std::env::temp_dir().join(format!("nomhub-demo-{}", std::process::id())),
    };
    // The dwelling's smart meter on its P1 port, as ser2net would serve it.
    let (_, p1) = sim::p1::start(
        handle.bank.clone(),
        std::time::Duration::from_secs(1),
        &sim_cancel,
    )
    .await?;
    let mut config = match config::demo_with_p1(handle.addr.port(), p1, &store) {
        Ok(c) => c,
        Err(r) => {
            eprintln!("{r}");
            return Ok(ExitCode::from(2));
        }
    };
    // A manuals folder with a note, so the Dwelling page shows how documents appear.
    let manuals = PathBuf::from(format!("{}-manuals", store.display()));
    std::fs::create_dir_all(&manuals)?;
    std::fs::write(manuals.join("lees-mij-read-me.txt"), DEMO_MANUAL)?;
    config.home.manuals = Some(manuals.clone());
    let (host, port) = match &args.mqtt {
        Some(broker) => match broker.rsplit_once(':') {
            Some((h, p)) => (
                h.to_owned(),
                p.parse()
                    .map_err(|e| anyhow::anyhow!("--mqtt {broker}: bad port: {e}"))?,
            ),
            None => (broker.clone(), 1883),
        },
        None => {
            let addr = embedded_broker()?;
            println!(
                "MQTT: an embedded broker on {addr} (loopback, for the demo; --mqtt HOST:PORT uses yours)."
            );
            (addr.ip().to_string(), addr.port())
        }
    };
    config.mqtt = Some(config::MqttSetup::plain(&host, port));
    println!(
        "Home Assistant: publishing to mqtt://{host}:{port}; watch with (Debian: apt-get install mosquitto-clients)\n  mosquitto_sub -h {host} -p {port} -t 'homeassistant/device/#' -t 'nomhub/#' -v\n"
    );
    println!(
        "nomhub demo: a simulated dwelling on modbus tcp://{} (units 1 inverter, 2 grid meter, 3 installations meter, 4 heat pump) and its smart meter's P1 port on tcp://{p1} (the grid meter of record)",
        handle.addr
    );
    println!(
        "Simulated time runs {}x real time. Stop with Ctrl-C.\n",
        args.speed
    );
    let mut opened = crate::app::open_ledger(&config)?;
    if let Some(l) = &mut opened {
        let days = crate::sim::history::seed(l, start)?;
        println!(
            "Ledger in {} ({} days of simulated history before today).\n",
            store.display(),
            days
        );
    }
    let clock = crate::clock::Clock::scaled(start.into(), args.speed);
    // Simulated day-ahead prices, fetched like EnergyZero's.
    let prices = crate::sim::prices::serve(clock.clone(), sim_cancel.clone()).await?;
    config.prices = Some(config::tariff::EnergyZero {
        url: format!("http://{prices}/public/v1/prices"),
    });
    let tasks = TaskTracker::new();
    config.web = Some(config::WebSetup {
        listen: args.http,
        auth: config::Auth::Users,
        metrics: true,
    });
    let started = crate::app::start(&config, opened, &clock, &tasks, &cancel)
        .map_err(|e| anyhow::anyhow!("{e}; choose another address with --http 127.0.0.1:PORT"));
    let app = match started.and_then(|app| demo_user(&app).map(|()| app)) {
        Ok(app) => app,
        Err(e) => {
            cancel.cancel();
            tasks.close();
            tasks.wait().await;
            sim_cancel.cancel();
            return Err(e);
        }
    };
    let mut snapshot = app.views.snapshot.clone();
    let ledger = app.views.ledger_changes();
    let every = Duration::from_secs(args.every.max(1));
    let printer = tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.tick().await;
        loop {
            tick.tick().await;
            if snapshot.has_changed().is_err() {
                return;
            }
            let snap = snapshot.borrow_and_update().clone();
            let now =
                chrono::DateTime::<chrono::Utc>::from(clock.now()).with_timezone(&crate::clock::TZ);
            println!("simulated time {}", now.format("%Y-%m-%d %H:%M"));
            println!("{}", super::devices::render_snapshot(&snap));
            if let Some(status) = ledger.as_ref().map(|l| l.borrow().clone()) {
                let shown: Vec<_> = status
                    .positions
                    .iter()
                    .filter(|p| super::ledger::demo_periods(p))
                    .cloned()
                    .collect();
                println!("{}", super::ledger::render_positions(&shown));
                if let Some(f) = &status.forecast {
                    println!("{}", super::ledger::render_forecast(f));
                }
            }
        }
    });
    let stop = super::run::serve(&app, &tasks, &cancel, args.run_for).await;
    printer.abort();
    sim_cancel.cancel();
    if args.store.is_none() {
        for dir in [&store, &manuals] {
            if let Err(e) = std::fs::remove_dir_all(dir) {
                tracing::warn!(dir = %dir.display(), error = %e, "Cannot remove the demo's files.");
            }
        }
    }
    println!("Stopped.");
    Ok(stop)
}

/// The demo's own broker: on the usual port 1883 when it is free, else on any free port.
fn embedded_broker() -> anyhow::Result<std::net::SocketAddr> {
    let usual = std::net::SocketAddr::from(([127, 0, 0, 1], 1883));
    match crate::mqtt::broker::start(usual) {
        Err(crate::mqtt::broker::BrokerError::Listen { .. }) => {
            Ok(crate::mqtt::broker::start(([127, 0, 0, 1], 0).into())?)
        }
        other => Ok(other?),
    }
}

/// The demo dashboard's `demo` user, with a new password it prints.
fn demo_user(app: &crate::app::App) -> anyhow::Result<()> {
    let store = app
        .store
        .as_ref()
        .ok_or_else(|| anyhow::anyhow!("the demo config has no ledger store"))?;
    let password = crate::web::session::token()[..16].to_owned();
    let user = "demo";
    match crate::web::users::add(store, user, &password) {
        Err(crate::web::users::UserError::Exists(_)) => {
            crate::web::users::set_password(store, user, &password)?
        }
        other => other?,
    }
    if let Some(addr) = app.web {
        println!("Dashboard: http://{addr}/  (user `{user}`, password `{password}`)\n");
    }
    Ok(())
}
