//! Pure decoding and encoding of register words: every type × every word order.
//!
//! Word orders are named after the bytes of a 32-bit value `0xAABBCCDD` as they
//! arrive on the wire: `ABCD` big-endian words (the Modbus default), `CDAB` low
//! word first, `BADC` bytes swapped inside each word, `DCBA` fully little-endian.
//! For 64-bit values the same rule applies to four words.

use std::fmt;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DataType {
    U16,
    I16,
    U32,
    I32,
    U64,
    F32,
    String,
    Bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum WordOrder {
    #[default]
    ABCD,
    CDAB,
    BADC,
    DCBA,
}

impl fmt::Display for DataType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            DataType::U16 => "u16",
            DataType::I16 => "i16",
            DataType::U32 => "u32",
            DataType::I32 => "i32",
            DataType::U64 => "u64",
            DataType::F32 => "f32",
            DataType::String => "string",
            DataType::Bool => "bool",
        };
        f.write_str(s)
    }
}

impl std::str::FromStr for DataType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "u16" => DataType::U16,
            "i16" => DataType::I16,
            "u32" => DataType::U32,
            "i32" => DataType::I32,
            "u64" => DataType::U64,
            "f32" => DataType::F32,
            "string" => DataType::String,
            "bool" => DataType::Bool,
            other => {
                return Err(format!(
                    "unknown type `{other}` (expected u16, i16, u32, i32, u64, f32, string or bool)"
                ));
            }
        })
    }
}

impl std::str::FromStr for WordOrder {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s.to_ascii_uppercase().as_str() {
            "ABCD" => WordOrder::ABCD,
            "CDAB" => WordOrder::CDAB,
            "BADC" => WordOrder::BADC,
            "DCBA" => WordOrder::DCBA,
            _ => {
                return Err(format!(
                    "unknown word order `{s}` (expected ABCD, CDAB, BADC or DCBA)"
                ));
            }
        })
    }
}

impl DataType {
    /// Registers one value occupies; strings take their declared length.
    pub fn words(self, string_len: u16) -> u16 {
        match self {
            DataType::U16 | DataType::I16 | DataType::Bool => 1,
            DataType::U32 | DataType::I32 | DataType::F32 => 2,
            DataType::U64 => 4,
            DataType::String => string_len,
        }
    }
}

/// A decoded value before scaling.
#[derive(Debug, Clone, PartialEq)]
pub enum Raw {
    Unsigned(u64),
    Signed(i64),
    Float(f64),
    Text(String),
    Bool(bool),
}

impl Raw {
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Raw::Unsigned(u) => Some(*u as f64),
            Raw::Signed(i) => Some(*i as f64),
            Raw::Float(f) => Some(*f),
            Raw::Bool(b) => Some(f64::from(u8::from(*b))),
            Raw::Text(_) => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("{ty} needs {need} registers, got {got}")]
    Length {
        ty: DataType,
        need: usize,
        got: usize,
    },
    #[error("value {value} does not fit {ty}")]
    Range { ty: DataType, value: String },
}

/// Puts the words of a multi-register value into big-endian (ABCD) order.
fn normalise(words: &[u16], order: WordOrder) -> Vec<u16> {
    let mut w: Vec<u16> = words.to_vec();
    if matches!(order, WordOrder::CDAB | WordOrder::DCBA) {
        w.reverse();
    }
    if matches!(order, WordOrder::BADC | WordOrder::DCBA) {
        for x in &mut w {
            *x = x.swap_bytes();
        }
    }
    w
}

fn join(words: &[u16]) -> u64 {
    words
        .iter()
        .fold(0u64, |acc, w| (acc << 16) | u64::from(*w))
}

