//! The poller against the simulated dwelling with every fault switch: it survives,
//! the faulty unit's points go unavailable, the others stay live, and it recovers.

#![allow(clippy::unwrap_used)] // test helpers may panic

mod support;

use std::time::Duration;

use nomhub::app;
use nomhub::config;
use nomhub::device::{DeviceSpec, Poller, WriteError, poller, write_point};
use nomhub::model::{DeviceId, Unavailable, Value};
use nomhub::profile::ProfileSet;
use nomhub::sim::{Fault, UNIT_GRID_METER, UNIT_HEAT_PUMP};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// The Luxtronik profile and a bus to the simulated dwelling.
fn luxtronik(
    sim: &nomhub::sim::SimHandle,
    cancel: &CancellationToken,
) -> (nomhub::profile::ResolvedProfile, nomhub::modbus::BusHandle) {
    let set = ProfileSet::embedded().unwrap();
    let profile = set
        .get("alpha_innotec-luxtronik2")
        .unwrap()
        .resolve()
        .unwrap();
    (profile, support::tcp_bus(sim.addr, cancel))
}

/// nomhub in-process on the demo config against `sim`, every device polled every 200 ms.
fn polling_quickly(
    sim: &nomhub::sim::SimHandle,
    store: &std::path::Path,
    cancel: &CancellationToken,
) -> (app::App, TaskTracker) {
    let mut cfg = config::demo(sim.addr.port(), store).unwrap();
    for d in &mut cfg.devices {
        d.poll = Some(nomhub::model::Dur(Duration::from_millis(200)));
    }
    let tasks = TaskTracker::new();
    let ledger = app::open_ledger(&cfg).unwrap();
    let app = app::start(&cfg, ledger, &nomhub::clock::Clock::System, &tasks, cancel).unwrap();
    (app, tasks)
}

