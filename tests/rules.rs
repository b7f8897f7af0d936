//! The rules engine, one table per trigger kind, priority resolution, and the errors a
//! tinkerer sees for a broken rule.

use chrono::{DateTime, Duration, TimeZone, Utc};
use nomhub::clock::TZ;
use nomhub::rules::{Context, Event, EventKind, Facts, RuleSet, base_names, parse_file, resolve};
use nomhub::strategy::Mode;

fn ctx() -> Context {
    let mut names = base_names();
    names.map("heat_pump", rhai::Map::new());
    Context {
        names,
        points: [
            (
                "heat_pump.hot_water_setpoint".to_owned(),
                Some((30.0, 65.0)),
            ),
            ("heat_pump.hot_water_extra".to_owned(), Some((0.0, 1.0))),
            ("heat_pump.flow_temperature".to_owned(), None),
        ]
        .into_iter()
        .collect(),
        driven: Default::default(),
        settlement: nomhub::ledger::SettlementRule::default(),
    }
}

fn rules(text: &str) -> RuleSet {
    match parse_file("rules.toml", text, &ctx()) {
        Ok(r) => r,
        Err(e) => panic!("{e}"),
    }
}

fn errors(text: &str) -> String {
    match parse_file("rules.toml", text, &ctx()) {
        Ok(_) => panic!("accepted:\n{text}"),
        Err(e) => e.to_string(),
    }
}

fn local(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
    TZ.with_ymd_and_hms(y, m, d, h, min, 0)
        .single()
        .expect("unambiguous")
        .with_timezone(&Utc)
}

fn facts(grid_w: Option<f64>, tank_c: Option<f64>) -> Facts {
    let mut f = base_names();
    f.number("grid_power", grid_w);
    f.number("tank_temperature", tank_c);
    f
}

/// The value each point has after the tick, with who set it.
fn points(set: &RuleSet) -> Vec<(String, f64, String)> {
    resolve(set.claims())
        .into_iter()
        .map(|((d, p), w)| (format!("{d}.{p}"), w.claim.value, w.claim.by))
        .collect()
}

#[test]
fn cron_fires_at_local_time_across_the_dst_change() {
    let mut set = rules(
        r#"
[[rule]]
name = "noon-top-up"
cron = "0 0 13 * * *"
then = [{ set = "heat_pump.hot_water_setpoint", value = 50, for = "1h" }]
"#,
    );
    let f = facts(Some(0.0), Some(45.0));
    // 29 March is CET (UTC+1), 30 March CEST (UTC+2): 13:00 local is 12:00 then 11:00 UTC.
    let mut fired = Vec::new();
    let mut t = local(2025, 3, 29, 0, 0);
    while t < local(2025, 3, 31, 0, 0) {
        if !set.tick(t, &f, &[]).fired.is_empty() {
            fired.push(t);
        }
        t += Duration::minutes(15);
    }
    assert_eq!(
        fired,
        vec![
            Utc.with_ymd_and_hms(2025, 3, 29, 12, 0, 0).unwrap(),
            Utc.with_ymd_and_hms(2025, 3, 30, 11, 0, 0).unwrap()
        ]
    );
    // The claim lasts its hour and then the point is free again.
    let at = local(2025, 3, 31, 13, 0);
    set.tick(at, &f, &[]);
    assert_eq!(
        points(&set),
        vec![(
            "heat_pump.hot_water_setpoint".into(),
            50.0,
            "noon-top-up".into()
        )]
    );
    set.tick(at + Duration::minutes(61), &f, &[]);
    assert!(points(&set).is_empty());
}

