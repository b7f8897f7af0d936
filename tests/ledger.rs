//! The ledger against the simulated dwelling and the real binary: `nomhub run` is
//! killed with SIGKILL again and again while the simulator runs, then stopped with
//! SIGTERM; the ledger must equal the meters' own counters to the Wh.

#![allow(clippy::unwrap_used)] // test code may panic

mod support;

use std::time::Duration;

use nomhub::config::LedgerSetup;
use nomhub::device::{DeviceSpec, Poller, poller};
use nomhub::ledger::{Ledger, Series};
use nomhub::model::Value;
use tokio_util::sync::CancellationToken;

fn config(port: u16, store: &std::path::Path) -> String {
    format!(
        r#"
[[bus]]
id = "sim"
type = "tcp"
host = "127.0.0.1"
port = {port}
timeout = "500ms"

[[device]]
id = "inverter"
profile = "sunspec-inverter"
bus = "sim"
unit = 1
poll = "300ms"

[[device]]
id = "grid"
profile = "eastron-sdm630"
bus = "sim"
unit = 2
poll = "300ms"

[[device]]
id = "installations"
profile = "eastron-sdm120"
bus = "sim"
unit = 3
poll = "300ms"

[[device]]
id = "heat_pump"
profile = "alpha_innotec-luxtronik2"
bus = "sim"
unit = 4
poll = "300ms"

[ledger]
store = "{}"
flush = "1s"
trust_clock = "always"
pv = ["inverter.ac_energy"]
grid_import = ["grid.import_energy"]
grid_export = ["grid.export_energy"]
building_bound = ["installations.import_energy"]
hot_water = ["heat_pump.heat_energy_hot_water"]
"#,
        store.display()
    )
}

/// The counters the ledger follows, read over Modbus with the shipped profiles, in Wh.
async fn meters(
    setup: &LedgerSetup,
    cfg: &nomhub::config::Config,
    addr: std::net::SocketAddr,
) -> Vec<(String, i64)> {
    let cancel = CancellationToken::new();
    let bus = support::tcp_bus(addr, &cancel);
    let mut out = Vec::new();
    for d in &cfg.devices {
        let spec = DeviceSpec {
            id: d.id.get_ref().clone(),
            profile: cfg.profiles.get(d.profile.get_ref()).unwrap().clone(),
            unit: d.unit(),
            bus: bus.clone(),
            interval_override: None,
            clock: nomhub::clock::Clock::System,
        };
        let mut p = Poller::new(&spec, poller::resolve(&spec).await.unwrap());
        for r in p.poll_all().await {
            for s in r.samples {
                let fed = setup
                    .counters()
                    .iter()
                    .any(|t| t.device == s.device && t.point == s.point);
                if let (true, Ok(Value::Energy(wh))) = (fed, &s.value) {
                    out.push((format!("{}.{}", s.device, s.point), wh.0));
                }
            }
        }
    }
    cancel.cancel();
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_at_any_moment_loses_no_energy_and_counts_none_twice() {
    kill_loop("1s").await;
}

/// With the default minute between commits every run below is killed before its first
/// commit: only the baselines, committed as soon as they are read, keep the energy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kill_loop_on_a_fresh_store_before_any_commit_loses_no_energy() {
    kill_loop("60s").await;
}