/// Decodes `words` (exactly the value's registers) as `ty` in `order`.
pub fn decode(words: &[u16], ty: DataType, order: WordOrder) -> Result<Raw, DecodeError> {
    let need = usize::from(ty.words(words.len() as u16));
    if words.len() != need || need == 0 {
        return Err(DecodeError::Length {
            ty,
            need,
            got: words.len(),
        });
    }
    Ok(match ty {
        DataType::U16 => Raw::Unsigned(u64::from(normalise(words, order)[0])),
        DataType::I16 => Raw::Signed(i64::from(normalise(words, order)[0] as i16)),
        DataType::Bool => Raw::Bool(words[0] != 0),
        DataType::U32 | DataType::U64 => Raw::Unsigned(join(&normalise(words, order))),
        DataType::I32 => Raw::Signed(i64::from(join(&normalise(words, order)) as u32 as i32)),
        DataType::F32 => Raw::Float(f64::from(f32::from_bits(
            join(&normalise(words, order)) as u32
        ))),
        DataType::String => {
            // Character order inside a register follows the byte order of the word order;
            // the registers themselves are always in address order.
            let swap = matches!(order, WordOrder::BADC | WordOrder::DCBA);
            let bytes: Vec<u8> = words
                .iter()
                .flat_map(|w| {
                    let [hi, lo] = w.to_be_bytes();
                    if swap { [lo, hi] } else { [hi, lo] }
                })
                .collect();
            let end = bytes.iter().position(|b| *b == 0).unwrap_or(bytes.len());
            Raw::Text(String::from_utf8_lossy(&bytes[..end]).trim_end().to_owned())
        }
    })
}

/// The bit pattern of a numeric value as the device meant it (words in ABCD
/// order), for comparing with "not available" markers such as `0x8000`.
pub fn bits(words: &[u16], order: WordOrder) -> u64 {
    join(&normalise(words, order))
}

/// Encodes a number (already unscaled) or a bool for writing.
pub fn encode(value: f64, ty: DataType, order: WordOrder) -> Result<Vec<u16>, DecodeError> {
    let range = || DecodeError::Range {
        ty,
        value: value.to_string(),
    };
    let integral = |lo: f64, hi: f64| -> Result<i128, DecodeError> {
        let r = value.round();
        if !value.is_finite() || r < lo || r > hi {
            return Err(range());
        }
        Ok(r as i128)
    };
    let big: Vec<u16> = match ty {
        DataType::U16 => vec![integral(0.0, 65535.0)? as u16],
        DataType::I16 => vec![integral(-32768.0, 32767.0)? as i16 as u16],
        DataType::Bool => vec![u16::from(value != 0.0)],
        DataType::U32 => split(integral(0.0, 4_294_967_295.0)? as u64, 2),
        DataType::I32 => split(
            integral(-2_147_483_648.0, 2_147_483_647.0)? as i32 as u32 as u64,
            2,
        ),
        DataType::U64 => split(integral(0.0, 18_446_744_073_709_551_615.0)? as u64, 4),
        DataType::F32 => {
            if !value.is_finite() || value.abs() > f64::from(f32::MAX) {
                return Err(range());
            }
            split(u64::from((value as f32).to_bits()), 2)
        }
        DataType::String => return Err(range()),
    };
    // normalise is its own inverse for every order.
    Ok(normalise(&big, order))
}