#[test]
fn a_condition_must_hold_for_its_hold_time_and_its_claim_ends_with_it() {
    let mut set = rules(
        r#"
[[rule]]
name = "export-boost"
when = "grid_power < -1500"
hold = "5m"
then = [{ set = "heat_pump.hot_water_setpoint", value = 55 }]
"#,
    );
    let t0 = local(2025, 6, 1, 12, 0);
    let table = [
        // minutes, grid W, fires, point set
        (0, -1800.0, false, false),
        (4, -1700.0, false, false),
        (5, -1600.0, true, true),
        (6, -1900.0, false, true),
        (7, -200.0, false, false),
        (8, -1800.0, false, false),
        (12, -1800.0, false, false),
        (13, -1800.0, true, true),
    ];
    for (min, grid, fires, set_now) in table {
        let out = set.tick(
            t0 + Duration::minutes(min),
            &facts(Some(grid), Some(40.0)),
            &[],
        );
        assert_eq!(!out.fired.is_empty(), fires, "minute {min}");
        assert_eq!(!points(&set).is_empty(), set_now, "minute {min}");
    }
    // Stale data: no grid reading makes the condition unknown, the claim ends and the
    // rule says why.
    let out = set.tick(t0 + Duration::minutes(14), &facts(None, Some(40.0)), &[]);
    assert!(points(&set).is_empty());
    assert!(
        out.errors[0].1.contains("grid_power has no current value"),
        "{:?}",
        out.errors
    );
}

#[test]
fn period_rules_fire_when_a_new_period_begins() {
    let mut set = rules(
        r#"
[[rule]]
name = "daily"
period = "day"
then = [{ notify = "a new day, tank at ${tank_temperature} °C" }]

[[rule]]
name = "monthly"
period = "month"
then = [{ mode = "smart" }]
"#,
    );
    let f = facts(Some(0.0), Some(47.5));
    let mut t = local(2025, 10, 30, 22, 0);
    let mut log = Vec::new();
    while t < local(2025, 11, 1, 2, 0) {
        let out = set.tick(t, &f, &[]);
        for n in out.notes {
            log.push((t.with_timezone(&TZ).format("%d %H:%M").to_string(), n.1));
        }
        for m in out.modes {
            log.push((
                t.with_timezone(&TZ).format("%d %H:%M").to_string(),
                format!("{:?} by {}", m.0, m.1),
            ));
        }
        t += Duration::minutes(30);
    }
    assert_eq!(
        log,
        vec![
            ("31 00:00".into(), "a new day, tank at 47.5 °C".into()),
            ("01 00:00".into(), "a new day, tank at 47.5 °C".into()),
            ("01 00:00".into(), "Smart by monthly".into()),
        ]
    );
}

#[test]
fn event_rules_see_the_subject_and_respect_their_condition() {
    let mut set = rules(
        r#"
[[rule]]
name = "heat-pump-gone"
event = "device_offline"
if = "subject == \"heat_pump\""
then = [{ mode = "off" }, { notify = "${subject} went offline" }]
"#,
    );
    let t = local(2025, 1, 10, 9, 0);
    let f = facts(Some(300.0), Some(50.0));
    let ev = |s: &str| Event {
        kind: EventKind::DeviceOffline,
        subject: s.to_owned(),
    };
    assert!(set.tick(t, &f, &[ev("meter")]).fired.is_empty());
    let out = set.tick(t, &f, &[ev("heat_pump")]);
    assert_eq!(out.modes, vec![(Mode::Off, "heat-pump-gone".to_owned())]);
    assert_eq!(out.notes[0].1, "heat_pump went offline");
    let other = Event {
        kind: EventKind::DeviceOnline,
        subject: "heat_pump".into(),
    };
    assert!(set.tick(t, &f, &[other]).fired.is_empty());
}

#[test]
fn the_higher_priority_wins_a_point_and_the_why_names_both() {
    let mut set = rules(
        r#"
[[rule]]
name = "legionella"
priority = 50
cron = "0 0 14 * * Sun"
then = [{ set = "heat_pump.hot_water_setpoint", value = 60, for = "2h" }]

[[rule]]
name = "cheap-sun"
when = "grid_power < -1000"
then = [{ set = "heat_pump.hot_water_setpoint", value = "tank_temperature + 5" }]
"#,
    );
    let sunday = local(2025, 6, 1, 13, 0);
    let f = facts(Some(-2000.0), Some(48.0));
    set.tick(sunday, &f, &[]);
    assert_eq!(
        points(&set),
        vec![(
            "heat_pump.hot_water_setpoint".into(),
            53.0,
            "cheap-sun".into()
        )]
    );
    set.tick(sunday + Duration::hours(1), &f, &[]);
    assert_eq!(
        points(&set),
        vec![(
            "heat_pump.hot_water_setpoint".into(),
            60.0,
            "legionella".into()
        )]
    );
    let why = resolve(set.claims())
        .into_values()
        .next()
        .expect("a winner")
        .why();
    assert!(
        why.starts_with("heat_pump.hot_water_setpoint = 60 by legionella (priority 50)"),
        "{why}"
    );
    assert!(
        why.contains("overrules cheap-sun (priority 10) who wanted 53"),
        "{why}"
    );
    // After the two hours the lower rule has the point again.
    set.tick(sunday + Duration::hours(3) + Duration::minutes(1), &f, &[]);
    assert_eq!(points(&set)[0].2, "cheap-sun");
}

