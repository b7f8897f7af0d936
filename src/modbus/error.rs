use std::time::Duration;

use tokio_modbus::ExceptionCode;

use crate::model::BusId;

/// What went wrong on a bus; [`BusError::is_transient`] says whether retrying can help.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    #[error("bus `{bus}`: cannot connect to {target}")]
    Connect {
        bus: BusId,
        target: String,
        #[source]
        source: std::io::Error,
    },
    #[error("bus `{bus}`: {target} is unreachable, next attempt in {retry_in:.1?}")]
    Backoff {
        bus: BusId,
        target: String,
        retry_in: Duration,
    },
    #[error("bus `{bus}`: unit {unit} gave no answer to {op} within {timeout:?}")]
    Timeout {
        bus: BusId,
        unit: u8,
        op: String,
        timeout: Duration,
    },
    #[error("bus `{bus}`: unit {unit}: link failed")]
    Link {
        bus: BusId,
        unit: u8,
        #[source]
        source: tokio_modbus::Error,
    },
    #[error("bus `{bus}`: unit {unit} refused {op}: {code}")]
    Refused {
        bus: BusId,
        unit: u8,
        op: String,
        code: ExceptionCode,
    },
    #[error("bus `{bus}`: unit {unit} answered {op} with only {got} values")]
    ShortReply {
        bus: BusId,
        unit: u8,
        op: String,
        got: usize,
    },
    #[error("bus `{bus}` has stopped (it is restarted)")]
    Stopped { bus: BusId },
}

impl BusError {
    /// Transient errors (link, timeout, busy, gateway) may go away by themselves;
    /// permanent ones (illegal address, illegal function) will not.
    pub fn is_transient(&self) -> bool {
        use ExceptionCode::{
            Acknowledge, GatewayPathUnavailable, GatewayTargetDevice, ServerDeviceBusy,
            ServerDeviceFailure,
        };
        match self {
            Self::Connect { .. }
            | Self::Backoff { .. }
            | Self::Timeout { .. }
            | Self::Link { .. }
            | Self::ShortReply { .. }
            // The actor died under the request; the supervisor starts it again.
            | Self::Stopped { .. } => true,
            Self::Refused { code, .. } => matches!(
                code,
                ServerDeviceBusy
                    | Acknowledge
                    | ServerDeviceFailure
                    | GatewayPathUnavailable
                    | GatewayTargetDevice
            ),
        }
    }

    /// Whether the device answered at all (with a refusal or a short reply): it is
    /// there, only this request failed.
    pub fn reached_device(&self) -> bool {
        matches!(self, Self::Refused { .. } | Self::ShortReply { .. })
    }

    /// After these the connection may be out of step with the device, so it is rebuilt.
    pub(crate) fn drops_link(&self) -> bool {
        matches!(self, Self::Timeout { .. } | Self::Link { .. })
    }

    /// The Modbus exception the device answered with, if any.
    pub fn exception(&self) -> Option<ExceptionCode> {
        match self {
            Self::Refused { code, .. } => Some(*code),
            _ => None,
        }
    }
}
