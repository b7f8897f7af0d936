//! `nomhub devices check`: every configured device polled once; and the plain table of
//! points the demo prints too.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Subcommand;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::device::{Poller, poller};
use crate::state::Snapshot;

#[derive(Debug, Subcommand)]
pub enum DevicesCommand {
    /// Poll every configured device once and print its values and errors.
    Check {
        #[arg(long)]
        config: PathBuf,
        #[arg(long)]
        json: bool,
    },
}

/// A plain table of every point, grouped by device.
pub fn render_snapshot(snap: &Snapshot) -> String {
    let mut out = String::new();
    let mut last_device = None;
    for ((device, point), sample) in &snap.points {
        if last_device != Some(device) {
            let status = snap.devices.get(device);
            let state = match status {
                Some(s) if s.online => "online".to_owned(),
                Some(s) => format!("OFFLINE: {}", s.last_error.as_deref().unwrap_or("")),
                None => "unknown".to_owned(),
            };
            out.push_str(&format!("{device} ({state})\n"));
            last_device = Some(device);
        }
        let value = match &sample.value {
            Ok(v) => v.to_string(),
            Err(e) => format!("unavailable ({})", unavailable_text(e)),
        };
        out.push_str(&format!("  {:<28} {value}\n", point.as_str()));
    }
    out
}

fn unavailable_text(e: &crate::model::Unavailable) -> String {
    use crate::model::Unavailable::*;
    match e {
        NotImplemented => "not implemented by the device".to_owned(),
        PollFailed(s) | Rejected(s) => s.clone(),
    }
}

pub(super) async fn devices_check(path: &std::path::Path, json: bool) -> anyhow::Result<ExitCode> {
    let Some(config) = super::load_or_report(path) else {
        return Ok(ExitCode::from(2));
    };
    let cancel = CancellationToken::new();
    let buses = crate::app::start_buses(&config, &cancel);
    let mut snap = Snapshot::default();
    let mut failed = false;
    for spec in crate::app::device_specs(&config, &buses, &crate::clock::Clock::System) {
        match poller::resolve(&spec).await {
            Ok(profile) => {
                let mut p = Poller::new(&spec, profile);
                for r in p.poll_all().await {
                    failed |= r.error.is_some();
                    snap.apply(r, 1);
                }
            }
            Err(e) => {
                failed = true;
                snap.apply(
                    crate::device::PollReport {
                        device: spec.id.clone(),
                        tier: String::new(),
                        samples: vec![],
                        error: Some(crate::device::PollError {
                            kind: crate::device::PollErrorKind::Unidentified,
                            text: e,
                        }),
                        requests: 0,
                        answered: 0,
                        profile: None,
                        took: Duration::ZERO,
                    },
                    1,
                );
            }
        }
    }
    cancel.cancel();
    if json {
        let devices: Vec<_> = snap
            .devices
            .iter()
            .map(|(id, st)| {
                let points: serde_json::Map<String, serde_json::Value> = snap
                    .points
                    .iter()
                    .filter(|((d, _), _)| d == id)
                    .map(|((_, p), s)| (p.to_string(), match &s.value { Ok(v) => json!({"value": v.as_f64().map_or_else(|| json!(v.to_string()), |x| json!(x)), "text": v.to_string()}), Err(e) => json!({"unavailable": unavailable_text(e)}) }))
                    .collect();
                json!({"device": id, "online": st.online, "error": st.last_error, "points": points})
            })
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({"devices": devices}))?
        );
    } else {
        print!("{}", render_snapshot(&snap));
        for (id, st) in &snap.devices {
            if let Some(e) = &st.last_error
                && !snap.points.keys().any(|(d, _)| d == id)
            {
                println!("{id} (OFFLINE: {e})");
            }
        }
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
