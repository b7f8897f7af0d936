//! Home Assistant over MQTT: device-based discovery ([`discovery`], pure), state
//! payloads ([`state`], pure) and the connection task ([`client`]); the demo's embedded
//! broker ([`broker`]).

pub mod broker;
pub mod client;
pub mod discovery;
pub mod state;

pub use client::{MqttError, MqttStatus, run};
pub use discovery::{Discovery, DuplicateId, Inputs, Topics, build};

/// Whether Home Assistant discovery can be built for `config` (no two entities with one
/// id): the problem, placed at its `[mqtt]` section, when it cannot.
pub fn check(config: &crate::config::Config) -> Option<crate::report::Issue> {
    let setup = config.mqtt.as_ref()?;
    let e = build(&Inputs::from_config(config, setup)).err()?;
    let text = &*config.text;
    let span = text.find("[mqtt]").map(|i| i..i + "[mqtt]".len());
    Some(crate::report::Issue::at(
        &config.path,
        text,
        span,
        e.to_string(),
    ))
}
