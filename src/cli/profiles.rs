//! `nomhub profiles`: the device profiles and their requests per poll.

use std::path::PathBuf;
use std::process::ExitCode;

use serde_json::json;

use crate::profile::{ProfileSet, plan_tiers};

pub(super) fn profiles(json: bool, dir: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    let set = match dir {
        Some(d) => ProfileSet::from_dir(&d),
        None => ProfileSet::embedded(),
    };
    let set = match set {
        Ok(s) => s,
        Err(r) => {
            eprintln!("{r}");
            return Ok(ExitCode::from(2));
        }
    };
    let mut rows = Vec::new();
    for p in set.iter() {
        let plan = p.resolve().ok().map(|r| plan_tiers(&r));
        rows.push(json!({
            "id": p.id(), "kind": p.kind, "vendor": p.file.vendor, "model": p.file.model,
            "points": p.file.points.len(), "sunspec": p.is_sunspec(),
            "requests_per_tier": plan.map(|v| v.into_iter().map(|(t, b)| json!({"tier": t, "requests": b.len()})).collect::<Vec<_>>()),
        }));
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
    } else {
        for r in rows {
            println!(
                "{:<28} {:<10} {} {} ({} points){}",
                r["id"].as_str().unwrap_or(""),
                r["kind"].as_str().unwrap_or(""),
                r["vendor"].as_str().unwrap_or(""),
                r["model"].as_str().unwrap_or(""),
                r["points"],
                if r["sunspec"] == true {
                    ", found by SunSpec discovery"
                } else {
                    ""
                }
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
