//! One P1 telegram: checked (structure, CRC16 for DSMR 4 and later, the unit of every
//! value nomhub reads), then read into a [`Reading`] with units in its types.
//!
//! A telegram is a header line (`/` and the meter's identification), a blank line,
//! one COSEM object per line (`1-0:1.8.1(001581.123*kWh)`: an OBIS code, then values
//! in brackets; a DSMR 2.2 gas reading continues on a line of its own that starts with
//! `(`), and an end line: `!` with the CRC16 (ARC: polynomial 0xA001 reflected,
//! start 0) of every byte from `/` up to and including `!`, as four hex digits. DSMR
//! 2.2 and 3.0 end with a bare `!`.

use chrono::{DateTime, NaiveDate, TimeZone, Utc};

/// What is wrong with a telegram; it is dropped, never read in part.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TelegramError {
    #[error("does not start with `/`")]
    NoHeader,
    #[error("cut off: no end line `!`")]
    Truncated,
    #[error("not text: byte {0:#04x} at {1}")]
    NotText(u8, usize),
    #[error("CRC {found:04X} in the telegram, {computed:04X} over its bytes")]
    Crc { found: u16, computed: u16 },
    #[error("end line `{0}` is not `!` and four hex digits")]
    EndLine(String),
    #[error("DSMR {0} telegrams carry a CRC; this one ends with a bare `!`")]
    MissingCrc(String),
    #[error("line {line}: `{text}` is not an OBIS object with values in brackets")]
    Line { line: usize, text: String },
    #[error("{obis}: `{value}` is not {expected}")]
    Value {
        obis: String,
        value: String,
        expected: &'static str,
    },
}

/// A COSEM object: its OBIS code as written and its bracketed values.
#[derive(Debug, Clone, PartialEq)]
pub struct Object {
    pub obis: String,
    pub values: Vec<String>,
}

/// A telegram checked for structure and CRC.
#[derive(Debug, Clone, PartialEq)]
pub struct Telegram {
    /// The meter's identification, without the `/`.
    pub header: String,
    /// `1-3:0.2.8`: "42" for DSMR 4.2, "50" for 5.0; none before DSMR 4.
    pub version: Option<String>,
    pub objects: Vec<Object>,
    pub crc: Option<u16>,
}

/// CRC-16/ARC, as DSMR 4 and later compute it.
pub fn crc16(bytes: &[u8]) -> u16 {
    const ARC: crc::Crc<u16> = crc::Crc::<u16>::new(&crc::CRC_16_ARC);
    ARC.checksum(bytes)
}

/// The most bytes a telegram may have (a DSMR 5 telegram with a full text message and
/// four M-Bus devices is under 3 KiB).
pub const MAX_TELEGRAM: usize = 16 * 1024;

impl Telegram {
    /// Checks and splits one telegram (from `/` to the end line's line break).
    pub fn parse(bytes: &[u8]) -> Result<Self, TelegramError> {
        if bytes.first() != Some(&b'/') {
            return Err(TelegramError::NoHeader);
        }
        if let Some(at) = bytes
            .iter()
            .position(|b| !(b.is_ascii_graphic() || matches!(b, b' ' | b'\r' | b'\n' | b'\t')))
        {
            return Err(TelegramError::NotText(bytes[at], at));
        }
        let bang = bytes
            .iter()
            .rposition(|b| *b == b'!')
            .ok_or(TelegramError::Truncated)?;
        // Every byte is ASCII (checked above), so this is text.
        let text = String::from_utf8_lossy(bytes);
        let end = text[bang + 1..].trim();
        let crc = if end.is_empty() {
            None
        } else if end.len() == 4 && end.bytes().all(|b| b.is_ascii_hexdigit()) {
            let found =
                u16::from_str_radix(end, 16).map_err(|_| TelegramError::EndLine(end.into()))?;
            let computed = crc16(&bytes[..=bang]);
            if found != computed {
                return Err(TelegramError::Crc { found, computed });
            }
            Some(found)
        } else {
            return Err(TelegramError::EndLine(format!("!{end}")));
        };
        let mut lines = text[..bang].split('\n').map(|l| l.trim_end_matches('\r'));
        let header = lines.next().unwrap_or_default()[1..].trim().to_owned();
        let mut objects: Vec<Object> = Vec::new();
        for (i, line) in lines.enumerate() {
            let line_no = i + 2;
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            let bad = || TelegramError::Line {
                line: line_no,
                text: line.chars().take(60).collect(),
            };
            let open = line.find('(').ok_or_else(bad)?;
            let values = bracketed(&line[open..]).ok_or_else(bad)?;
            if open == 0 {
                // DSMR 2.2/3.0: the gas reading continues the object before it.
                objects.last_mut().ok_or_else(bad)?.values.extend(values);
                continue;
            }
            let obis = &line[..open];
            if !is_obis(obis) {
                return Err(bad());
            }
            objects.push(Object {
                obis: obis.to_owned(),
                values,
            });
        }
        let version = objects
            .iter()
            .find(|o| o.obis == "1-3:0.2.8")
            .and_then(|o| o.values.first().cloned());
        if crc.is_none()
            && let Some(v) = &version
        {
            return Err(TelegramError::MissingCrc(v.clone()));
        }
        Ok(Self {
            header,
            version,
            objects,
            crc,
        })
    }

