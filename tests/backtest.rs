//! The backtest against MODEL.md: the four baselines reproduce its reference results
//! on year A, the smart strategy beats them, and `nomhub simulate` speaks JSON.
#![allow(clippy::unwrap_used)]

mod support;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::LazyLock;

use chrono::{Datelike, NaiveDateTime};
use nomhub::backtest::{self, Dwelling, Metrics, Row, StrategySpec, Variant};
use nomhub::strategy::controller::{Controller, Decision, Observation};
use nomhub::strategy::smart::{Smart, SmartParams};
use support::nomhub;

fn year_a() -> PathBuf {
    support::root().join("tests/fixtures/years/reference-year-A.csv")
}

/// Year A, read once for every test in this file.
static YEAR_A: LazyLock<(Dwelling, Vec<Row>)> = LazyLock::new(|| {
    let csv = year_a();
    (
        backtest::load_dwelling(&backtest::sidecar_of(&csv)).unwrap(),
        backtest::load_rows(&csv).unwrap(),
    )
});

fn run(spec: &str) -> Metrics {
    let (dwelling, rows) = &*YEAR_A;
    let spec: StrategySpec = spec.parse().unwrap();
    let mut c = spec.controller(dwelling);
    backtest::run(&spec.to_string(), dwelling, rows, c.as_mut()).year
}

fn within(name: &str, got: f64, want: f64, pct: f64) {
    let off = 100.0 * (got - want).abs() / want;
    assert!(
        off <= pct,
        "{name}: {got:.1} is {off:.2} % from MODEL.md's {want} (allowed {pct} %)"
    );
}

/// MODEL.md §7: electricity, PV-covered, grid import, comfort minutes, starts, COP.
const REFERENCE: [(&str, [f64; 6]); 4] = [
    ("thermostat", [922.0, 143.0, 779.0, 45.0, 376.0, 2.65]),
    ("timer:13:00", [916.0, 309.0, 607.0, 15.0, 616.0, 2.68]),
    ("timer:02:00", [915.0, 58.0, 857.0, 15.0, 655.0, 2.67]),
    ("pv-surplus-basic", [961.0, 356.0, 604.0, 30.0, 624.0, 2.58]),
];

#[test]
fn baselines_reproduce_the_reference_results_of_year_a() {
    for (spec, [elec, pv, grid, cold, starts, cop]) in REFERENCE {
        let m = run(spec);
        within(
            &format!("{spec} electricity"),
            m.dhw_electricity_kwh,
            elec,
            1.0,
        );
        within(
            &format!("{spec} grid import"),
            m.dhw_grid_import_kwh,
            grid,
            1.0,
        );
        within(
            &format!("{spec} starts"),
            f64::from(m.compressor_starts),
            starts,
            1.0,
        );
        within(&format!("{spec} COP"), m.mean_dhw_cop, cop, 1.0);
        assert_eq!(
            f64::from(m.comfort_violation_minutes),
            cold,
            "{spec} comfort minutes"
        );
        // PV-covered follows the exact timing of every charge; the thermostat's 143 kWh
        // is the most sensitive figure of the table (see docs/strategy.md).
        let pv_tolerance = if spec == "thermostat" { 4.0 } else { 1.0 };
        within(
            &format!("{spec} PV-covered"),
            m.dhw_pv_covered_kwh,
            pv,
            pv_tolerance,
        );
        assert!(
            (m.dhw_electricity_kwh - m.dhw_pv_covered_kwh - m.dhw_grid_import_kwh).abs() < 1e-6
        );
    }
}

#[test]
fn the_smart_strategy_beats_every_baseline_within_two_starts_a_day() {
    let smart = run("smart");
    for (spec, [_, _, grid, _, _, _]) in REFERENCE {
        assert!(
            smart.dhw_grid_import_kwh < grid,
            "smart imports {:.0} kWh for hot water, {spec} {grid}",
            smart.dhw_grid_import_kwh
        );
    }
    // Comfort first: not one cold quarter hour on year A (the thermostat has three).
    assert_eq!(smart.comfort_violation_minutes, 0);
    // What it has reached so far with the comfort floor and the day-ahead forecast
    // (542 kWh, docs/strategy.md), with a little room: a change that gives it back
    // fails here.
    assert!(
        smart.dhw_grid_import_kwh <= 550.0,
        "smart imports {:.0} kWh for hot water; it reached 542",
        smart.dhw_grid_import_kwh
    );
    assert!(
        smart.compressor_starts <= 2 * 365,
        "{} starts",
        smart.compressor_starts
    );
}

