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
use nomhub::sim::{Fault, UNIT_GRID_METER, UNIT_HEAT_PUMP, UNIT_INSTALLATIONS_METER};
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
    // Books whether or not this machine's clock is synchronised.
    if let Some(l) = &mut cfg.ledger {
        l.trust_clock = nomhub::ledger::setup::TrustClock::Always;
    }
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
        let what = format!("{fault:?}: heat pump unavailable");
        let snap = support::eventually(20, &what, || {
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

/// A silent unit is asked once per poll, not once per register block: every request
/// to it holds the bus, and so the other devices on it, for a whole timeout.
#[tokio::test]
async fn a_silent_unit_costs_one_timeout_a_poll_not_one_per_block() {
    let cancel = CancellationToken::new();
    let sim = support::dwelling(0.0, &cancel).await;
    let (profile, bus) = luxtronik(&sim, &cancel);
    let set = ProfileSet::embedded().unwrap();
    let spec = DeviceSpec {
        id: DeviceId::new("heat_pump").unwrap(),
        profile: set.get("alpha_innotec-luxtronik2").unwrap().clone(),
        unit: UNIT_HEAT_PUMP,
        bus,
        interval_override: None,
        clock: nomhub::clock::Clock::System,
    };
    let mut p = Poller::new(&spec, profile);
    let answered = p.poll_all().await;
    let blocks: usize = answered.iter().map(|r| r.requests).sum();
    assert!(
        answered.iter().all(|r| r.error.is_none()) && blocks > answered.len(),
        "the profile reads more than one block a tier: {blocks} in {} tiers",
        answered.len()
    );
    sim.bank.set_fault(UNIT_HEAT_PUMP, Some(Fault::Silent));
    let began = std::time::Instant::now();
    let silent = p.poll_all().await;
    let took = began.elapsed();
    for r in &silent {
        assert_eq!(r.requests, 1, "tier {}: {:?}", r.tier, r.error);
        assert_eq!(r.answered, 0);
        assert!(
            r.samples.iter().all(|s| s.value.is_err()),
            "tier {}",
            r.tier
        );
    }
    // One timeout per tier (300 ms on the test bus; the fast tier has seven blocks).
    assert!(
        took < Duration::from_secs(silent.len() as u64) + Duration::from_millis(900),
        "{took:?} for {} tiers",
        silent.len()
    );
    sim.bank.set_fault(UNIT_HEAT_PUMP, None);
    let back = p.poll_all().await;
    assert!(
        back.iter().all(|r| r.error.is_none()),
        "{:?}",
        back.iter().map(|r| &r.error).collect::<Vec<_>>()
    );
    cancel.cancel();
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
    let went_back = std::time::Instant::now();
    let second = energy(p.poll_all().await);
    match second {
        Err(Unavailable::Rejected(why)) => assert!(why.contains("backwards"), "{why}"),
        other => panic!("a backwards counter got through: {other:?}"),
    }
    // It stays back (a meter replaced by one 5 kWh lower): the low readings are held
    // back until the counter has stayed back for a while (a glitch comes back sooner);
    // then it re-bases and passes the first low one on, so the ledger books from there.
    let third = energy(p.poll_all().await);
    assert!(matches!(third, Err(Unavailable::Rejected(_))), "{third:?}");
    let rebased = loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let v = energy(p.poll_all().await);
        if v.is_ok() || went_back.elapsed() > Duration::from_secs(15) {
            break v;
        }
    };
    let stayed = went_back.elapsed();
    assert!(
        stayed >= nomhub::device::counter::REBASE_AFTER_TIME,
        "re-based after {stayed:?}"
    );
    let (Ok(Value::Energy(before)), Ok(Value::Energy(base))) = (first, rebased) else {
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

/// Two seconds of "illegal function", "illegal data address" and "illegal data value"
/// (0x01–0x03, what a booting gateway or a confused heat pump answers), one code per
/// device at once: each device is read again within the first retry, and the ledger
/// books exactly what the grid meter counted over the burst.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocks_refused_in_a_short_burst_are_read_again_within_the_first_retry() {
    let burst = [
        (
            "installations",
            UNIT_INSTALLATIONS_METER,
            Fault::IllegalFunction,
        ),
        ("heat_pump", UNIT_HEAT_PUMP, Fault::IllegalAddress),
        ("grid", UNIT_GRID_METER, Fault::IllegalValue),
    ];
    let cancel = CancellationToken::new();
    let sim = support::dwelling(60.0, &cancel).await;
    sim.bank.set_paused(true);
    let store = tempfile::tempdir().unwrap();
    let (app, tasks) = polling_quickly(&sim, store.path(), &cancel);
    let rx = app.views.snapshot.clone();
    let import = |snap: &nomhub::state::Snapshot| match snap.get("grid", "import_energy") {
        Some(nomhub::model::Sample {
            value: Ok(Value::Energy(wh)),
            ..
        }) => Some(wh.0),
        _ => None,
    };
    // The ledger's first reading, with the dwelling still.
    let first = support::eventually(10, "every device read", || {
        let snap = rx.borrow().clone();
        async move {
            let all = burst
                .iter()
                .all(|(d, _, _)| snap.devices.get(*d).is_some_and(|d| d.online));
            (all && live(&snap, "heat_pump", "tank_temperature"))
                .then(|| import(&snap))
                .flatten()
        }
    })
    .await;
    sim.bank.set_paused(false);
    for (_, unit, fault) in burst {
        sim.bank.set_fault(unit, Some(fault));
    }
    let on = std::time::Instant::now();
    let snap = support::eventually(10, "every device refused", || {
        let snap = rx.borrow().clone();
        async move {
            burst
                .iter()
                .all(|(d, _, _)| !snap.devices[*d].online)
                .then_some(snap)
        }
    })
    .await;
    for (d, _, fault) in burst {
        assert_eq!(
            snap.devices[d].last_error_kind,
            Some(nomhub::device::PollErrorKind::Permanent),
            "{d} under {fault:?}"
        );
    }
    assert!(!live(&snap, "heat_pump", "tank_temperature"));
    // The burst lasts two seconds (longer only if a busy machine took longer to see it).
    tokio::time::sleep(Duration::from_secs(2).saturating_sub(on.elapsed())).await;
    for (_, unit, _) in burst {
        sim.bank.set_fault(unit, None);
    }
    // Asked again after the first wait, not never: every point back, every device online.
    let first_wait = nomhub::device::poller::REFUSED_RETRY[0];
    let took = support::eventually(first_wait.as_secs() + 10, "every device read again", || {
        let snap = rx.borrow().clone();
        async move {
            let back = burst.iter().all(|(dev, _, _)| {
                let d = &snap.devices[*dev];
                let all = snap
                    .points
                    .iter()
                    .filter(|((id, _), _)| id.as_str() == *dev)
                    .all(|(_, s)| s.value.is_ok());
                d.online && d.tiers.values().all(|ok| *ok) && all
            });
            back.then(|| on.elapsed())
        }
    })
    .await;
    // Each block is asked again one wait after its first refusal, at the burst's start.
    assert!(
        took <= first_wait + Duration::from_secs(3),
        "{took:?} after the burst began"
    );
    // The dwelling stops; the ledger books up to the meter's last reading and stops.
    sim.bank.set_paused(true);
    let last = support::eventually(10, "the grid meter read still", || {
        let rx = rx.clone();
        async move {
            let a = import(&rx.borrow());
            tokio::time::sleep(Duration::from_millis(600)).await;
            a.filter(|a| Some(*a) == import(&rx.borrow()))
        }
    })
    .await;
    assert!(last > first, "the house imported nothing over the burst");
    cancel.cancel();
    tasks.close();
    tasks.wait().await;
    drop(app);
    let setup = config::demo(sim.addr.port(), store.path())
        .unwrap()
        .ledger
        .unwrap();
    let booked = support::booked_import(setup);
    assert_eq!(
        booked,
        last - first,
        "booked {booked} of {first} → {last} Wh"
    );
}

/// Three requests in ten answered with an exception (a noisy line): the devices stay
/// online throughout, as Home Assistant would show them, and their points keep coming.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_that_fails_three_requests_in_ten_does_not_flap() {
    let cancel = CancellationToken::new();
    let sim = support::dwelling(60.0, &cancel).await;
    let store = tempfile::tempdir().unwrap();
    let (app, tasks) = polling_quickly(&sim, store.path(), &cancel);
    let mut rx = app.views.snapshot.clone();
    let flaky = [("grid", UNIT_GRID_METER), ("heat_pump", UNIT_HEAT_PUMP)];
    support::eventually(10, "both devices read", || {
        let snap = rx.borrow().clone();
        async move {
            flaky
                .iter()
                .all(|(d, _)| snap.devices.get(*d).is_some_and(|d| d.online))
                .then_some(())
        }
    })
    .await;
    let before = rx.borrow().clone();
    for (_, unit) in flaky {
        sim.bank.set_fault(unit, Some(Fault::Flaky));
    }
    let until = tokio::time::Instant::now() + Duration::from_secs(15);
    let mut offline = Vec::new();
    while let Ok(Ok(())) = tokio::time::timeout_at(until, rx.changed()).await {
        let snap = rx.borrow_and_update().clone();
        for (d, _) in flaky {
            if !snap.devices[d].online {
                offline.push((d, snap.devices[d].last_error.clone()));
            }
        }
    }
    assert!(offline.is_empty(), "went offline: {offline:?}");
    let after = rx.borrow().clone();
    for (d, _) in flaky {
        let (b, a) = (&before.devices[d], &after.devices[d]);
        let (polls, errors) = (a.polls - b.polls, a.errors - b.errors);
        // The fault was there (polls failed), and a device that answers most requests
        // is not asked less often: every 200 ms, about 75 polls a tier in 15 s (seen:
        // 134 of the grid meter's two tiers; 14 when a partly failed poll backed off).
        assert!(
            polls >= 40 && errors >= polls / 10,
            "{d}: {errors} of {polls} polls failed"
        );
        let fresh = after
            .points
            .iter()
            .filter(|((id, _), s)| id.as_str() == d && s.value.is_ok())
            .count();
        assert!(fresh > 0, "{d} has no point read");
    }
    cancel.cancel();
    tasks.close();
    tasks.wait().await;
}
