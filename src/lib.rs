//! nomhub: a local hub for Dutch *Nul op de Meter* homes.
//!
//! Data flow: per-bus actors ([`modbus`]) serve device pollers ([`device`]) that turn
//! profile-defined register blocks ([`profile`]) into typed samples ([`model`]);
//! [`state`] folds them into the current snapshot that everything else reads.

pub mod app;
pub mod backtest;
pub mod cli;
pub mod clock;
pub mod config;
pub mod control;
pub mod device;
pub mod forecast;
pub mod http;
pub mod ledger;
pub mod live;
pub mod modbus;
pub mod model;
pub mod mqtt;
pub mod p1;
pub mod prices;
pub mod profile;
pub mod report;
pub mod rules;
pub mod service;
pub mod setup;
pub mod sim;
pub mod state;
pub mod store;
pub mod strategy;
pub mod supervisor;
pub mod tariff;
pub mod views;
pub mod web;
