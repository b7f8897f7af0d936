//! nomhub acting on the dwelling (`[control]`): every tick the hot-water strategy
//! and the `[[rule]]`s make their claims, the highest priority wins each point, and
//! the [`Actuator`] writes the winners through `device::write` (writable points,
//! within bounds, read back), at most once per point per `min_write_interval`.
//! Points nobody claims any more, and every point at shutdown, get back the value
//! they had before nomhub took them over. What is held, the timed claims and the
//! strategy's settings are saved in the store, so a restart (or a crash) picks up
//! where it left off.
//!
//! Control is the one owner of the hot-water strategy: its mode, settings and learned
//! habits. MQTT and the web send it checked [`Command`]s over one queue, and it acts
//! on one when it arrives (a tick at once), not at its next tick. Without a
//! `[control]` section it still owns them (they are saved and survive a restart) but
//! acts on nothing.

pub mod actuator;
pub mod facts;
pub mod hot_water;
pub mod sg_ready;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

pub use actuator::{Actuator, Held, Write, WriteKind};
pub use facts::{DevicePoints, Seen};
pub use hot_water::{HeatPump, HotWater};
pub use sg_ready::{SgReady, SgStatus};

use crate::clock::Clock;
use crate::config::{Config, ControlSetup};
use crate::device::write_point;
use crate::modbus::BusHandle;
use crate::model::{SgState, Value};
use crate::profile::{PointDef, ResolvedProfile};
use crate::rules::{self, Claim, RuleSet};
use crate::store::Store;
use crate::strategy::smart::SmartParams;
use crate::strategy::tank::TankParams;
use crate::strategy::{Change, Command, Commands, Mode, Setting, Settings};
use crate::views::Views;

/// The store record (`v1/state/control`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Saved {
    pub actuator: Actuator,
    /// Rules' claims with an end time.
    pub claims: Vec<Claim>,
    pub settings: Option<Settings>,
}

const RECORD: &str = "control";
/// The store record with the hot-water strategy's learned habits
/// (`v1/state/strategy`), saved every hour and at shutdown.
const HABITS: &str = "strategy";
/// Notes and problems kept for the status.
const KEEP: usize = 20;

/// Reads what the control task saved, if anything (a damaged record is reported
/// and ignored: nothing is restored from it).
pub fn load(store: Option<&Store>) -> Saved {
    match store.map(|s| s.state::<Saved>(RECORD)) {
        Some(Ok(Some(saved))) => saved,
        Some(Err(e)) => {
            tracing::error!(error = %e, "Cannot read what control saved; starting afresh.");
            Saved::default()
        }
        _ => Saved::default(),
    }
}

/// Takes up the habits the strategy saved before the restart, if any. A damaged
/// record is the problem returned; the strategy then learns afresh.
fn resume_habits(hw: &mut HotWater, store: &Store) -> Option<String> {
    let result = match store.state::<crate::strategy::smart::Habits>(HABITS) {
        Ok(None) => return None,
        Ok(Some(habits)) => hw.resume(&habits).map(|()| habits.draw_days),
        Err(e) => Err(e.to_string()),
    };
    match result {
        Ok(days) => {
            tracing::info!(
                days,
                "The hot-water strategy takes up the habits it learned before the restart."
            );
            None
        }
        Err(e) => {
            let problem = format!(
                "the strategy's saved habits (v1/state/{HABITS}) cannot be used, it learns afresh: {e}"
            );
            tracing::warn!(problem = %problem, "Cannot take up what the strategy learned.");
            Some(problem)
        }
    }
}

/// One point's value and who set it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PointStatus {
    pub device: String,
    pub point: String,
    pub value: f64,
    pub by: String,
    pub why: String,
}

