//! The one runtime: everything that runs (one actor per bus, one poller per device, the
//! state fold, the ledger, control with the strategy's settings, MQTT and the web) is
//! started here under the supervisor, for `run` and `demo` alike.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::clock::Clock;
use anyhow::Context;

use crate::config::Config;
use crate::control::{self, Control, ControlStatus};
use crate::device::{DeviceSpec, poller};
use crate::ledger::{self, Ledger, LedgerStatus, LedgerView};
use crate::live::FlowMap;
use crate::modbus::{BusHandle, bus};
use crate::mqtt::{self, MqttStatus};
use crate::prices::PriceBook;
use crate::state::{self, Snapshot};
use crate::strategy;
use crate::supervisor::{Policy, Supervisor, infallible};
use crate::views::Views;

/// How long control may take to hand the heat pump back at shutdown.
const SHUTDOWN_WRITES: std::time::Duration = std::time::Duration::from_secs(8);

/// Handles to a running nomhub.
#[derive(Clone)]
pub struct App {
    /// What MQTT, the web and control read.
    pub views: Views,
    /// The MQTT link, when the config has an `[mqtt]` section.
    pub mqtt: Option<watch::Receiver<MqttStatus>>,
    pub buses: HashMap<String, BusHandle>,
    /// The ledger's store (users of the dashboard live there too).
    pub store: Option<crate::store::Store>,
    /// The address the dashboard listens on, when the config has a `[web]` section.
    pub web: Option<SocketAddr>,
    /// How the tasks are doing; fires `failed` when one is given up.
    pub supervisor: Supervisor,
}

/// The device specs of a config, each with its bus handle.
pub fn device_specs(
    config: &Config,
    buses: &HashMap<String, BusHandle>,
    clock: &Clock,
) -> Vec<DeviceSpec> {
    config
        .devices
        .iter()
        .filter_map(|d| {
            Some(DeviceSpec {
                id: d.id.get_ref().clone(),
                profile: config.profiles.get(d.profile.get_ref())?.clone(),
                unit: d.unit(),
                bus: buses.get(d.bus_id()?)?.clone(),
                interval_override: d.poll.map(|p| p.0),
                clock: clock.clone(),
            })
        })
        .collect()
}

/// Starts one actor per bus, unsupervised, for the one-shot tools (`devices check`).
pub fn start_buses(config: &Config, cancel: &CancellationToken) -> HashMap<String, BusHandle> {
    config
        .bus_settings()
        .into_iter()
        .map(|s| (s.id.to_string(), bus::spawn(s, cancel.child_token())))
        .collect()
}

/// Starts one actor per bus under `supervisor` (task `bus <id>`): an actor that dies is
/// started again over the same queue, so its pollers carry on. They stop when `cancel`
/// fires.
fn supervise_buses(
    config: &Config,
    supervisor: &Supervisor,
    cancel: &CancellationToken,
) -> HashMap<String, BusHandle> {
    config
        .bus_settings()
        .into_iter()
        .map(|s| {
            let (handle, actor) = bus::channel(s);
            let cancel = cancel.clone();
            supervisor.spawn(&format!("bus {}", actor.id()), Policy::Restart, move || {
                let (actor, cancel) = (actor.clone(), cancel.child_token());
                infallible(async move { actor.run(cancel).await })
            });
            (handle.id().to_string(), handle)
        })
        .collect()
}

/// Opens the ledger `config` asks for (none without a `[ledger]` section).
pub fn open_ledger(config: &Config) -> anyhow::Result<Option<Ledger>> {
    config
        .ledger
        .as_ref()
        .map(|setup| {
            Ledger::open(setup.clone())
                .with_context(|| format!("opening the ledger at {}", setup.store.display()))
        })
        .transpose()
}

