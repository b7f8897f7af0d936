//! Modbus TCP and RTU: one actor per physical bus, and pure `decode`/`encode`.

pub mod bus;
pub mod decode;
pub mod error;

pub use bus::{BusHandle, BusSettings, Op, RegisterKind, Transport};
pub use decode::{DataType, Raw, WordOrder, bits, decode, encode};
pub use error::BusError;
