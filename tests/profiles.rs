//! Every shipped profile parses, validates and plans, and decodes its recorded
//! register fixture correctly when polled over Modbus TCP from the simulator.

#![allow(clippy::unwrap_used)] // test helpers may panic

mod support;

use nomhub::profile::schema::Protocol;

use std::collections::{BTreeMap, BTreeSet};

use nomhub::device::{DeviceSpec, Poller, poller};
use nomhub::model::DeviceId;
use nomhub::profile::{ProfileSet, plan_tiers};
use tokio_util::sync::CancellationToken;

#[test]
fn every_profile_parses_validates_and_plans() {
    let set = ProfileSet::embedded().unwrap();
    let ids: BTreeSet<&str> = set.ids().into_iter().collect();
    for want in [
        "sunspec-inverter",
        "eastron-sdm630",
        "eastron-sdm120",
        "eastron-sdm72",
        "alpha_innotec-luxtronik2",
        "nibe-s_series",
    ] {
        assert!(ids.contains(want), "missing profile {want}");
    }
    let modbus = |p: &&nomhub::profile::Profile| p.file.protocol == Protocol::Modbus;
    for p in set.iter().filter(|p| !p.is_sunspec()).filter(modbus) {
        let r = p.resolve().unwrap();
        let planned: usize = plan_tiers(&r)
            .iter()
            .flat_map(|(_, b)| b)
            .map(|b| b.points.len())
            .sum();
        assert_eq!(
            planned,
            r.points.len(),
            "{}: every point planned once",
            p.id()
        );
    }
    // The directory override reads the same files.
    let from_dir = ProfileSet::from_dir(&support::root().join("integrations")).unwrap();
    assert_eq!(from_dir.ids(), set.ids());
}

#[test]
fn every_profile_has_a_register_fixture() {
    let covered: BTreeSet<String> = support::fixtures()
        .into_iter()
        .map(|(_, f)| f.profile)
        .collect();
    for p in ProfileSet::embedded().unwrap().iter() {
        if p.file.protocol == Protocol::P1 {
            // Telegrams, not registers: see the next test.
            continue;
        }
        assert!(
            covered.contains(p.id()),
            "no fixture in tests/fixtures/registers for {}",
            p.id()
        );
    }
}

/// Every P1 profile reads the real telegrams in tests/fixtures/p1: each point where the
/// meter sends it, in its unit, the counters in Wh.
#[test]
fn every_p1_profile_reads_the_fixture_telegrams() {
    let set = ProfileSet::embedded().unwrap();
    let p1 = set.get("dsmr-p1").unwrap().resolve().unwrap();
    let read = |file: &str| {
        let bytes = std::fs::read(support::root().join("tests/fixtures/p1").join(file)).unwrap();
        let r = nomhub::p1::Telegram::parse(&bytes)
            .unwrap()
            .reading()
            .unwrap();
        p1.points
            .iter()
            .map(|p| {
                let v = nomhub::p1::points::value(p, p.p1.unwrap(), &r);
                (
                    p.key.to_string(),
                    v.map_or("unavailable".into(), |v| v.to_string()),
                )
            })
            .collect::<BTreeMap<String, String>>()
    };
    let v5 = read("dsmr-5.0.txt");
    assert_eq!(v5["import_energy"], "6.825 kWh");
    assert_eq!(v5["import_energy_t1"], "4.426 kWh");
    assert_eq!(v5["export_energy"], "2.444 kWh");
    assert_eq!(v5["tariff"], "normal");
    assert_eq!(v5["power"], "244 W");
    assert_eq!(v5["power_l3"], "142 W");
    assert_eq!(v5["voltage_l3"], "229 V");
    assert_eq!(v5["current_l1"], "0.48 A");
    assert_eq!(v5["equipment_id"], "K8EG004046395507");
    // A single-phase ESMR 5 meter: no L2 or L3.
    let esmr = read("esmr-5.0.txt");
    assert_eq!(esmr["voltage_l2"], "unavailable");
    assert_eq!(esmr["tariff"], "low");
    // DSMR 2.2: counters and power, nothing per phase.
    let old = read("dsmr-2.2.txt");
    assert_eq!(old["import_energy"], "2.002 kWh");
    assert_eq!(old["power"], "1010 W");
    assert_eq!(old["current_l1"], "unavailable");
}

