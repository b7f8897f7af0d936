//! The energy bundle ledger: counter deltas booked per series into 15-minute and
//! day buckets in Europe/Amsterdam, bundles with their monthly shape, the position of
//! every period against its bundle, and the settlement forecast.
//!
//! Pure parts (periods, budgets, booking, forecast) are tested by table in their
//! files; the buckets live in [`crate::store`], the only module that touches sled.

pub mod book;
pub mod books;
pub mod bundle;
pub mod calc;
pub mod comfort;
pub mod forecast;
pub mod period;
pub mod query;
pub mod run;
pub mod setup;

pub use books::{Books, History, Ledger, LedgerError, PeriodEuros, Row};
pub use bundle::{Budget, BundleId, Position, Series, Status};
pub use forecast::Forecast;
pub use period::{Period, PeriodKind, SettlementRule};
pub use query::{LedgerView, QueryError};
pub use run::LedgerStatus;