    fn object(&self, obis: &str) -> Option<&Object> {
        self.objects
            .iter()
            .find(|o| o.obis == obis || o.obis.strip_suffix("*255") == Some(obis))
    }

    /// What nomhub reads of the telegram, each value checked for its unit.
    pub fn reading(&self) -> Result<Reading, TelegramError> {
        let energy = |obis: &str| -> Result<Option<i64>, TelegramError> {
            self.object(obis)
                .map(|o| quantity(o, 0, &[("kWh", 1000.0), ("Wh", 1.0)], "kWh or Wh"))
                .transpose()
                .map(|v| v.map(|wh| wh.round() as i64))
        };
        let power = |obis: &str| {
            self.object(obis)
                .map(|o| quantity(o, 0, &[("kW", 1000.0), ("W", 1.0)], "kW or W"))
                .transpose()
        };
        let unit = |obis: &str, unit: &'static str, expected: &'static str| {
            self.object(obis)
                .map(|o| quantity(o, 0, &[(unit, 1.0)], expected))
                .transpose()
        };
        let voltage = |o: &str| unit(o, "V", "volts (V)");
        let current = |o: &str| unit(o, "A", "amperes (A)");
        let mut import_wh = [energy("1-0:1.8.1")?, energy("1-0:1.8.2")?];
        let mut export_wh = [energy("1-0:2.8.1")?, energy("1-0:2.8.2")?];
        // Meters with one register only (1.8.0/2.8.0) count it as tariff 1.
        if import_wh == [None, None] {
            import_wh[0] = energy("1-0:1.8.0")?;
        }
        if export_wh == [None, None] {
            export_wh[0] = energy("1-0:2.8.0")?;
        }
        let tariff = match self.object("0-0:96.14.0") {
            None => None,
            Some(o) => {
                let v = o.values.first().map(String::as_str).unwrap_or_default();
                match v.trim_start_matches('0') {
                    "1" => Some(1),
                    "2" => Some(2),
                    _ => {
                        return Err(TelegramError::Value {
                            obis: o.obis.clone(),
                            value: v.into(),
                            expected: "tariff 1 or 2",
                        });
                    }
                }
            }
        };
        Ok(Reading {
            meter_time: match self.object("0-0:1.0.0") {
                None => None,
                Some(o) => Some(timestamp(o)?),
            },
            equipment_id: self
                .object("0-0:96.1.1")
                .and_then(|o| o.values.first())
                .map(|hex| hex_text(hex).unwrap_or_else(|| hex.clone())),
            import_wh,
            export_wh,
            tariff,
            power_import_w: power("1-0:1.7.0")?,
            power_export_w: power("1-0:2.7.0")?,
            voltage_v: [
                voltage("1-0:32.7.0")?,
                voltage("1-0:52.7.0")?,
                voltage("1-0:72.7.0")?,
            ],
            current_a: [
                current("1-0:31.7.0")?,
                current("1-0:51.7.0")?,
                current("1-0:71.7.0")?,
            ],
            phase_import_w: [
                power("1-0:21.7.0")?,
                power("1-0:41.7.0")?,
                power("1-0:61.7.0")?,
            ],
            phase_export_w: [
                power("1-0:22.7.0")?,
                power("1-0:42.7.0")?,
                power("1-0:62.7.0")?,
            ],
        })
    }
}

