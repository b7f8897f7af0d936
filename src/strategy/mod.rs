//! The smart hot-water strategy: its mode and settings, changed from Home Assistant
//! and the web through validated [`Change`]s, served on a `watch`.
//!
//! The strategy's decisions (when to charge the tank) build on these settings; a
//! change only ever reaches a device through the strategy and its safety checks.

pub mod settings;

pub use settings::{Change, CommandError, Mode, Setting, Settings, StrategyHandle, spawn};
