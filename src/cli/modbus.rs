//! `nomhub modbus read|write|scan`: the installer's raw Modbus tools.

use std::io::{BufRead, Write};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Subcommand};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::device::{DeviceSpec, Poller, sunspec};
use crate::modbus::{
    BusHandle, BusSettings, DataType, Op, Raw, RegisterKind, Transport, WordOrder, bus, decode,
    encode,
};
use crate::model::BusId;
use crate::profile::ProfileSet;

#[derive(Debug, Args, Clone)]
pub struct Target {
    /// TCP host of the device or gateway.
    #[arg(long, conflicts_with = "serial")]
    pub host: Option<String>,
    #[arg(long, default_value_t = 502)]
    pub port: u16,
    /// Serial device for RTU, e.g. /dev/ttyUSB0.
    #[arg(long)]
    pub serial: Option<String>,
    #[arg(long, default_value_t = 9600)]
    pub baud: u32,
    /// Per-request timeout.
    #[arg(long, default_value = "1s", value_parser = humantime::parse_duration)]
    pub timeout: Duration,
}

#[derive(Debug, Args, Clone)]
pub struct RegisterArgs {
    #[arg(long, default_value_t = 1)]
    pub unit: u8,
    /// holding, input, coil or discrete.
    #[arg(long, default_value = "holding")]
    pub register: RegisterKind,
    /// Wire (0-based) address.
    #[arg(long)]
    pub address: u16,
    /// u16, i16, u32, i32, u64, f32, string or bool.
    #[arg(long = "type", default_value = "u16")]
    pub ty: DataType,
    /// ABCD, CDAB, BADC or DCBA.
    #[arg(long, default_value = "ABCD")]
    pub word_order: WordOrder,
    /// Registers of a string.
    #[arg(long, default_value_t = 8)]
    pub length: u16,
    /// Multiply the raw value by this.
    #[arg(long, default_value_t = 1.0)]
    pub scale: f64,
}

#[derive(Debug, Subcommand)]
pub enum ModbusCommand {
    /// Read and decode registers.
    Read {
        #[command(flatten)]
        target: Target,
        #[command(flatten)]
        reg: RegisterArgs,
        /// Read this many consecutive values.
        #[arg(long, default_value_t = 1)]
        count: u16,
        #[arg(long)]
        json: bool,
    },
    /// Write a value (asks for confirmation unless --yes).
    Write {
        #[command(flatten)]
        target: Target,
        #[command(flatten)]
        reg: RegisterArgs,
        /// The value in engineering units (divided by --scale before encoding).
        #[arg(long, allow_hyphen_values = true)]
        value: f64,
        #[arg(long)]
        yes: bool,
        #[arg(long)]
        json: bool,
    },
    /// Find the unit ids that answer, and SunSpec devices with their models.
    Scan {
        #[command(flatten)]
        target: Target,
        /// Units to try, e.g. "1-10" or "1,2,126".
        #[arg(long, default_value = "1-247")]
        units: String,
        #[arg(long)]
        json: bool,
    },
}

fn connect(target: &Target, cancel: &CancellationToken) -> anyhow::Result<BusHandle> {
    let transport = match (&target.host, &target.serial) {
        (Some(host), None) => Transport::Tcp {
            host: host.clone(),
            port: target.port,
        },
        (None, Some(serial)) => Transport::Rtu {
            serial: serial.clone(),
            baud: target.baud,
        },
        _ => anyhow::bail!("give --host (Modbus TCP) or --serial (Modbus RTU)"),
    };
    let mut settings = BusSettings::new(BusId::new("cli").map_err(anyhow::Error::msg)?, transport);
    settings.timeout = target.timeout;
    Ok(bus::spawn(settings, cancel.clone()))
}

fn raw_json(raw: &Raw) -> serde_json::Value {
    match raw {
        Raw::Unsigned(u) => json!(u),
        Raw::Signed(i) => json!(i),
        Raw::Float(f) => json!(f),
        Raw::Text(s) => json!(s),
        Raw::Bool(b) => json!(b),
    }
}

