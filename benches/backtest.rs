//! `cargo bench --bench backtest`: a year of hot-water control against the tank model
//! (35 040 steps of year A) for every strategy, loading included and not, best of
//! five runs. Prints Markdown for docs/performance.md.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use nomhub::backtest::{self, Market, StrategySpec};
use nomhub::strategy::controller::{Controller, Decision, Observation, PriceForecast, SunForecast};
use nomhub::strategy::smart::{Smart, SmartParams};

fn best_of<T>(n: usize, mut f: impl FnMut() -> T) -> (Duration, T) {
    let mut best = Duration::MAX;
    let mut out = None;
    for _ in 0..n {
        let t = Instant::now();
        let v = f();
        best = best.min(t.elapsed());
        out = Some(v);
    }
    (best, out.expect("at least one run"))
}

fn main() {
    let csv =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/years/reference-year-A.csv");
    let dwelling = backtest::load_dwelling(&backtest::sidecar_of(&csv)).expect("dwelling");
    let (load, rows) = best_of(5, || backtest::load_rows(&csv).expect("rows"));
    println!("| strategy | year run (ms) | with loading the CSV (ms) | DHW grid import (kWh) |");
    println!("|---|---:|---:|---:|");
    for spec in [
        "thermostat",
        "timer:13:00",
        "timer:02:00",
        "pv-surplus-basic",
        "smart",
    ] {
        let spec: StrategySpec = spec.parse().expect("strategy");
        let (t, outcome) = best_of(5, || {
            let mut c = spec.controller(&dwelling);
            backtest::run(&spec.to_string(), &dwelling, &rows, c.as_mut())
        });
        println!(
            "| {spec} | {:.0} | {:.0} | {:.1} |",
            t.as_secs_f64() * 1e3,
            (t + load).as_secs_f64() * 1e3,
            outcome.year.dhw_grid_import_kwh
        );
    }
    // The same strategy behind three rules that are evaluated every quarter hour.
    let rules = nomhub::rules::parse_file("bench-rules.toml", RULES, &backtest::ruled::context())
        .expect("rules");
    let spec = StrategySpec::Smart;
    let (t, outcome) = best_of(5, || {
        let mut ruled = backtest::Ruled::new(
            rules.clone(),
            spec.controller(&dwelling),
            dwelling.tank.clone(),
        );
        backtest::run("smart + 3 rules", &dwelling, &rows, &mut ruled)
    });
    println!(
        "| smart + 3 rules | {:.0} | {:.0} | {:.1} |",
        t.as_secs_f64() * 1e3,
        (t + load).as_secs_f64() * 1e3,
        outcome.year.dhw_grid_import_kwh
    );
    // The planner, told year A's prices under the 2027-style contract.
    let market = Market {
        tariff: Some(
            nomhub::config::tariff::parse_file(
                "config/tariff-dynamic-2027.toml",
                nomhub::config::tariff::DYNAMIC_2027,
            )
            .expect("tariff"),
        ),
        tell: true,
    };
    let planner = || {
        Box::new(Smart::new(SmartParams {
            planner: true,
            ..backtest::smart_params(&dwelling, None)
        })) as Box<dyn Controller>
    };
    let (t, outcome) = best_of(5, || {
        let mut c = planner();
        backtest::run_in_market::<()>("planner", &dwelling, &rows, c.as_mut(), &market, None)
            .expect("no trace")
    });
    println!(
        "| smart, planner, by price | {:.0} | {:.0} | {:.1} |",
        t.as_secs_f64() * 1e3,
        (t + load).as_secs_f64() * 1e3,
        outcome.year.dhw_grid_import_kwh
    );
    println!();
    println!("| one decision | median (µs) | 99th percentile (µs) | slowest (µs) |");
    println!("|---|---:|---:|---:|");
    decisions(
        "smart",
        StrategySpec::Smart.controller(&dwelling),
        &dwelling,
        &rows,
        &Market::default(),
    );
    decisions(
        "smart, planner, by price",
        planner(),
        &dwelling,
        &rows,
        &market,
    );
}

/// Times every decision of the controller it wraps.
struct Timed<'a> {
    inner: &'a mut dyn Controller,
    took: Vec<Duration>,
}

impl Controller for Timed<'_> {
    fn decide(&mut self, obs: &Observation) -> Decision {
        let t = Instant::now();
        let d = self.inner.decide(obs);
        self.took.push(t.elapsed());
        d
    }

    fn reason(&self) -> String {
        self.inner.reason()
    }

    fn forecast(&mut self, forecast: &SunForecast) {
        self.inner.forecast(forecast);
    }

    fn prices(&mut self, prices: &PriceForecast) {
        self.inner.prices(prices);
    }
}

/// One decision of `controller`, over every quarter hour of the year: the median, the
/// 99th percentile and the slowest, in µs.
fn decisions(
    name: &str,
    mut controller: Box<dyn Controller>,
    dwelling: &backtest::Dwelling,
    rows: &[backtest::Row],
    market: &Market,
) {
    let mut timed = Timed {
        inner: controller.as_mut(),
        took: Vec::with_capacity(rows.len()),
    };
    backtest::run_in_market::<()>(name, dwelling, rows, &mut timed, market, None)
        .expect("no trace");
    let mut took = timed.took;
    took.sort();
    let at = |q: f64| took[((took.len() - 1) as f64 * q) as usize].as_secs_f64() * 1e6;
    println!(
        "| {name} ({} quarter hours) | {:.1} | {:.1} | {:.1} |",
        took.len(),
        at(0.5),
        at(0.99),
        at(1.0)
    );
}

const RULES: &str = r#"
[[rule]]
name = "legionella"
cron = "0 0 13 * * Sun"
if = "grid_power < -500"
then = [{ set = "heat_pump.dhw_boost", value = 1, for = "2h" }]

[[rule]]
name = "export-boost"
when = "grid_power < -2500 && tank_temperature < 45"
hold = "15m"
then = [{ set = "heat_pump.dhw_setpoint", value = 50 }]

[[rule]]
name = "daily-note"
period = "day"
then = [{ notify = "tank at ${tank_temperature} °C" }]
"#;
