//! SunSpec model discovery: find the `SunS` marker, then walk the model chain by
//! the lengths the device reports.

use crate::modbus::{BusError, BusHandle, Op, RegisterKind};
use crate::profile::FoundModel;

#[derive(Debug, thiserror::Error)]
pub enum DiscoveryError {
    #[error("unit {unit}: no SunSpec marker at any of {bases:?}")]
    NotSunSpec { unit: u8, bases: Vec<u16> },
    #[error("unit {unit}: the model chain from {base} does not end (no 0xFFFF within 64 models)")]
    Endless { unit: u8, base: u16 },
    #[error(transparent)]
    Bus(#[from] BusError),
}

impl DiscoveryError {
    pub fn is_transient(&self) -> bool {
        matches!(self, DiscoveryError::Bus(e) if e.is_transient())
    }
}

/// `SunS` as two registers.
const MARKER: [u16; 2] = [0x5375, 0x6E53];

async fn read(bus: &BusHandle, unit: u8, addr: u16, count: u16) -> Result<Vec<u16>, BusError> {
    bus.call(
        unit,
        Op::Read {
            kind: RegisterKind::Holding,
            addr,
            count,
        },
    )
    .await
}

/// Finds the SunSpec base and the models behind it.
pub async fn discover(
    bus: &BusHandle,
    unit: u8,
    bases: &[u16],
) -> Result<(u16, Vec<FoundModel>), DiscoveryError> {
    for &base in bases {
        let words = match read(bus, unit, base, 2).await {
            Ok(w) => w,
            Err(e) if e.is_transient() => return Err(e.into()),
            Err(_) => continue, // illegal address: not here
        };
        if words != MARKER {
            continue;
        }
        let mut models = Vec::new();
        let mut addr = u32::from(base) + 2;
        for _ in 0..64 {
            let Ok(at) = u16::try_from(addr) else { break };
            // ID and length are read apart: some devices do not answer the end model's length.
            let id = read(bus, unit, at, 1).await?[0];
            if id == 0xFFFF {
                return Ok((base, models));
            }
            let len = read(bus, unit, at + 1, 1).await?[0];
            models.push(FoundModel { id, addr: at, len });
            addr += 2 + u32::from(len);
        }
        return Err(DiscoveryError::Endless { unit, base });
    }
    Err(DiscoveryError::NotSunSpec {
        unit,
        bases: bases.to_vec(),
    })
}
