//! The backtest: hot-water controllers run against a year file through the tank and
//! heat pump model of `shared/data/MODEL.md`, with its metrics.

pub mod ruled;
pub mod run;
pub mod strategies;
pub mod year;

pub use ruled::{RuleStat, Ruled};
pub use run::{
    Market, Metrics, Outcome, Reference, Trace, TraceRow, run, run_in_market, run_traced,
};
pub use strategies::{StrategySpec, smart_params};
pub use year::{Dwelling, Row, Variant, YearError, load_dwelling, load_rows, sidecar_of};