fn live(snap: &nomhub::state::Snapshot, device: &str, point: &str) -> bool {
    snap.get(device, point).is_some_and(|s| s.value.is_ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_or_failing_unit_goes_unavailable_without_stalling_the_others() {
    for fault in [Fault::Silent, Fault::Exception, Fault::Garbage] {
        let cancel = CancellationToken::new();
        let sim = support::dwelling(60.0, &cancel).await;
        let store = tempfile::tempdir().unwrap();
        let (app, _tasks) = polling_quickly(&sim, store.path(), &cancel);
        let rx = app.views.snapshot.clone();
        support::eventually(10, "all devices online", || {
            let snap = rx.borrow().clone();
            async move {
                (["inverter", "grid", "installations", "heat_pump"]
                    .iter()
                    .all(|d| snap.devices.get(*d).is_some_and(|s| s.online)))
                .then_some(())
            }
        })
        .await;

        sim.bank.set_fault(UNIT_HEAT_PUMP, Some(fault));
        let before = rx.borrow().get("grid", "power").unwrap().at;
        let snap = support::eventually(10, "heat pump unavailable", || {
            let snap = rx.borrow().clone();
            async move {
                let hp = snap.get("heat_pump", "tank_temperature")?;
                let bad = match fault {
                    // Garbage decodes; the garbage guard is the counter check and the marker check.
                    Fault::Garbage => {
                        snap.get("heat_pump", "electric_energy")
                            .is_some_and(|s| s.value.is_err())
                            || hp.value.is_err()
                    }
                    _ => hp.value.is_err() && !snap.devices["heat_pump"].online,
                };
                // The grid meter, on the same bus, polled since the fault began.
                let grid_polled = snap.get("grid", "power").is_some_and(|g| g.at > before);
                (bad && grid_polled).then_some(snap)
            }
        })
        .await;
        // … and still read while the heat pump is faulty.
        let grid = snap.get("grid", "power").unwrap();
        assert!(grid.value.is_ok(), "{fault:?}: grid meter stalled");

        sim.bank.set_fault(UNIT_HEAT_PUMP, None);
        support::eventually(15, "heat pump back", || {
            let snap = rx.borrow().clone();
            async move {
                (live(&snap, "heat_pump", "tank_temperature") && snap.devices["heat_pump"].online)
                    .then_some(())
            }
        })
        .await;
        cancel.cancel();
    }
}

#[tokio::test]
async fn a_counter_that_runs_backwards_is_rejected_until_it_stays_back() {
    let cancel = CancellationToken::new();
    let sim = support::dwelling(0.0, &cancel).await;
    let set = ProfileSet::embedded().unwrap();
    let spec = DeviceSpec {
        id: DeviceId::new("grid").unwrap(),
        profile: set.get("eastron-sdm630").unwrap().clone(),
        unit: UNIT_GRID_METER,
        bus: support::tcp_bus(sim.addr, &cancel),
        interval_override: None,
        clock: nomhub::clock::Clock::System,
    };
    let mut p = Poller::new(&spec, poller::resolve(&spec).await.unwrap());
    let energy = |reports: Vec<nomhub::device::PollReport>| {
        reports
            .into_iter()
            .flat_map(|r| r.samples)
            .find(|s| s.point.as_str() == "import_energy")
            .unwrap()
            .value
    };
    let first = energy(p.poll_all().await);
    assert!(matches!(first, Ok(Value::Energy(_))), "{first:?}");
    sim.bank
        .set_fault(UNIT_GRID_METER, Some(Fault::CounterBackwards));
    // The frozen dwelling re-renders only when it ticks; render once by hand.
    nomhub::sim::dwelling::render(
        &nomhub::sim::Dwelling::new(nomhub::clock::now().into()),
        &sim.bank,
    );
    let second = energy(p.poll_all().await);
    match second {
        Err(Unavailable::Rejected(why)) => assert!(why.contains("backwards"), "{why}"),
        other => panic!("a backwards counter got through: {other:?}"),
    }
    // It stays back (a meter replaced by one 5 kWh lower): the second low reading is
    // held back too, the third re-bases and passes the first low one on, so the
    // ledger books from there.
    let third = energy(p.poll_all().await);
    assert!(matches!(third, Err(Unavailable::Rejected(_))), "{third:?}");
    let (Ok(Value::Energy(before)), Ok(Value::Energy(base))) = (first, energy(p.poll_all().await))
    else {
        panic!("the re-based counter does not come through");
    };
    assert_eq!(
        before.0 - base.0,
        5_000,
        "the meter's own value, from its first low reading"
    );
    cancel.cancel();
}

#[tokio::test]
async fn writes_are_bounded_and_verified() {
    let cancel = CancellationToken::new();
    let sim = support::dwelling(0.0, &cancel).await;
    let (profile, bus) = luxtronik(&sim, &cancel);
    let setpoint = profile.point("hot_water_setpoint").unwrap();
    write_point(&bus, UNIT_HEAT_PUMP, setpoint, 52.5)
        .await
        .unwrap();
    let raw = sim.bank.lock()[&UNIT_HEAT_PUMP].get(nomhub::modbus::RegisterKind::Holding, 10006);
    assert_eq!(raw, Some(525));
    // Out of the profile's bounds: refused before anything reaches the device.
    match write_point(&bus, UNIT_HEAT_PUMP, setpoint, 80.0).await {
        Err(WriteError::OutOfBounds { min, max, .. }) => assert_eq!((min, max), (30.0, 65.0)),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        sim.bank.lock()[&UNIT_HEAT_PUMP].get(nomhub::modbus::RegisterKind::Holding, 10006),
        Some(525)
    );
    // Read-only points cannot be written at all.
    let tank = profile.point("tank_temperature").unwrap();
    assert!(matches!(
        write_point(&bus, UNIT_HEAT_PUMP, tank, 50.0).await,
        Err(WriteError::NotWritable { .. })
    ));
    // An enumerated point verifies by number, not by name.
    write_point(
        &bus,
        UNIT_HEAT_PUMP,
        profile.point("hot_water_mode").unwrap(),
        1.0,
    )
    .await
    .unwrap();
    cancel.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_heat_pump_heats_the_tank_when_told_to() {
    let cancel = CancellationToken::new();
    // 10 simulated minutes per real second.
    let sim = support::dwelling(600.0, &cancel).await;
    let (profile, bus) = luxtronik(&sim, &cancel);
    write_point(
        &bus,
        UNIT_HEAT_PUMP,
        profile.point("hot_water_mode").unwrap(),
        1.0,
    )
    .await
    .unwrap();
    write_point(
        &bus,
        UNIT_HEAT_PUMP,
        profile.point("hot_water_setpoint").unwrap(),
        60.0,
    )
    .await
    .unwrap();
    let tank = |bank: &nomhub::sim::Bank| {
        f64::from(
            bank.lock()[&UNIT_HEAT_PUMP]
                .get(nomhub::modbus::RegisterKind::Input, 10120)
                .unwrap() as i16,
        ) / 10.0
    };
    let bank = sim.bank.clone();
    support::eventually(20, "tank above 58 °C", || {
        let t = tank(&bank);
        async move { (t > 58.0).then_some(()) }
    })
    .await;
    cancel.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bus_actor_killed_inside_nomhub_is_restarted_and_polling_resumes() {
    let cancel = CancellationToken::new();
    let sim = support::dwelling(60.0, &cancel).await;
    let store = tempfile::tempdir().unwrap();
    let (app, tasks) = polling_quickly(&sim, store.path(), &cancel);
    let rx = app.views.snapshot.clone();
    let polls = |snap: &nomhub::state::Snapshot| snap.devices.get("grid").map_or(0, |d| d.polls);
    support::eventually(10, "the grid meter polled", || {
        let n = polls(&rx.borrow());
        async move { (n >= 3).then_some(()) }
    })
    .await;

    // Killed twice (the supervisor waits 1 s, then 2 s, before starting it again).
    for n in 1..=2 {
        assert!(app.supervisor.kill("bus sim"));
        support::eventually(10, "the bus restarted", || {
            let h = app.supervisor.health()["bus sim"].clone();
            async move { (h.running && h.restarts >= n).then_some(()) }
        })
        .await;
    }
    let (after, at) = {
        let snap = rx.borrow();
        (polls(&snap), snap.get("grid", "power").unwrap().at)
    };
    // Polling carries on, every block still asked: fresh values from every device.
    let snap = support::eventually(20, "fresh values after the restarts", || {
        let snap = rx.borrow().clone();
        async move {
            let fresh = ["inverter", "grid", "installations", "heat_pump"]
                .iter()
                .all(|d| snap.devices.get(*d).is_some_and(|s| s.online));
            (fresh && polls(&snap) >= after + 3 && snap.get("grid", "power")?.at > at)
                .then_some(snap)
        }
    })
    .await;
    for ((device, point), s) in &snap.points {
        assert!(
            !matches!(&s.value, Err(Unavailable::PollFailed(e)) if e.contains("stopped")),
            "{device}.{point} still says the bus stopped: {:?}",
            s.value
        );
    }
    assert!(!app.supervisor.failed().is_cancelled());
    cancel.cancel();
    tasks.close();
    tasks.wait().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocks_refused_in_a_short_burst_are_read_again_within_the_first_retry() {
    let cancel = CancellationToken::new();
    let sim = support::dwelling(60.0, &cancel).await;
    let store = tempfile::tempdir().unwrap();
    let (app, tasks) = polling_quickly(&sim, store.path(), &cancel);
    let rx = app.views.snapshot.clone();
    support::eventually(10, "the heat pump read", || {
        let snap = rx.borrow().clone();
        async move { live(&snap, "heat_pump", "tank_temperature").then_some(()) }
    })
    .await;
    // Two seconds of "illegal data address" on every request, as a booting gateway.
    sim.bank
        .set_fault(UNIT_HEAT_PUMP, Some(Fault::IllegalAddress));
    let snap = support::eventually(10, "the heat pump refused", || {
        let snap = rx.borrow().clone();
        async move { (!snap.devices["heat_pump"].online).then_some(snap) }
    })
    .await;
    let d = &snap.devices["heat_pump"];
    assert_eq!(
        d.last_error_kind,
        Some(nomhub::device::PollErrorKind::Permanent)
    );
    assert!(!live(&snap, "heat_pump", "tank_temperature"));
    tokio::time::sleep(Duration::from_secs(2)).await;
    let cleared = std::time::Instant::now();
    sim.bank.set_fault(UNIT_HEAT_PUMP, None);
    // Asked again after the first wait, not never: every point back, the device online.
    let first = nomhub::device::poller::REFUSED_RETRY[0];
    let took = support::eventually(first.as_secs() + 10, "the heat pump read again", || {
        let snap = rx.borrow().clone();
        async move {
            let d = &snap.devices["heat_pump"];
            let all = snap
                .points
                .iter()
                .filter(|((dev, _), _)| dev.as_str() == "heat_pump")
                .all(|(_, s)| s.value.is_ok());
            (d.online && d.tiers.values().all(|ok| *ok) && all).then(|| cleared.elapsed())
        }
    })
    .await;
    assert!(took <= first + Duration::from_secs(3), "{took:?}");
    cancel.cancel();
    tasks.close();
    tasks.wait().await;
}