#[test]
fn a_computed_value_outside_the_bounds_is_never_claimed() {
    let mut set = rules(
        r#"
[[rule]]
name = "too-hot"
when = "true"
then = [{ set = "heat_pump.hot_water_setpoint", value = "tank_temperature + 30" }]
"#,
    );
    let out = set.tick(local(2025, 6, 1, 12, 0), &facts(Some(0.0), Some(50.0)), &[]);
    assert!(points(&set).is_empty());
    assert!(
        out.errors[0]
            .1
            .contains("80 for `heat_pump.hot_water_setpoint` is outside 30..=65"),
        "{:?}",
        out.errors
    );
}

#[test]
fn broken_rules_are_reported_where_they_are() {
    let cases = [
        (
            "[[rule]]\nname = \"a\"\nwhen = \"grid_power < 0 && tank_temp < 45\"\nthen = [{ mode = \"boost\" }]\n",
            "rules.toml:3:27: rule `a`: `when`: Undefined variable: tank_temp",
        ),
        (
            "[[rule]]\nname = \"b\"\ncron = \"0 0 25 * * *\"\nthen = [{ mode = \"smart\" }]\n",
            "rules.toml:3:8: rule `b`: cron `0 0 25 * * *`",
        ),
        (
            "[[rule]]\nname = \"c\"\ncron = \"0 0 3 * * *\"\nwhen = \"true\"\nthen = [{ mode = \"smart\" }]\n",
            "rules.toml:2:8: rule `c`: needs exactly one trigger",
        ),
        (
            "[[rule]]\nname = \"d\"\nevent = \"startup\"\nthen = [{ set = \"heat_pump.flow_temperature\", value = 30, for = \"1h\" }]\n",
            "rule `d`: point `heat_pump.flow_temperature` is not writable",
        ),
        (
            "[[rule]]\nname = \"e\"\nevent = \"startup\"\nthen = [{ set = \"heat_pump.setpoint\", value = 30, for = \"1h\" }]\n",
            "rule `e`: no point `heat_pump.setpoint` (writable points: heat_pump.hot_water_extra, heat_pump.hot_water_setpoint)",
        ),
        (
            "[[rule]]\nname = \"f\"\nevent = \"startup\"\nthen = [{ set = \"heat_pump.hot_water_setpoint\", value = 70, for = \"1h\" }]\n",
            "rule `f`: 70 is outside `heat_pump.hot_water_setpoint`'s bounds 30..=65",
        ),
        (
            "[[rule]]\nname = \"g\"\nevent = \"startup\"\nthen = [{ set = \"heat_pump.hot_water_setpoint\", value = 50 }]\n",
            "rule `g`: `set` needs `for`",
        ),
        (
            "[[rule]]\nname = \"h\"\nevent = \"lunch\"\nthen = [{ mode = \"smart\" }]\n",
            "rules.toml:3:9: unknown variant `lunch`",
        ),
        (
            "[[rule]]\nname = \"i\"\nperiod = \"day\"\nthen = [{ mode = \"turbo\" }]\n",
            "rule `i`: mode `turbo` is not one of off, smart, boost",
        ),
        (
            "[[rule]]\nname = \"j\"\nperiod = \"day\"\nif = \"let x = 1\"\nthen = [{ mode = \"smart\" }]\n",
            "rules.toml:4:7: rule `j`: `if`:",
        ),
    ];
    for (text, want) in cases {
        let got = errors(text);
        assert!(got.contains(want), "want `{want}` in:\n{got}");
    }
}

