//! The command line: the demo, the simulator, and the installer's tools.

mod ledger;
mod simulate;
mod user;

use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use serde_json::json;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config;
use crate::device::{DeviceSpec, Poller, poller, sunspec};
use crate::modbus::{
    BusHandle, BusSettings, DataType, Op, Raw, RegisterKind, Transport, WordOrder, bus, decode,
    encode,
};
use crate::model::BusId;
use crate::profile::{ProfileSet, plan_tiers};
use crate::sim::{self, Fault, SimOptions};
use crate::state::Snapshot;

#[derive(Debug, Parser)]
#[command(
    name = "nomhub",
    version,
    about = "Local hub for Nul op de Meter homes"
)]
pub struct Cli {
    /// More log output (-v debug, -vv trace); RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the simulated dwelling and poll it with the shipped profiles (no hardware needed).
    Demo(DemoArgs),
    /// Run only the simulated dwelling as a Modbus TCP server, for other tools to talk to.
    Sim(SimArgs),
    /// Run nomhub against real devices.
    Run {
        #[arg(long)]
        config: PathBuf,
    },
    /// Check a configuration file and report every problem (exit 0 when fine, 2 when not).
    CheckConfig { file: PathBuf },
    /// Print the example configuration with every key and its default.
    PrintConfig,
    /// List the built-in device profiles and their poll plans.
    Profiles {
        #[arg(long)]
        json: bool,
        /// Profiles from this directory instead of the built-in ones.
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Installer's Modbus tools.
    #[command(subcommand)]
    Modbus(ModbusCommand),
    /// Check the configured devices.
    #[command(subcommand)]
    Devices(DevicesCommand),
    /// The energy bundle: derive bundles from a dwelling's figures.
    #[command(subcommand)]
    Bundle(ledger::BundleCommand),
    /// The ledger: where the bundles stand, history, export and import.
    #[command(subcommand)]
    Ledger(ledger::LedgerCommand),
    /// Backtest a hot-water strategy over a year file against the tank and heat pump model.
    Simulate(simulate::SimulateArgs),
    /// The dashboard's users.
    #[command(subcommand)]
    User(user::UserCommand),
}

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

#[derive(Debug, Args)]
pub struct SimArgs {
    #[arg(long, default_value_t = 5020)]
    pub port: u16,
    /// Address to listen on (loopback by default).
    #[arg(long, default_value = "127.0.0.1")]
    pub bind: std::net::IpAddr,
    /// Simulated seconds per real second; 0 freezes the dwelling.
    #[arg(long, default_value_t = 60.0)]
    pub speed: f64,
    /// Local hour of today the simulation starts at.
    #[arg(long, default_value_t = 10)]
    pub start_hour: u32,
    /// A fault to switch on, as UNIT=FAULT (silent, exception, garbage, counter_backwards).
    #[arg(long)]
    pub fault: Vec<String>,
    /// Serve Modbus RTU on this serial port instead of TCP (e.g. an RS485 adapter).
    #[arg(long)]
    pub serial: Option<String>,
    #[arg(long, default_value_t = 9600)]
    pub baud: u32,
}

#[derive(Debug, Args, Clone)]
pub struct Target {
    /// TCP host of the device or gateway.
    #[arg(long, conflicts_with = "serial")]
    pub host: Option<String>,
    #[arg(long, default_value_t = 502)]
    pub port: u16,
    /// Serial device for RTU, e.g. /dev/ttyUSB0.
    #[arg(long)]
    pub serial: Option<String>,
    #[arg(long, default_value_t = 9600)]
    pub baud: u32,
    /// Per-request timeout.
    #[arg(long, default_value = "1s", value_parser = humantime::parse_duration)]
    pub timeout: Duration,
}

#[derive(Debug, Args, Clone)]
pub struct RegisterArgs {
    #[arg(long, default_value_t = 1)]
    pub unit: u8,
    /// holding, input, coil or discrete.
    #[arg(long, default_value = "holding")]
    pub register: RegisterKind,
    /// Wire (0-based) address.
    #[arg(long)]
    pub address: u16,
    /// u16, i16, u32, i32, u64, f32, string or bool.
    #[arg(long = "type", default_value = "u16")]
    pub ty: DataType,
    /// ABCD, CDAB, BADC or DCBA.
    #[arg(long, default_value = "ABCD")]
    pub word_order: WordOrder,
    /// Registers of a string.
    #[arg(long, default_value_t = 8)]
    pub length: u16,
    /// Multiply the raw value by this.
    #[arg(long, default_value_t = 1.0)]
    pub scale: f64,
}

#[derive(Debug, Subcommand)]
pub enum ModbusCommand {
    /// Read and decode registers.
    Read {
        #[command(flatten)]
        target: Target,
        #[command(flatten)]
        reg: RegisterArgs,
        /// Read this many consecutive values.
        #[arg(long, default_value_t = 1)]
        count: u16,
        #[arg(long)]
        json: bool,
    },
    /// Write a value (asks for confirmation unless --yes).
    Write {
        #[command(flatten)]
        target: Target,
        #[command(flatten)]
        reg: RegisterArgs,
        /// The value in engineering units (divided by --scale before encoding).
        #[arg(long, allow_hyphen_values = true)]
        value: f64,
        #[arg(long)]
        yes: bool,
        #[arg(long)]
        json: bool,
    },
    /// Find the unit ids that answer, and SunSpec devices with their models.
    Scan {
        #[command(flatten)]
        target: Target,
        /// Units to try, e.g. "1-10" or "1,2,126".
        #[arg(long, default_value = "1-247")]
        units: String,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum DevicesCommand {
    /// Poll every configured device once and print its values and errors.
    Check {
        #[arg(long)]
        config: PathBuf,
        #[arg(long)]
        json: bool,
    },
}

/// Runs a parsed command line.
pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Demo(args) => demo(args).await,
        Command::Sim(args) => run_sim(args).await,
        Command::Run { config } => run_config(&config).await,
        Command::CheckConfig { file } => Ok(match config::load(&file) {
            Ok(c) => {
                for w in &c.warnings {
                    eprintln!("warning: {w}");
                }
                let sections = [
                    (c.ledger.is_some(), ", ledger"),
                    (c.mqtt.is_some(), ", mqtt"),
                    (c.control.is_some(), ", control"),
                    (c.web.is_some(), ", web"),
                ];
                let with: String = sections
                    .iter()
                    .filter(|(on, _)| *on)
                    .map(|(_, name)| *name)
                    .collect();
                println!(
                    "{}: ok ({} buses, {} devices{with})",
                    file.display(),
                    c.buses.len(),
                    c.devices.len(),
                );
                ExitCode::SUCCESS
            }
            Err(report) => {
                eprintln!("{report}");
                ExitCode::from(2)
            }
        }),
        Command::PrintConfig => {
            print!("{}", config::EXAMPLE);
            Ok(ExitCode::SUCCESS)
        }
        Command::Profiles { json, dir } => profiles(json, dir),
        Command::Modbus(cmd) => modbus(cmd).await,
        Command::Bundle(cmd) => ledger::bundle(cmd),
        Command::Ledger(cmd) => ledger::ledger(cmd),
        Command::Simulate(args) => simulate::simulate(args),
        Command::User(cmd) => user::run(cmd),
        Command::Devices(DevicesCommand::Check { config, json }) => {
            devices_check(&config, json).await
        }
    }
}

/// The demo's one "manual".
const DEMO_MANUAL: &str = "nomhub demo\n\nIn een echte woning staan hier de handleidingen van de warmtepomp, de omvormer en\nde ventilatie: de installateur zet ze in de map die [dwelling] manuals noemt.\n\nIn a real home the manuals of the heat pump, the inverter and the ventilation are\nlisted here: the installer puts them in the folder [dwelling] manuals names.\n";

async fn demo(args: DemoArgs) -> anyhow::Result<ExitCode> {
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
    let mut config = match config::demo(handle.addr.port(), &store) {
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
        "nomhub demo: a simulated dwelling on modbus tcp://{} (units 1 inverter, 2 grid meter, 3 installations meter, 4 heat pump)",
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
    let tasks = TaskTracker::new();
    let app = crate::app::start(&config, opened, &clock, &tasks, &cancel);
    if let Err(e) = demo_dashboard(&args, &app, &tasks, &cancel) {
        cancel.cancel();
        tasks.close();
        tasks.wait().await;
        sim_cancel.cancel();
        return Err(e);
    }
    let mut snapshot = app.snapshot.clone();
    let ledger = app.ledger.clone();
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
            println!("{}", render_snapshot(&snap));
            if let Some(status) = ledger.as_ref().map(|l| l.borrow().clone()) {
                let shown: Vec<_> = status
                    .positions
                    .iter()
                    .filter(|p| ledger::demo_periods(p))
                    .cloned()
                    .collect();
                println!("{}", ledger::render_positions(&shown));
                if let Some(f) = &status.forecast {
                    println!("{}", ledger::render_forecast(f));
                }
            }
        }
    });
    let stop = serve(&app, &tasks, &cancel, args.run_for).await;
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

