//! Embeds every profile under `integrations/` into the binary.

use std::fmt::Write as _;
use std::path::Path;

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("integrations");
    println!("cargo:rerun-if-changed={}", root.display());
    let mut entries = Vec::new();
    for kind in ["heat_pump", "inverter", "meter", "relay"] {
        let dir = root.join(kind);
        println!("cargo:rerun-if-changed={}", dir.display());
        let Ok(files) = std::fs::read_dir(&dir) else {
            continue;
        };
        for file in files.flatten() {
            let path = file.path();
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or("")
                .to_owned();
            if name.ends_with(".toml") && !name.starts_with('_') {
                println!("cargo:rerun-if-changed={}", path.display());
                entries.push((format!("{kind}/{name}"), path.display().to_string()));
            }
        }
    }
    entries.sort();
    let mut out = String::from("pub static PROFILES: &[(&str, &str)] = &[\n");
    for (name, path) in entries {
        writeln!(out, "    ({name:?}, include_str!({path:?})),").expect("write to string");
    }
    out.push_str("];\n");
    let dest = Path::new(&std::env::var("OUT_DIR").expect("OUT_DIR")).join("profiles.rs");
    std::fs::write(dest, out).expect("write profiles.rs");
}
