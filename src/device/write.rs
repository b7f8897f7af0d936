//! Verified writes to profile points: only writable points, only within bounds.

use std::time::Duration;

use crate::modbus::{BusError, BusHandle, DataType, Op, RegisterKind, decode, encode};
use crate::profile::PointDef;

use super::point::unscale;

#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("point `{point}` is not writable")]
    NotWritable { point: String },
    #[error("point `{point}`: {value} is outside {min}..={max}")]
    OutOfBounds {
        point: String,
        value: f64,
        min: f64,
        max: f64,
    },
    #[error("point `{point}`: {value} cannot be encoded as {ty}")]
    Encode {
        point: String,
        value: f64,
        ty: DataType,
    },
    #[error("point `{point}` (register {register}): wrote {wanted}, read back {got}")]
    Mismatch {
        point: String,
        register: u16,
        wanted: f64,
        got: String,
    },
    #[error("point `{point}` (register {register})")]
    Bus {
        point: String,
        register: u16,
        #[source]
        source: BusError,
    },
}

/// Writes engineering value `value` to `p`, then reads it back when the profile asks.
pub async fn write_point(
    bus: &BusHandle,
    unit: u8,
    p: &PointDef,
    value: f64,
) -> Result<(), WriteError> {
    let point = p.key.to_string();
    let Some(w) = p.write else {
        return Err(WriteError::NotWritable { point });
    };
    if p.ty != DataType::Bool {
        let (min, max) = w.bounds(p.ty);
        if !(value >= min && value <= max) {
            return Err(WriteError::OutOfBounds {
                point,
                value,
                min,
                max,
            });
        }
    } else if value != 0.0 && value != 1.0 {
        return Err(WriteError::OutOfBounds {
            point,
            value,
            min: 0.0,
            max: 1.0,
        });
    }
    let bus_err = |source| WriteError::Bus {
        point: p.key.to_string(),
        register: p.addr,
        source,
    };
    let op = match p.kind {
        RegisterKind::Coil => Op::WriteCoil {
            addr: p.addr,
            value: value != 0.0,
        },
        _ => {
            let words =
                encode(unscale(p, value), p.ty, p.order).map_err(|_| WriteError::Encode {
                    point: point.clone(),
                    value,
                    ty: p.ty,
                })?;
            Op::WriteRegisters {
                addr: p.addr,
                words,
            }
        }
    };
    bus.call(unit, op).await.map_err(bus_err)?;
    tracing::info!(register = p.addr, point = %p.key, value, "Wrote point.");
    if !w.verify {
        return Ok(());
    }
    tokio::time::sleep(w.settle.0.min(Duration::from_secs(10))).await;
    let words = bus
        .call(
            unit,
            Op::Read {
                kind: p.kind,
                addr: p.addr,
                count: p.words,
            },
        )
        .await
        .map_err(bus_err)?;
    // Compare the register itself: no enumeration names, no unit conversion.
    let wanted = unscale(p, value).round();
    let got = decode(&words, p.ty, p.order).map_err(|e| WriteError::Mismatch {
        point: point.clone(),
        register: p.addr,
        wanted: value,
        got: e.to_string(),
    })?;
    match got.as_f64() {
        Some(raw) if (raw - wanted).abs() < 0.5 => Ok(()),
        _ => Err(WriteError::Mismatch {
            point,
            register: p.addr,
            wanted: value,
            got: format!("raw {got:?}"),
        }),
    }
}
