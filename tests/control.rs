//! nomhub acting on the simulated dwelling: the strategy and a rule write the
//! Luxtronik's hot-water registers within bounds, hand them back when the data goes
//! stale and at shutdown, and a restart after SIGKILL restores the values from
//! before nomhub took over (not the ones it left behind); the strategy's learned
//! habits survive a restart.

#![allow(clippy::unwrap_used)] // test helpers may panic

mod support;

use std::time::Duration;

use chrono::TimeZone;
use nomhub::app;
use nomhub::control::ControlStatus;
use nomhub::modbus::RegisterKind;
use nomhub::sim::{Bank, Fault, SimHandle, UNIT_GRID_METER, UNIT_HEAT_PUMP, UNIT_RELAYS};
use nomhub::store::Store;
use nomhub::strategy::Change;
use nomhub::strategy::smart::Habits;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

const MODE: u16 = 10005;
const SETPOINT: u16 = 10006;
/// The SHI's defaults: no influence, 40.0 °C.
const FACTORY: (u16, u16) = (0, 400);

/// A rule that wants 60 °C while the dwelling exports, by the setpoint's role name.
const SURPLUS_RULE: &str = r#"
[[rule]]
name = "surplus"
when = "grid_power < -500.0"
then = [{ set = "heat_pump.dhw_setpoint", value = 60 }]
"#;

fn registers(bank: &Bank) -> (u16, u16) {
    let units = bank.lock();
    let hp = &units[&UNIT_HEAT_PUMP];
    (
        hp.get(RegisterKind::Holding, MODE).unwrap(),
        hp.get(RegisterKind::Holding, SETPOINT).unwrap(),
    )
}

async fn registers_become(bank: &Bank, want: (u16, u16), what: &str) {
    support::eventually(20, what, || {
        let got = registers(bank);
        async move { (got == want).then_some(()) }
    })
    .await;
}

/// A sunny June noon, frozen: PV well above the home's use, the grid exporting.
async fn sunny_noon(cancel: &CancellationToken) -> SimHandle {
    let noon = chrono_tz::Europe::Amsterdam
        .with_ymd_and_hms(2026, 6, 21, 12, 0, 0)
        .unwrap()
        .with_timezone(&chrono::Utc);
    support::dwelling_at(0.0, noon, cancel).await
}

/// The demo config against `sim`, with quick control for a test, and `extra`.
fn config_text(sim: &SimHandle, store: &std::path::Path, extra: &str) -> String {
    let text = nomhub::config::demo_text(sim.addr.port(), store)
        .replace("poll = \"2s\"", "poll = \"200ms\"")
        .replace(
            "[control]\n",
            "[control]\ntick = \"200ms\"\nmin_write_interval = \"500ms\"\nstale_after = \"3s\"\n",
        );
    format!("{text}\n{extra}")
}

/// nomhub in-process on the config of [`config_text`].
fn start_app(
    sim: &SimHandle,
    store: &std::path::Path,
    extra: &str,
    cancel: &CancellationToken,
) -> (app::App, TaskTracker) {
    let cfg = nomhub::config::parse("nomhub.toml", &config_text(sim, store, extra)).unwrap();
    let tasks = TaskTracker::new();
    let ledger = app::open_ledger(&cfg).unwrap();
    let app = app::start(&cfg, ledger, &nomhub::clock::Clock::System, &tasks, cancel).unwrap();
    (app, tasks)
}

/// Stops the in-process nomhub and waits for every task to end.
async fn stop(cancel: &CancellationToken, tasks: TaskTracker) {
    cancel.cancel();
    tasks.close();
    tokio::time::timeout(Duration::from_secs(15), tasks.wait())
        .await
        .unwrap();
}