#[test]
fn simulate_prints_json_with_the_year_and_every_month() {
    let csv = year_a();
    let out = nomhub(&[
        "simulate",
        "--year",
        csv.to_str().unwrap(),
        "--strategy",
        "timer:13:00",
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let keys = [
        "dhw_electricity_kwh",
        "dhw_pv_covered_kwh",
        "dhw_grid_import_kwh",
        "comfort_violation_minutes",
        "compressor_starts",
        "self_consumption_pct",
    ];
    for k in keys {
        assert!(v["year"][k].is_number(), "year.{k}");
    }
    let months = v["months"].as_array().unwrap();
    assert_eq!(months.len(), 12);
    for m in months {
        for k in keys {
            assert!(m[k].is_number(), "{}.{k}", m["month"]);
        }
    }
    // The months add up to the year.
    let sum: f64 = months
        .iter()
        .map(|m| m["dhw_grid_import_kwh"].as_f64().unwrap())
        .sum();
    assert!((sum - v["year"]["dhw_grid_import_kwh"].as_f64().unwrap()).abs() < 1e-6);
    assert_eq!(v["strategy"], "timer:13:00");
}

#[test]
fn simulate_traces_every_step_and_the_steps_add_up_to_the_year() {
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("trace.csv");
    let out = nomhub(&[
        "simulate",
        "--year",
        year_a().to_str().unwrap(),
        "--json",
        "--trace",
        trace.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut r = csv::Reader::from_path(&trace).unwrap();
    let head = r.headers().unwrap().clone();
    let col = |name: &str| head.iter().position(|h| h == name).unwrap();
    let (import, decision, reason, cold) = (
        col("dhw_grid_import_kwh"),
        col("decision"),
        col("reason"),
        col("comfort_shortfall_kwh"),
    );
    let (mut steps, mut sum, mut starts, mut short) = (0, 0.0, 0, 0);
    for row in r.records() {
        let row = row.unwrap();
        steps += 1;
        sum += row[import].parse::<f64>().unwrap();
        if &row[decision] == "start" {
            starts += 1;
            assert!(!row[reason].is_empty(), "a start says why: {row:?}");
        }
        short += usize::from(row[cold].parse::<f64>().unwrap() > 0.010);
    }
    assert_eq!(steps, v["steps"].as_u64().unwrap());
    let year = &v["year"];
    // Each step is rounded to 1 Wh: the sum stays within a fraction of a kWh.
    assert!(
        (sum - year["dhw_grid_import_kwh"].as_f64().unwrap()).abs() < 0.5,
        "{sum}"
    );
    assert!(starts > 0 && starts <= steps);
    assert_eq!(
        15 * short as u64,
        year["comfort_violation_minutes"].as_u64().unwrap()
    );

    let out = nomhub(&[
        "simulate",
        "--year",
        year_a().to_str().unwrap(),
        "--trace",
        "/nonexistent/trace.csv",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("cannot write the trace /nonexistent/trace.csv"),
        "{err}"
    );
}

#[test]
fn simulate_names_the_file_and_line_of_a_bad_row_and_unknown_strategies() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("year.csv");
    let text = std::fs::read_to_string(year_a()).unwrap();
    let mut lines: Vec<String> = text.lines().take(10).map(str::to_owned).collect();
    let mut fields: Vec<&str> = lines[5].split(',').collect();
    fields[9] = "-5"; // dhw_draw_w_th
    lines[5] = fields.join(",");
    std::fs::write(&csv, lines.join("\n")).unwrap();
    std::fs::copy(
        backtest::sidecar_of(&year_a()),
        dir.path().join("year.json"),
    )
    .unwrap();
    let out = nomhub(&["simulate", "--year", csv.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("year.csv:6") && err.contains("dhw_draw_w_th"),
        "{err}"
    );

    let out = nomhub(&[
        "simulate",
        "--year",
        csv.to_str().unwrap(),
        "--strategy",
        "timer:25:00",
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("HH:MM"));

    std::fs::remove_file(dir.path().join("year.json")).unwrap();
    let out = nomhub(&["simulate", "--year", csv.to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("year.json"));
}

fn run_with_rules(spec: &str, rules: &str) -> (Metrics, Vec<backtest::RuleStat>) {
    let (dwelling, rows) = &*YEAR_A;
    let spec: StrategySpec = spec.parse().unwrap();
    let set = nomhub::rules::parse_file("rules.toml", rules, &backtest::ruled::context()).unwrap();
    let mut ruled = backtest::Ruled::new(set, spec.controller(dwelling), dwelling.tank.clone());
    let out = backtest::run("ruled", dwelling, rows, &mut ruled);
    (out.year, ruled.stats())
}

#[test]
fn a_rule_that_turns_the_strategy_off_leaves_the_heat_pumps_own_thermostat() {
    let (m, stats) = run_with_rules(
        "smart",
        "[[rule]]\nname = \"hands-off\"\nevent = \"startup\"\nthen = [{ mode = \"off\" }]\n",
    );
    assert_eq!(stats[0].fired, 1);
    assert_eq!(m, run("thermostat"));
}

#[test]
fn an_export_rule_moves_thermostat_heat_into_the_sun() {
    let plain = run("thermostat");
    let (m, stats) = run_with_rules(
        "thermostat",
        r#"
[[rule]]
name = "export-boost"
when = "grid_power < -1500 && tank_temperature < 50"
hold = "15m"
then = [{ set = "heat_pump.dhw_setpoint", value = 55 }]
"#,
    );
    assert!(stats[0].fired > 30, "{stats:?}");
    assert!(
        m.dhw_pv_covered_kwh > plain.dhw_pv_covered_kwh + 30.0,
        "{} vs {}",
        m.dhw_pv_covered_kwh,
        plain.dhw_pv_covered_kwh
    );
    assert!(m.dhw_grid_import_kwh < plain.dhw_grid_import_kwh);
}

#[test]
fn simulate_takes_a_rules_file_and_names_the_place_of_a_broken_rule() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules.toml");
    std::fs::write(
        &rules,
        "[[rule]]\nname = \"sunday\"\ncron = \"0 0 13 * * Sun\"\nthen = [{ set = \"heat_pump.dhw_boost\", value = 1, for = \"2h\" }]\n",
    )
    .unwrap();
    let year = year_a();
    let v = support::nomhub_json_sync(&[
        "simulate",
        "--year",
        year.to_str().unwrap(),
        "--strategy",
        "thermostat",
        "--rules",
        rules.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(v["rules"][0]["name"], "sunday");
    assert_eq!(v["rules"][0]["fired"], 52);

    std::fs::write(
        &rules,
        "[[rule]]\nname = \"sunday\"\ncron = \"0 0 13 * * Sun\"\nif = \"tank_temperatur < 50\"\nthen = [{ mode = \"boost\" }]\n",
    )
    .unwrap();
    let out = nomhub(&[
        "simulate",
        "--year",
        year.to_str().unwrap(),
        "--rules",
        rules.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("rules.toml:4:7: rule `sunday`: `if`: Undefined variable: tank_temperatur"),
        "{err}"
    );
}

fn run_smart(params: SmartParams) -> (Metrics, Vec<NaiveDateTime>) {
    /// Smart, with the starts of the legionella temperature written down.
    struct Hot(Smart, Vec<NaiveDateTime>);
    impl Controller for Hot {
        fn decide(&mut self, obs: &Observation) -> Decision {
            let d = self.0.decide(obs);
            if matches!(d, Decision::Start { target_c } if target_c >= 60.0) {
                self.1.push(obs.local);
            }
            d
        }
        fn reason(&self) -> String {
            self.0.reason()
        }
    }
    let (dwelling, rows) = &*YEAR_A;
    let mut c = Hot(
        Smart::new(SmartParams {
            tank: dwelling.tank.clone(),
            ..params
        }),
        Vec::new(),
    );
    let year = backtest::run("smart", dwelling, rows, &mut c).year;
    (year, c.1)
}

#[test]
fn the_tank_reaches_the_legionella_temperature_every_week() {
    let (_, hot) = run_smart(SmartParams::default());
    let weeks: BTreeSet<_> = hot.iter().map(|t| t.iso_week().week()).collect();
    let missing: Vec<_> = (1..=52).filter(|w| !weeks.contains(w)).collect();
    assert!(
        missing.is_empty(),
        "no charge to 60 °C in weeks {missing:?}"
    );
}

#[test]
fn strict_smart_hot_water_keeps_the_comfort_floor() {
    let (usual, _) = run_smart(SmartParams::default());
    let (strict, _) = run_smart(SmartParams {
        strict: true,
        ..SmartParams::default()
    });
    // Strict trims grid charges, never the floor: as warm as ever, and with the floor
    // it no longer saves measurably (docs/strategy.md).
    assert_eq!(strict.comfort_violation_minutes, 0);
    assert!(
        strict.dhw_grid_import_kwh < usual.dhw_grid_import_kwh + 5.0,
        "strict {:.0} kWh, usual {:.0} kWh",
        strict.dhw_grid_import_kwh,
        usual.dhw_grid_import_kwh
    );
}

/// Year A made into another dwelling.
fn variant(v: Variant) -> (Dwelling, Vec<Row>) {
    let (mut dwelling, mut rows) = YEAR_A.clone();
    v.apply(&mut dwelling, &mut rows);
    (dwelling, rows)
}

#[test]
fn smart_is_never_colder_than_the_thermostat_on_dwellings_it_was_not_tuned_on_with_a_setpoint_or_sg_ready()
 {
    let v = |tank_litres: Option<f64>, draw_scale: f64, pv_scale: f64| Variant {
        tank_litres,
        draw_scale,
        pv_scale,
        ..Variant::default()
    };
    // A small tank, a large one, a large household, half the PV, and a household
    // that outgrows its tank (the thermostat itself leaves it cold for 19 hours).
    let variants = [
        v(Some(150.0), 1.0, 1.0),
        v(Some(300.0), 1.0, 1.0),
        v(None, 1.5, 1.0),
        v(None, 1.0, 0.5),
        v(Some(120.0), 1.2, 1.0),
        // A household that showers in the evening, on a small tank.
        Variant {
            draw_shift_h: 12,
            ..v(Some(150.0), 1.0, 1.0)
        },
        // Year A's household under another run of dull and bright days.
        Variant {
            sun_seed: Some(2),
            ..v(None, 1.0, 1.0)
        },
    ];
    std::thread::scope(|scope| {
        let runs: Vec<_> = variants
            .iter()
            .map(|var| {
                scope.spawn(move || {
                    let (dwelling, rows) = variant(*var);
                    let year = |spec: StrategySpec| {
                        let mut c = spec.controller(&dwelling);
                        backtest::run(&spec.to_string(), &dwelling, &rows, c.as_mut()).year
                    };
                    // A heat pump without a setpoint: smart through SG Ready state 3,
                    // in which the heat pump heats to its own raised 55 °C.
                    let mut sg = StrategySpec::Smart.through_sg_ready(&dwelling, 55.0);
                    let through_sg = backtest::run("sg", &dwelling, &rows, sg.as_mut()).year;
                    (
                        var.describe().unwrap_or_default(),
                        year(StrategySpec::Smart),
                        year(StrategySpec::Thermostat),
                        year(StrategySpec::PvSurplusBasic),
                        through_sg,
                    )
                })
            })
            .collect();
        for run in runs {
            let (name, smart, thermostat, basic, through_sg) = run.join().unwrap();
            assert!(
                through_sg.comfort_violation_minutes <= thermostat.comfort_violation_minutes
                    && through_sg.dhw_grid_import_kwh < thermostat.dhw_grid_import_kwh,
                "{name}: through SG Ready {} cold minutes and {:.0} kWh imported, the thermostat {} and {:.0}",
                through_sg.comfort_violation_minutes,
                through_sg.dhw_grid_import_kwh,
                thermostat.comfort_violation_minutes,
                thermostat.dhw_grid_import_kwh
            );
            assert!(
                smart.comfort_violation_minutes <= thermostat.comfort_violation_minutes,
                "{name}: smart {} cold minutes, the thermostat {}",
                smart.comfort_violation_minutes,
                thermostat.comfort_violation_minutes
            );
            assert!(
                smart.dhw_grid_import_kwh < thermostat.dhw_grid_import_kwh,
                "{name}: smart imports {:.0} kWh, the thermostat {:.0}",
                smart.dhw_grid_import_kwh,
                thermostat.dhw_grid_import_kwh
            );
            if name.contains("300 l") {
                assert_eq!(smart.comfort_violation_minutes, 0, "{name}");
                assert!(
                    smart.dhw_grid_import_kwh < basic.dhw_grid_import_kwh,
                    "{name}"
                );
            }
        }
    });
}

#[test]
fn simulate_makes_a_variant_and_shows_the_thermostat_beside_it() {
    let csv = year_a();
    let out = nomhub(&[
        "simulate",
        "--year",
        csv.to_str().unwrap(),
        "--tank-litres",
        "150",
        "--draw-scale",
        "1.2",
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        v["dwelling"], "reference-year-A (150 l tank, draws × 1.2)",
        "{v}"
    );
    let drawn = v["year"]["dhw_draw_kwh"].as_f64().unwrap();
    assert!((drawn - 1.2 * 2054.4).abs() < 30.0, "drawn {drawn:.0} kWh");
    assert!(
        v["thermostat"]["comfort_violation_minutes"].is_number(),
        "{v}"
    );
    simulate_refused(&["--pv-scale=-1"], "--pv-scale -1");
}

#[test]
fn more_comfort_charges_before_the_usual_draws_and_leaves_a_small_tank_fewer_cold_minutes() {
    // A 120 l tank for a household drawing 1.2 times year A's.
    let (dwelling, rows) = variant(Variant {
        tank_litres: Some(120.0),
        draw_scale: 1.2,
        ..Variant::default()
    });
    let year = |more_comfort: bool| {
        let mut c = Smart::new(SmartParams {
            more_comfort,
            ..backtest::smart_params(&dwelling, None)
        });
        let mut reasons = BTreeSet::new();
        let mut seen = |row: &backtest::TraceRow| {
            if row.decision == "start" {
                reasons.insert(row.reason.split(':').next().unwrap_or("").to_owned());
            }
            Ok::<(), std::convert::Infallible>(())
        };
        let year = backtest::run_traced("smart", &dwelling, &rows, &mut c, Some(&mut seen))
            .unwrap()
            .year;
        (year, reasons)
    };
    let ((guarantee, plain), (more, why)) = (year(false), year(true));
    assert!(
        why.contains("more comfort") && !plain.contains("more comfort"),
        "{why:?}"
    );
    assert!(
        more.comfort_violation_minutes < guarantee.comfort_violation_minutes,
        "more comfort {} cold minutes, the guarantee {}",
        more.comfort_violation_minutes,
        guarantee.comfort_violation_minutes
    );
    // It costs grid heat: that is the choice the resident makes.
    assert!(more.dhw_grid_import_kwh > guarantee.dhw_grid_import_kwh);
    simulate_refused(
        &["--comfort", "more", "--strategy", "thermostat"],
        "--comfort more",
    );
}

/// The planner (`--planner`): told the day-ahead prices it heats for fewer euros than
/// without them, and like the rules it is never colder than the thermostat, on year A
/// and on a small tank and a large household.
#[test]
fn the_planner_heats_by_price_and_keeps_the_thermostats_comfort() {
    let by_price = simulate_json(&["--planner"]);
    let blind = simulate_json(&["--planner", "--prices", "none"]);
    assert_eq!(by_price["strategy"], "smart, planner", "{by_price}");
    let year = |v: &serde_json::Value, k: &str| v["year"][k].as_f64().unwrap();
    let thermostat = |v: &serde_json::Value| {
        v["thermostat"]["comfort_violation_minutes"]
            .as_f64()
            .unwrap()
    };
    assert!(
        year(&by_price, "dhw_grid_cost_eur") < year(&blind, "dhw_grid_cost_eur") - 2.0
            && year(&by_price, "comfort_violation_minutes") == 0.0
            && year(&blind, "comfort_violation_minutes") == 0.0,
        "by price {by_price}\nblind {blind}"
    );
    for variant in [["--tank-litres", "150"], ["--draw-scale", "1.5"]] {
        let v = simulate_json(&["--planner", variant[0], variant[1]]);
        assert!(
            year(&v, "comfort_violation_minutes") <= thermostat(&v),
            "{variant:?}: {v}"
        );
    }
    simulate_refused(&["--planner", "--strategy", "thermostat"], "--planner");
}

/// `nomhub simulate` on year A with `extra` flags, which it must refuse, saying `says`.
fn simulate_refused(extra: &[&str], says: &str) {
    let csv = year_a();
    let mut args = vec!["simulate", "--year", csv.to_str().unwrap()];
    args.extend_from_slice(extra);
    let out = nomhub(&args);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains(says), "{err}");
}

/// `nomhub simulate --json` on year A with `extra` flags, which must succeed.
fn simulate_json(extra: &[&str]) -> serde_json::Value {
    let csv = year_a();
    let mut args = vec!["simulate", "--year", csv.to_str().unwrap(), "--json"];
    args.extend_from_slice(extra);
    let out = nomhub(&args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn told_of_its_real_tank_the_strategy_keeps_a_small_one_warmer_than_told_of_year_as() {
    // The daemon plans for year A's 200 l unless [control.tank] says otherwise.
    let real = simulate_json(&["--tank-litres", "150"]);
    let wrong = simulate_json(&["--tank-litres", "150", "--told-tank-litres", "200"]);
    assert_eq!(wrong["strategy"], "smart, told of a 200 l tank", "{wrong}");
    let cold = |v: &serde_json::Value| v["year"]["comfort_violation_minutes"].as_u64().unwrap();
    let thermostat = real["thermostat"]["comfort_violation_minutes"]
        .as_u64()
        .unwrap();
    assert!(
        cold(&real) < cold(&wrong) && cold(&wrong) <= thermostat,
        "told the real tank {} cold minutes, told 200 l {}, the thermostat {thermostat}",
        cold(&real),
        cold(&wrong)
    );
    simulate_refused(&["--told-tank-litres", "5"], "--told-tank-litres 5");
}

/// Every decision and its reason, as the strategy (with its rules or its planner) made
/// them, told the forecasts and the prices as they were issued.
fn decisions(rows: &[Row], planner: bool) -> Vec<(Decision, String)> {
    struct Record(Smart, Vec<(Decision, String)>);
    impl Controller for Record {
        fn decide(&mut self, obs: &Observation) -> Decision {
            let d = self.0.decide(obs);
            self.1.push((d, self.0.reason()));
            d
        }
        fn reason(&self) -> String {
            self.0.reason()
        }
        fn forecast(&mut self, f: &nomhub::strategy::SunForecast) {
            self.0.forecast(f);
        }
        fn prices(&mut self, p: &nomhub::strategy::PriceForecast) {
            self.0.prices(p);
        }
    }
    let (dwelling, _) = &*YEAR_A;
    let mut c = Record(
        Smart::new(SmartParams {
            planner,
            ..backtest::smart_params(dwelling, None)
        }),
        Vec::new(),
    );
    let market = backtest::Market {
        tariff: Some(
            nomhub::config::tariff::parse_file("dynamic", nomhub::config::tariff::DYNAMIC_2027)
                .unwrap(),
        ),
        tell: true,
    };
    backtest::run_in_market::<std::convert::Infallible>(
        "smart", dwelling, rows, &mut c, &market, None,
    )
    .unwrap();
    c.1
}

#[test]
fn no_decision_uses_what_came_after_it() {
    let (_, rows) = &*YEAR_A;
    // 17:45 on a summer day, a quarter hour before tomorrow's forecast is issued, and
    // a winter noon. After each, everything the strategy could not know yet changes:
    // the sun and the draws of every later step, every forecast issued later (a day's
    // forecast is issued at 18:00 the day before; this evening's part of today's
    // forecast was known since yesterday evening and stays) and every price published
    // later (at 13:00 the day before). The rules run the whole year; the planner,
    // slower, two days past each cut.
    for (planner, steps) in [(false, rows.len()), (true, 192)] {
        for cut in ["2025-07-09T17:45", "2025-01-15T12:00"] {
            let t = rows
                .iter()
                .position(|r| r.local.format("%Y-%m-%dT%H:%M").to_string() == cut)
                .unwrap();
            let rows = &rows[..(t + steps).min(rows.len())];
            let now = rows[t].local.naive_local();
            let mut changed = rows.to_vec();
            for r in &mut changed[t + 1..] {
                r.pv_w = 5000.0 - r.pv_w.min(5000.0);
                r.dhw_draw_w_th *= 2.0;
                let day_before = r.local.date_naive().pred_opt().unwrap();
                if day_before.and_hms_opt(18, 0, 0).unwrap() > now {
                    r.pv_forecast_w = r.pv_forecast_w.map(|w| 3.0 * w + 500.0);
                }
                if day_before.and_hms_opt(13, 0, 0).unwrap() > now {
                    r.price_eur_kwh = r.price_eur_kwh.map(|p| 0.4 - p);
                }
            }
            let (plain, other) = (decisions(rows, planner), decisions(&changed, planner));
            let first = plain.iter().zip(&other).position(|(a, b)| a != b);
            assert!(
                first.is_some_and(|i| i > t),
                "planner {planner}: up to {cut} ({t}) nothing may change; the first change is at {first:?}: {:?}",
                first.map(|i| (&plain[i], &other[i], rows[i].local))
            );
        }
    }
}

#[test]
fn the_forecast_reaches_the_strategy_at_its_issue_time_and_helps() {
    let (dwelling, rows) = &*YEAR_A;
    let issued = backtest::run::forecasts(rows);
    assert_eq!(issued.len(), 365);
    // 1 January's, issued the evening before the file starts, at the first step;
    // 2 January's at 18:00 on 1 January (the 73rd quarter hour).
    assert_eq!(issued[0].0, 0);
    assert_eq!(issued[1].0, 72);
    assert_eq!(issued[1].1.pv_w.len(), 96);
    assert_eq!(issued[1].1.start, rows[96].local.to_utc());
    let mut without: Vec<Row> = rows.clone();
    for r in &mut without {
        r.pv_forecast_w = None;
    }
    assert!(backtest::run::forecasts(&without).is_empty());
    let year = |rows: &[Row]| {
        let mut c = StrategySpec::Smart.controller(dwelling);
        backtest::run("smart", dwelling, rows, c.as_mut()).year
    };
    let (with, none) = (year(rows), year(&without));
    assert!(
        with.dhw_grid_import_kwh < none.dhw_grid_import_kwh - 5.0,
        "with the forecast {:.0} kWh, without {:.0}",
        with.dhw_grid_import_kwh,
        none.dhw_grid_import_kwh
    );
    assert_eq!(none.comfort_violation_minutes, 0);
}

/// The hot water's grid heat is costed at each quarter hour's price under the tariff:
/// the shipped 2027-style dynamic contract at year A's real 2025 day-ahead prices by
/// default, or a contract from `--tariff`; the months add up to the year.
#[test]
fn the_hot_waters_grid_heat_is_costed_at_each_quarter_hours_price() {
    let (dwelling, rows) = &*YEAR_A;
    let tariff =
        nomhub::config::tariff::parse_file("dynamic", nomhub::config::tariff::DYNAMIC_2027)
            .unwrap();
    let market = backtest::Market {
        tariff: Some(tariff.clone()),
        tell: false,
    };
    // What a strategy is told: each day's prices under the tariff, at 13:00 the day
    // before (2 January's at 1 January's 53rd quarter hour).
    let told = backtest::run::price_forecasts(rows, &tariff);
    assert_eq!(told.len(), 365);
    assert_eq!((told[0].0, told[1].0), (0, 52));
    let (day2, p) = (&rows[96..192], &told[1].1);
    assert_eq!(p.start, day2[0].local.to_utc());
    assert_eq!(p.import_eur_kwh.len(), 96);
    let price = tariff.price(day2[40].local.to_utc(), day2[40].price_eur_kwh);
    assert_eq!(
        (p.import_eur_kwh[40], p.export_eur_kwh[40]),
        (price.import_eur_kwh, price.export_eur_kwh)
    );
    let mut grid = Vec::new();
    let mut record = |r: &backtest::TraceRow| -> Result<(), std::convert::Infallible> {
        grid.push(r.dhw_grid_import_kwh);
        Ok(())
    };
    let mut c = StrategySpec::Thermostat.controller(dwelling);
    let o = backtest::run_in_market(
        "thermostat",
        dwelling,
        rows,
        c.as_mut(),
        &market,
        Some(&mut record),
    )
    .unwrap();
    // The trace rounds to the Wh: the sum of its steps at their prices, to the cent.
    let want: f64 = rows
        .iter()
        .zip(&grid)
        .map(|(r, kwh)| {
            kwh * tariff
                .price(r.local.to_utc(), r.price_eur_kwh)
                .import_eur_kwh
        })
        .sum();
    assert!(
        (o.year.dhw_grid_cost_eur - want).abs() < 0.5,
        "{} vs {want}",
        o.year.dhw_grid_cost_eur
    );
    let per_kwh = o.year.dhw_grid_cost_eur / o.year.dhw_grid_import_kwh;
    assert!((0.15..0.40).contains(&per_kwh), "{per_kwh} €/kWh");
    let months: f64 = o.months.iter().map(|m| m.metrics.dhw_grid_cost_eur).sum();
    assert!((months - o.year.dhw_grid_cost_eur).abs() < 1e-6);

    // A fixed contract from a file: every grid kWh at one all-in price.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("fixed.toml");
    std::fs::write(
        &file,
        "[tariff]\ncontract_start = \"2025-01-01\"\nimport = \"fixed\"\nsupply_price = 0.12\n\
         feed_in = \"fixed\"\nfeed_in_price = 0.05\n\n[[tariff.taxes]]\nyear = 2025\nenergy_tax = 0.0916\n",
    )
    .unwrap();
    let out = nomhub(&[
        "simulate",
        "--year",
        year_a().to_str().unwrap(),
        "--strategy",
        "thermostat",
        "--tariff",
        file.to_str().unwrap(),
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let (kwh, eur) = (
        v["year"]["dhw_grid_import_kwh"].as_f64().unwrap(),
        v["year"]["dhw_grid_cost_eur"].as_f64().unwrap(),
    );
    assert!(
        (eur - kwh * (0.12 + 0.0916) * 1.21).abs() < 0.01,
        "{eur} for {kwh} kWh"
    );
    // A broken one says where.
    std::fs::write(&file, "[tariff]\nimport = \"cheap\"\n").unwrap();
    let out = nomhub(&[
        "simulate",
        "--year",
        year_a().to_str().unwrap(),
        "--tariff",
        file.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("fixed.toml:"), "{err}");
}

#[test]
fn simulate_compares_setpoint_and_sg_ready_control() {
    let csv = year_a();
    let setpoint = simulate_json(&[]);
    let sg = simulate_json(&["--sg-ready", "55"]);
    assert_eq!(sg["strategy"], "smart through SG Ready (55 °C)", "{sg}");
    // State 3 cannot ask for less than the raised target: it imports more than the
    // setpoint's charges to just what is needed (against the thermostat: the variants test).
    let import = |v: &serde_json::Value| v["year"]["dhw_grid_import_kwh"].as_f64().unwrap();
    assert!(
        import(&sg) > import(&setpoint),
        "{} vs {}",
        import(&sg),
        import(&setpoint)
    );
    let out = nomhub(&[
        "simulate",
        "--year",
        csv.to_str().unwrap(),
        "--sg-ready",
        "90",
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("40 to 70 °C"));
}

/// Every charge target smart asks for on `dwelling`, to a tenth of a degree.
fn smart_targets(dwelling: &Dwelling, rows: &[Row]) -> BTreeSet<String> {
    let mut c = StrategySpec::Smart.controller(dwelling);
    let mut targets = BTreeSet::new();
    let mut seen = |r: &backtest::TraceRow| -> Result<(), std::convert::Infallible> {
        if let Some(t) = r.target_c {
            targets.insert(format!("{t:.1}"));
        }
        Ok(())
    };
    backtest::run_traced("smart", dwelling, rows, c.as_mut(), Some(&mut seen)).unwrap();
    targets
}

#[test]
fn a_household_that_outgrows_its_tank_gets_hotter_comfort_charges() {
    // Year A's tank holds a day's draws: comfort charges go to the solar target (and
    // the weekly legionella run to 60 °C, sun charges to 60 °C when the sun carries them).
    let (dwelling, rows) = &*YEAR_A;
    assert!(!smart_targets(dwelling, rows).contains("57.5"));
    // A 120 l tank for a household drawing 1.2 times as much: halfway to 60 °C.
    let (dwelling, rows) = variant(Variant {
        tank_litres: Some(120.0),
        draw_scale: 1.2,
        ..Variant::default()
    });
    assert!(smart_targets(&dwelling, &rows).contains("57.5"));
}