/// Runs a started nomhub until it is asked to stop (or a task is given up), telling
/// systemd, then stops every task: control hands the heat pump back, the ledger commits,
/// MQTT says `offline`. The exit code says whether it ended well.
async fn serve(
    app: &crate::app::App,
    tasks: &TaskTracker,
    cancel: &CancellationToken,
    run_for: Option<Duration>,
) -> ExitCode {
    crate::service::ready(app, tasks, cancel);
    let stop = crate::service::wait(app, run_for).await;
    crate::service::stopping();
    cancel.cancel();
    tasks.close();
    if tokio::time::timeout(Duration::from_secs(10), tasks.wait())
        .await
        .is_err()
    {
        tracing::warn!("Some tasks did not stop within 10 s.");
    }
    match stop {
        crate::service::Stop::Asked => ExitCode::SUCCESS,
        crate::service::Stop::Failed(why) => {
            tracing::error!(error = %why, "nomhub stopped because a task failed.");
            eprintln!("error: {why}");
            ExitCode::FAILURE
        }
    }
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

/// The demo's dashboard, with a `demo` user whose new password it prints.
fn demo_dashboard(
    args: &DemoArgs,
    app: &crate::app::App,
    tasks: &TaskTracker,
    cancel: &CancellationToken,
) -> anyhow::Result<()> {
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
    let setup = config::WebSetup {
        listen: args.http,
        auth: config::Auth::Users,
        metrics: true,
    };
    let addr = crate::web::start(
        &setup,
        app.web_feeds(),
        Some(store.clone()),
        tasks,
        cancel.child_token(),
    )
    .map_err(|e| anyhow::anyhow!("{e}; choose another address with --http 127.0.0.1:PORT"))?;
    println!("Dashboard: http://{addr}/  (user `{user}`, password `{password}`)\n");
    Ok(())
}

/// A plain table of every point, grouped by device.
pub fn render_snapshot(snap: &Snapshot) -> String {
    let mut out = String::new();
    let mut last_device = None;
    for ((device, point), sample) in &snap.points {
        if last_device != Some(device) {
            let status = snap.devices.get(device);
            let state = match status {
                Some(s) if s.online => "online".to_owned(),
                Some(s) => format!("OFFLINE: {}", s.last_error.as_deref().unwrap_or("")),
                None => "unknown".to_owned(),
            };
            out.push_str(&format!("{device} ({state})\n"));
            last_device = Some(device);
        }
        let value = match &sample.value {
            Ok(v) => v.to_string(),
            Err(e) => format!("unavailable ({})", unavailable_text(e)),
        };
        out.push_str(&format!("  {:<28} {value}\n", point.as_str()));
    }
    out
}

fn unavailable_text(e: &crate::model::Unavailable) -> String {
    use crate::model::Unavailable::*;
    match e {
        NotImplemented => "not implemented by the device".to_owned(),
        PollFailed(s) | Rejected(s) => s.clone(),
    }
}

async fn run_sim(args: SimArgs) -> anyhow::Result<ExitCode> {
    let cancel = CancellationToken::new();
    let faults: Vec<(u8, Fault)> = args
        .fault
        .iter()
        .map(|f| {
            let (u, k) = f
                .split_once('=')
                .ok_or_else(|| anyhow::anyhow!("--fault {f}: write UNIT=FAULT"))?;
            Ok((
                u.parse()?,
                k.parse().map_err(|e: String| anyhow::anyhow!(e))?,
            ))
        })
        .collect::<anyhow::Result<_>>()?;
    let opts = SimOptions {
        listen: (args.bind, args.port).into(),
        speed: args.speed,
        start: sim::dwelling::today_at(args.start_hour),
        ..SimOptions::default()
    };
    let units = "unit 1 SunSpec inverter (base 40000), 2 SDM630 grid meter, 3 SDM120 installations meter, 4 Luxtronik 2.1 heat pump";
    let bank = match &args.serial {
        Some(path) => {
            let bank = sim::start_rtu(&opts, path, args.baud, &cancel);
            println!(
                "Simulated dwelling on modbus rtu://{path}@{}: {units}.",
                args.baud
            );
            bank
        }
        None => {
            let handle = sim::start(opts, cancel.clone()).await?;
            println!(
                "Simulated dwelling on modbus tcp://{}: {units}.",
                handle.addr
            );
            handle.bank
        }
    };
    for (unit, fault) in faults {
        bank.set_fault(unit, Some(fault));
    }
    crate::service::wait_for_signal(None).await;
    cancel.cancel();
    Ok(ExitCode::SUCCESS)
}

/// Loads a config file, printing every problem when it has some.
fn load_or_report(path: &std::path::Path) -> Option<config::Config> {
    config::load(path)
        .map_err(|report| eprintln!("{report}"))
        .ok()
}

async fn run_config(path: &std::path::Path) -> anyhow::Result<ExitCode> {
    let Some(config) = load_or_report(path) else {
        return Ok(ExitCode::from(2));
    };
    let cancel = CancellationToken::new();
    let tasks = TaskTracker::new();
    for w in &config.warnings {
        tracing::warn!(warning = %w, "Configuration advice.");
    }
    let ledger = crate::app::open_ledger(&config)?;
    let app = crate::app::start(
        &config,
        ledger,
        &crate::clock::Clock::System,
        &tasks,
        &cancel,
    );
    if let Some(setup) = &config.web {
        let started = crate::web::start(
            setup,
            app.web_feeds(),
            app.store.clone(),
            &tasks,
            cancel.child_token(),
        );
        match started {
            Ok(addr) => {
                tracing::info!(%addr, "Dashboard at http://{addr}/");
                if let Some(store) = &app.store
                    && setup.auth == crate::config::Auth::Users
                    && !crate::web::users::any(store).unwrap_or(true)
                {
                    tracing::warn!(
                        "No dashboard users yet: stop nomhub and add one with `nomhub user add NAME --config {}`.",
                        path.display()
                    );
                }
            }
            Err(e) => {
                cancel.cancel();
                tasks.close();
                tasks.wait().await;
                return Err(e);
            }
        }
    }
    tracing::info!(devices = config.devices.len(), "nomhub running.");
    Ok(serve(&app, &tasks, &cancel, None).await)
}

fn profiles(json: bool, dir: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    let set = match dir {
        Some(d) => ProfileSet::from_dir(&d),
        None => ProfileSet::embedded(),
    };
    let set = match set {
        Ok(s) => s,
        Err(r) => {
            eprintln!("{r}");
            return Ok(ExitCode::from(2));
        }
    };
    let mut rows = Vec::new();
    for p in set.iter() {
        let plan = p.resolve().ok().map(|r| plan_tiers(&r));
        rows.push(json!({
            "id": p.id(), "kind": p.kind, "vendor": p.file.vendor, "model": p.file.model,
            "points": p.file.points.len(), "sunspec": p.is_sunspec(),
            "requests_per_tier": plan.map(|v| v.into_iter().map(|(t, b)| json!({"tier": t, "requests": b.len()})).collect::<Vec<_>>()),
        }));
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
    } else {
        for r in rows {
            println!(
                "{:<28} {:<10} {} {} ({} points){}",
                r["id"].as_str().unwrap_or(""),
                r["kind"].as_str().unwrap_or(""),
                r["vendor"].as_str().unwrap_or(""),
                r["model"].as_str().unwrap_or(""),
                r["points"],
                if r["sunspec"] == true {
                    ", found by SunSpec discovery"
                } else {
                    ""
                }
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn connect(target: &Target, cancel: &CancellationToken) -> anyhow::Result<BusHandle> {
    let transport = match (&target.host, &target.serial) {
        (Some(host), None) => Transport::Tcp {
            host: host.clone(),
            port: target.port,
        },
        (None, Some(serial)) => Transport::Rtu {
            serial: serial.clone(),
            baud: target.baud,
        },
        _ => anyhow::bail!("give --host (Modbus TCP) or --serial (Modbus RTU)"),
    };
    let mut settings = BusSettings::new(BusId::new("cli").map_err(anyhow::Error::msg)?, transport);
    settings.timeout = target.timeout;
    Ok(bus::spawn(settings, cancel.clone()))
}

fn raw_json(raw: &Raw) -> serde_json::Value {
    match raw {
        Raw::Unsigned(u) => json!(u),
        Raw::Signed(i) => json!(i),
        Raw::Float(f) => json!(f),
        Raw::Text(s) => json!(s),
        Raw::Bool(b) => json!(b),
    }
}

async fn modbus(cmd: ModbusCommand) -> anyhow::Result<ExitCode> {
    let cancel = CancellationToken::new();
    let result = match cmd {
        ModbusCommand::Read {
            target,
            reg,
            count,
            json,
        } => {
            let bus = connect(&target, &cancel)?;
            let size = if reg.register.is_bit() {
                1
            } else {
                reg.ty.words(reg.length)
            };
            let op = Op::Read {
                kind: reg.register,
                addr: reg.address,
                count: size * count,
            };
            let words = match bus.call(reg.unit, op).await {
                Ok(w) => w,
                Err(e) => {
                    eprintln!("error: {e}");
                    return Ok(ExitCode::FAILURE);
                }
            };
            let mut values = Vec::new();
            for (i, chunk) in words.chunks(usize::from(size)).enumerate() {
                let addr = reg.address + i as u16 * size;
                let ty = if reg.register.is_bit() {
                    DataType::Bool
                } else {
                    reg.ty
                };
                let raw = decode(chunk, ty, reg.word_order)?;
                let scaled = raw
                    .as_f64()
                    .filter(|_| !matches!(raw, Raw::Bool(_)))
                    .map(|v| v * reg.scale);
                values.push((addr, chunk.to_vec(), raw, scaled));
            }
            if json {
                let out: Vec<_> = values
                    .iter()
                    .map(|(a, w, raw, s)| json!({"address": a, "words": w, "raw": raw_json(raw), "value": s.map_or_else(|| raw_json(raw), |v| json!(v))}))
                    .collect();
                println!(
                    "{}",
                    serde_json::to_string_pretty(
                        &json!({"unit": reg.unit, "register": reg.register, "type": reg.ty.to_string(), "word_order": reg.word_order, "values": out})
                    )?
                );
            } else {
                for (a, w, raw, s) in values {
                    let shown = match (s, &raw) {
                        // An f32 shown with f32 precision: 12345.6, not 12345.599609375.
                        (Some(v), Raw::Float(_)) => format!("{}", v as f32),
                        (Some(v), _) => format_number(v),
                        (None, Raw::Text(t)) => format!("{t:?}"),
                        (None, other) => format!("{}", raw_json(other)),
                    };
                    let hex: Vec<String> = w.iter().map(|x| format!("0x{x:04X}")).collect();
                    println!("{} {a} = {shown}   [{}]", reg.register, hex.join(" "));
                }
            }
            ExitCode::SUCCESS
        }
        ModbusCommand::Write {
            target,
            reg,
            value,
            yes,
            json,
        } => {
            let op = if reg.register == RegisterKind::Coil {
                Op::WriteCoil {
                    addr: reg.address,
                    value: value != 0.0,
                }
            } else if reg.register == RegisterKind::Holding {
                Op::WriteRegisters {
                    addr: reg.address,
                    words: encode(value / reg.scale, reg.ty, reg.word_order)?,
                }
            } else {
                anyhow::bail!(
                    "{} registers cannot be written; use --register holding or coil",
                    reg.register
                );
            };
            let where_ = target.host.clone().map_or_else(
                || target.serial.clone().unwrap_or_default(),
                |h| format!("{h}:{}", target.port),
            );
            if !yes {
                eprint!(
                    "Write {value} to unit {} {} {} ({op}) on {where_}? Type yes: ",
                    reg.unit, reg.register, reg.address
                );
                std::io::stderr().flush()?;
                let mut line = String::new();
                std::io::stdin().lock().read_line(&mut line)?;
                if line.trim() != "yes" {
                    eprintln!("Not written.");
                    return Ok(ExitCode::FAILURE);
                }
            }
            let bus = connect(&target, &cancel)?;
            match bus.call(reg.unit, op).await {
                Ok(_) => {
                    if json {
                        println!(
                            "{}",
                            json!({"written": true, "unit": reg.unit, "address": reg.address, "value": value})
                        );
                    } else {
                        println!(
                            "Wrote {value} to unit {} {} {}.",
                            reg.unit, reg.register, reg.address
                        );
                    }
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        ModbusCommand::Scan {
            target,
            units,
            json,
        } => scan(&target, &units, json, &cancel).await?,
    };
    cancel.cancel();
    Ok(result)
}

fn format_number(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{v:.0}")
    } else {
        format!("{v}")
    }
}

fn parse_units(s: &str) -> anyhow::Result<Vec<u8>> {
    let mut out = Vec::new();
    for part in s.split(',') {
        match part.split_once('-') {
            Some((a, b)) => out.extend(a.trim().parse::<u8>()?..=b.trim().parse::<u8>()?),
            None => out.push(part.trim().parse()?),
        }
    }
    Ok(out)
}

async fn scan(
    target: &Target,
    units: &str,
    json: bool,
    cancel: &CancellationToken,
) -> anyhow::Result<ExitCode> {
    let bus = connect(target, cancel)?;
    let profiles = ProfileSet::embedded().map_err(|r| anyhow::anyhow!("{r}"))?;
    let sunspec_profile = profiles.get("sunspec-inverter").cloned();
    let mut found = Vec::new();
    for unit in parse_units(units)? {
        // Any answer, an exception included, means a device is there; a gateway's
        // "target did not respond" and silence mean nobody is.
        let probe = bus
            .call(
                unit,
                Op::Read {
                    kind: RegisterKind::Holding,
                    addr: 0,
                    count: 1,
                },
            )
            .await;
        let present = match &probe {
            Ok(_) => true,
            Err(e) => match e.exception() {
                Some(
                    tokio_modbus::ExceptionCode::GatewayTargetDevice
                    | tokio_modbus::ExceptionCode::GatewayPathUnavailable,
                ) => false,
                Some(_) => true,
                None => false,
            },
        };
        if !present {
            continue;
        }
        let mut entry = json!({"unit": unit});
        if let Ok((base, models)) = sunspec::discover(&bus, unit, &[40000, 0, 50000]).await {
            entry["sunspec"] = json!({"base": base, "models": models.iter().map(|m| json!({"id": m.id, "address": m.addr, "length": m.len})).collect::<Vec<_>>()});
            if let Some(p) = &sunspec_profile
                && let Ok(resolved) = p.resolve_sunspec(&models)
            {
                let spec = DeviceSpec {
                    id: crate::model::DeviceId::new("scan").map_err(anyhow::Error::msg)?,
                    profile: p.clone(),
                    unit,
                    bus: bus.clone(),
                    interval_override: None,
                    clock: crate::clock::Clock::System,
                };
                let mut poller = Poller::new(&spec, resolved);
                let mut values = serde_json::Map::new();
                for report in poller.poll_all().await {
                    for s in report.samples {
                        if let Ok(v) = s.value {
                            values.insert(s.point.to_string(), json!(v.to_string()));
                        }
                    }
                }
                entry["values"] = serde_json::Value::Object(values);
            }
        }
        found.push(entry);
    }
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({"units": found}))?
        );
    } else if found.is_empty() {
        println!("No unit answered.");
    } else {
        for e in &found {
            print!("unit {}: answers", e["unit"]);
            if let Some(s) = e.get("sunspec") {
                let ids: Vec<String> = s["models"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|m| m["id"].to_string())
                    .collect();
                print!(", SunSpec at {} with models {}", s["base"], ids.join(", "));
            }
            println!();
            if let Some(v) = e.get("values").and_then(|v| v.as_object()) {
                for (k, val) in v {
                    println!("    {k:<24} {}", val.as_str().unwrap_or(""));
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn devices_check(path: &std::path::Path, json: bool) -> anyhow::Result<ExitCode> {
    let Some(config) = load_or_report(path) else {
        return Ok(ExitCode::from(2));
    };
    let cancel = CancellationToken::new();
    let buses = crate::app::start_buses(&config, &cancel);
    let mut snap = Snapshot::default();
    let mut failed = false;
    for spec in crate::app::device_specs(&config, &buses, &crate::clock::Clock::System) {
        match poller::resolve(&spec).await {
            Ok(profile) => {
                let mut p = Poller::new(&spec, profile);
                for r in p.poll_all().await {
                    failed |= r.error.is_some();
                    snap.apply(r);
                }
            }
            Err(e) => {
                failed = true;
                snap.apply(crate::device::PollReport {
                    device: spec.id.clone(),
                    tier: String::new(),
                    samples: vec![],
                    error: Some(crate::device::PollError {
                        kind: crate::device::PollErrorKind::Unidentified,
                        text: e,
                    }),
                    requests: 0,
                    took: Duration::ZERO,
                });
            }
        }
    }
    cancel.cancel();
    if json {
        let devices: Vec<_> = snap
            .devices
            .iter()
            .map(|(id, st)| {
                let points: serde_json::Map<String, serde_json::Value> = snap
                    .points
                    .iter()
                    .filter(|((d, _), _)| d == id)
                    .map(|((_, p), s)| (p.to_string(), match &s.value { Ok(v) => json!({"value": v.as_f64().map_or_else(|| json!(v.to_string()), |x| json!(x)), "text": v.to_string()}), Err(e) => json!({"unavailable": unavailable_text(e)}) }))
                    .collect();
                json!({"device": id, "online": st.online, "error": st.last_error, "points": points})
            })
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({"devices": devices}))?
        );
    } else {
        print!("{}", render_snapshot(&snap));
        for (id, st) in &snap.devices {
            if let Some(e) = &st.last_error
                && !snap.points.keys().any(|(d, _)| d == id)
            {
                println!("{id} (OFFLINE: {e})");
            }
        }
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
