//! Turning a block's words into a point's value: markers, scale, sign, unit.

use crate::modbus::{DataType, Raw, bits, decode};
use crate::model::{Celsius, Unavailable, Unit, Value, WattHours, Watts};
use crate::profile::{PointDef, Sign};

/// Decodes point `p` from `words` read starting at `block_addr`.
pub fn decode_point(p: &PointDef, block_addr: u16, words: &[u16]) -> Result<Value, Unavailable> {
    let slice = |addr: u16, n: u16| {
        let start = usize::from(addr.wrapping_sub(block_addr));
        words.get(start..start + usize::from(n)).ok_or_else(|| {
            Unavailable::PollFailed(format!(
                "register {addr} is not in the block read at {block_addr}"
            ))
        })
    };
    let own = slice(p.addr, p.words)?;
    if p.ty != DataType::String && p.invalid.contains(&bits(own, p.order)) {
        return Err(Unavailable::NotImplemented);
    }
    let raw = decode(own, p.ty, p.order)
        .map_err(|e| Unavailable::PollFailed(format!("register {}: {e}", p.addr)))?;
    let number = match raw {
        Raw::Text(s) if s.is_empty() => return Err(Unavailable::NotImplemented),
        Raw::Text(s) => return Ok(Value::Text(s)),
        Raw::Bool(b) if p.unit.is_none() => return Ok(Value::Bool(b)),
        Raw::Float(f) if !f.is_finite() => return Err(Unavailable::NotImplemented),
        other => other.as_f64().unwrap_or(0.0),
    };
    if let Some(name) = named(p, number) {
        return Ok(name);
    }
    let mut factor = p.scale;
    if let Some(sf_addr) = p.scale_factor_addr {
        let sf = slice(sf_addr, 1)?[0];
        if sf == 0x8000 {
            return Err(Unavailable::NotImplemented);
        }
        let exp = i32::from(sf as i16);
        if !(-10..=10).contains(&exp) {
            return Err(Unavailable::PollFailed(format!(
                "register {sf_addr}: scale factor {exp} is out of range"
            )));
        }
        factor *= 10f64.powi(exp);
    }
    let mut v = number * factor + p.offset;
    if p.sign == Sign::Invert {
        v = -v;
    }
    Ok(in_unit(p.unit, v))
}

/// An enumeration's name for `number`, when point `p` names its values.
pub fn named(p: &PointDef, number: f64) -> Option<Value> {
    if p.states.is_empty() {
        return None;
    }
    let key = format!("{}", number as i64);
    Some(Value::Text(
        p.states
            .get(&key)
            .cloned()
            .unwrap_or_else(|| format!("unknown_{key}")),
    ))
}

/// `v` in `unit` as a typed value (kW and kWh normalised to W and Wh).
pub fn in_unit(unit: Option<Unit>, v: f64) -> Value {
    match unit {
        Some(Unit::Watt) => Value::Power(Watts(v)),
        Some(Unit::Kilowatt) => Value::Power(Watts(v * 1000.0)),
        Some(Unit::WattHour) => Value::Energy(WattHours(v.round() as i64)),
        Some(Unit::KilowattHour) => Value::Energy(WattHours::from_kwh(v)),
        Some(Unit::Celsius) => Value::Temperature(Celsius(v)),
        unit => Value::Number { value: v, unit },
    }
}

/// Raw register value for writing `v` to point `p`; `v` is in the profile's own unit
/// (the unit its `write.min`/`write.max` bounds are given in), before encoding.
pub fn unscale(p: &PointDef, v: f64) -> f64 {
    let v = if p.sign == Sign::Invert { -v } else { v };
    (v - p.offset) / p.scale
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modbus::{RegisterKind, WordOrder};
    use crate::model::PointKey;

    fn p(ty: DataType, scale: f64, unit: Option<Unit>) -> PointDef {
        PointDef {
            key: PointKey::new("x").unwrap(),
            label: String::new(),
            kind: RegisterKind::Input,
            addr: 10,
            words: ty.words(2),
            ty,
            order: WordOrder::ABCD,
            scale,
            offset: 0.0,
            scale_factor_addr: None,
            unit,
            sign: Sign::Normal,
            invalid: vec![0x7FFF],
            states: Default::default(),
            tier: "fast".into(),
            counter: None,
            write: None,
            role: None,
            p1: None,
        }
    }

    #[test]
    fn scales_and_normalises_units() {
        let t = p(DataType::I16, 0.1, Some(Unit::Celsius));
        assert_eq!(
            decode_point(&t, 10, &[485]),
            Ok(Value::Temperature(Celsius(48.5)))
        );
        assert_eq!(
            decode_point(&t, 9, &[0, 0xFFF6]),
            Ok(Value::Temperature(Celsius(-1.0)))
        );
        assert_eq!(
            decode_point(&t, 10, &[0x7FFF]),
            Err(Unavailable::NotImplemented)
        );
        let kw = p(DataType::U16, 0.1, Some(Unit::Kilowatt));
        assert_eq!(
            decode_point(&kw, 10, &[12]),
            Ok(Value::Power(Watts(1200.0000000000002)))
        );
        let kwh = p(DataType::F32, 1.0, Some(Unit::KilowattHour));
        let words = crate::modbus::encode(1234.5, DataType::F32, WordOrder::ABCD).unwrap();
        assert_eq!(
            decode_point(&kwh, 10, &words),
            Ok(Value::Energy(WattHours(1_234_500)))
        );
    }

    #[test]
    fn applies_sunspec_scale_factors_and_their_sentinel() {
        let mut w = p(DataType::I16, 1.0, Some(Unit::Watt));
        w.scale_factor_addr = Some(11);
        assert_eq!(
            decode_point(&w, 10, &[1234, 0xFFFF]),
            Ok(Value::Power(Watts(123.4)))
        );
        assert_eq!(
            decode_point(&w, 10, &[1234, 1]),
            Ok(Value::Power(Watts(12340.0)))
        );
        assert_eq!(
            decode_point(&w, 10, &[1234, 0x8000]),
            Err(Unavailable::NotImplemented)
        );
    }

    #[test]
    fn names_enumerations_and_round_trips_writes() {
        let mut m = p(DataType::U16, 1.0, None);
        m.states.insert("1".into(), "hot_water".into());
        assert_eq!(
            decode_point(&m, 10, &[1]),
            Ok(Value::Text("hot_water".into()))
        );
        assert_eq!(
            decode_point(&m, 10, &[9]),
            Ok(Value::Text("unknown_9".into()))
        );
        let s = p(DataType::U16, 0.1, Some(Unit::Celsius));
        assert!((unscale(&s, 48.0) - 480.0).abs() < 1e-9);
    }
}