#[test]
fn rules_in_the_main_config_are_checked_against_its_devices() {
    let demo = nomhub::config::DEMO;
    let good = format!(
        "{demo}\n[[rule]]\nname = \"sun\"\nwhen = \"grid_power < -1500\"\nhold = \"5m\"\nthen = [{{ set = \"heat_pump.hot_water_setpoint\", value = 55 }}]\n"
    );
    let config = nomhub::setup::parse("nomhub.toml", &good).expect("valid");
    assert_eq!(nomhub::rules::from_config(&config).0.len(), 1);
    let bad = format!(
        "{demo}\n[[rule]]\nname = \"sun\"\nwhen = \"grid_power < -1500\"\nthen = [{{ set = \"inverter.ac_power\", value = 55 }}]\n"
    );
    let line = bad.lines().count();
    let err = nomhub::setup::parse("nomhub.toml", &bad)
        .expect_err("not writable")
        .to_string();
    assert!(
        err.contains(&format!(
            "nomhub.toml:{line}:17: rule `sun`: point `inverter.ac_power` is not writable"
        )),
        "{err}"
    );
}

#[test]
fn the_examples_in_the_rules_guide_load_against_the_demo_dwelling() {
    let guide = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/rules.md"))
        .expect("docs/rules.md");
    let blocks: Vec<&str> = guide
        .split("```toml\n")
        .skip(1)
        .filter_map(|b| b.split("```").next())
        .filter(|b| b.contains("[[rule]]"))
        .collect();
    assert!(blocks.len() >= 2);
    for b in blocks {
        let text = format!("{}\n{b}", nomhub::config::DEMO);
        if let Err(e) = nomhub::config::parse("docs/rules.md", &text) {
            panic!("{e}\nin:\n{b}");
        }
    }
}

#[test]
fn a_when_rule_with_for_lets_go_at_whichever_comes_first() {
    let mut set = rules(
        r#"
[[rule]]
name = "short-boost"
when = "grid_power < -1500"
then = [{ set = "heat_pump.hot_water_extra", value = 1, for = "10m" }]
"#,
    );
    let t0 = local(2025, 6, 1, 12, 0);
    let sunny = facts(Some(-2000.0), Some(40.0));
    let cloudy = facts(Some(300.0), Some(40.0));
    // The `for` ends it while the condition still holds, and it does not fire again
    // until the condition was false in between.
    set.tick(t0, &sunny, &[]);
    assert_eq!(points(&set).len(), 1);
    set.tick(t0 + Duration::minutes(11), &sunny, &[]);
    assert!(points(&set).is_empty());
    // The condition ends it before the `for` does.
    set.tick(t0 + Duration::minutes(12), &cloudy, &[]);
    set.tick(t0 + Duration::minutes(13), &sunny, &[]);
    assert_eq!(points(&set).len(), 1);
    set.tick(t0 + Duration::minutes(14), &cloudy, &[]);
    assert!(points(&set).is_empty());
}

/// Rules that read only what both worlds have: the flows, the mode, the charge.
const SHARED_RULES: &str = r#"
[[rule]]
name = "surplus"
priority = 10
when = "grid_power < -500.0 && tank_temperature < 58.0"
then = [{ set = "heat_pump.dhw_setpoint", value = 60 }]

[[rule]]
name = "hot_charge"
priority = 5
when = "charging && heat_pump_power > 1500.0"
then = [{ set = "heat_pump.dhw_setpoint", value = "tank_temperature + 5" }]

[[rule]]
name = "dusk"
when = "pv_power < 100.0 && mode == \"boost\""
then = [{ mode = "smart" }]

[[rule]]
name = "frost"
when = "outdoor_temperature < 0.0"
then = [{ mode = "off" }, { notify = "frost: ${outdoor_temperature} °C, home ${home_power} W" }]
"#;