/// SIGKILL again and again (the ledger committing every `flush`), then SIGTERM: every
/// series equals its meters' movement to the Wh.
async fn kill_loop(flush: &str) {
    let cancel = CancellationToken::new();
    // 30× real time: the counters move visibly, well within each meter's maximum power.
    let sim = support::dwelling(30.0, &cancel).await;
    sim.bank.set_paused(true);
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let path = dir.path().join("nomhub.toml");
    let text =
        config(sim.addr.port(), &store).replace("flush = \"1s\"", &format!("flush = \"{flush}\""));
    assert!(text.contains(&format!("flush = \"{flush}\"")));
    std::fs::write(&path, &text).unwrap();
    let cfg = nomhub::config::parse("nomhub.toml", &text).unwrap();
    let setup = cfg.ledger.clone().unwrap();
    let before = meters(&setup, &cfg, sim.addr).await;
    assert_eq!(before.len(), 5, "{before:?}");

    // The first run books the first readings (the baselines) while the dwelling is frozen.
    let mut first = support::daemon(&path);
    tokio::time::sleep(Duration::from_secs(3)).await;
    first.kill().unwrap();
    first.wait().unwrap();
    sim.bank.set_paused(false);

    let mut rng = fastrand::Rng::with_seed(9);
    for _ in 0..6 {
        let mut child = support::daemon(&path);
        tokio::time::sleep(Duration::from_millis(700 + rng.u64(0..2500))).await;
        child.kill().unwrap(); // SIGKILL: no flush, no goodbye
        child.wait().unwrap();
        tokio::time::sleep(Duration::from_millis(rng.u64(0..800))).await;
    }

    sim.bank.set_paused(true);
    let after = meters(&setup, &cfg, sim.addr).await;
    let last = support::daemon(&path);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let log = support::sigterm(last);
    assert!(log.contains("Ledger committed and flushed"), "{log}");

    let ledger = Ledger::open(setup.clone()).unwrap();
    let from = chrono::NaiveDate::MIN;
    let to = chrono::NaiveDate::MAX - chrono::Days::new(2);
    let moved = |name: &str| {
        let b = before.iter().find(|(n, _)| n == name).unwrap().1;
        let a = after.iter().find(|(n, _)| n == name).unwrap().1;
        a - b
    };
    for (series, counter) in [
        (Series::GridImport, "grid.import_energy"),
        (Series::GridExport, "grid.export_energy"),
        (Series::Pv, "inverter.ac_energy"),
        (Series::BuildingBound, "installations.import_energy"),
        (Series::HotWater, "heat_pump.heat_energy_hot_water"),
    ] {
        let booked = ledger.sum(&[series], from, to).unwrap().wh;
        assert_eq!(booked, moved(counter), "{series:?} against {counter}");
    }
    let household = ledger.sum(&[Series::Household], from, to).unwrap().wh;
    assert_eq!(
        household,
        moved("grid.import_energy") - moved("grid.export_energy") + moved("inverter.ac_energy")
            - moved("installations.import_energy")
    );
    // The dwelling did use energy while nomhub was being killed.
    assert!(
        moved("grid.import_energy") + moved("grid.export_energy") > 0,
        "{before:?} → {after:?}"
    );
    cancel.cancel();
}

/// A grid meter that goes 5 kWh back and stays there (a reset, or a glitch that
/// sticks) while nomhub runs: the jump is booked as nothing, and what the meter counts
/// from its first low reading on is booked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_meter_that_goes_back_and_stays_back_is_counted_on_from_its_first_low_reading() {
    meter_goes_back(nomhub::sim::Fault::CounterBackwards, |before, now| {
        now + 5_000 - before
    })
    .await;
}

/// The grid meter swapped while nomhub runs for one that already reads 12 kWh.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_meter_replaced_by_one_reading_12_kwh_is_counted_on_from_there() {
    meter_goes_back(nomhub::sim::Fault::MeterReplaced, |_, now| now - 12_000).await;
}