/// `(a)(b)(c)` → `["a", "b", "c"]`; `None` when anything but brackets is there.
fn bracketed(s: &str) -> Option<Vec<String>> {
    let mut out = Vec::new();
    let mut rest = s.trim();
    while !rest.is_empty() {
        let inner = rest.strip_prefix('(')?;
        let close = inner.find(')')?;
        if inner[..close].contains('(') {
            return None;
        }
        out.push(inner[..close].to_owned());
        rest = inner[close + 1..].trim_start();
    }
    Some(out)
}

/// `A-B:C.D.E` with numbers, optionally `*F` (as some meters add `*255`).
fn is_obis(s: &str) -> bool {
    let s = s.split_once('*').map_or(s, |(code, f)| {
        if f.bytes().all(|b| b.is_ascii_digit()) && !f.is_empty() {
            code
        } else {
            ""
        }
    });
    let Some((medium, rest)) = s.split_once('-') else {
        return false;
    };
    let Some((channel, rest)) = rest.split_once(':') else {
        return false;
    };
    let groups: Vec<&str> = rest.split('.').collect();
    let number = |g: &str| !g.is_empty() && g.len() <= 3 && g.bytes().all(|b| b.is_ascii_digit());
    number(medium) && number(channel) && groups.len() == 3 && groups.iter().all(|g| number(g))
}

/// Value `i` of `o` as `number*unit`, scaled by the factor of its unit.
fn quantity(
    o: &Object,
    i: usize,
    units: &[(&str, f64)],
    expected: &'static str,
) -> Result<f64, TelegramError> {
    let raw = o.values.get(i).map(String::as_str).unwrap_or_default();
    let bad = || TelegramError::Value {
        obis: o.obis.clone(),
        value: raw.to_owned(),
        expected,
    };
    let (number, unit) = raw.split_once('*').ok_or_else(bad)?;
    let factor = units
        .iter()
        .find(|(u, _)| *u == unit)
        .map(|(_, f)| *f)
        .ok_or_else(bad)?;
    // Digits with at most one point, read exactly: 02.027 kW is 2027 W, not 2027.0000000000002.
    let (whole, frac) = number.split_once('.').unwrap_or((number, ""));
    let digits = format!("{whole}{frac}");
    if digits.is_empty() || digits.len() > 15 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let mantissa: u64 = digits.parse().map_err(|_| bad())?;
    let decimals = i32::try_from(frac.len()).map_err(|_| bad())?;
    Ok(mantissa as f64 * factor / 10f64.powi(decimals))
}

/// `YYMMDDhhmmssX`, X `S` (summer: UTC+2) or `W` (winter: UTC+1), as the meter's own
/// clock gives it.
fn timestamp(o: &Object) -> Result<DateTime<Utc>, TelegramError> {
    let raw = o.values.first().map(String::as_str).unwrap_or_default();
    let bad = || TelegramError::Value {
        obis: o.obis.clone(),
        value: raw.to_owned(),
        expected: "a time YYMMDDhhmmss with S or W",
    };
    if raw.len() != 13 || !raw.as_bytes()[..12].iter().all(u8::is_ascii_digit) {
        return Err(bad());
    }
    let n = |a: usize| raw[a..a + 2].parse::<u32>().map_err(|_| bad());
    let offset_h = match &raw[12..] {
        "S" => 2,
        "W" => 1,
        _ => return Err(bad()),
    };
    let (hour, minute, second) = (n(6)?, n(8)?, n(10)?);
    let local = NaiveDate::from_ymd_opt(2000 + n(0)? as i32, n(2)?, n(4)?)
        .and_then(|d| d.and_hms_opt(hour, minute, second))
        .ok_or_else(bad)?;
    let offset = chrono::FixedOffset::east_opt(offset_h * 3600).ok_or_else(bad)?;
    offset
        .from_local_datetime(&local)
        .single()
        .map(|t| t.with_timezone(&Utc))
        .ok_or_else(bad)
}

