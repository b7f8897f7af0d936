//! Home Assistant over MQTT: device-based discovery ([`discovery`], pure), state
//! payloads ([`state`], pure) and the connection task ([`client`]); the demo's embedded
//! broker ([`broker`]).

pub mod broker;
pub mod client;
pub mod discovery;
pub mod state;

pub use client::{MqttError, MqttStatus, run};
pub use discovery::{Discovery, DuplicateId, Inputs, Topics, build};