pub(super) async fn modbus(cmd: ModbusCommand) -> anyhow::Result<ExitCode> {
    let cancel = CancellationToken::new();
    let result = match cmd {
        ModbusCommand::Read {
            target,
            reg,
            count,
            json,
        } => {
            let bus = connect(&target, &cancel)?;
            let size = if reg.register.is_bit() {
                1
            } else {
                reg.ty.words(reg.length)
            };
            let op = Op::Read {
                kind: reg.register,
                addr: reg.address,
                count: size * count,
            };
            let words = match bus.call(reg.unit, op).await {
                Ok(w) => w,
                Err(e) => {
                    eprintln!("error: {e}");
                    return Ok(ExitCode::FAILURE);
                }
            };
            let mut values = Vec::new();
            for (i, chunk) in words.chunks(usize::from(size)).enumerate() {
                let addr = reg.address + i as u16 * size;
                let ty = if reg.register.is_bit() {
                    DataType::Bool
                } else {
                    reg.ty
                };
                let raw = decode(chunk, ty, reg.word_order)?;
                let scaled = raw
                    .as_f64()
                    .filter(|_| !matches!(raw, Raw::Bool(_)))
                    .map(|v| v * reg.scale);
                values.push((addr, chunk.to_vec(), raw, scaled));
            }
            if json {
                let out: Vec<_> = values
                    .iter()
                    .map(|(a, w, raw, s)| json!({"address": a, "words": w, "raw": raw_json(raw), "value": s.map_or_else(|| raw_json(raw), |v| json!(v))}))
                    .collect();
                println!(
                    "{}",
                    serde_json::to_string_pretty(
                        &json!({"unit": reg.unit, "register": reg.register, "type": reg.ty.to_string(), "word_order": reg.word_order, "values": out})
                    )?
                );
            } else {
                for (a, w, raw, s) in values {
                    let shown = match (s, &raw) {
                        // An f32 shown with f32 precision: 12345.6, not 12345.599609375.
                        (Some(v), Raw::Float(_)) => format!("{}", v as f32),
                        (Some(v), _) => format_number(v),
                        (None, Raw::Text(t)) => format!("{t:?}"),
                        (None, other) => format!("{}", raw_json(other)),
                    };
                    let hex: Vec<String> = w.iter().map(|x| format!("0x{x:04X}")).collect();
                    println!("{} {a} = {shown}   [{}]", reg.register, hex.join(" "));
                }
            }
            ExitCode::SUCCESS
        }
        ModbusCommand::Write {
            target,
            reg,
            value,
            yes,
            json,
        } => {
            let op = if reg.register == RegisterKind::Coil {
                Op::WriteCoil {
                    addr: reg.address,
                    value: value != 0.0,
                }
            } else if reg.register == RegisterKind::Holding {
                Op::WriteRegisters {
                    addr: reg.address,
                    words: encode(value / reg.scale, reg.ty, reg.word_order)?,
                }
            } else {
                anyhow::bail!(
                    "{} registers cannot be written; use --register holding or coil",
                    reg.register
                );
            };
            let where_ = target.host.clone().map_or_else(
                || target.serial.clone().unwrap_or_default(),
                |h| format!("{h}:{}", target.port),
            );
            if !yes {
                eprint!(
                    "Write {value} to unit {} {} {} ({op}) on {where_}? Type yes: ",
                    reg.unit, reg.register, reg.address
                );
                std::io::stderr().flush()?;
                let mut line = String::new();
                std::io::stdin().lock().read_line(&mut line)?;
                if line.trim() != "yes" {
                    eprintln!("Not written.");
                    return Ok(ExitCode::FAILURE);
                }
            }
            let bus = connect(&target, &cancel)?;
            match bus.call(reg.unit, op).await {
                Ok(_) => {
                    if json {
                        println!(
                            "{}",
                            json!({"written": true, "unit": reg.unit, "address": reg.address, "value": value})
                        );
                    } else {
                        println!(
                            "Wrote {value} to unit {} {} {}.",
                            reg.unit, reg.register, reg.address
                        );
                    }
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        ModbusCommand::Scan {
            target,
            units,
            json,
        } => scan(&target, &units, json, &cancel).await?,
    };
    cancel.cancel();
    Ok(result)
}

/// Whether the device at `unit` passes every `identify` check of Modbus profile `p`
/// (`resolved`: its wire addresses).
async fn identify(
    bus: &BusHandle,
    unit: u8,
    p: &crate::profile::Profile,
    resolved: &crate::profile::ResolvedProfile,
) -> bool {
    for check in &p.file.identify {
        let Some(def) = resolved.point(check.point.as_str()) else {
            return false;
        };
        let op = Op::Read {
            kind: def.kind,
            addr: def.addr,
            count: def.words,
        };
        let Ok(words) = bus.call(unit, op).await else {
            return false;
        };
        let Ok(value) = crate::device::point::decode_point(def, def.addr, &words) else {
            return false;
        };
        let fits = match (&check.prefix, &value) {
            (Some(prefix), crate::model::Value::Text(t)) => t.starts_with(prefix.as_str()),
            (Some(_), _) => false,
            (None, v) => v.as_f64().is_some_and(|x| {
                check.min.is_some_and(|lo| x >= lo) && check.max.is_some_and(|hi| x <= hi)
            }),
        };
        if !fits {
            return false;
        }
    }
    true
}

fn format_number(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{v:.0}")
    } else {
        format!("{v}")
    }
}

fn parse_units(s: &str) -> anyhow::Result<Vec<u8>> {
    let mut out = Vec::new();
    for part in s.split(',') {
        match part.split_once('-') {
            Some((a, b)) => out.extend(a.trim().parse::<u8>()?..=b.trim().parse::<u8>()?),
            None => out.push(part.trim().parse()?),
        }
    }
    Ok(out)
}

async fn scan(
    target: &Target,
    units: &str,
    json: bool,
    cancel: &CancellationToken,
) -> anyhow::Result<ExitCode> {
    let bus = connect(target, cancel)?;
    let profiles = ProfileSet::embedded().map_err(|r| anyhow::anyhow!("{r}"))?;
    let sunspec_profile = profiles.get("sunspec-inverter").cloned();
    // The Modbus profiles that can tell their device from others, resolved once.
    let identifiable: Vec<_> = profiles
        .iter()
        .filter(|p| !p.file.identify.is_empty() && p.file.sunspec.is_none())
        .filter_map(|p| Some((p, p.resolve().ok()?)))
        .collect();
    let mut found = Vec::new();
    for unit in parse_units(units)? {
        // Any answer, an exception included, means a device is there; a gateway's
        // "target did not respond" and silence mean nobody is.
        let probe = bus
            .call(
                unit,
                Op::Read {
                    kind: RegisterKind::Holding,
                    addr: 0,
                    count: 1,
                },
            )
            .await;
        let present = match &probe {
            Ok(_) => true,
            Err(e) => match e.exception() {
                Some(
                    tokio_modbus::ExceptionCode::GatewayTargetDevice
                    | tokio_modbus::ExceptionCode::GatewayPathUnavailable,
                ) => false,
                Some(_) => true,
                None => false,
            },
        };
        if !present {
            continue;
        }
        let mut entry = json!({"unit": unit});
        // A SunSpec device says what it is; the others are told by their profiles'
        // `identify` checks.
        let (profile, resolved) = match sunspec::discover(&bus, unit, &[40000, 0, 50000]).await {
            Ok((base, models)) => {
                entry["sunspec"] = json!({"base": base, "models": models.iter().map(|m| json!({"id": m.id, "address": m.addr, "length": m.len})).collect::<Vec<_>>()});
                match &sunspec_profile {
                    Some(p) => (Some(p.clone()), p.resolve_sunspec(&models).ok()),
                    None => (None, None),
                }
            }
            Err(_) => {
                let mut matches = Vec::new();
                for (p, resolved) in &identifiable {
                    if identify(&bus, unit, p, resolved).await {
                        matches.push(((*p).clone(), resolved.clone()));
                    }
                }
                entry["profiles"] = json!(matches.iter().map(|(p, _)| p.id()).collect::<Vec<_>>());
                // Values only when one profile fits: two would read alike.
                match <[_; 1]>::try_from(matches) {
                    Ok([(p, r)]) => (Some(p), Some(r)),
                    Err(_) => (None, None),
                }
            }
        };
        if let (Some(p), Some(resolved)) = (profile, resolved) {
            let spec = DeviceSpec {
                id: crate::model::DeviceId::new("scan").map_err(anyhow::Error::msg)?,
                profile: p,
                unit,
                bus: bus.clone(),
                interval_override: None,
                clock: crate::clock::Clock::System,
            };
            let mut poller = Poller::new(&spec, resolved);
            let mut values = serde_json::Map::new();
            for report in poller.poll_all().await {
                for s in report.samples {
                    if let Ok(v) = s.value {
                        values.insert(s.point.to_string(), json!(v.to_string()));
                    }
                }
            }
            entry["values"] = serde_json::Value::Object(values);
        }
        found.push(entry);
    }
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({"units": found}))?
        );
    } else if found.is_empty() {
        println!("No unit answered.");
    } else {
        for e in &found {
            print!("unit {}: answers", e["unit"]);
            if let Some(s) = e.get("sunspec") {
                let ids: Vec<String> = s["models"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|m| m["id"].to_string())
                    .collect();
                print!(", SunSpec at {} with models {}", s["base"], ids.join(", "));
            }
            let names: Vec<&str> = e["profiles"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|p| p.as_str())
                .collect();
            if !names.is_empty() {
                print!(", looks like {}", names.join(" or "));
            }
            println!();
            if let Some(v) = e.get("values").and_then(|v| v.as_object()) {
                for (k, val) in v {
                    println!("    {k:<24} {}", val.as_str().unwrap_or(""));
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