/// A table of situations: the daemon's facts (from a snapshot of the demo dwelling's
/// points, through its flow map) and the backtest's (from an observation) give the
/// same round: the same winners with the same why, modes and notes.
#[test]
fn the_daemon_and_the_backtest_plan_the_same_round_from_the_same_situation() {
    use nomhub::backtest::ruled;
    use nomhub::model::{Celsius, DeviceId, PointKey, Sample, Value, Watts};
    use nomhub::profile::Role;
    use nomhub::strategy::Observation;

    let dir = tempfile::tempdir().unwrap();
    let cfg = nomhub::config::demo(5020, dir.path()).unwrap();
    let flows = nomhub::live::FlowMap::from_config(&cfg);
    let at = local(2026, 6, 21, 12, 0);
    // (grid W, PV W, heat pump W, tank °C, outdoor °C, mode, charging)
    let table = [
        (-2500.0, 3200.0, 0.0, 48.0, 21.0, Mode::Smart, false),
        (-2500.0, 3200.0, 1800.0, 52.0, 21.0, Mode::Smart, true),
        (-400.0, 900.0, 0.0, 48.0, 12.0, Mode::Smart, false),
        (300.0, 50.0, 0.0, 50.0, 8.0, Mode::Boost, false),
        (2400.0, 0.0, 2100.0, 44.0, -3.5, Mode::Smart, true),
        (-800.0, 1200.0, 0.0, 59.0, -1.0, Mode::Boost, false),
    ];
    let mut acted = 0;
    for (row, &(grid, pv, hp, tank, outdoor, mode, charging)) in table.iter().enumerate() {
        // The daemon: samples on the points the demo's flow map reads, by role.
        let mut snap = nomhub::state::Snapshot::default();
        let mut put = |device: &str, roles: &[Role], value: Value| {
            let d = cfg
                .devices
                .iter()
                .find(|d| d.id.get_ref().as_str() == device)
                .unwrap();
            let p = cfg.profiles.get(d.profile.get_ref()).unwrap();
            let key = roles
                .iter()
                .find_map(|r| p.file.points.iter().find(|pt| pt.role == Some(*r)))
                .unwrap()
                .key
                .clone();
            let id = DeviceId::new(device).unwrap();
            snap.points.insert(
                (id.clone(), PointKey::new(key.as_str()).unwrap()),
                Sample {
                    device: id,
                    point: key,
                    value: Ok(value),
                    at: at.into(),
                },
            );
        };
        let w = |x: f64| Value::Power(Watts(x));
        let c = |x: f64| Value::Temperature(Celsius(x));
        put("inverter", &[Role::AcPower], w(pv));
        put("grid", &[Role::ElectricPower], w(grid));
        put("heat_pump", &[Role::ElectricPower], w(hp));
        put("heat_pump", &[Role::TankTemperature], c(tank));
        put("heat_pump", &[Role::OutdoorTemperature], c(outdoor));
        let daemon = nomhub::control::facts::facts(&snap, &flows, &[], None, mode, charging);
        // The backtest: the same situation as an observation.
        let obs = Observation {
            at,
            local: at.with_timezone(&TZ).naive_local(),
            tank_c: tank,
            outdoor_c: outdoor,
            grid_w: grid,
            pv_w: pv,
            dhw_w: hp,
            charging: charging.then_some(55.0),
        };
        let backtest = ruled::facts(&obs, mode, &[]);
        let round = |facts: &Facts| {
            let mut set = match parse_file("rules.toml", SHARED_RULES, &ruled::context()) {
                Ok(r) => r,
                Err(e) => panic!("{e}"),
            };
            let p = nomhub::rules::plan(&mut set, at, facts, &[], mode, |_| Vec::new(), |_| true);
            let winners: Vec<_> = p
                .winners
                .into_iter()
                .map(|(k, w)| (k, w.claim.value, w.why()))
                .collect();
            (p.mode, winners, p.outcome.notes, p.outcome.errors)
        };
        let (d, b) = (round(&daemon), round(&backtest));
        assert_eq!(d, b, "row {row}");
        if !d.1.is_empty() || d.0 != mode || !d.2.is_empty() {
            acted += 1;
        }
        assert!(d.3.is_empty(), "row {row}: {:?}", d.3);
    }
    // Not a table of quiet rounds.
    assert!(acted >= 4, "{acted}");
}

#[test]
fn a_rules_file_that_is_not_toml_says_where() {
    let e = errors("[[rule]\nname = \"x\"\n");
    assert!(e.contains("rules.toml:1:8: unclosed array table"), "{e}");
    let e = errors("[control]\nmode = \"off\"\n");
    assert!(
        e.contains("unknown key `control`, a rules file holds [[rule]] tables"),
        "{e}"
    );
}
