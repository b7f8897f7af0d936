//! The hot-water strategy: its mode and settings, changed from Home Assistant and
//! the web through validated [`Change`]s, and the controllers that decide when the
//! tank is charged — the smart one and the baselines it is measured against.

pub mod baseline;
pub mod controller;
pub mod heat_pump;
pub mod observer;
pub mod planner;
pub mod settings;
pub mod smart;
pub mod sun;
pub mod tank;
pub mod why;

pub use controller::{Controller, Decision, Observation, PriceForecast, SunForecast};
pub use settings::{
    Change, Command, CommandError, Commands, Mode, Setting, Settings, StrategyHandle, channel,
};
pub use why::{Missing, Why};
