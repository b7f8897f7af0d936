//! `nomhub p1 read`: an installer's look at a smart meter's P1 port before nomhub
//! reads it: every telegram checked and summed up, and what was dropped and why.
//! `nomhub p1 pair`: a token from a HomeWizard P1 meter for its API version 2.

use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Subcommand};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::p1::Reading;
use crate::p1::source::{self, Counts, Dropped, Event};

#[derive(Debug, Subcommand)]
pub enum P1Command {
    /// Read telegrams from a P1 port and show what each says.
    Read(ReadArgs),
    /// Get a token from a HomeWizard P1 meter for its local API version 2: run it, then
    /// press the meter's button; the token goes into `p1 = { homewizard, token }`.
    Pair(PairArgs),
}

#[derive(Debug, Args)]
pub struct PairArgs {
    /// The meter, e.g. `https://192.168.1.40`.
    #[arg(long)]
    pub homewizard: String,
    /// A PEM file with the CA that signs the meter's certificate, instead of HomeWizard's.
    #[arg(long)]
    pub ca: Option<String>,
    /// How long to wait for the button.
    #[arg(long, default_value = "60s")]
    pub timeout: humantime::Duration,
}

#[derive(Debug, Args)]
pub struct ReadArgs {
    /// `host:port` of ser2net or a dongle serving the raw P1 port.
    #[arg(long, conflicts_with_all = ["serial", "homewizard"], required_unless_present_any = ["serial", "homewizard"])]
    pub tcp: Option<String>,
    /// A serial device with a P1 cable (115200 8N1).
    #[arg(long, conflicts_with = "homewizard")]
    pub serial: Option<String>,
    /// A HomeWizard Wi-Fi P1 meter: `http://192.168.1.40` (API version 1, its local API
    /// on), or `https://192.168.1.40` with `--token` (version 2).
    #[arg(long)]
    pub homewizard: Option<String>,
    /// The token `nomhub p1 pair` got (API version 2).
    #[arg(long, requires = "homewizard")]
    pub token: Option<String>,
    /// A PEM file with the CA that signs the meter's certificate (version 2).
    #[arg(long, requires = "token")]
    pub ca: Option<String>,
    /// The meter is DSMR 2.2 or 3.0: 9600 baud 7E1.
    #[arg(long, requires = "serial")]
    pub dsmr22: bool,
    /// Stop after this many good telegrams.
    #[arg(long, default_value_t = 3)]
    pub count: u64,
    /// Give up after this long without the telegrams asked for.
    #[arg(long, default_value = "30s")]
    pub timeout: humantime::Duration,
    /// One JSON object per good telegram, and the counts at the end.
    #[arg(long)]
    pub json: bool,
}