/// Runs the dwelling with `fault` on its grid meter; `used(before, now)` is what the
/// house really imported since `before` when the faulty meter reads `now` (Wh).
async fn meter_goes_back(fault: nomhub::sim::Fault, imported: fn(i64, i64) -> i64) {
    use nomhub::sim::UNIT_GRID_METER;
    let cancel = CancellationToken::new();
    // A winter evening at 40× real time: the house imports a few kW. (Faster, a few kW
    // of the house pass more per second than the meter's 70 kW allow: at 120× the
    // step from the re-base's base, read seconds earlier, was refused under load.)
    let evening = chrono::TimeZone::with_ymd_and_hms(&nomhub::clock::TZ, 2026, 1, 15, 19, 0, 0)
        .unwrap()
        .with_timezone(&chrono::Utc);
    let sim = support::dwelling_at(40.0, evening, &cancel).await;
    sim.bank.set_paused(true);
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let path = dir.path().join("nomhub.toml");
    let text = config(sim.addr.port(), &store);
    std::fs::write(&path, &text).unwrap();
    let cfg = nomhub::config::parse("nomhub.toml", &text).unwrap();
    let setup = cfg.ledger.clone().unwrap();
    let import = |m: &[(String, i64)]| m.iter().find(|(n, _)| n == "grid.import_energy").unwrap().1;
    let before = import(&meters(&setup, &cfg, sim.addr).await);

    let daemon = support::daemon(&path);
    tokio::time::sleep(Duration::from_secs(3)).await;
    // The dwelling runs, the meter goes back with its next value and stays back.
    sim.bank.set_fault(UNIT_GRID_METER, Some(fault));
    sim.bank.set_paused(false);
    let went_back = std::time::Instant::now();
    // Until the house has imported enough to tell (a busy machine runs the dwelling
    // slower than 40×).
    support::eventually(120, "the house imports 300 Wh", || {
        let (setup, cfg) = (setup.clone(), cfg.clone());
        async move {
            let now = import(&meters(&setup, &cfg, sim.addr).await);
            // (Back, and the house's use since shows; and back long enough to be a
            // new meter rather than a glitch.)
            let settled = went_back.elapsed()
                > nomhub::device::counter::REBASE_AFTER_TIME + Duration::from_secs(4);
            (now < before && imported(before, now) >= 300 && settled).then_some(())
        }
    })
    .await;
    sim.bank.set_paused(true);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = import(&meters(&setup, &cfg, sim.addr).await);
    let log = support::sigterm(daemon);
    assert!(log.contains("went back and stayed back"), "{log}");

    let ledger = Ledger::open(setup).unwrap();
    let booked = ledger
        .sum(
            &[Series::GridImport],
            chrono::NaiveDate::MIN,
            chrono::NaiveDate::MAX - chrono::Days::new(2),
        )
        .unwrap()
        .wh;
    let used = imported(before, after);
    // Enough that a ledger that booked nothing after the jump would fail below.
    assert!(
        used >= 300,
        "the dwelling imported too little ({before} → {after})"
    );
    // Everything but the dwelling's first step after the jump (the first low reading
    // is the new base): at 40× one step is some seconds of the house.
    assert!(
        booked <= used && booked >= used - 60,
        "booked {booked} Wh of the {used} Wh the house imported; nomhub's log:\n{log}"
    );
    // The ledger keeps the re-base of both the meter's counters: for import, the last
    // reading before and the first after.
    let rebases = ledger.store().rebases().unwrap();
    let points: Vec<_> = rebases.iter().map(|r| r.point.as_str()).collect();
    assert_eq!(points, ["export_energy", "import_energy"], "{rebases:?}");
    let r = &rebases[1];
    assert!(r.previous_wh >= before && r.base_wh < before, "{r:?}");
    assert!(imported(before, r.base_wh) <= 60, "{r:?}");
    cancel.cancel();
}

use support::{nomhub, nomhub_json_sync as json, nomhub_ok};

