//! `nomhub simulate`: a year of hot-water control against the tank model, as a
//! per-month and year table or as JSON, and with `--trace` every step as CSV.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;

use crate::backtest::{self, Outcome, Ruled, StrategySpec, Trace, TraceRow, Variant};

#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// The year file (15-minute rows, columns as in shared/data/README.md).
    #[arg(long)]
    pub year: PathBuf,
    /// Dwelling, tank and heat pump; defaults to the year file's name with `.json`.
    #[arg(long)]
    pub dwelling: Option<PathBuf>,
    /// smart, thermostat, timer:HH:MM or pv-surplus-basic.
    #[arg(long, default_value = "smart")]
    pub strategy: StrategySpec,
    /// Rules (`[[rule]]` tables, docs/rules.md) in front of the strategy; the heat
    /// pump is device `heat_pump` with points `dhw_setpoint` and `dhw_boost`.
    #[arg(long)]
    pub rules: Option<PathBuf>,
    /// One object with `year` and `months` instead of the tables.
    #[arg(long)]
    pub json: bool,
    /// Also write every step (decision, reason, tank, heat, import) to this CSV file.
    #[arg(long, value_name = "CSV")]
    pub trace: Option<PathBuf>,
    /// A variant of the dwelling: another tank volume, litres (standby loss scales
    /// with the tank's surface).
    #[arg(long, value_name = "LITRES")]
    pub tank_litres: Option<f64>,
    /// The tank the strategy is told about, litres (the daemon's `[control.tank]
    /// litres`, same make); by default the dwelling's own. Shows what a wrong or
    /// missing `[control.tank]` costs.
    #[arg(long, value_name = "LITRES")]
    pub told_tank_litres: Option<f64>,
    /// A variant: every hot-water draw times this.
    #[arg(long, value_name = "FACTOR", default_value_t = 1.0)]
    pub draw_scale: f64,
    /// A variant: every hot-water draw this many hours later (negative: earlier), a
    /// household with other habits under the same sun.
    #[arg(
        long,
        value_name = "HOURS",
        default_value_t = 0,
        allow_negative_numbers = true
    )]
    pub draw_shift: i32,
    /// A variant: each day's sun (PV and its forecast) given to another day of the
    /// same month, shuffled with this seed (another year's run of dull and bright days).
    #[arg(long, value_name = "SEED")]
    pub shuffle_sun: Option<u64>,
    /// A variant: PV output (and its forecast) times this.
    #[arg(long, value_name = "FACTOR", default_value_t = 1.0)]
    pub pv_scale: f64,
    /// `column`: hand the strategy the year file's day-ahead `pv_forecast_w` at its
    /// issue time (18:00 the day before) when the file has it; `none`: no forecast.
    #[arg(long, value_enum, default_value_t = YearColumn::Column)]
    pub forecast: YearColumn,
    /// The contract the hot water's grid heat is costed with (a file with a
    /// `[tariff]`, docs/tariff.md); default, when the year file has day-ahead prices:
    /// config/tariff-dynamic-2027.toml.
    #[arg(long, value_name = "TOML")]
    pub tariff: Option<PathBuf>,
    /// `column`: tell the smart strategy each day's prices under the tariff at 13:00
    /// the day before (when the day-ahead market publishes them), so it plans its
    /// grid heat by price; `none`: it plans without prices (they are still costed).
    #[arg(long, value_enum, default_value_t = YearColumn::Column)]
    pub prices: YearColumn,
    /// `guarantee`: the thermostat's comfort at least, for the least grid heat;
    /// `more`: the smart strategy also charges before the usual draws (`[control]
    /// comfort`).
    #[arg(long, value_enum, default_value_t = Comfort::Guarantee)]
    pub comfort: Comfort,
    /// The smart strategy leaves its sun charges and when a charge stops to the
    /// planner (a dynamic programme over the tank's heat, by price when it is told
    /// prices) instead of its rules (docs/strategy.md, "The planner").
    #[arg(long)]
    pub planner: bool,
    /// Drive the heat pump through SG Ready instead of its setpoint: each charge is
    /// state 3, in which the heat pump heats the tank to this, °C (its own raised
    /// target, `[control.sg_ready] raised_target`).
    #[arg(long, value_name = "CELSIUS")]
    pub sg_ready: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Comfort {
    Guarantee,
    More,
}

