//! Register fixtures (`tests/fixtures/registers/<profile>.toml`): a unit's register
//! image written as typed values, and the values a profile must decode from it.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::image::UnitImage;
use crate::modbus::{DataType, RegisterKind, WordOrder, encode};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fixture {
    pub profile: String,
    pub unit: u8,
    pub source: String,
    #[serde(default)]
    pub strict: bool,
    #[serde(rename = "register")]
    pub registers: Vec<FixtureRegister>,
    /// Point key → the value as nomhub prints it (`"48.5 °C"`), or `"unavailable"`.
    pub expect: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FixtureRegister {
    pub kind: RegisterKind,
    pub address: u16,
    /// Raw words, or a typed value with `type`.
    #[serde(default)]
    pub words: Vec<u16>,
    #[serde(default, rename = "type")]
    pub ty: Option<DataType>,
    #[serde(default)]
    pub value: Option<toml::Value>,
    #[serde(default)]
    pub word_order: WordOrder,
    #[serde(default)]
    pub length: Option<u16>,
    #[serde(default)]
    pub writable: bool,
}

impl Fixture {
    pub fn parse(text: &str) -> Result<Self, String> {
        toml::from_str(text).map_err(|e| e.to_string())
    }

    /// The unit image the fixture describes.
    pub fn image(&self) -> Result<UnitImage, String> {
        let mut img = UnitImage {
            strict: self.strict,
            ..UnitImage::default()
        };
        for r in &self.registers {
            let words = match (&r.ty, &r.value) {
                (None, None) => r.words.clone(),
                (Some(DataType::String), Some(toml::Value::String(s))) => {
                    let mut bytes = s.as_bytes().to_vec();
                    bytes.resize(usize::from(r.length.unwrap_or(1)) * 2, 0);
                    bytes
                        .chunks(2)
                        .map(|c| u16::from_be_bytes([c[0], c[1]]))
                        .collect()
                }
                (Some(ty), Some(v)) => {
                    let n = v
                        .as_float()
                        .or_else(|| v.as_integer().map(|i| i as f64))
                        .ok_or_else(|| format!("register {}: value must be a number", r.address))?;
                    encode(n, *ty, r.word_order)
                        .map_err(|e| format!("register {}: {e}", r.address))?
                }
                _ => {
                    return Err(format!(
                        "register {}: give `words`, or `type` and `value`",
                        r.address
                    ));
                }
            };
            img.set(r.kind, r.address, &words);
            if r.writable {
                img.writable
                    .extend((0..words.len() as u16).map(|i| r.address + i));
            }
        }
        Ok(img)
    }
}
