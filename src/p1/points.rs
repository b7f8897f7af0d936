//! A telegram's reading as a P1 profile's points: each point's `p1` field, in the
//! unit its profile gives (the P1 counterpart of decoding registers).

use crate::device::point::{in_unit, named};
use crate::model::{Unavailable, Unit, Value};
use crate::profile::schema::{P1Field, PointDef};

use super::Reading;

/// What `field` of `r` is as a number (energy in Wh, power in W), or text.
fn field(r: &Reading, field: P1Field) -> Option<Result<f64, String>> {
    let n = |x: Option<f64>| x.map(Ok);
    let wh = |x: Option<i64>| x.map(|w| Ok(w as f64));
    let net = |i: usize| match (r.phase_import_w[i], r.phase_export_w[i]) {
        (None, None) => None,
        (a, b) => Some(Ok(a.unwrap_or(0.0) - b.unwrap_or(0.0))),
    };
    match field {
        P1Field::ImportTotal => wh(r.import_total_wh()),
        P1Field::ImportT1 => wh(r.import_wh[0]),
        P1Field::ImportT2 => wh(r.import_wh[1]),
        P1Field::ExportTotal => wh(r.export_total_wh()),
        P1Field::ExportT1 => wh(r.export_wh[0]),
        P1Field::ExportT2 => wh(r.export_wh[1]),
        P1Field::Tariff => n(r.tariff.map(f64::from)),
        P1Field::PowerImport => n(r.power_import_w),
        P1Field::PowerExport => n(r.power_export_w),
        P1Field::GridPower => n(r.grid_w()),
        P1Field::VoltageL1 => n(r.voltage_v[0]),
        P1Field::VoltageL2 => n(r.voltage_v[1]),
        P1Field::VoltageL3 => n(r.voltage_v[2]),
        P1Field::CurrentL1 => n(r.current_a[0]),
        P1Field::CurrentL2 => n(r.current_a[1]),
        P1Field::CurrentL3 => n(r.current_a[2]),
        P1Field::PowerL1 => net(0),
        P1Field::PowerL2 => net(1),
        P1Field::PowerL3 => net(2),
        P1Field::EquipmentId => r.equipment_id.clone().map(Err),
    }
}

/// The value of point `p` in reading `r`; unavailable where the meter does not send it
/// (a single-phase meter has no L2).
pub fn value(p: &PointDef, f: P1Field, r: &Reading) -> Result<Value, Unavailable> {
    let v = match field(r, f) {
        None => return Err(Unavailable::NotImplemented),
        Some(Err(text)) => return Ok(Value::Text(text)),
        Some(Ok(v)) => v,
    };
    if let Some(name) = named(p, v) {
        return Ok(name);
    }
    // The reading's energy is in Wh and power in W; a profile may still name kWh or kW.
    let v = match p.unit {
        Some(Unit::Kilowatt | Unit::KilowattHour) => v / 1000.0,
        _ => v,
    };
    Ok(in_unit(p.unit, v))
}