/// Starts every task for `config` on `tasks` under one [`Supervisor`], the ledger's with
/// `ledger` (from [`open_ledger`]); they stop when `cancel` fires. Fails only when the
/// dashboard cannot listen on its address (nothing is left running then).
pub fn start(
    config: &Config,
    ledger: Option<Ledger>,
    clock: &Clock,
    tasks: &TaskTracker,
    cancel: &CancellationToken,
) -> anyhow::Result<App> {
    // The dashboard's address first: a taken port is the one thing that stops a start.
    let web = config
        .web
        .as_ref()
        .map(|setup| crate::web::Listener::bind(setup.listen))
        .transpose()?;
    let supervisor = Supervisor::new(tasks, cancel);
    // The buses outlive everything else: control hands the heat pump back over them
    // after `cancel` fires, then they stop.
    let bus_cancel = CancellationToken::new();
    let buses = supervise_buses(config, &supervisor, &bus_cancel);
    let (report_tx, report_rx) = mpsc::channel(256);
    let (snap_tx, snap_rx) = watch::channel(Arc::new(Snapshot::default()));
    // The fold owns the report channel: it cannot be restarted, and without it nothing
    // else has data.
    let mut fold = Some(state::run(
        report_rx,
        snap_tx,
        *config.hub.offline_after.get_ref(),
    ));
    supervisor.spawn("state", Policy::Critical, move || {
        let fold = fold.take();
        async move {
            match fold {
                Some(f) => infallible(f).await,
                None => anyhow::bail!("the state fold cannot be started twice"),
            }
        }
    });
    for spec in device_specs(config, &buses, clock) {
        let (out, cancel) = (report_tx.clone(), cancel.clone());
        let name = format!("poller {}", spec.id);
        supervisor.spawn(&name, Policy::Restart, move || {
            let task = poller::run(spec.clone(), out.clone(), cancel.child_token());
            infallible(task)
        });
    }
    // Smart meters on their P1 port: telegrams instead of polls, into the same fold.
    for d in &config.devices {
        let (Some(link), Some(profile)) = (
            d.p1.as_ref().and_then(|l| l.get_ref().source()),
            config
                .profiles
                .get(d.profile.get_ref())
                .and_then(|p| p.resolve().ok()),
        ) else {
            continue;
        };
        let (id, profile) = (d.id.get_ref().clone(), Arc::new(profile));
        let (out, cancel, clock) = (report_tx.clone(), cancel.clone(), clock.clone());
        supervisor.spawn(&format!("p1 {id}"), Policy::Restart, move || {
            infallible(crate::p1::device::run(
                id.clone(),
                profile.clone(),
                link.clone(),
                clock.clone(),
                out.clone(),
                cancel.child_token(),
            ))
        });
    }
    let store = ledger.as_ref().map(|l| l.store().clone());
    // Day-ahead prices, when the ledger books euros: from MQTT, and from EnergyZero when
    // `[tariff] prices` asks for it.
    let prices = ledger
        .as_ref()
        .is_some_and(|l| l.setup.tariff.is_some())
        .then(|| PriceBook::new(store.clone()));
    if let (Some(ez), Some(book)) = (&config.prices, &prices) {
        let (ez, book, clock, cancel) = (ez.clone(), book.clone(), clock.clone(), cancel.clone());
        supervisor.spawn("prices", Policy::Restart, move || {
            infallible(crate::prices::run(
                ez.clone(),
                book.clone(),
                clock.clone(),
                cancel.child_token(),
            ))
        });
    }
    // Where each live flow is read: the ledger keeps the room and tank temperatures day
    // by day from them, the views show them.
    let flows = FlowMap::from_config(config);
    let ledger = ledger.map(|first| {
        let (tx, rx) = watch::channel(Arc::new(LedgerStatus::default()));
        let (clock, snap, cancel) = (clock.clone(), snap_rx.clone(), cancel.clone());
        let (setup, store) = (first.setup.clone(), first.store().clone());
        let view = LedgerView::new(setup.clone(), store.clone(), rx);
        let price_rx = prices.as_ref().map(PriceBook::subscribe);
        let flows = flows.clone();
        let mut first = Some(first);
        supervisor.spawn("ledger", Policy::Restart, move || {
            let ledger = first
                .take()
                .map_or_else(|| Ledger::with_store(setup.clone(), store.clone()), Ok);
            let (clock, snap, tx, prices, cancel) = (
                clock.clone(),
                snap.clone(),
                tx.clone(),
                price_rx.clone(),
                cancel.child_token(),
            );
            let flows = flows.clone();
            async move {
                Ok(ledger::run::run(ledger?, clock, snap, flows, tx, prices, cancel).await?)
            }
        });
        view
    });
    // Control owns the hot-water strategy's settings, with or without `[control]`:
    // the commands' queue and the settings outlive a restart of the task.
    let saved = control::load(store.as_ref());
    let (strategy, commands) =
        strategy::channel(control::initial_settings(config.control.as_ref(), &saved));
    let (status_tx, status_rx) = watch::channel(ControlStatus::default());
    let views = Views {
        snapshot: snap_rx,
        ledger,
        strategy,
        control: config.control.as_ref().map(|_| status_rx),
        flows,
        prices,
    };
    let done = {
        let (views, buses, store) = (views.clone(), buses.clone(), store.clone());
        let mut first = Some(saved);
        let (config, clock, cancel) = (Arc::new(config.clone()), clock.clone(), cancel.clone());
        supervisor.spawn("control", Policy::Restart, move || {
            // A restart reads what the last run saved (what it holds and the originals).
            let saved = first
                .take()
                .unwrap_or_else(|| control::load(store.as_ref()));
            let inputs = control::Inputs {
                views: views.clone(),
                commands: commands.clone(),
                buses: buses.clone(),
                store: store.clone(),
                saved,
            };
            let task = Control::new(&config, config.control.clone(), inputs, &clock).run(
                clock.clone(),
                status_tx.clone(),
                cancel.child_token(),
            );
            infallible(task)
        })
    };
    // Open-Meteo's sun forecast for the strategy, when `[forecast]` asks for it.
    if let Some(om) = &config.forecast {
        let (om, strategy, store) = (om.clone(), views.strategy.clone(), store.clone());
        let (clock, cancel) = (clock.clone(), cancel.clone());
        supervisor.spawn("forecast", Policy::Restart, move || {
            infallible(crate::forecast::run(
                om.clone(),
                strategy.clone(),
                store.clone(),
                clock.clone(),
                cancel.child_token(),
            ))
        });
    }
    // The buses stop once control has handed the heat pump back.
    tasks.spawn({
        let cancel = cancel.clone();
        async move {
            cancel.cancelled().await;
            if tokio::time::timeout(SHUTDOWN_WRITES, done).await.is_err() {
                tracing::error!("Control did not hand the heat pump back in time.");
            }
            bus_cancel.cancel();
        }
    });
    let mqtt = config.mqtt.as_ref().and_then(|setup| {
        let discovery = match mqtt::build(&mqtt::Inputs::from_config(config, setup)) {
            Ok(d) => d,
            Err(e) => {
                // `setup::parse` refuses such a config; this is a second line.
                tracing::error!(error = %e, "Home Assistant discovery not started.");
                return None;
            }
        };
        let (tx, rx) = watch::channel(MqttStatus::default());
        let (setup, views, cancel) = (setup.clone(), views.clone(), cancel.clone());
        supervisor.spawn("mqtt", Policy::Restart, move || {
            let task = mqtt::run(
                setup.clone(),
                discovery.clone(),
                views.clone(),
                tx.clone(),
                cancel.child_token(),
            );
            async move { Ok(task.await?) }
        });
        Some(rx)
    });
    let web = config.web.as_ref().zip(web).map(|(setup, listener)| {
        let addr = listener.addr();
        let site = crate::web::Site::new(
            setup,
            crate::web::Feeds {
                views: views.clone(),
                home: Arc::new(config.home.clone()),
                ops: crate::web::ops::OpsFeeds {
                    supervisor: supervisor.clone(),
                    mqtt: mqtt.clone(),
                },
            },
            store.clone(),
            cancel.clone(),
        );
        // The first run serves the socket bound above; a restart binds the address again.
        let mut first = Some(listener);
        let cancel = cancel.clone();
        supervisor.spawn("web", Policy::Restart, move || {
            let (site, listener, cancel) = (site.clone(), first.take(), cancel.child_token());
            async move { site.serve(listener, addr, cancel).await }
        });
        addr
    });
    Ok(App {
        views,
        mqtt,
        buses,
        store,
        web,
        supervisor,
    })
}