/// Stops the in-process nomhub; the heat pump must have its own values back.
async fn stop_and_expect_factory(cancel: &CancellationToken, tasks: TaskTracker, bank: &Bank) {
    stop(cancel, tasks).await;
    assert_eq!(registers(bank), FACTORY);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn surplus_writes_the_setpoint_within_bounds_stale_data_and_shutdown_hand_it_back() {
    // The dwelling outlives nomhub, as a real one does.
    let (cancel, sim_cancel) = (CancellationToken::new(), CancellationToken::new());
    let sim = sunny_noon(&sim_cancel).await;
    assert_eq!(registers(&sim.bank), FACTORY);
    let dir = tempfile::tempdir().unwrap();
    let (app, tasks) = start_app(&sim, &dir.path().join("store"), SURPLUS_RULE, &cancel);
    let status = app.views.control.clone().unwrap();

    // The rule (priority 10) beats the strategy's comfort setpoint (priority 0);
    // the strategy puts the SHI in setpoint mode.
    registers_become(&sim.bank, (1, 600), "setpoint mode at 60.0 °C").await;
    let s = support::eventually(5, "the status shows the rule", || {
        let s = status.borrow().clone();
        async move {
            s.points
                .iter()
                .any(|p| p.point == "hot_water_setpoint" && p.why.contains("overrules"))
                .then_some(s)
        }
    })
    .await;
    let setpoint = s
        .points
        .iter()
        .find(|p| p.point == "hot_water_setpoint")
        .unwrap();
    assert_eq!(setpoint.by, "surplus");
    assert!(
        setpoint.why.contains("`grid_power < -500.0` held")
            && setpoint
                .why
                .contains("overrules strategy (priority 0) who wanted"),
        "{}",
        setpoint.why
    );
    assert_eq!(s.held["heat_pump.hot_water_setpoint"].original, 40.0);
    assert_eq!(s.held["heat_pump.hot_water_mode"].original, 0.0);
    // Smart mode plans with current data (a fresh strategy has learned no sun or
    // draws yet, so it may see no charge ahead); none is planned while one runs.
    assert!(s.planning && s.learning, "{s:?}");
    assert!(!(s.charging && s.next_charge.is_some()), "{s:?}");

    // The grid meter goes silent: no grid reading, so the rule cannot tell and the
    // strategy hands back; the SHI gets its own settings again.
    sim.bank.set_fault(UNIT_GRID_METER, Some(Fault::Silent));
    registers_become(&sim.bank, FACTORY, "handed back without a grid reading").await;
    let s = support::eventually(5, "the status shows the hand-back", || {
        let s = status.borrow().clone();
        async move { s.held.is_empty().then_some(s) }
    })
    .await;
    // (A silent unit slows the shared bus, so the tank reading may be late too.)
    assert!(
        s.strategy
            .starts_with("handed back to the heat pump's own settings: no current"),
        "{}",
        s.strategy
    );
    assert!(
        !s.planning && s.next_charge.is_none(),
        "no plan when handed back"
    );
    assert!(
        s.problems
            .iter()
            .any(|(_, p)| p.contains("rule `surplus`")
                && p.contains("grid_power has no current value")),
        "{:?}",
        s.problems
    );

    // The meter is back: so is the rule.
    sim.bank.set_fault(UNIT_GRID_METER, None);
    registers_become(&sim.bank, (1, 600), "taken over again").await;

    // Shutdown hands everything back before the bus closes.
    stop_and_expect_factory(&cancel, tasks, &sim.bank).await;
    assert!(status.borrow().held.is_empty());
    sim_cancel.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_computed_value_outside_the_profiles_bounds_is_never_written() {
    let cancel = CancellationToken::new();
    let sim = sunny_noon(&cancel).await;
    let dir = tempfile::tempdir().unwrap();
    // -grid_power / 10 is about 346 °C at this noon: far above the profile's 65.
    let rule = r#"
[[rule]]
name = "runaway"
when = "grid_power < -500.0"
then = [{ set = "heat_pump.dhw_setpoint", value = "-grid_power / 10.0" }]
"#;
    let (app, _tasks) = start_app(&sim, &dir.path().join("store"), rule, &cancel);
    let status = app.views.control.clone().unwrap();
    let s = support::eventually(20, "the rule's value refused", || {
        let s = status.borrow().clone();
        async move {
            let refused = s
                .problems
                .iter()
                .any(|(_, p)| p.contains("rule `runaway`") && p.contains("outside 30..=65"));
            let strategy = s.points.iter().any(|p| p.point == "hot_water_setpoint");
            (refused && strategy).then_some(s)
        }
    })
    .await;
    // The strategy's setpoint is what the heat pump gets.
    let wanted = s
        .points
        .iter()
        .find(|p| p.point == "hot_water_setpoint")
        .unwrap();
    assert_eq!(wanted.by, "strategy");
    assert!((30.0..=65.0).contains(&wanted.value));
    let raw = (wanted.value * 10.0).round() as u16;
    registers_become(&sim.bank, (1, raw), "the strategy's setpoint").await;
    cancel.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_sigkill_a_restart_gives_back_the_values_from_before_nomhub() {
    let cancel = CancellationToken::new();
    let sim = sunny_noon(&cancel).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nomhub.toml");
    let store = dir.path().join("store");
    std::fs::write(&path, config_text(&sim, &store, SURPLUS_RULE)).unwrap();

    let mut first = support::daemon(&path);
    registers_become(&sim.bank, (1, 600), "the first run takes over").await;
    first.kill().unwrap(); // SIGKILL: no hand-back
    first.wait().unwrap();
    assert_eq!(registers(&sim.bank), (1, 600), "left as nomhub set them");

    // The second run cannot act (no grid reading): it must hand back what the
    // first run took over, to the values from before it, which it only knows
    // from the store.
    sim.bank.set_fault(UNIT_GRID_METER, Some(Fault::Silent));
    let second = support::daemon(&path);
    registers_become(&sim.bank, FACTORY, "restored after the restart").await;
    let log = support::sigterm(second);
    assert!(log.contains("Resuming the points nomhub held"), "{log}");

    // A clean stop hands back too: a third run takes over, SIGTERM, factory values.
    sim.bank.set_fault(UNIT_GRID_METER, None);
    let third = support::daemon(&path);
    registers_become(&sim.bank, (1, 600), "the third run takes over").await;
    let log = support::sigterm(third);
    assert!(log.contains("Control handed every point back"), "{log}");
    assert_eq!(registers(&sim.bank), FACTORY);
    cancel.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn home_assistant_hears_why_and_the_rules_notes() {
    use support::mqtt::{Broker, Recorder};
    let broker = Broker::start();
    let recorder = Recorder::connect(broker.port, &["nomhub/#", "homeassistant/#"]).await;
    let (cancel, sim_cancel) = (CancellationToken::new(), CancellationToken::new());
    let sim = sunny_noon(&sim_cancel).await;
    let dir = tempfile::tempdir().unwrap();
    let rules = format!(
        r#"{SURPLUS_RULE}
[[rule]]
name = "tell"
when = "grid_power < -500.0"
then = [{{ notify = "exporting ${{-grid_power}} W" }}]

[mqtt]
host = "127.0.0.1"
port = {}
"#,
        broker.port
    );
    let (_app, tasks) = start_app(&sim, &dir.path().join("store"), &rules, &cancel);

    let hub = recorder
        .wait(10, "homeassistant/device/nomhub_hub/config", |_| true)
        .await
        .json();
    let decision = &hub["components"]["hot_water_decision"];
    assert_eq!(decision["state_topic"], "nomhub/hub/control");
    assert_eq!(decision["json_attributes_topic"], "nomhub/hub/control");

    let msg = recorder
        .wait(20, "nomhub/hub/control", |m| {
            let j = m.json();
            j["note"]
                .as_str()
                .is_some_and(|n| n.starts_with("exporting "))
                && j["points"]
                    .as_array()
                    .is_some_and(|ps| ps.iter().any(|p| p["by"] == "surplus"))
        })
        .await
        .json();
    assert_eq!(msg["note_by"], "tell");
    let setpoint = msg["points"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["point"] == "heat_pump.hot_water_setpoint")
        .unwrap();
    assert_eq!(setpoint["value"], 60.0);
    assert!(
        setpoint["why"]
            .as_str()
            .unwrap()
            .contains("by surplus (priority 10)"),
        "{setpoint}"
    );
    assert!(!msg["decision"].as_str().unwrap().is_empty());
    // The comfort state the strategy sees, as a problem sensor with its figures.
    let risk = &hub["components"]["hot_water_comfort_risk"];
    assert_eq!(risk["platform"], "binary_sensor");
    assert_eq!(risk["device_class"], "problem");
    assert_eq!(risk["state_topic"], "nomhub/hub/control");
    // Once the strategy has had a tank reading.
    let msg = recorder
        .wait(20, "nomhub/hub/control", |m| {
            m.json()["comfort_at_risk"].is_boolean()
        })
        .await
        .json();
    assert!(
        msg["hot_water_kwh"].as_f64().is_some_and(|k| k >= 0.0),
        "{msg}"
    );
    assert!(msg["large_draw_kwh"].as_f64().is_some(), "{msg}");

    // A sun forecast from Home Assistant: refused when malformed (and nothing
    // changes), taken when good, and reported back as today's and tomorrow's kWh.
    assert!(
        msg["pv_forecast_today_kwh"].is_null(),
        "no forecast yet: {msg}"
    );
    let today = chrono::DateTime::<chrono::Utc>::from(nomhub::clock::Clock::System.now())
        .with_timezone(&nomhub::clock::TZ)
        .date_naive()
        .and_hms_opt(0, 0, 0)
        .unwrap()
        .and_local_timezone(nomhub::clock::TZ)
        .earliest()
        .unwrap();
    let forecast = |w: &str| {
        format!(
            r#"{{"start": "{}", "period_minutes": 60, "watts": [{w}]}}"#,
            today.to_rfc3339()
        )
    };
    // 50 hours: all of today and tomorrow (a clock-change day has 23 or 25).
    let hours: Vec<String> = (0..50)
        .map(|h| {
            if (8..16).contains(&(h % 24)) {
                "1000".into()
            } else {
                "0".into()
            }
        })
        .collect();
    recorder
        .send(
            "nomhub/hub/forecast/pv",
            forecast("100, -5").as_bytes(),
            false,
        )
        .await;
    recorder
        .send(
            "nomhub/hub/forecast/pv",
            forecast(&hours.join(",")).as_bytes(),
            false,
        )
        .await;
    let msg = recorder
        .wait(20, "nomhub/hub/control", |m| {
            !m.json()["pv_forecast_today_kwh"].is_null()
        })
        .await
        .json();
    assert_eq!(msg["pv_forecast_today_kwh"], 8.0, "{msg}");
    assert_eq!(msg["pv_forecast_tomorrow_kwh"], 8.0, "{msg}");
    for key in ["pv_forecast_today", "pv_forecast_tomorrow"] {
        let c = &hub["components"][key];
        assert_eq!(c["device_class"], "energy", "{key}");
        assert_eq!(c["unit_of_measurement"], "kWh", "{key}");
    }
    stop_and_expect_factory(&cancel, tasks, &sim.bank).await;
    sim_cancel.cancel();
}

/// Ten days of habits, as a run before the restart saved them: a shower at 07:00,
/// sun from 10:00 to 16:00.
fn ten_days() -> Habits {
    Habits {
        draw_kwh: (0..96).map(|q| if q == 28 { 1.5 } else { 0.0 }).collect(),
        draw_days: 10,
        draw_weekday_kwh: Vec::new(),
        draw_weekend_kwh: Vec::new(),
        weekday_days: 0,
        weekend_days: 0,
        daily_draw_kwh: None,
        recent_draws: Vec::new(),
        surplus_w: (0..96)
            .map(|q| if (40..64).contains(&q) { 2500.0 } else { 0.0 })
            .collect(),
        surplus_days: vec![10; 96],
        charge_w: 1200.0,
        last_hot: None,
    }
}

/// nomhub on the sunny noon with `habits` in the store's record `v1/state/strategy`:
/// the control status once smart mode plans, and the record after a clean stop.
async fn run_with_saved_habits(habits: &serde_json::Value) -> (ControlStatus, Habits) {
    run_with_saved_habits_then(habits, None).await
}

/// As [`run_with_saved_habits`], with `change` handed to the strategy once smart
/// mode plans; the status is the one after it.
async fn run_with_saved_habits_then(
    habits: &serde_json::Value,
    change: Option<Change>,
) -> (ControlStatus, Habits) {
    let sim_cancel = CancellationToken::new();
    let sim = sunny_noon(&sim_cancel).await;
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    Store::open(&store)
        .unwrap()
        .set_state("strategy", habits)
        .unwrap();

    let cancel = CancellationToken::new();
    let (app, tasks) = start_app(&sim, &store, "", &cancel);
    let status = app.views.control.clone().unwrap();
    let mut s = support::eventually(20, "smart mode plans", || {
        let s = status.borrow().clone();
        async move { s.planning.then_some(s) }
    })
    .await;
    if let Some(change) = change {
        assert!(app.views.strategy.apply(change, "test").await);
        s = support::eventually(20, "the strategy learns afresh", || {
            let s = status.borrow().clone();
            async move { s.learning.then_some(s) }
        })
        .await;
    }
    stop(&cancel, tasks).await;
    drop(app); // lets go of the store
    let saved = Store::open(&store)
        .unwrap()
        .state("strategy")
        .unwrap()
        .unwrap();
    sim_cancel.cancel();
    (s, saved)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_takes_up_the_habits_the_strategy_learned_and_saves_them_again() {
    let (s, saved) = run_with_saved_habits(&serde_json::to_value(ten_days()).unwrap()).await;
    // A fresh strategy is learning for its first day; this one knows ten.
    assert!(!s.learning, "{s:?}");
    assert!(s.problems.is_empty(), "{:?}", s.problems);
    // Saved again at shutdown: the ten days' pattern is still there for the next run.
    assert!(saved.draw_days >= 10, "{saved:?}");
    assert!((saved.draw_kwh[28] - 1.5).abs() < 0.2, "{saved:?}");
    assert!(saved.surplus_w[48] > 2000.0, "{saved:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forgetting_the_habits_starts_afresh_and_the_store_keeps_it() {
    let ten = serde_json::to_value(ten_days()).unwrap();
    let (s, saved) = run_with_saved_habits_then(&ten, Some(Change::ForgetHabits)).await;
    assert!(s.learning, "{s:?}");
    // Saved: the next start does not bring the ten days back.
    assert_eq!(saved.draw_days, 0, "{saved:?}");
    assert!(saved.draw_kwh[28] < 0.5, "{saved:?}");
    assert!(saved.surplus_days.iter().all(|d| *d <= 1), "{saved:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn damaged_habits_are_reported_and_the_strategy_learns_afresh() {
    let mut damaged = serde_json::to_value(ten_days()).unwrap();
    damaged["surplus_w"] = serde_json::json!([1.0, 2.0]);
    let (s, saved) = run_with_saved_habits(&damaged).await;
    assert!(s.learning, "nothing taken up: {s:?}");
    assert!(
        s.problems.iter().any(|(_, p)| p.contains("v1/state/strategy")
            && p.contains("`surplus_w` has 2 values")),
        "{:?}",
        s.problems
    );
    // What it learned since replaces the damaged record.
    assert_eq!(saved.surplus_w.len(), 96);
}

/// A winter night, frozen: no sun, the tank at the simulator's 50 °C.
async fn winter_night(cancel: &CancellationToken) -> SimHandle {
    let night = chrono_tz::Europe::Amsterdam
        .with_ymd_and_hms(2026, 12, 8, 2, 0, 0)
        .unwrap()
        .with_timezone(&chrono::Utc);
    support::dwelling_at(0.0, night, cancel).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mode_command_from_home_assistant_reaches_the_register_without_waiting_for_a_tick() {
    use support::mqtt::{Broker, Recorder};
    let broker = Broker::start();
    let (cancel, sim_cancel) = (CancellationToken::new(), CancellationToken::new());
    let sim = winter_night(&sim_cancel).await;
    let dir = tempfile::tempdir().unwrap();
    // Off at the first start, and a tick of an hour: only the command can write.
    let text = config_text(&sim, &dir.path().join("store"), "")
        .replace("mode = \"smart\"", "mode = \"off\"")
        .replace("tick = \"200ms\"", "tick = \"3600s\"");
    let text = format!(
        "{text}\n[mqtt]\nhost = \"127.0.0.1\"\nport = {}\n",
        broker.port
    );
    let cfg = nomhub::config::parse("nomhub.toml", &text).unwrap();
    let tasks = TaskTracker::new();
    let app = app::start(
        &cfg,
        app::open_ledger(&cfg).unwrap(),
        &nomhub::clock::Clock::System,
        &tasks,
        &cancel,
    )
    .unwrap();
    let mut link = app.mqtt.clone().unwrap();
    tokio::time::timeout(Duration::from_secs(10), link.wait_for(|s| s.connected))
        .await
        .unwrap()
        .unwrap();
    let snap = app.views.snapshot.clone();
    support::eventually(10, "a current tank and grid reading", || {
        let s = snap.borrow().clone();
        async move {
            (s.get("heat_pump", "tank_temperature")?.value.is_ok()
                && s.get("grid", "power")?.value.is_ok())
            .then_some(())
        }
    })
    .await;
    // Past the first tick, which ran at the start with nothing to do.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(registers(&sim.bank), FACTORY);

    let ha = Recorder::connect(broker.port, &["nomhub/hub/strategy/mode"]).await;
    let sent = std::time::Instant::now();
    ha.send("nomhub/hub/strategy/mode/set", b"boost", false)
        .await;
    // The first register the command changes: the control-mode point, written first;
    // the setpoint follows once the profile's read-back of that write has settled.
    let took = loop {
        if registers(&sim.bank) != FACTORY {
            break sent.elapsed();
        }
        assert!(
            sent.elapsed() < Duration::from_secs(5),
            "the setpoint was not written: {:?}",
            registers(&sim.bank)
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    };
    eprintln!("mode command to register: {took:?}");
    assert!(took < Duration::from_millis(200), "{took:?}");
    registers_become(&sim.bank, (1, 550), "the boost setpoint written").await;
    // Echoed for Home Assistant.
    ha.wait(5, "nomhub/hub/strategy/mode", |m| m.text() == "boost")
        .await;
    stop_and_expect_factory(&cancel, tasks, &sim.bank).await;
    sim_cancel.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_boost_press_before_a_restart_is_not_repeated_after_it() {
    let sim_cancel = CancellationToken::new();
    let sim = winter_night(&sim_cancel).await;
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let planning = |app: &app::App| {
        let status = app.views.control.clone().unwrap();
        support::eventually(20, "smart mode plans", move || {
            let s = status.borrow().clone();
            async move { s.planning.then_some(s) }
        })
    };

    let cancel = CancellationToken::new();
    let (app, tasks) = start_app(&sim, &store, "", &cancel);
    let s = planning(&app).await;
    assert!(!s.charging, "a warm tank at night: nothing to do ({s:?})");
    assert!(app.views.strategy.apply(Change::BoostNow, "test").await);
    let s = app.views.control.as_ref().unwrap().borrow().clone();
    assert!(s.charging, "acted on at once: {s:?}");
    registers_become(&sim.bank, (registers(&sim.bank).0, 550), "boost written").await;
    stop_and_expect_factory(&cancel, tasks, &sim.bank).await;
    drop(app);

    // A restart a moment later: the press was an event, gone with the run.
    let cancel = CancellationToken::new();
    let (app, tasks) = start_app(&sim, &store, "", &cancel);
    let s = planning(&app).await;
    assert!(!s.charging, "{s:?}");
    tokio::time::sleep(Duration::from_secs(1)).await;
    let s = app.views.control.as_ref().unwrap().borrow().clone();
    assert!(!s.charging, "{s:?}");
    assert_ne!(registers(&sim.bank).1, 550);
    stop_and_expect_factory(&cancel, tasks, &sim.bank).await;
    sim_cancel.cancel();
}

/// A local stand-in for Open-Meteo: serves the recorded-shape answer with its times
/// moved to start at the current quarter hour, or 500 when `fail`; counts requests
/// and keeps the last query.
async fn open_meteo(
    fail: bool,
    cancel: &CancellationToken,
) -> (
    std::net::SocketAddr,
    std::sync::Arc<std::sync::Mutex<Vec<String>>>,
) {
    use warp::Filter;
    let text = std::fs::read_to_string(
        support::root().join("tests/fixtures/open-meteo/minutely15-two-days.json"),
    )
    .unwrap();
    let mut answer: serde_json::Value = serde_json::from_str(&text).unwrap();
    let now = chrono::DateTime::<chrono::Utc>::from(nomhub::clock::Clock::System.now()).timestamp();
    let times = answer["minutely_15"]["time"].as_array_mut().unwrap();
    let shift = now - now.rem_euclid(900) + 900 - times[0].as_i64().unwrap();
    for t in times.iter_mut() {
        *t = (t.as_i64().unwrap() + shift).into();
    }
    let body = answer.to_string();
    let queries = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = queries.clone();
    let route = warp::path!("v1" / "forecast")
        .and(warp::query::raw())
        .map(move |q: String| {
            seen.lock().unwrap().push(q);
            if fail {
                warp::http::Response::builder()
                    .status(500)
                    .body(String::new())
            } else {
                warp::http::Response::builder()
                    .status(200)
                    .body(body.clone())
            }
        });
    let cancel = cancel.clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(
        warp::serve(route)
            .incoming(listener)
            .graceful(async move { cancel.cancelled().await })
            .run(),
    );
    (addr, queries)
}

fn forecast_config(addr: std::net::SocketAddr) -> String {
    format!(
        "[forecast]\nsource = \"open-meteo\"\nlatitude = 52.1\nlongitude = 5.18\nkwp = 5.6\ntilt = 40\nazimuth = 190\nurl = \"http://{addr}/v1/forecast\"\n"
    )
}

/// The forecast control holds, once it has one current.
async fn current_forecast(app: &app::App) -> nomhub::strategy::sun::ForecastSummary {
    let status = app.views.control.clone().unwrap();
    support::eventually(20, "a current sun forecast", || {
        let f = status.borrow().forecast.filter(|f| f.current);
        async move { f }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_meteos_forecast_is_fetched_planned_with_and_kept_for_a_restart() {
    let (cancel, sim_cancel, web_cancel) = (
        CancellationToken::new(),
        CancellationToken::new(),
        CancellationToken::new(),
    );
    let sim = sunny_noon(&sim_cancel).await;
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let (addr, queries) = open_meteo(false, &web_cancel).await;
    let (app, tasks) = start_app(&sim, &store, &forecast_config(addr), &cancel);
    let f = current_forecast(&app).await;
    let today = f.today_kwh.unwrap_or_default() + f.tomorrow_kwh.unwrap_or_default();
    assert!(today > 1.0, "{f:?}");
    let q = queries.lock().unwrap().first().cloned().unwrap();
    assert!(q.contains("tilt=40&azimuth=10"), "{q}");
    assert!(q.contains("minutely_15=global_tilted_irradiance"), "{q}");
    stop(&cancel, tasks).await;
    drop(app); // lets go of the store

    // Open-Meteo fails after the restart: the forecast kept in the store is used.
    let cancel = CancellationToken::new();
    let (addr, queries) = open_meteo(true, &web_cancel).await;
    let (app, tasks) = start_app(&sim, &store, &forecast_config(addr), &cancel);
    let again = current_forecast(&app).await;
    assert_eq!(again.issued, f.issued, "the kept forecast, not a new one");
    support::eventually(20, "a try at the failing service", || {
        let n = queries.lock().unwrap().len();
        async move { (n > 0).then_some(()) }
    })
    .await;
    stop(&cancel, tasks).await;
    web_cancel.cancel();
    sim_cancel.cancel();
}

/// The simulated relay board on unit 5, relays 1 and 2 on the heat pump's SG Ready
/// terminals, with quick hold times for a test.
const SG_READY: &str = r#"
[[device]]
id = "relays"
profile = "waveshare-modbus_rtu_relay"
bus = "sim"
unit = 5
poll = "200ms"

[control.sg_ready]
contacts = { device = "relays", a = "relay_1", b = "relay_2" }
hot_water = "sg_ready"
min_state = "3s"
max_lock = "3s"
"#;

/// Contacts A and B on the relay board.
fn contacts(bank: &Bank) -> (bool, bool) {
    let units = bank.lock();
    let r = &units[&UNIT_RELAYS];
    let on = |a| r.get(RegisterKind::Coil, a).unwrap() != 0;
    (on(0), on(1))
}

async fn contacts_become(bank: &Bank, want: (bool, bool), secs: u64, what: &str) {
    support::eventually(secs, what, || {
        let got = contacts(bank);
        async move { (got == want).then_some(()) }
    })
    .await;
}

const NORMAL: (bool, bool) = (false, false);
const RECOMMEND: (bool, bool) = (false, true);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sg_ready_surplus_is_state_3_through_the_hold_a_reset_board_is_reasserted_and_stop_hands_back()
 {
    use support::mqtt::{Broker, Recorder};
    let broker = Broker::start();
    let ha = Recorder::connect(broker.port, &["nomhub/hub/control"]).await;
    let (cancel, sim_cancel) = (CancellationToken::new(), CancellationToken::new());
    let sim = sunny_noon(&sim_cancel).await;
    let dir = tempfile::tempdir().unwrap();
    let mqtt = format!("\n[mqtt]\nhost = \"127.0.0.1\"\nport = {}\n", broker.port);
    // The rule asks for state 3 by the heat pump's `sg_ready`, whatever wires it.
    let rule = r#"
[[rule]]
name = "surplus"
when = "grid_power < -500.0"
then = [{ set = "heat_pump.sg_ready", value = 3 }]
"#;
    let (app, tasks) = start_app(
        &sim,
        &dir.path().join("store"),
        &format!("{SG_READY}{rule}{mqtt}"),
        &cancel,
    );
    let status = app.views.control.clone().unwrap();
    contacts_become(&sim.bank, RECOMMEND, 20, "state 3 on the contacts").await;
    // The setpoint is not touched: the strategy acts through SG Ready.
    assert_eq!(registers(&sim.bank), FACTORY);
    let s = support::eventually(5, "the status shows state 3", || {
        let s = status.borrow().clone();
        async move {
            let sg = s.sg_ready.clone()?;
            (sg.shown == Some(nomhub::model::SgState::Recommend)).then_some(s)
        }
    })
    .await;
    let sg = s.sg_ready.unwrap();
    assert_eq!(sg.wanted, nomhub::model::SgState::Recommend);
    assert!(sg.why.contains("surplus asks for it"), "{}", sg.why);
    // Relay 2 was found off and goes back off, whatever the board had.
    assert_eq!(s.held["relays.relay_2"].original, 0.0);
    // Home Assistant's SG Ready sensor reads what the relays show.
    let m = ha
        .wait(10, "nomhub/hub/control", |m| {
            m.json()["sg_ready_state"] == "recommend"
        })
        .await;
    assert_eq!(m.json()["sg_ready_wanted"], "recommend");

    // The board loses power for a moment: every relay off. nomhub puts state 3 back.
    {
        let mut units = sim.bank.lock();
        let r = units.get_mut(&UNIT_RELAYS).unwrap();
        r.set(RegisterKind::Coil, 1, &[0]);
    }
    assert_eq!(contacts(&sim.bank), NORMAL);
    contacts_become(
        &sim.bank,
        RECOMMEND,
        10,
        "state 3 re-asserted after a reset",
    )
    .await;

    // Stale data (no grid reading): back to state 2 at once, hold or not.
    sim.bank.set_fault(UNIT_GRID_METER, Some(Fault::Silent));
    contacts_become(&sim.bank, NORMAL, 20, "state 2 without a grid reading").await;
    sim.bank.set_fault(UNIT_GRID_METER, None);
    contacts_become(&sim.bank, RECOMMEND, 20, "state 3 once the meter is back").await;

    // Every stop hands back state 2.
    stop(&cancel, tasks).await;
    assert_eq!(contacts(&sim.bank), NORMAL);
    assert_eq!(registers(&sim.bank), FACTORY);
    let sg = status.borrow().sg_ready.clone().unwrap();
    assert_eq!(sg.wanted, nomhub::model::SgState::Normal);
    sim_cancel.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_strategy_boosts_through_sg_ready_and_keeps_the_state_its_minimum_time() {
    let (cancel, sim_cancel) = (CancellationToken::new(), CancellationToken::new());
    let sim = winter_night(&sim_cancel).await;
    let dir = tempfile::tempdir().unwrap();
    let (app, tasks) = start_app(&sim, &dir.path().join("store"), SG_READY, &cancel);
    let status = app.views.control.clone().unwrap();
    let strategy = app.views.strategy.clone();
    // A winter night, smart mode: no surplus, the tank warm enough: state 2.
    support::eventually(10, "the strategy plans", || {
        let s = status.borrow().clone();
        async move { s.planning.then_some(()) }
    })
    .await;
    assert_eq!(contacts(&sim.bank), NORMAL);

    assert!(
        strategy
            .apply(Change::Mode(nomhub::strategy::Mode::Boost), "test")
            .await
    );
    let asked = std::time::Instant::now();
    contacts_become(&sim.bank, RECOMMEND, 5, "state 3 for the boost").await;
    let s = status.borrow().clone();
    assert!(
        s.strategy.contains("55"),
        "boost to the raised target: {}",
        s.strategy
    );

    // Off again at once: state 3 stays its 3 s minimum, then goes.
    assert!(
        strategy
            .apply(Change::Mode(nomhub::strategy::Mode::Off), "test")
            .await
    );
    assert_eq!(contacts(&sim.bank), RECOMMEND);
    contacts_become(&sim.bank, NORMAL, 10, "state 2 after the minimum time").await;
    assert!(
        asked.elapsed() >= Duration::from_millis(2500),
        "left state 3 after {:?}",
        asked.elapsed()
    );
    stop(&cancel, tasks).await;
    assert_eq!(contacts(&sim.bank), NORMAL);
    sim_cancel.cancel();
}