#[test]
fn bundle_calc_follows_the_nom_keur() {
    let v = json(&[
        "bundle",
        "calc",
        "--floor-area",
        "120",
        "--persons",
        "2.4",
        "--json",
    ]);
    assert_eq!(v["household"]["yearly_kwh"], 2600);
    assert_eq!(v["hot_water"]["yearly_kwh"], 2054);
    let months: i64 = v["household"]["monthly_kwh"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m.as_i64().unwrap())
        .sum();
    assert_eq!(months, 2600);
    assert!(
        v["config_snippet"]
            .as_str()
            .unwrap()
            .contains("[bundle.household]")
    );
    let small = json(&[
        "bundle",
        "calc",
        "--floor-area",
        "60",
        "--persons",
        "1",
        "--json",
    ]);
    assert_eq!(small["household"]["yearly_kwh"], 1800);
    // The snippet is a valid config: pasted under a [ledger], it loads without NOM Keur warnings.
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "[dwelling]\nfloor_area = 120\npersons = 2.4\n\n{}[ledger]\nstore = \"{}\"\n",
        v["config_snippet"].as_str().unwrap(),
        dir.path().join("s").display()
    );
    let cfg = nomhub::config::parse("snippet.toml", &text).unwrap();
    assert!(cfg.warnings.is_empty(), "{:?}", cfg.warnings);
    // A household bundle below the rules is loaded, with a warning that says where.
    let low = text.replace(
        "[bundle.household]\n",
        "[bundle.household]\nyearly_kwh = 1500\nshape = \"flat\"\n",
    );
    let low = low.replace(
        &format!(
            "monthly_kwh = {}",
            v["household"]["monthly_kwh"].to_string().replace(',', ", ")
        ),
        "",
    );
    let cfg = nomhub::config::parse("low.toml", &low).unwrap();
    assert_eq!(cfg.warnings.len(), 1, "{low}");
    assert!(
        cfg.warnings[0].to_string().starts_with("low.toml:5:"),
        "{}",
        cfg.warnings[0]
    );
}

#[test]
fn history_exports_and_imports_with_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nomhub.toml");
    std::fs::write(
        &path,
        format!(
            "[settlement]\nstart = \"04-01\"\nsupply_price = 0.30\nfeed_in_price = 0.05\n\n\
             [bundle.household]\nmonthly_kwh = [254, 230, 240, 218, 212, 207, 168, 173, 200, 215, 238, 245]\n\n\
             [ledger]\nstore = \"{}\"\n",
            dir.path().join("store").display()
        ),
    )
    .unwrap();
    let config = path.to_str().unwrap();
    // A portal's export: months in kWh, and one day in Wh.
    let csv = dir.path().join("portal.csv");
    std::fs::write(
        &csv,
        "date,series,kwh\n2026-02,household,230\n2026-03,household,240.5\n2026-02,grid_import,400\n",
    )
    .unwrap();
    nomhub_ok(&[
        "ledger",
        "import",
        "--config",
        config,
        csv.to_str().unwrap(),
    ]);
    // Importing it again would count it twice: refused, with the file and line.
    let again = nomhub(&[
        "ledger",
        "import",
        "--config",
        config,
        csv.to_str().unwrap(),
    ]);
    assert!(!again.status.success());
    let err = String::from_utf8_lossy(&again.stderr);
    assert!(
        err.contains("portal.csv:2: household 2026-02 already holds 230000 Wh"),
        "{err}"
    );

    let show = json(&[
        "ledger",
        "show",
        "--config",
        config,
        "--period",
        "month",
        "--date",
        "2026-03-15",
        "--json",
    ]);
    let p = &show["positions"][0];
    assert_eq!(p["bundle_id"], "household");
    assert_eq!(p["used"], 240_500);
    assert_eq!(p["estimated"], 240_500, "spread over days: estimated");
    assert_eq!(p["bundle"], 240_000);
    let history = json(&[
        "ledger",
        "history",
        "--config",
        config,
        "--period",
        "month",
        "--date",
        "2026-02-10",
        "--json",
    ]);
    let days = history["buckets"].as_array().unwrap();
    assert_eq!(days.len(), 28);
    let feb: i64 = days
        .iter()
        .map(|d| d["wh"]["household"].as_i64().unwrap())
        .sum();
    assert_eq!(feb, 230_000);

    // Export, import into a fresh store, export again: the same rows.
    let exported = nomhub_ok(&["ledger", "export", "--config", config, "--format", "csv"]);
    let text = String::from_utf8(exported.stdout).unwrap();
    assert!(
        text.starts_with("date,series,wh,estimated_wh,eur\n2026-02-01,grid_import,"),
        "{text}"
    );
    let copy = dir.path().join("copy.toml");
    std::fs::write(
        &copy,
        std::fs::read_to_string(&path)
            .unwrap()
            .replace("/store\"", "/store2\""),
    )
    .unwrap();
    let file = dir.path().join("export.csv");
    std::fs::write(&file, &text).unwrap();
    nomhub_ok(&[
        "ledger",
        "import",
        "--config",
        copy.to_str().unwrap(),
        file.to_str().unwrap(),
    ]);
    let again = nomhub_ok(&[
        "ledger",
        "export",
        "--config",
        copy.to_str().unwrap(),
        "--format",
        "csv",
    ]);
    assert_eq!(String::from_utf8(again.stdout).unwrap(), text);
}