#[tokio::test]
async fn every_fixture_decodes_as_recorded() {
    let set = ProfileSet::embedded().unwrap();
    for (name, fixture) in support::fixtures() {
        let cancel = CancellationToken::new();
        let addr = support::serve_fixture(&fixture, &cancel).await;
        let spec = DeviceSpec {
            id: DeviceId::new("dut").unwrap(),
            profile: set
                .get(&fixture.profile)
                .unwrap_or_else(|| panic!("{name}: unknown profile"))
                .clone(),
            unit: fixture.unit,
            bus: support::tcp_bus(addr, &cancel),
            interval_override: None,
            clock: nomhub::clock::Clock::System,
        };
        let resolved = poller::resolve(&spec)
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let mut poller = Poller::new(&spec, resolved);
        let mut got = BTreeMap::new();
        for report in poller.poll_all().await {
            assert_eq!(report.error, None, "{name}: tier {}", report.tier);
            for s in report.samples {
                let shown = match s.value {
                    Ok(v) => v.to_string(),
                    Err(_) => "unavailable".to_owned(),
                };
                got.insert(s.point.to_string(), shown);
            }
        }
        assert_eq!(got, fixture.expect, "{name}");
        cancel.cancel();
    }
}

#[tokio::test]
async fn sunspec_discovery_walks_the_chain_by_reported_lengths() {
    let set = ProfileSet::embedded().unwrap();
    let profile = set.get("sunspec-inverter").unwrap();
    for (name, want_models, want_power_addr) in [
        ("sunspec-inverter.toml", vec![1, 103], 40084),
        ("sunspec-inverter@solaredge.toml", vec![1, 101], 40083),
        ("sunspec-inverter@float.toml", vec![1, 113], 92),
    ] {
        let (_, fixture) = support::fixtures()
            .into_iter()
            .find(|(n, _)| n == name)
            .unwrap();
        let cancel = CancellationToken::new();
        let addr = support::serve_fixture(&fixture, &cancel).await;
        let bus = support::tcp_bus(addr, &cancel);
        let (_, models) = nomhub::device::sunspec::discover(&bus, fixture.unit, &[40000, 0, 50000])
            .await
            .unwrap();
        let ids: Vec<u16> = models.iter().map(|m| m.id).collect();
        assert_eq!(ids, want_models, "{name}");
        let resolved = profile.resolve_sunspec(&models).unwrap();
        assert_eq!(
            resolved.point("ac_power").unwrap().addr,
            want_power_addr,
            "{name}"
        );
        cancel.cancel();
    }
}

/// Profile cases as folders: `tests/cases/profiles/<name>/<kind>/<id>.toml` and
/// `expected.err`, the exact problems a profile directory's loading reports (or `ok`),
/// one case per rejection rule of `profile::load`.
#[test]
fn profile_cases_report_every_rejection_with_its_place() {
    support::folder_cases("tests/cases/profiles", 25, |name, case| {
        let kind = std::fs::read_dir(case)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.is_dir())
            .unwrap_or_else(|| panic!("case {name}: no kind folder"));
        let file = std::fs::read_dir(&kind).unwrap().next().unwrap().unwrap();
        let shown = format!(
            "{name}/{}/{}",
            kind.file_name().unwrap().to_string_lossy(),
            file.file_name().to_string_lossy()
        );
        let text = std::fs::read_to_string(file.path()).unwrap();
        let mut report = nomhub::report::Report::default();
        let parsed = nomhub::profile::load::parse(&shown, &text, &mut report);
        if report.is_empty() {
            assert!(parsed.is_some(), "case {name}: no problem, yet no profile");
            "ok\n".to_owned()
        } else {
            assert!(parsed.is_none(), "case {name}: problems, yet a profile");
            report.issues.iter().map(|i| format!("{i}\n")).collect()
        }
    });
}