pub(super) async fn run(cmd: P1Command) -> anyhow::Result<ExitCode> {
    let args = match cmd {
        P1Command::Read(args) => args,
        P1Command::Pair(args) => return pair(args).await,
    };
    // The same link a config's `p1 = { … }` makes.
    let link = crate::config::P1Link {
        tcp: args.tcp.clone(),
        serial: args.serial.clone(),
        dsmr22: args.dsmr22,
        homewizard: args.homewizard.clone(),
        token: args.token.clone(),
        ca: args.ca.clone(),
    };
    let Some(source) = link.source() else {
        anyhow::bail!(
            "give --tcp HOST:PORT, --serial PATH, --homewizard http://ADDRESS, or --homewizard https://ADDRESS with a --token of 32 characters 0-9 and A-F (and a readable --ca)"
        )
    };
    let cancel = CancellationToken::new();
    let (tx, mut rx) = mpsc::channel(64);
    tokio::spawn(source::run(source.clone(), tx, cancel.clone()));
    let mut counts = Counts::default();
    let mut said_down = false;
    let deadline = tokio::time::Instant::now() + Duration::from(args.timeout);
    while counts.telegrams < args.count {
        let Ok(Some(e)) = tokio::time::timeout_at(deadline, rx.recv()).await else {
            break;
        };
        counts.count(&e);
        match &e {
            Event::Reading(r) if args.json => println!("{}", json(r)),
            Event::Reading(r) => println!("{}", line(r)),
            Event::Dropped(Dropped::Bad(why)) => eprintln!("dropped a telegram: {why}"),
            Event::Dropped(Dropped::Cut(n)) => eprintln!("dropped a cut-off telegram ({n} bytes)"),
            Event::Dropped(Dropped::Garbage(n)) => {
                eprintln!("dropped {n} bytes outside any telegram")
            }
            Event::Link(false) if !said_down => {
                said_down = true;
                eprintln!("{source}: cannot read; trying again until --timeout");
            }
            Event::Link(_) => {}
        }
    }
    cancel.cancel();
    if args.json {
        println!("{}", serde_json::json!({ "counts": counts }));
    } else {
        println!(
            "{source}: {} telegrams read; dropped: {} with a bad CRC, {} otherwise damaged, {} cut off, {} bytes of noise",
            counts.telegrams, counts.bad_crc, counts.invalid, counts.cut, counts.garbage_bytes
        );
    }
    Ok(if counts.telegrams >= args.count {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Asks the meter for a token until its button is pressed or `--timeout` passes.
async fn pair(args: PairArgs) -> anyhow::Result<ExitCode> {
    let ca = match &args.ca {
        Some(path) => std::fs::read(path).map_err(|e| anyhow::anyhow!("--ca {path}: {e}"))?,
        None => source::HOMEWIZARD_CA.to_vec(),
    };
    let https = crate::http::Pinned::new(&ca).map_err(|e| anyhow::anyhow!("--ca: {e}"))?;
    let deadline = tokio::time::Instant::now() + Duration::from(args.timeout);
    let mut asked = false;
    while tokio::time::Instant::now() < deadline {
        match source::homewizard_pair(&args.homewizard, &https).await {
            Ok(Some(token)) => {
                println!("{token}");
                eprintln!(
                    "Paired as `{}`. In nomhub.toml: p1 = {{ homewizard = \"{}\", token = \"{token}\" }}",
                    source::HOMEWIZARD_USER,
                    args.homewizard
                );
                return Ok(ExitCode::SUCCESS);
            }
            Ok(None) if !asked => {
                asked = true;
                eprintln!("Press the button on the P1 meter now.");
            }
            Ok(None) => {}
            Err(e) => anyhow::bail!("{}: {e}", args.homewizard),
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    eprintln!("The button was not pressed within {}.", args.timeout);
    Ok(ExitCode::FAILURE)
}

fn kwh(wh: Option<i64>) -> String {
    wh.map_or_else(
        || "–".to_owned(),
        |wh| format!("{:.3} kWh", wh as f64 / 1000.0),
    )
}

/// One telegram in a line: the meter's time, import and export per tariff, power.
fn line(r: &Reading) -> String {
    format!(
        "{} tariff {}: import {} (T1 {}, T2 {}) · export {} (T1 {}, T2 {}) · grid {}",
        r.meter_time
            .map_or_else(|| "–".to_owned(), |t| t.to_rfc3339()),
        r.tariff.map_or_else(|| "–".to_owned(), |t| t.to_string()),
        kwh(r.import_total_wh()),
        kwh(r.import_wh[0]),
        kwh(r.import_wh[1]),
        kwh(r.export_total_wh()),
        kwh(r.export_wh[0]),
        kwh(r.export_wh[1]),
        r.grid_w()
            .map_or_else(|| "–".to_owned(), |w| format!("{w:.0} W")),
    )
}

fn json(r: &Reading) -> serde_json::Value {
    serde_json::json!({
        "meter_time": r.meter_time,
        "equipment_id": r.equipment_id,
        "tariff": r.tariff,
        "import_wh": r.import_wh,
        "export_wh": r.export_wh,
        "grid_w": r.grid_w(),
        "voltage_v": r.voltage_v,
        "current_a": r.current_a,
    })
}