/// What control is doing, for MQTT and the web.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ControlStatus {
    /// The points nomhub sets, with their "why".
    pub points: Vec<PointStatus>,
    /// The hot-water strategy's own reason.
    pub strategy: String,
    /// The same, as data, for saying it in the resident's language.
    pub why: crate::strategy::Why,
    /// Whether the strategy has a charge under way.
    pub charging: bool,
    /// Whether smart mode plans with current data (false: off, boost, handed back).
    pub planning: bool,
    /// Whether the strategy has seen less than a day of the dwelling.
    pub learning: bool,
    /// The charge the strategy expects next.
    pub next_charge: Option<crate::strategy::smart::NextCharge>,
    /// How the hot water stands against the household's large draws.
    pub comfort: Option<crate::strategy::smart::Comfort>,
    /// The sun forecast the strategy holds (None before one came).
    pub forecast: Option<crate::strategy::sun::ForecastSummary>,
    /// The heat pump's SG Ready state (None without `[control.sg_ready]`).
    pub sg_ready: Option<SgStatus>,
    /// Points held, with the values they get back.
    pub held: BTreeMap<String, Held>,
    /// The last notifications: (when, rule, text).
    pub notes: VecDeque<(DateTime<Utc>, String, String)>,
    /// The last problems: rules that could not be evaluated, writes that failed.
    pub problems: VecDeque<(DateTime<Utc>, String)>,
}

impl ControlStatus {
    fn push<T>(list: &mut VecDeque<T>, item: T) {
        if list.len() == KEEP {
            list.pop_front();
        }
        list.push_back(item);
    }
}

/// A device nomhub may write to.
struct Target {
    unit: u8,
    bus: BusHandle,
    /// From the config until its poller has identified the device, then the poller's
    /// (a SunSpec profile resolves only against the device).
    profile: Option<Arc<ResolvedProfile>>,
}

/// A profile point by key, or by role name (`dhw_setpoint`), as rules may name it.
fn point_def<'a>(p: &'a ResolvedProfile, name: &str) -> Option<&'a PointDef> {
    p.point(name).or_else(|| {
        p.points
            .iter()
            .find(|d| d.role.is_some_and(|r| r.as_str() == name))
    })
}

/// A sample's value as the number written to the point (enumeration names back to
/// their raw values).
fn numeric(def: &PointDef, v: &Value) -> Option<f64> {
    match v {
        Value::Text(name) => def
            .states
            .iter()
            .find(|(_, n)| *n == name)
            .and_then(|(raw, _)| raw.parse().ok()),
        other => other.as_f64(),
    }
}

pub struct Inputs {
    /// The house as everyone sees it (control reads the snapshot and the ledger).
    pub views: Views,
    /// The strategy's commands and settings, owned here.
    pub commands: Commands,
    pub buses: HashMap<String, BusHandle>,
    pub store: Option<Store>,
    pub saved: Saved,
}

/// The settings to start with: the ones saved, else the config's first mode.
pub fn initial_settings(setup: Option<&ControlSetup>, saved: &Saved) -> Settings {
    saved.settings.clone().unwrap_or_else(|| Settings {
        mode: setup.map_or(Settings::default().mode, |c| c.mode),
        ..Settings::default()
    })
}

pub struct Control {
    setup: ControlSetup,
    /// Whether the config has `[control]`: without it, control only owns the settings.
    acting: bool,
    rules: RuleSet,
    hot_water: Option<HotWater>,
    sg_ready: Option<SgReady>,
    actuator: Actuator,
    targets: BTreeMap<String, Target>,
    names: Vec<DevicePoints>,
    inputs: Inputs,
    seen: Option<Seen>,
    last_saved: Vec<u8>,
    /// The hour (Unix hours) the habits were last saved in.
    habits_saved: Option<i64>,
    logged: BTreeMap<String, String>,
    status: ControlStatus,
}

