//! `cargo bench --bench backtest`: a year of hot-water control against the tank model
//! (35 040 steps of year A) for every strategy, loading included and not, best of
//! five runs. Prints Markdown for docs/performance.md.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use nomhub::backtest::{self, StrategySpec};

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
}