/// The equipment id is ASCII written in hex; its text when it is.
fn hex_text(hex: &str) -> Option<String> {
    if !hex.len().is_multiple_of(2) || hex.is_empty() {
        return None;
    }
    let bytes: Option<Vec<u8>> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect();
    let bytes = bytes?;
    bytes
        .iter()
        .all(u8::is_ascii_graphic)
        .then(|| String::from_utf8_lossy(&bytes).into_owned())
}

/// What nomhub reads of a telegram; `None` where the meter does not send it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Reading {
    /// The meter's own clock.
    pub meter_time: Option<DateTime<Utc>>,
    pub equipment_id: Option<String>,
    /// Delivered to the home (grid import), tariff 1 (low) and 2 (normal), Wh.
    pub import_wh: [Option<i64>; 2],
    /// Returned to the grid (export), tariff 1 and 2, Wh.
    pub export_wh: [Option<i64>; 2],
    /// The tariff in force (1 or 2).
    pub tariff: Option<u8>,
    pub power_import_w: Option<f64>,
    pub power_export_w: Option<f64>,
    /// L1, L2, L3.
    pub voltage_v: [Option<f64>; 3],
    pub current_a: [Option<f64>; 3],
    pub phase_import_w: [Option<f64>; 3],
    pub phase_export_w: [Option<f64>; 3],
}

impl Reading {
    /// Both tariffs together, when the meter sends any.
    pub fn import_total_wh(&self) -> Option<i64> {
        sum(self.import_wh)
    }

    pub fn export_total_wh(&self) -> Option<i64> {
        sum(self.export_wh)
    }

    /// Grid power, + import − export.
    pub fn grid_w(&self) -> Option<f64> {
        match (self.power_import_w, self.power_export_w) {
            (None, None) => None,
            (i, e) => Some(i.unwrap_or(0.0) - e.unwrap_or(0.0)),
        }
    }
}