impl Control {
    /// Control for `config`'s `[control]` section (`setup`); `None` only owns the
    /// strategy's settings.
    pub fn new(
        config: &Config,
        setup: Option<ControlSetup>,
        mut inputs: Inputs,
        clock: &Clock,
    ) -> Self {
        let acting = setup.is_some();
        let setup = setup.unwrap_or_else(ControlSetup::passive);
        let mut targets = BTreeMap::new();
        let mut names = Vec::new();
        for d in &config.devices {
            let id = d.id.get_ref().to_string();
            let Some(p) = config.profiles.get(d.profile.get_ref()) else {
                continue;
            };
            names.push(DevicePoints {
                device: id.clone(),
                points: p
                    .file
                    .points
                    .iter()
                    .map(|pt| (pt.key.to_string(), pt.role))
                    .collect(),
            });
            let Some(bus) = d.bus_id().and_then(|b| inputs.buses.get(b)) else {
                continue;
            };
            targets.insert(
                id,
                Target {
                    unit: d.unit(),
                    bus: bus.clone(),
                    // SunSpec profiles need discovery first: their poller's comes later.
                    profile: p.resolve().ok().map(Arc::new),
                },
            );
        }
        let sg_ready = setup
            .heat_pump
            .as_ref()
            .zip(setup.sg_ready.as_ref())
            .map(|(hp, sg)| SgReady::new(hp.as_str(), sg));
        let mut hot_water = setup.heat_pump.as_ref().and_then(|id| {
            let p = targets.get(id.as_str())?.profile.as_ref()?;
            let hp = HeatPump::from_profile(id.as_str(), p, setup.sg_ready.as_ref())?;
            let params = SmartParams {
                legionella: setup.legionella.as_ref().map(Into::into),
                tank: setup
                    .tank
                    .as_ref()
                    .map_or_else(TankParams::default, TankParams::labelled),
                more_comfort: setup.more_comfort,
                ..SmartParams::default()
            };
            Some(HotWater::new(hp, params))
        });
        let now = clock_now(clock);
        let mut status = ControlStatus::default();
        if let (Some(hw), Some(store)) = (&mut hot_water, &inputs.store)
            && let Some(problem) = resume_habits(hw, store)
        {
            ControlStatus::push(&mut status.problems, (now, problem));
        }
        let settlement = config
            .ledger
            .as_ref()
            .map_or_else(crate::ledger::SettlementRule::default, |l| l.rule);
        let rules = if acting {
            // Checked when the config was loaded (`setup`); its problems are not news.
            rules::from_config(config).0
        } else {
            Vec::new()
        };
        let mut rules = RuleSet::new(rules, settlement);
        let saved = std::mem::take(&mut inputs.saved);
        rules.resume(saved.claims, now);
        if !saved.actuator.held().is_empty() {
            tracing::info!(
                points = ?saved.actuator.held().keys().collect::<Vec<_>>(),
                "Resuming the points nomhub held before it stopped."
            );
        }
        Self {
            setup,
            acting,
            rules,
            hot_water,
            sg_ready,
            actuator: saved.actuator,
            targets,
            names,
            inputs,
            seen: None,
            last_saved: Vec::new(),
            habits_saved: None,
            logged: BTreeMap::new(),
            status,
        }
    }