/// Whether the strategy is handed a column of the year file (`column`) or not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum YearColumn {
    Column,
    None,
}

pub fn simulate(args: SimulateArgs) -> anyhow::Result<ExitCode> {
    let sidecar = args
        .dwelling
        .clone()
        .unwrap_or_else(|| backtest::sidecar_of(&args.year));
    let mut dwelling = backtest::load_dwelling(&sidecar)?;
    let mut rows = backtest::load_rows(&args.year)?;
    let variant = Variant {
        tank_litres: args.tank_litres,
        draw_scale: args.draw_scale,
        draw_shift_h: args.draw_shift,
        sun_seed: args.shuffle_sun,
        pv_scale: args.pv_scale,
    };
    variant.check().map_err(|e| anyhow::anyhow!(e))?;
    variant.apply(&mut dwelling, &mut rows);
    if args.forecast == YearColumn::None {
        for r in &mut rows {
            r.pv_forecast_w = None;
        }
    }
    let has_prices = rows.iter().any(|r| r.price_eur_kwh.is_some());
    let tariff = match &args.tariff {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            Some(
                crate::config::tariff::parse_file(&path.display().to_string(), &text)
                    .map_err(|r| anyhow::anyhow!("{r}"))?,
            )
        }
        None if has_prices => Some(
            crate::config::tariff::parse_file(
                "config/tariff-dynamic-2027.toml",
                crate::config::tariff::DYNAMIC_2027,
            )
            .map_err(|r| anyhow::anyhow!("{r}"))?,
        ),
        None => None,
    };
    let market = backtest::Market {
        tariff,
        tell: args.prices == YearColumn::Column,
    };
    // What the strategy is told; the model runs the real tank.
    let mut told = dwelling.clone();
    if let Some(l) = args.told_tank_litres {
        backtest::year::tank_litres("--told-tank-litres", l).map_err(|e| anyhow::anyhow!(e))?;
        told.tank = dwelling.tank.resized(l);
    }
    if let Some(c) = args.sg_ready.filter(|c| !(40.0..=70.0).contains(c)) {
        anyhow::bail!("--sg-ready {c}: the raised target is 40 to 70 °C")
    }
    let smart = args.strategy == StrategySpec::Smart;
    if args.comfort == Comfort::More && !smart {
        anyhow::bail!("--comfort more: only the smart strategy plans for comfort")
    }
    if args.planner && !smart {
        anyhow::bail!("--planner: only the smart strategy has a planner")
    }
    let strategy: Box<dyn crate::strategy::Controller> = match args.sg_ready {
        _ if smart => Box::new(crate::strategy::smart::Smart::new(
            crate::strategy::smart::SmartParams {
                more_comfort: args.comfort == Comfort::More,
                planner: args.planner,
                ..backtest::smart_params(&told, args.sg_ready)
            },
        )),
        Some(c) => args.strategy.through_sg_ready(&told, c),
        None => args.strategy.controller(&told),
    };
    let mut label = match args.sg_ready {
        Some(c) => format!("{} through SG Ready ({c} °C)", args.strategy),
        None => args.strategy.to_string(),
    };
    if args.comfort == Comfort::More {
        label = format!("{label}, more comfort");
    }
    if args.planner {
        label = format!("{label}, planner");
    }
    if let Some(l) = args.told_tank_litres {
        label = format!("{label}, told of a {l} l tank");
    }
    let mut writer = match &args.trace {
        Some(path) => Some(
            csv::Writer::from_path(path)
                .with_context(|| format!("cannot write the trace {}", path.display()))?,
        ),
        None => None,
    };
    let mut write = writer
        .as_mut()
        .map(|w| move |row: &TraceRow| w.serialize(row));
    let trace = write.as_mut().map(|f| f as Trace<'_, csv::Error>);
    let outcome: Result<Outcome, csv::Error> = match &args.rules {
        None => {
            let mut controller = strategy;
            backtest::run_in_market(
                &label,
                &dwelling,
                &rows,
                controller.as_mut(),
                &market,
                trace,
            )
        }
        Some(path) => {
            let rules = crate::rules::load_file(path, &backtest::ruled::context())
                .map_err(|r| anyhow::anyhow!("{r}"))?;
            let mut ruled = Ruled::new(rules, strategy, dwelling.tank.clone());
            let name = format!("{label} with rules {}", path.display());
            backtest::run_in_market(&name, &dwelling, &rows, &mut ruled, &market, trace).map(
                |mut outcome| {
                    outcome.rules = ruled.stats();
                    outcome
                },
            )
        }
    };
    // Only the trace can fail a run.
    let trace_path = args.trace.as_deref().unwrap_or(std::path::Path::new("-"));
    let cannot = || format!("cannot write the trace {}", trace_path.display());
    let mut outcome = outcome.with_context(cannot)?;
    if let Some(w) = &mut writer {
        w.flush().with_context(cannot)?;
    }
    outcome.rules.sort_by(|a, b| a.name.cmp(&b.name));
    // The plain thermostat on the same dwelling: the comfort a strategy must not fall below.
    if args.strategy != StrategySpec::Thermostat || args.rules.is_some() {
        let mut thermostat = StrategySpec::Thermostat.controller(&dwelling);
        let t = backtest::run_in_market::<std::convert::Infallible>(
            "thermostat",
            &dwelling,
            &rows,
            thermostat.as_mut(),
            &market,
            None,
        )
        .unwrap_or_else(|e| match e {});
        outcome.thermostat = Some(backtest::Reference::of(&t.year));
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&outcome)?);
    } else {
        print!("{}", table(&outcome, market.tariff.is_some()));
    }
    Ok(ExitCode::SUCCESS)
}

