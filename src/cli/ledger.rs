//! `nomhub bundle calc` and `nomhub ledger show|history|export|import`.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use chrono::{DateTime, NaiveDate, Utc};
use clap::{Args, Subcommand, ValueEnum};

use crate::ledger::calc::{self, Figures};
use crate::ledger::forecast::Regime;
use crate::ledger::{Forecast, Ledger, PeriodKind, Position, Row, Status};
use crate::model::WattHours;

#[derive(Debug, Subcommand)]
pub enum BundleCommand {
    /// Derive a dwelling's bundles from its figures by the NOM Keur rules; prints a
    /// table and a `[bundle.*]` snippet for nomhub.toml.
    Calc(CalcArgs),
}

#[derive(Debug, Args)]
pub struct CalcArgs {
    /// Usable floor area (GO, NEN 2580), m².
    #[arg(long)]
    pub floor_area: f64,
    /// Persons in the household (may be fractional: 2.4 is the NOM Keur's reference).
    #[arg(long)]
    pub persons: f64,
    /// PV peak power, kWp.
    #[arg(long)]
    pub pv_kwp: Option<f64>,
    /// PV tilt, degrees from horizontal.
    #[arg(long, default_value_t = 35.0)]
    pub tilt: f64,
    /// PV azimuth, degrees (180 = south, 90 = east, 270 = west).
    #[arg(long, default_value_t = 180.0)]
    pub azimuth: f64,
    /// Space heating demand, kWh of heat per m² a year (energy performance calculation).
    #[arg(long)]
    pub heat_demand: Option<f64>,
    /// Seasonal COP of the heat pump for space heating.
    #[arg(long, default_value_t = 4.0)]
    pub scop: f64,
    /// COP of the heat pump heating the hot-water tank.
    #[arg(long, default_value_t = 2.5)]
    pub hot_water_cop: f64,
    /// Ventilation unit, kWh a year.
    #[arg(long, default_value_t = 330.0)]
    pub ventilation: f64,
    /// The household bundle need not exceed this (NOM Keur: 2,600).
    #[arg(long, default_value_t = calc::HOUSEHOLD_MAX_KWH)]
    pub household_max: f64,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Format {
    Csv,
    Json,
}

#[derive(Debug, Args)]
pub struct Which {
    #[arg(long)]
    pub config: PathBuf,
    /// day, month, year or settlement.
    #[arg(long, default_value = "month")]
    pub period: PeriodKind,
    /// A local date inside the period (default: today).
    #[arg(long)]
    pub date: Option<NaiveDate>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum LedgerCommand {
    /// Where every bundle stands in a period, and the settlement forecast.
    Show(Which),
    /// A period's energy per day (month) or per month (year), with the bundle per bucket.
    History(Which),
    /// Write the day buckets as CSV or JSON (a backup, or for a spreadsheet).
    Export {
        #[arg(long)]
        config: PathBuf,
        #[arg(long, value_enum, default_value = "csv")]
        format: Format,
        /// First local day (default: the first in the store).
        #[arg(long)]
        from: Option<NaiveDate>,
        /// Last local day, included (default: today).
        #[arg(long)]
        to: Option<NaiveDate>,
    },
    /// Load history (CSV or JSON as `export` writes, `kwh` instead of `wh` and
    /// months `YYYY-MM` allowed), e.g. from the landlord's portal.
    Import {
        #[arg(long)]
        config: PathBuf,
        file: PathBuf,
        /// Overwrite days that already hold energy.
        #[arg(long)]
        replace: bool,
    },
}

pub fn bundle(cmd: BundleCommand) -> anyhow::Result<ExitCode> {
    let BundleCommand::Calc(a) = cmd;
    if !(a.floor_area > 0.0 && a.persons > 0.0) {
        anyhow::bail!("--floor-area and --persons must be above 0");
    }
    let c = calc::calculate(&Figures {
        floor_area_m2: a.floor_area,
        persons: a.persons,
        pv_kwp: a.pv_kwp,
        pv_tilt_deg: a.tilt,
        pv_azimuth_deg: a.azimuth,
        heat_demand_kwh_m2: a.heat_demand,
        scop: a.scop,
        hot_water_cop: a.hot_water_cop,
        ventilation_kwh: a.ventilation,
        household_max_kwh: a.household_max,
    });
    if a.json {
        let mut v = serde_json::to_value(&c)?;
        v["config_snippet"] = c.config_snippet().into();
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(ExitCode::SUCCESS);
    }
    let bundles = c.bundles();
    print!("{:<6}", "kWh");
    for (name, _) in &bundles {
        print!("{name:>16}");
    }
    println!();
    for (m, month) in MONTHS.iter().enumerate() {
        print!("{month:<6}");
        for (_, b) in &bundles {
            print!("{:>16}", b.monthly_kwh[m]);
        }
        println!();
    }
    print!("{:<6}", "year");
    for (_, b) in &bundles {
        print!("{:>16}", b.yearly_kwh);
    }
    println!("\n");
    for (name, b) in &bundles {
        println!("{name}: {}", b.basis);
    }
    for n in &c.notes {
        println!("note: {n}");
    }
    println!("\n# for nomhub.toml\n{}", c.config_snippet());
    Ok(ExitCode::SUCCESS)
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

fn open(path: &std::path::Path) -> anyhow::Result<Ledger> {
    let cfg = crate::setup::load(path).map_err(|r| anyhow::anyhow!("{r}"))?;
    let setup = cfg
        .ledger
        .with_context(|| format!("{} has no [ledger] section", path.display()))?;
    Ledger::open(setup).context("opening the ledger (a running nomhub holds it; stop it first)")
}

fn when(date: Option<NaiveDate>) -> DateTime<Utc> {
    let now: DateTime<Utc> = crate::clock::now().into();
    match date {
        // Noon of the given day: inside the day whatever the time zone.
        Some(d) => crate::ledger::period::local_midnight(d) + chrono::Duration::hours(12),
        None => now,
    }
}

pub fn ledger(cmd: LedgerCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        LedgerCommand::Show(w) => {
            let l = open(&w.config)?;
            let now = when(w.date);
            let real_now = crate::clock::now().into();
            let period = l.period(w.period, now);
            let positions = l.positions(period, real_now)?;
            let forecast = l.forecast(now)?;
            if w.json {
                let v = serde_json::json!({ "positions": positions, "forecast": forecast });
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                print!("{}", render_positions(&positions));
                print!("{}", render_forecast(&forecast));
            }
        }
        LedgerCommand::History(w) => {
            let l = open(&w.config)?;
            let period = l.period(w.period, when(w.date));
            let h = l.history(period)?;
            if w.json {
                println!("{}", serde_json::to_string_pretty(&h)?);
            } else {
                use crate::ledger::Series::*;
                let euros = l.setup.tariff.is_some();
                println!(
                    "{} {}  (kWh{})",
                    period_name(period.kind),
                    period,
                    if euros { ", €" } else { "" }
                );
                let mut head = format!(
                    "{:<12}{:>10}{:>10}{:>10}{:>10}{:>10}{:>10}",
                    "", "pv", "household", "building", "hot water", "import", "export"
                );
                if euros {
                    head.push_str(&format!("{:>10}{:>10}", "import €", "export €"));
                }
                println!("{head}");
                for b in &h.buckets {
                    let v = |s| WattHours(b.wh.get(&s).copied().unwrap_or(0)).kwh();
                    let mut line = format!(
                        "{:<12}{:>10.1}{:>10.1}{:>10.1}{:>10.1}{:>10.1}{:>10.1}",
                        b.start.format("%Y-%m-%d").to_string(),
                        v(Pv),
                        v(Household),
                        v(BuildingBound),
                        v(HotWater),
                        v(GridImport),
                        v(GridExport)
                    );
                    if euros {
                        let e = |s| b.eur.get(&s).copied().unwrap_or(0.0);
                        // What the export is worth under the rules of its days.
                        let export = if b.start <= l.setup.net_metering_until {
                            e(ExportNetted)
                        } else {
                            e(ExportEarned)
                        };
                        line.push_str(&format!("{:>10.2}{:>10.2}", e(ImportCost), export));
                    }
                    println!("{line}");
                }
            }
        }
        LedgerCommand::Export {
            config,
            format,
            from,
            to,
        } => {
            let l = open(&config)?;
            let to = to.unwrap_or_else(|| crate::ledger::period::local_date(when(None)))
                + chrono::Days::new(1);
            let rows = l.export(from.unwrap_or(NaiveDate::MIN), to)?;
            let out = std::io::stdout();
            let mut out = out.lock();
            match format {
                Format::Json => writeln!(out, "{}", serde_json::to_string_pretty(&rows)?)?,
                Format::Csv => {
                    let mut w = csv::Writer::from_writer(out);
                    w.write_record(["date", "series", "wh", "estimated_wh", "eur"])?;
                    let text = |v: Option<String>| v.unwrap_or_default();
                    for r in rows {
                        w.write_record([
                            r.date,
                            r.series,
                            text(r.wh.map(|v| v.to_string())),
                            text(r.estimated_wh.map(|v| v.to_string())),
                            text(r.eur.map(|v| format!("{v:.6}"))),
                        ])?;
                    }
                    w.flush()?;
                }
            }
        }
        LedgerCommand::Import {
            config,
            file,
            replace,
        } => {
            let mut l = open(&config)?;
            let name = file.display().to_string();
            let text = std::fs::read_to_string(&file).with_context(|| format!("reading {name}"))?;
            let rows = parse_rows(&name, &text)?;
            let n = l.import(&name, &rows, replace)?;
            println!("{name}: {} rows, {n} day buckets written", rows.len());
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Rows with their line numbers, from CSV (with a header) or a JSON array.
fn parse_rows(name: &str, text: &str) -> anyhow::Result<Vec<(u64, Row)>> {
    if text.trim_start().starts_with('[') {
        let rows: Vec<Row> = serde_json::from_str(text)
            .with_context(|| format!("{name}: not a JSON array of rows"))?;
        return Ok(rows
            .into_iter()
            .enumerate()
            .map(|(i, r)| (i as u64 + 1, r))
            .collect());
    }
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let mut out = Vec::new();
    for rec in reader.deserialize::<Row>() {
        let rec = rec.map_err(|e| {
            let line = e.position().map_or(0, csv::Position::line);
            anyhow::anyhow!("{name}:{line}: {e}")
        })?;
        out.push((out.len() as u64 + 2, rec));
    }
    Ok(out)
}

fn period_name(kind: PeriodKind) -> &'static str {
    match kind {
        PeriodKind::Day => "day",
        PeriodKind::Month => "month",
        PeriodKind::Year => "year",
        PeriodKind::Settlement => "settlement year",
    }
}

/// A table of positions, grouped by period.
pub fn render_positions(positions: &[Position]) -> String {
    let mut s = String::new();
    let mut last = None;
    for p in positions {
        if last != Some(p.period) {
            s.push_str(&format!(
                "{:<16}{:>9}{:>10}{:>9}{:>11}{:>11}  status      ({} {})\n",
                "kWh",
                "used",
                "expected",
                "bundle",
                "projected",
                "remaining",
                period_name(p.period.kind),
                p.period
            ));
            last = Some(p.period);
        }
        let status = match (p.status, p.good) {
            (Status::OnTrack, _) => "on track",
            (Status::Above, true) => "above (good)",
            (Status::Above, false) => "above",
            (Status::Below, true) => "below (good)",
            (Status::Below, false) => "below",
        };
        s.push_str(&format!(
            "{:<16}{:>9.1}{:>10.1}{:>9.0}{:>11.0}{:>11.1}  {status}{}\n",
            p.bundle_id.as_str(),
            p.used.kwh(),
            p.expected.kwh(),
            p.bundle.kwh(),
            p.projected.kwh(),
            p.remaining.kwh(),
            if p.estimated.0 != 0 {
                format!(" ({:.1} estimated)", p.estimated.kwh())
            } else {
                String::new()
            }
        ));
    }
    s
}

/// The settlement forecast in a few lines.
pub fn render_forecast(f: &Forecast) -> String {
    let mut s = format!(
        "settlement year {}: so far {:.1} kWh imported, {:.1} kWh exported; forecast net {:+.0} kWh ({:.0} imported, {:.0} exported)\n",
        f.period,
        f.so_far.import_kwh,
        f.so_far.export_kwh,
        f.net_kwh,
        f.projected.import_kwh,
        f.projected.export_kwh
    );
    if let (Some(eur), Some(with), Some(without)) =
        (f.eur, f.eur_with_net_metering, f.eur_without_net_metering)
    {
        let regime = match f.regime {
            Regime::NetMetering => "with net metering",
            Regime::NoNetMetering => "without net metering",
            Regime::Split => "net metering until it ends, none after",
        };
        s.push_str(&format!(
            "  settlement forecast {eur:+.2} EUR ({regime}); with net metering all year {with:+.2}, without {without:+.2}\n"
        ));
    }
    if let Some(so_far) = f.so_far_eur {
        s.push_str(&format!("  grid import and export so far {so_far:+.2} EUR"));
        match f.fallback_eur {
            Some(avg) if avg.abs() >= 0.005 => s.push_str(&format!(
                " ({avg:.2} EUR of it priced at the contract's average: day-ahead prices missing)\n"
            )),
            _ => s.push('\n'),
        }
    }
    s
}

/// The periods `nomhub demo` shows.
pub fn demo_periods(p: &Position) -> bool {
    matches!(p.period.kind, PeriodKind::Month | PeriodKind::Settlement)
}