fn split(v: u64, n: usize) -> Vec<u16> {
    (0..n)
        .rev()
        .map(|i| ((v >> (16 * i)) & 0xFFFF) as u16)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use DataType::*;
    use WordOrder::*;
    use proptest::prelude::*;

    #[test]
    fn decodes_every_type_in_every_word_order() {
        // 0x4148_F5C3 is 12.56f32; 0x1234_5678 as u32; 0xFFFF_FFFE as i32 = -2.
        let table: &[(DataType, WordOrder, &[u16], Raw)] = &[
            (U16, ABCD, &[0x1234], Raw::Unsigned(0x1234)),
            (U16, BADC, &[0x3412], Raw::Unsigned(0x1234)),
            (I16, ABCD, &[0xFFFE], Raw::Signed(-2)),
            (I16, DCBA, &[0xFEFF], Raw::Signed(-2)),
            (U32, ABCD, &[0x1234, 0x5678], Raw::Unsigned(0x1234_5678)),
            (U32, CDAB, &[0x5678, 0x1234], Raw::Unsigned(0x1234_5678)),
            (U32, BADC, &[0x3412, 0x7856], Raw::Unsigned(0x1234_5678)),
            (U32, DCBA, &[0x7856, 0x3412], Raw::Unsigned(0x1234_5678)),
            (I32, ABCD, &[0xFFFF, 0xFFFE], Raw::Signed(-2)),
            (I32, CDAB, &[0xFFFE, 0xFFFF], Raw::Signed(-2)),
            (I32, BADC, &[0xFFFF, 0xFEFF], Raw::Signed(-2)),
            (I32, DCBA, &[0xFEFF, 0xFFFF], Raw::Signed(-2)),
            (
                F32,
                ABCD,
                &[0x4148, 0xF5C3],
                Raw::Float(f64::from(12.56f32)),
            ),
            (
                F32,
                CDAB,
                &[0xF5C3, 0x4148],
                Raw::Float(f64::from(12.56f32)),
            ),
            (
                F32,
                BADC,
                &[0x4841, 0xC3F5],
                Raw::Float(f64::from(12.56f32)),
            ),
            (
                F32,
                DCBA,
                &[0xC3F5, 0x4841],
                Raw::Float(f64::from(12.56f32)),
            ),
            (
                U64,
                ABCD,
                &[0x0001, 0x0002, 0x0003, 0x0004],
                Raw::Unsigned(0x0001_0002_0003_0004),
            ),
            (
                U64,
                CDAB,
                &[0x0004, 0x0003, 0x0002, 0x0001],
                Raw::Unsigned(0x0001_0002_0003_0004),
            ),
            (
                U64,
                BADC,
                &[0x0100, 0x0200, 0x0300, 0x0400],
                Raw::Unsigned(0x0001_0002_0003_0004),
            ),
            (
                U64,
                DCBA,
                &[0x0400, 0x0300, 0x0200, 0x0100],
                Raw::Unsigned(0x0001_0002_0003_0004),
            ),
            (String, ABCD, &[0x5375, 0x6E53], Raw::Text("SunS".into())),
            (String, CDAB, &[0x5375, 0x6E53], Raw::Text("SunS".into())),
            (String, BADC, &[0x7553, 0x536E], Raw::Text("SunS".into())),
            (String, DCBA, &[0x7553, 0x536E], Raw::Text("SunS".into())),
            (
                String,
                ABCD,
                &[0x4142, 0x4300, 0x0000],
                Raw::Text("ABC".into()),
            ),
            (Bool, ABCD, &[0], Raw::Bool(false)),
            (Bool, CDAB, &[7], Raw::Bool(true)),
        ];
        for (ty, order, words, want) in table {
            let got = decode(words, *ty, *order).unwrap();
            assert_eq!(&got, want, "{ty} {order:?} {words:04X?}");
        }
    }

    #[test]
    fn rejects_wrong_register_counts() {
        assert_eq!(
            decode(&[1], U32, ABCD),
            Err(DecodeError::Length {
                ty: U32,
                need: 2,
                got: 1
            })
        );
        assert!(decode(&[], String, ABCD).is_err());
    }

    #[test]
    fn refuses_to_encode_values_that_do_not_fit() {
        assert!(encode(65536.0, U16, ABCD).is_err());
        assert!(encode(-1.0, U32, ABCD).is_err());
        assert!(encode(f64::NAN, F32, ABCD).is_err());
        assert_eq!(encode(-2.0, I16, ABCD).unwrap(), vec![0xFFFE]);
        assert_eq!(
            encode(0x1234_5678 as f64, U32, CDAB).unwrap(),
            vec![0x5678, 0x1234]
        );
    }

    fn order() -> impl Strategy<Value = WordOrder> {
        prop_oneof![Just(ABCD), Just(CDAB), Just(BADC), Just(DCBA)]
    }

    proptest! {
        #[test]
        fn integers_round_trip(v in any::<u32>(), s in any::<i32>(), w in any::<u16>(), o in order()) {
            prop_assert_eq!(decode(&encode(f64::from(v), U32, o).unwrap(), U32, o).unwrap(), Raw::Unsigned(u64::from(v)));
            prop_assert_eq!(decode(&encode(f64::from(s), I32, o).unwrap(), I32, o).unwrap(), Raw::Signed(i64::from(s)));
            prop_assert_eq!(decode(&encode(f64::from(w), U16, o).unwrap(), U16, o).unwrap(), Raw::Unsigned(u64::from(w)));
            let h = w as i16;
            prop_assert_eq!(decode(&encode(f64::from(h), I16, o).unwrap(), I16, o).unwrap(), Raw::Signed(i64::from(h)));
        }

        #[test]
        fn floats_and_u64_round_trip(f in -1.0e30f32..1.0e30f32, u in 0u64..(1u64 << 53), o in order()) {
            prop_assert_eq!(decode(&encode(f64::from(f), F32, o).unwrap(), F32, o).unwrap(), Raw::Float(f64::from(f)));
            prop_assert_eq!(decode(&encode(u as f64, U64, o).unwrap(), U64, o).unwrap(), Raw::Unsigned(u));
        }
    }
}
