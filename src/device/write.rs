//! Verified writes to profile points: only writable points, only within bounds.

use std::time::Duration;

use crate::modbus::{BusError, BusHandle, DataType, Op, RegisterKind, encode};
use crate::profile::PointDef;

use super::point::{decode_point, unscale};

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
        let (min, max) = (w.min.unwrap_or(f64::NAN), w.max.unwrap_or(f64::NAN));
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
    // Compare numbers, not enumeration names.
    let mut plain = p.clone();
    plain.states.clear();
    let got = decode_point(&plain, p.addr, &words);
    let same = got
        .as_ref()
        .ok()
        .and_then(|v| v.as_f64())
        .is_some_and(|g| (g - normalised(p, value)).abs() <= p.scale.abs() / 2.0 + 1e-9);
    if same {
        Ok(())
    } else {
        Err(WriteError::Mismatch {
            point,
            register: p.addr,
            wanted: value,
            got: match got {
                Ok(v) => v.to_string(),
                Err(e) => format!("{e:?}"),
            },
        })
    }
}

/// The value as `decode_point` reports it (kW → W, kWh → Wh).
fn normalised(p: &PointDef, v: f64) -> f64 {
    use crate::model::Unit;
    match p.unit {
        Some(Unit::Kilowatt | Unit::KilowattHour) => v * 1000.0,
        _ => v,
    }
}