    /// Runs until `cancel`, then hands every point back: ticks (with `[control]`) and
    /// commands as they arrive.
    pub async fn run(
        mut self,
        clock: Clock,
        status: watch::Sender<ControlStatus>,
        cancel: CancellationToken,
    ) {
        let mut queue = self.inputs.commands.take().await;
        let mut done = None;
        let mut tick = tokio::time::interval(self.setup.tick);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = cancel.cancelled() => break,
                _ = tick.tick(), if self.acting => self.tick(&clock).await,
                Some(command) = queue.recv() => done = self.command(command, &clock).await,
            }
            status.send_if_modified(|s| {
                let changed = *s != self.status;
                if changed {
                    *s = self.status.clone();
                }
                changed
            });
            if let Some(done) = done.take()
                && done.send(()).is_err()
            {
                tracing::debug!("The sender of a command stopped waiting for it.");
            }
        }
        if self.acting {
            self.shutdown(&clock).await;
        }
        status.send_replace(self.status.clone());
    }

    /// A command from MQTT or the web: applied, saved, published, and acted on at once
    /// (a tick now, with `[control]`). A press is an event: it reaches the strategy
    /// here and nothing of it is kept. Gives back whom to tell once the status shows it.
    pub async fn command(
        &mut self,
        command: Command,
        clock: &Clock,
    ) -> Option<tokio::sync::oneshot::Sender<()>> {
        let Command { change, from, done } = command;
        tracing::info!(change = %change, from, "Hot-water strategy changed.");
        let now = clock_now(clock);
        match (change.clone(), &mut self.hot_water) {
            (Change::Forecast(f), Some(hw)) => match f.at(now) {
                Ok(f) => {
                    hw.forecast(&f);
                    self.status.forecast = hw.forecast_summary(now);
                }
                Err(e) => tracing::warn!(from, error = %e, "Sun forecast refused."),
            },
            (Change::Forecast(_), None) => {
                tracing::debug!(
                    from,
                    "No heat pump under control; the sun forecast is not used."
                );
            }
            (Change::BoostNow, Some(hw)) => {
                hw.boost_now(
                    self.inputs
                        .commands
                        .settings
                        .borrow()
                        .get(Setting::SolarTarget),
                );
            }
            (Change::ForgetHabits, Some(hw)) => {
                hw.forget();
                // Saved at once: a restart must not bring the old habits back.
                self.save_habits(now, true);
            }
            (Change::BoostNow | Change::ForgetHabits, None) => {
                tracing::warn!(change = %change, from, "No heat pump under control; the press does nothing.");
            }
            (change, _) => self.set(change),
        }
        self.save();
        if self.acting {
            self.tick(clock).await;
        }
        done
    }

    /// The strategy's settings: control's to change, published on the watch it owns.
    fn settings(&self) -> Settings {
        self.inputs.commands.settings.borrow().clone()
    }

    /// Applies a mode or setting and publishes the settings.
    fn set(&self, change: Change) {
        self.inputs
            .commands
            .settings
            .send_if_modified(|s| s.apply(change));
    }

    /// One round: claims, resolution, writes.
    pub async fn tick(&mut self, clock: &Clock) {
        let now = clock_now(clock);
        let snap = facts::fresh(
            &self.inputs.views.snapshot.borrow(),
            clock.now(),
            self.setup.stale_after,
        );
        for (id, t) in &mut self.targets {
            if let Some(p) = snap
                .devices
                .get(id.as_str())
                .and_then(|d| d.profile.clone())
            {
                t.profile = Some(p);
            }
        }
        let live = self.inputs.views.flows.read(&snap);
        let ledger = self.inputs.views.ledger_status();
        let settings = self.settings();
        // Observe: what the rules read, with the strategy as it stood before this round.
        let charging = self.hot_water.as_ref().is_some_and(HotWater::charging);
        let seen = Seen {
            online: snap
                .devices
                .iter()
                .map(|(d, s)| (d.to_string(), s.online))
                .collect(),
            mode: Some(settings.mode),
            charging,
        };
        let events = facts::events(self.seen.as_ref(), &seen);
        self.seen = Some(seen);
        let facts = facts::facts(
            &snap,
            &self.inputs.views.flows,
            &self.names,
            ledger.as_deref(),
            settings.mode,
            charging,
        );
        // Plan: the same round the backtest plays (`rules::plan`).
        let strict = facts::building_bound_above(ledger.as_deref());
        let (hot_water, targets) = (&mut self.hot_water, &self.targets);
        let strategy = |mode: Mode| -> Vec<Claim> {
            let Some(hw) = hot_water else {
                return Vec::new();
            };
            let dhw_active = hw.heat_pump.operating_mode.as_ref().and_then(|p| {
                match &snap.get(&hw.heat_pump.device, p)?.value {
                    Ok(Value::Text(t)) => Some(t == "hot_water"),
                    _ => None,
                }
            });
            let settings = Settings {
                mode,
                ..settings.clone()
            };
            hw.step(now, &live, dhw_active, &settings, strict)
        };
        // One name per point (a rule may use the role name) before they compete; the
        // SG Ready state is a point of its own.
        let sg_point = self
            .sg_ready
            .as_ref()
            .map(|s| (s.heat_pump.clone(), sg_ready::POINT.to_owned()));
        let name = |c: &mut Claim| {
            if sg_point
                .as_ref()
                .is_some_and(|(d, p)| *d == c.device && *p == c.point)
            {
                return true;
            }
            let key = targets
                .get(&c.device)
                .and_then(|t| t.profile.as_ref())
                .and_then(|p| point_def(p, &c.point))
                .map(|d| d.key.to_string());
            key.map(|k| c.point = k).is_some()
        };
        let planned = rules::plan(
            &mut self.rules,
            now,
            &facts,
            &events,
            settings.mode,
            strategy,
            name,
        );
        if planned.mode != settings.mode {
            let rule = planned.outcome.modes.last().map(|(_, r)| r.clone());
            tracing::info!(
                rule,
                mode = planned.mode.as_str(),
                "A rule sets the hot-water mode."
            );
            self.set(Change::Mode(planned.mode));
        }
        if let Some(hw) = &self.hot_water {
            let mode = planned.mode;
            self.status.charging = hw.charging();
            self.status.planning = hw.planning(mode);
            self.status.learning = hw.learning();
            self.status.strategy = hw.reason().to_string();
            self.status.why = hw.reason();
            self.status.next_charge = hw.next_charge(mode);
            self.status.comfort = hw.comfort();
            self.status.forecast = hw.forecast_summary(now);
        }
        self.save_habits(now, false);
        for (rule, text) in planned.outcome.notes {
            tracing::info!(rule, text, "Rule notification.");
            ControlStatus::push(&mut self.status.notes, (now, rule, text));
        }
        let mut errors: BTreeMap<String, String> = BTreeMap::new();
        for (rule, msg) in planned.outcome.errors {
            errors.insert(rule, msg);
        }
        for (rule, msg) in &errors {
            if self.logged.get(rule) != Some(msg) {
                tracing::warn!(problem = %msg, "Rule not applied.");
                ControlStatus::push(&mut self.status.problems, (now, msg.clone()));
            }
        }
        self.logged = errors;
        let mut winners = planned.winners;
        let sg_claim = sg_point.and_then(|p| winners.remove(&p));
        let mut wanted = BTreeMap::new();
        self.status.points.clear();
        if let Some(sg) = &mut self.sg_ready {
            let (asked, by) = sg_claim.as_ref().map_or((SgState::Normal, ""), |w| {
                (
                    SgState::from_number(w.claim.value.round()).unwrap_or(SgState::Normal),
                    w.claim.by.as_str(),
                )
            });
            // Stale data: the strategy handed back, or the wiring's device is silent.
            let hand_back = self.hot_water.as_ref().is_some_and(HotWater::handed_back)
                || !snap
                    .devices
                    .get(sg.wiring.device().as_str())
                    .is_some_and(|s| s.online);
            let state = sg.decide(asked, by, hand_back, now);
            if state != SgState::Normal {
                wanted.extend(sg.wiring.values(state));
            }
            self.status.points.push(PointStatus {
                device: sg.heat_pump.clone(),
                point: sg_ready::POINT.to_owned(),
                value: f64::from(state.number()),
                by: if by.is_empty() { "nomhub" } else { by }.to_owned(),
                why: sg.status(None).why,
            });
        }
        for ((device, point), w) in winners {
            wanted.insert((device.clone(), point.clone()), w.claim.value);
            self.status.points.push(PointStatus {
                device,
                point,
                value: w.claim.value,
                by: w.claim.by.clone(),
                why: w.why(),
            });
        }
        let targets = &self.targets;
        let current = |(d, p): &(String, String)| {
            let def = targets.get(d)?.profile.as_ref()?.point(p)?;
            numeric(def, snap.get(d, p)?.value.as_ref().ok()?)
        };
        let writes = self
            .actuator
            .plan(&wanted, current, now, self.setup.min_write_interval);
        if let Some(sg) = &self.sg_ready {
            // What SG Ready's points get back is state 2, whatever they had before.
            for (p, v) in sg.wiring.normal() {
                self.actuator.give_back_as(&p, v);
            }
            self.status.sg_ready = Some(sg.status(sg.wiring.read(current)));
        }
        // The originals are on disk before the first write changes anything.
        self.save();
        for w in &writes {
            let ok = self.write(w, now).await;
            self.actuator.done(w, ok, now);
        }
        self.status.held = self.actuator.held().clone();
        self.save();
    }

    async fn write(&mut self, w: &Write, now: DateTime<Utc>) -> bool {
        let Some(t) = self.targets.get(&w.device) else {
            return false;
        };
        let Some(def) = t.profile.as_ref().and_then(|p| p.point(&w.point)) else {
            return false;
        };
        match write_point(&t.bus, t.unit, def, w.value).await {
            Ok(()) => {
                // `write_point` logs the register and value.
                tracing::debug!(device = w.device, point = w.point, kind = ?w.kind, "Control wrote a point.");
                true
            }
            Err(e) => {
                let msg = format!("{}: {e}", w.device);
                tracing::warn!(problem = %msg, "Control could not write.");
                ControlStatus::push(&mut self.status.problems, (now, msg));
                false
            }
        }
    }

    /// Saves the record when it differs from the last one saved.
    fn save(&mut self) {
        let Some(store) = &self.inputs.store else {
            return;
        };
        let saved = Saved {
            actuator: self.actuator.clone(),
            claims: self
                .rules
                .claims()
                .iter()
                .filter(|c| c.until.is_some())
                .cloned()
                .collect(),
            settings: Some(self.settings()),
        };
        let Ok(bytes) = serde_json::to_vec(&saved) else {
            return;
        };
        if bytes == self.last_saved {
            return;
        }
        match store.set_state(RECORD, &saved) {
            Ok(()) => self.last_saved = bytes,
            Err(e) => tracing::error!(error = %e, "Cannot save what control holds."),
        }
    }

    /// Saves the strategy's habits once an hour (`force`: now). A failed save is
    /// logged and tried again the next hour.
    fn save_habits(&mut self, now: DateTime<Utc>, force: bool) {
        let (Some(store), Some(hw)) = (&self.inputs.store, &self.hot_water) else {
            return;
        };
        let hour = now.timestamp().div_euclid(3600);
        if !force && self.habits_saved == Some(hour) {
            return;
        }
        self.habits_saved = Some(hour);
        if let Err(e) = store.set_state(HABITS, &hw.habits()) {
            tracing::error!(error = %e, "Cannot save what the strategy learned.");
        }
    }

    /// Every held point back to its original; what could not be restored stays
    /// saved, to be restored at the next start.
    pub async fn shutdown(&mut self, clock: &Clock) {
        let now = clock_now(clock);
        self.save_habits(now, true);
        for w in self.actuator.restore_all() {
            let ok = self.write(&w, now).await;
            self.actuator.done(&w, ok, now);
        }
        let left = self.actuator.held().len();
        if left == 0 {
            tracing::info!("Control handed every point back.");
        } else {
            tracing::error!(
                points = left,
                "Control could not hand every point back; it will at the next start."
            );
        }
        self.status.held = self.actuator.held().clone();
        self.status.points.clear();
        if let Some(sg) = &mut self.sg_ready {
            sg.stop(now);
            self.status.sg_ready = Some(sg.status(None));
        }
        self.save();
    }
}

fn clock_now(clock: &Clock) -> DateTime<Utc> {
    clock.now().into()
}
