//! Devices: one poller per device turns register blocks into samples; verified writes.

pub mod counter;
pub mod point;
pub mod poller;
pub mod sunspec;
pub mod write;

pub use counter::{CounterGuard, Verdict};
pub use poller::{DeviceSpec, PollError, PollErrorKind, PollReport, Poller};
pub use write::{WriteError, write_point};