/// A dynamic 2027-style contract over a settlement year that starts on 1 July 2026.
fn tariff_config(store: &std::path::Path) -> String {
    format!(
        r#"{}
[settlement]
start = "07-01"

[tariff]
contract_start = "2026-07-01"
import = "dynamic"
markup = 0.02
average_day_ahead = 0.09
feed_in = "share"
feed_in_share = 1.0
feed_in_costs = 0.015
fixed_per_month = 7.0

[[tariff.taxes]]
year = 2026
energy_tax = 0.0916
tax_credit = 519.80

[[tariff.taxes]]
year = 2027
energy_tax = 0.10
tax_credit = 500.0
"#,
        config(5020, store)
    )
}

fn local(y: i32, m: u32, d: u32, h: u32, min: u32) -> chrono::DateTime<chrono::Utc> {
    use chrono::TimeZone;
    nomhub::clock::TZ
        .with_ymd_and_hms(y, m, d, h, min, 0)
        .earliest()
        .unwrap()
        .to_utc()
}

/// Grid import and export are booked in euros per quarter hour at the prices and taxes
/// in force then: across New Year 2027 (new taxes, end of net metering), through
/// negative prices, over the 23-hour DST day, with a price missing; the days hold
/// exactly the sum of their quarter hours, and the settlement forecast settles the
/// months before 2027 with net metering and those after without.
#[test]
fn euros_are_booked_per_quarter_hour_under_the_tariff_in_force() {
    use nomhub::model::{DeviceId, PointKey, WattHours};
    use nomhub::tariff::DayAhead;
    let dir = tempfile::tempdir().unwrap();
    let text = tariff_config(&dir.path().join("store"));
    let cfg = nomhub::config::parse("nomhub.toml", &text).unwrap();
    let setup = cfg.ledger.clone().unwrap();
    let tariff = setup.tariff.clone().unwrap();
    let mut ledger = Ledger::open(setup).unwrap();
    let q = chrono::TimeDelta::minutes(15);
    // Prices for two stretches, every quarter its own; one quarter left out.
    let stretches = [
        (local(2026, 12, 31, 20, 0), local(2027, 1, 1, 4, 0)),
        (local(2027, 3, 27, 22, 0), local(2027, 3, 29, 0, 0)),
    ];
    let mut prices = DayAhead::default();
    let missing = local(2027, 1, 1, 1, 0);
    for (from, to) in stretches {
        let mut t = from;
        let mut i = 0;
        while t < to {
            // Around −0.30 €/kWh at times, up to 0.40.
            let p = ((i * 37) % 71) as f64 / 100.0 - 0.30;
            if t != missing {
                prices.insert(t, t + q, p);
            }
            t += q;
            i += 1;
        }
    }
    ledger.set_prices(std::sync::Arc::new(prices.clone()));
    let (grid, import, export) = (
        DeviceId::new("grid").unwrap(),
        PointKey::new("import_energy").unwrap(),
        PointKey::new("export_energy").unwrap(),
    );
    // A reading every 5 minutes: 25 Wh imported and, by day, 40 Wh exported (nothing
    // between the stretches: the meter was not read).
    let (mut imp, mut exp) = (1_000_000i64, 500_000i64);
    for (from, to) in stretches {
        let mut t = from;
        while t <= to {
            ledger.reading(&grid, &import, WattHours(imp), t.into(), true);
            ledger.reading(&grid, &export, WattHours(exp), t.into(), true);
            t += chrono::TimeDelta::minutes(5);
            imp += 25;
            if chrono::Timelike::hour(&t.with_timezone(&nomhub::clock::TZ)) >= 10 {
                exp += 40;
            }
        }
    }
    ledger.commit().unwrap();
    let store = ledger.store();
    let all = |s: Series| store.quarters(s, 0, i64::MAX).unwrap();
    // Every quarter hour priced at its own price and taxes.
    let costs = all(Series::ImportCost);
    let imported = all(Series::GridImport);
    for (start, wh) in &imported {
        let at = chrono::DateTime::from_timestamp(*start, 0).unwrap();
        let p = tariff.price(at, prices.at(at));
        // (A quarter that cost exactly nothing has no bucket.)
        let cost = costs
            .iter()
            .find(|(s, _)| s == start)
            .map(|c| c.1)
            .unwrap_or_default();
        // Each reading's part is rounded to the µ€: three readings a quarter hour.
        let want = wh.wh as f64 * p.import_eur_kwh * 1000.0;
        assert!(
            (cost.wh as f64 - want).abs() <= 3.0,
            "{at}: {} µ€, want {want}",
            cost.wh
        );
        // Priced at the average where the price was missing (the one left out, and
        // between the stretches where the gap is spread), and marked so.
        assert_eq!(cost.estimated != 0, prices.at(at).is_none(), "{at}");
    }
    let cost_at = |t| costs.iter().find(|(s, _)| *s == t).unwrap().1.wh;
    // The last quarter of 2026 and the first of 2027: 75 Wh each, taxes changed.
    let (last26, first27) = (local(2026, 12, 31, 23, 45), local(2027, 1, 1, 0, 0));
    let p26 = prices.at(last26).unwrap();
    let p27 = prices.at(first27).unwrap();
    let near = |got: i64, want: f64| (got as f64 - want).abs() <= 3.0;
    assert!(near(
        cost_at(last26.timestamp()),
        75.0 * (p26 + 0.02 + 0.0916) * 1.21 * 1000.0
    ));
    assert!(near(
        cost_at(first27.timestamp()),
        75.0 * (p27 + 0.02 + 0.10) * 1.21 * 1000.0
    ));
    // Negative prices: importing earns, exporting costs.
    assert!(costs.iter().any(|(_, b)| b.wh < 0));
    assert!(all(Series::ExportEarned).iter().any(|(_, b)| b.wh < 0));
    // The DST day has 92 quarter hours, and every day holds its quarters' sum exactly.
    let dst = chrono::NaiveDate::from_ymd_opt(2027, 3, 28).unwrap();
    let day_quarters = |d: chrono::NaiveDate, s| {
        let (a, b) = (local(2027, 3, 28, 0, 0), local(2027, 3, 29, 0, 0));
        assert_eq!(d, dst);
        store.quarters(s, a.timestamp(), b.timestamp()).unwrap()
    };
    assert_eq!(day_quarters(dst, Series::GridImport).len(), 92);
    for s in Series::MONEY {
        let quarters: i64 = all(s).iter().map(|(_, b)| b.wh).sum();
        let days = ledger
            .sum(
                &[s],
                chrono::NaiveDate::MIN,
                chrono::NaiveDate::MAX - chrono::Days::new(2),
            )
            .unwrap()
            .wh;
        assert_eq!(
            quarters, days,
            "{s:?}: the year is the sum of its quarters, to the µ€"
        );
        let dst_sum: i64 = day_quarters(dst, s).iter().map(|(_, b)| b.wh).sum();
        assert_eq!(
            dst_sum,
            ledger
                .sum(&[s], dst, dst + chrono::Days::new(1))
                .unwrap()
                .wh
        );
    }
    // The settlement year July 2026 – June 2027 is split at New Year.
    let f = ledger.forecast(local(2027, 3, 29, 0, 0)).unwrap();
    assert_eq!(f.regime, nomhub::ledger::forecast::Regime::Split);
    let eur = |s: Series, from, to| {
        nomhub::ledger::books::micro_eur(ledger.sum(&[s], from, to).unwrap().wh)
    };
    let new_year = chrono::NaiveDate::from_ymd_opt(2027, 1, 1).unwrap();
    let start = chrono::NaiveDate::from_ymd_opt(2026, 7, 1).unwrap();
    let end = chrono::NaiveDate::from_ymd_opt(2027, 7, 1).unwrap();
    // On New Year's Eve more was exported than imported: the exported kWh offset every
    // imported one at the import price, the rest earns what export earns; after it
    // every exported kWh earns only that.
    let kwh = |s| ledger.sum(&[s], start, new_year).unwrap().wh as f64;
    let (imp, exp) = (kwh(Series::GridImport), kwh(Series::GridExport));
    assert!(exp > imp && imp > 0.0, "{imp} {exp}");
    let offset = imp / exp;
    let before = eur(Series::ImportCost, start, new_year)
        - offset * eur(Series::ExportNetted, start, new_year)
        - (1.0 - offset) * eur(Series::ExportEarned, start, new_year);
    let after = eur(Series::ImportCost, new_year, end) - eur(Series::ExportEarned, new_year, end);
    let so_far = f.so_far_eur.unwrap();
    assert!(
        (so_far - (before + after)).abs() < 1e-9,
        "{so_far} vs {before} + {after}"
    );
    assert!(f.fallback_eur.unwrap() > 0.0, "the missing price shows");
}

