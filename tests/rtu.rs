//! Modbus RTU end to end: tokio-modbus's RTU server on one end of a pseudo-terminal
//! pair made by `socat`, nomhub's RTU bus actor on the other, two units on one line.

#![allow(clippy::unwrap_used)] // test helpers may panic

mod support;

use std::time::Duration;

use nomhub::device::{DeviceSpec, Poller, poller};
use nomhub::modbus::{BusSettings, Transport, bus};
use nomhub::model::{BusId, DeviceId, Value};
use nomhub::profile::ProfileSet;
use nomhub::sim::{self, Fault, SimOptions, UNIT_GRID_METER, UNIT_INSTALLATIONS_METER};
use tokio_util::sync::CancellationToken;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_meters_on_one_rs485_line() {
    let dir = tempfile::tempdir().unwrap();
    let (dev, host) = (dir.path().join("device"), dir.path().join("host"));
    let _socat = support::pty_pair(&dev, &host).await;
    let cancel = CancellationToken::new();
    let opts = SimOptions {
        speed: 0.0,
        ..SimOptions::default()
    };
    let bank = sim::start_rtu(&opts, dev.to_str().unwrap(), 19200, &cancel);

    let mut settings = BusSettings::new(
        BusId::new("rs485").unwrap(),
        Transport::Rtu {
            serial: host.to_str().unwrap().to_owned(),
            baud: 19200,
        },
    );
    settings.timeout = Duration::from_millis(500);
    // 3.5 characters at 19200 Bd, never below 1.75 ms.
    assert_eq!(settings.frame_gap, Duration::from_secs_f64(38.5 / 19200.0));
    let line = bus::spawn(settings, cancel.clone());

    let set = ProfileSet::embedded().unwrap();
    let mut pollers = Vec::new();
    for (id, profile, unit) in [
        ("grid", "eastron-sdm630", UNIT_GRID_METER),
        ("installations", "eastron-sdm120", UNIT_INSTALLATIONS_METER),
    ] {
        let spec = DeviceSpec {
            id: DeviceId::new(id).unwrap(),
            profile: set.get(profile).unwrap().clone(),
            unit,
            bus: line.clone(),
            interval_override: None,
            clock: nomhub::clock::Clock::System,
        };
        pollers.push(Poller::new(&spec, poller::resolve(&spec).await.unwrap()));
    }
    let energy = |reports: &[nomhub::device::PollReport]| {
        reports
            .iter()
            .flat_map(|r| &r.samples)
            .find(|s| s.point.as_str() == "import_energy")
            .map(|s| s.value.clone())
    };
    let grid = pollers[0].poll_all().await;
    let inst = pollers[1].poll_all().await;
    assert!(
        grid.iter().chain(&inst).all(|r| r.error.is_none()),
        "{grid:?} {inst:?}"
    );
    assert_eq!(
        energy(&grid),
        Some(Ok(Value::Energy(nomhub::model::WattHours(12_345_600))))
    );
    assert_eq!(
        energy(&inst),
        Some(Ok(Value::Energy(nomhub::model::WattHours(6_543_200))))
    );

    // A silent unit times out; the other unit on the same line still answers.
    bank.set_fault(UNIT_GRID_METER, Some(Fault::Silent));
    let grid = pollers[0].poll_all().await;
    assert!(
        grid.iter().all(|r| r
            .error
            .as_ref()
            .is_some_and(|e| e.text.contains("no answer"))),
        "{grid:?}"
    );
    let inst = pollers[1].poll_all().await;
    assert!(inst.iter().all(|r| r.error.is_none()), "{inst:?}");
    bank.set_fault(UNIT_GRID_METER, None);
    let grid = pollers[0].poll_all().await;
    assert!(grid.iter().all(|r| r.error.is_none()), "{grid:?}");
    cancel.cancel();
}
