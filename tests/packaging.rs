//! The systemd unit the Debian package installs: systemd's own checker accepts it (every
//! directive known, every value valid) with the unit pointing at the built binary, and it
//! keeps the promises docs/install-raspberry-pi.md makes. (`.ci/run` builds the package
//! itself with `cargo deb` and checks its contents.)

#![allow(clippy::unwrap_used)] // test code may panic

mod support;

use std::process::Command;

fn unit() -> String {
    std::fs::read_to_string(support::root().join("config/nomhub.service")).unwrap()
}

#[test]
fn systemd_analyze_verifies_the_unit() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nomhub.service");
    let text = unit().replace("/usr/bin/nomhub", env!("CARGO_BIN_EXE_nomhub"));
    std::fs::write(&path, text).unwrap();
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .output()
        .expect(
            "systemd-analyze is not installed: `sudo apt-get install -y systemd` (./test.sh does)",
        );
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && said.trim().is_empty(), "{said}");
}

#[test]
fn the_unit_is_a_notify_service_with_a_watchdog_that_may_read_the_clock_state() {
    let unit = unit();
    let has = |line: &str| unit.lines().any(|l| l.trim() == line);
    for line in [
        "Type=notify",
        "ExecStart=/usr/bin/nomhub run --config /etc/nomhub/nomhub.toml",
        "User=nomhub",
        "StateDirectory=nomhub",
        "Restart=on-failure",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "SystemCallFilter=adjtimex clock_adjtime",
    ] {
        assert!(has(line), "no `{line}` in config/nomhub.service");
    }
    // ProtectClock= would forbid ntp_adjtime, and the ledger would never trust the clock.
    assert!(!unit.contains("ProtectClock=yes"));
    let watchdog: u64 = unit
        .lines()
        .find_map(|l| l.strip_prefix("WatchdogSec="))
        .unwrap()
        .parse()
        .unwrap();
    // Control's hand-back (8 s) fits in the stop timeout.
    let stop: u64 = unit
        .lines()
        .find_map(|l| l.strip_prefix("TimeoutStopSec="))
        .unwrap()
        .parse()
        .unwrap();
    assert!(watchdog >= 10 && stop > 8);
    // The example config the package installs keeps the store where the unit may write.
    let example =
        std::fs::read_to_string(support::root().join("config/nomhub.example.toml")).unwrap();
    assert!(example.contains("store = \"/var/lib/nomhub/store\""));
}