/// A settlement year that is over gets its PV verdict kept in the store, once: what
/// the year's figures do later does not change it.
#[test]
fn a_settlement_year_over_keeps_its_pv_verdict_once() {
    use nomhub::ledger::Row;
    use nomhub::ledger::run::keep_last_years_verdict;
    let dir = tempfile::tempdir().unwrap();
    let config = nomhub::config::demo(5020, dir.path()).unwrap();
    let setup = config.ledger.unwrap();
    assert_eq!(
        setup.promises.pv_guarantee,
        Some(nomhub::model::WattHours(4_750_000))
    );
    let mut ledger = Ledger::open(setup).unwrap();
    // The demo settles from 1 April: 400 kWh of PV in each month of the year before.
    let month = |m: usize, kwh: f64| Row {
        date: format!("{}-{:02}", 2025 + (m + 3) / 12, (m + 3) % 12 + 1),
        series: "pv".into(),
        wh: None,
        kwh: Some(kwh),
        estimated_wh: None,
        eur: None,
    };
    let rows: Vec<(u64, Row)> = (0..12).map(|m| (m as u64 + 2, month(m, 400.0))).collect();
    ledger.import("pv.csv", &rows, false).unwrap();
    let now = nomhub::ledger::period::local_midnight(
        chrono::NaiveDate::from_ymd_opt(2026, 6, 1).unwrap(),
    );
    keep_last_years_verdict(&ledger, now).unwrap();
    let kept = ledger.store().pv_verdicts().unwrap();
    assert_eq!(kept.len(), 1, "{kept:?}");
    let v = &kept[0];
    assert_eq!(v.start.to_string(), "2025-04-01");
    assert_eq!(
        (v.generated_kwh, v.guaranteed_kwh, v.met),
        (4800.0, 4750.0, true)
    );
    // Kept as it was: a month of the year replaced later does not change the verdict.
    ledger
        .import("pv.csv", &[(2, month(0, 100.0))], true)
        .unwrap();
    keep_last_years_verdict(&ledger, now).unwrap();
    assert_eq!(ledger.store().pv_verdicts().unwrap(), kept);
}