fn sum(x: [Option<i64>; 2]) -> Option<i64> {
    match x {
        [None, None] => None,
        [a, b] => Some(a.unwrap_or(0) + b.unwrap_or(0)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const V2_2: &[u8] = include_bytes!("../../tests/fixtures/p1/dsmr-2.2.txt");
    const V3: &[u8] = include_bytes!("../../tests/fixtures/p1/dsmr-3.0.txt");
    const V4_2: &[u8] = include_bytes!("../../tests/fixtures/p1/dsmr-4.2.txt");
    const V5: &[u8] = include_bytes!("../../tests/fixtures/p1/dsmr-5.0.txt");
    const V5_WH: &[u8] = include_bytes!("../../tests/fixtures/p1/dsmr-5.0-wh.txt");
    const ESMR5: &[u8] = include_bytes!("../../tests/fixtures/p1/esmr-5.0.txt");

    fn read(bytes: &[u8]) -> Reading {
        Telegram::parse(bytes)
            .and_then(|t| t.reading())
            .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn every_version_reads_with_units_in_its_types() {
        let v42 = read(V4_2);
        assert_eq!(v42.import_wh, [Some(1_581_123), Some(1_435_706)]);
        assert_eq!(v42.export_wh, [Some(0), Some(0)]);
        assert_eq!((v42.tariff, v42.power_import_w), (Some(2), Some(2027.0)));
        assert_eq!(v42.phase_import_w, [Some(170.0), Some(1247.0), Some(209.0)]);
        assert_eq!(v42.current_a, [Some(0.0), Some(6.0), Some(2.0)]);
        // 13 November 2016 20:57:57 winter time is 19:57:57 UTC.
        assert_eq!(
            v42.meter_time.map(|t| t.to_rfc3339()),
            Some("2016-11-13T19:57:57+00:00".into())
        );
        let v5 = read(V5);
        assert_eq!(v5.voltage_v, [Some(230.0), Some(230.0), Some(229.0)]);
        assert_eq!(v5.current_a, [Some(0.48), Some(0.44), Some(0.86)]);
        assert_eq!(v5.export_total_wh(), Some(2_444));
        assert_eq!(v5.equipment_id.as_deref(), Some("K8EG004046395507"));
        // Counters in Wh and power in W (Sagemcom T210-D-r).
        let wh = read(V5_WH);
        assert_eq!(wh.import_wh, [Some(5_017_120), Some(1_528_646)]);
        assert_eq!((wh.power_import_w, wh.grid_w()), (Some(286.0), Some(286.0)));
        let esmr = read(ESMR5);
        assert_eq!(
            (esmr.import_wh[0], esmr.export_wh[0]),
            (Some(41_979), Some(17_760))
        );
        // DSMR 2.2 and 3.0: no version, no CRC; the gas reading on its own line
        // belongs to the object before it.
        let t = Telegram::parse(V2_2).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((t.version.as_deref(), t.crc), (None, None));
        let gas = t.objects.iter().find(|o| o.obis == "0-1:24.3.0");
        assert_eq!(
            gas.and_then(|g| g.values.last()).map(String::as_str),
            Some("00001.001")
        );
        assert_eq!(read(V2_2).import_wh, [Some(1001), Some(1001)]);
        assert_eq!(read(V3).import_total_wh(), Some(24_691_356));
    }

    #[test]
    fn a_damaged_telegram_is_refused_with_what_is_wrong() {
        let text = String::from_utf8_lossy(V5).into_owned();
        // One digit changed: the CRC no longer matches.
        let flipped = text.replace("000004.426", "000004.427");
        assert!(matches!(
            Telegram::parse(flipped.as_bytes()),
            Err(TelegramError::Crc { found: 0x6EEE, .. })
        ));
        // A DSMR 5 telegram without its CRC.
        let bare = text.replace("!6EEE", "!");
        assert_eq!(
            Telegram::parse(bare.as_bytes()),
            Err(TelegramError::MissingCrc("50".into()))
        );
        // Cut off before the end.
        assert_eq!(Telegram::parse(&V5[..200]), Err(TelegramError::Truncated));
        // A line that is not an object.
        let bad = "/X\r\n\r\n1-0:1.8.1 000004.426*kWh\r\n!\r\n";
        assert!(matches!(
            Telegram::parse(bad.as_bytes()),
            Err(TelegramError::Line { line: 3, .. })
        ));
        // A counter in the wrong unit is named, with its OBIS code.
        let wrong = "/X\r\n\r\n1-0:1.8.1(000004.426*kW)\r\n!\r\n";
        let e = Telegram::parse(wrong.as_bytes()).and_then(|t| t.reading());
        assert_eq!(
            e.map_err(|e| e.to_string()),
            Err("1-0:1.8.1: `000004.426*kW` is not kWh or Wh".into())
        );
        assert_eq!(Telegram::parse(b"garbage"), Err(TelegramError::NoHeader));
    }

    #[test]
    fn the_crc_is_crc16_arc() {
        // The check value of CRC-16/ARC.
        assert_eq!(crc16(b"123456789"), 0xBB3D);
    }

    proptest! {
        /// No bytes make the parser panic, and what it accepts it can read or refuse.
        #[test]
        fn no_bytes_panic_the_parser(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let mut b = vec![b'/'];
            b.extend(bytes);
            if let Ok(t) = Telegram::parse(&b)
                && let Ok(r) = t.reading()
            {
                // Counters are digits only: never below zero.
                prop_assert!(r.import_total_wh().is_none_or(|wh| wh >= 0));
                prop_assert!(r.export_total_wh().is_none_or(|wh| wh >= 0));
            }
        }

        /// Any line of a good telegram changed into other text is refused or read with
        /// every value checked: never a panic.
        #[test]
        fn a_telegram_with_a_line_replaced_never_panics(line in 1usize..40, text in "[ -~]{0,40}") {
            let t = String::from_utf8_lossy(V4_2).into_owned();
            let mut lines: Vec<String> = t.split("\r\n").map(str::to_owned).collect();
            let i = line % lines.len();
            lines[i] = text;
            let changed = lines.join("\r\n");
            if let Ok(t) = Telegram::parse(changed.as_bytes())
                && let Ok(r) = t.reading()
            {
                // Counters are digits only: never below zero.
                prop_assert!(r.import_total_wh().is_none_or(|wh| wh >= 0));
                prop_assert!(r.export_total_wh().is_none_or(|wh| wh >= 0));
            }
        }
    }
}