/// The per-month and year table (with the hot water's grid cost when `euros`).
pub fn table(o: &Outcome, euros: bool) -> String {
    let on = o
        .dwelling
        .as_deref()
        .map(|d| format!(" on {d}"))
        .unwrap_or_default();
    let mut s = format!("strategy {}{on} — {} steps\n", o.strategy, o.steps);
    s += &format!(
        "{:<8} {:>9} {:>9} {:>9} {:>8} {:>7} {:>6} {:>6}{}\n",
        "month",
        "DHW kWh",
        "PV kWh",
        "grid kWh",
        "cold min",
        "starts",
        "COP",
        "self %",
        if euros { "   grid €" } else { "" }
    );
    let line = |name: &str, m: &backtest::Metrics| {
        format!(
            "{:<8} {:>9.1} {:>9.1} {:>9.1} {:>8} {:>7} {:>6.2} {:>6.1}{}\n",
            name,
            m.dhw_electricity_kwh,
            m.dhw_pv_covered_kwh,
            m.dhw_grid_import_kwh,
            m.comfort_violation_minutes,
            m.compressor_starts,
            m.mean_dhw_cop,
            m.self_consumption_pct,
            if euros {
                format!(" {:>8.2}", m.dhw_grid_cost_eur)
            } else {
                String::new()
            }
        )
    };
    for m in &o.months {
        s += &line(&m.month, &m.metrics);
    }
    s += &line("year", &o.year);
    if let Some(t) = &o.thermostat {
        s += &format!(
            "thermostat on the same dwelling: {} cold min, {:.1} grid kWh{}\n",
            t.comfort_violation_minutes,
            t.dhw_grid_import_kwh,
            if euros {
                format!(", € {:.2}", t.dhw_grid_cost_eur)
            } else {
                String::new()
            }
        );
    }
    for r in &o.rules {
        s += &format!("rule {:<24} fired {:>6}", r.name, r.fired);
        if let Some(e) = &r.first_error {
            s += &format!(", {} problems, first: {e}", r.errors);
        }
        s.push('\n');
    }
    s
}
