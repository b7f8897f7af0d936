// Why one file of ~800 lines: every entity of every device is declared here, in one
// pure function from the config to the whole discovery, so ids, topics and their
// collisions are checked in one place; the tests beside it are the rest.

//! Home Assistant device-based discovery, as pure data: one HA device for the hub
//! and one per physical device, each entity with its state topic and how that
//! topic's payload is made ([`Source`]), and every command topic nomhub listens to.
//!
//! Ids are built from ids, never from display names, and never change once
//! published: `unique_id = <node>_<device>_<point>` for device points and
//! `<node>_hub_<key>` for the hub's own entities.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value as Json, json};

use crate::config::{Config, MqttSetup};
use crate::ledger::{BundleId, PeriodKind, Series};
use crate::live::{Flow, FlowMap};
use crate::modbus::DataType;
use crate::model::{DeviceId, PointKey, Unit};
use crate::profile::Profile;
use crate::profile::schema::PointFile;
use crate::profile::schema::Role;
use crate::strategy::{Mode, Setting};

/// Where nomhub's topics live.
#[derive(Debug, Clone, PartialEq)]
pub struct Topics {
    pub base: String,
    pub prefix: String,
    pub node: String,
}

impl Topics {
    pub fn new(setup: &MqttSetup) -> Self {
        Self {
            base: setup.base_topic.clone(),
            prefix: setup.discovery_prefix.clone(),
            node: setup.node_id.clone(),
        }
    }
    /// The hub's availability: `online`, or `offline` as the last will.
    pub fn status(&self) -> String {
        format!("{}/status", self.base)
    }
    pub fn device(&self, id: &DeviceId, rest: &str) -> String {
        format!("{}/device/{id}/{rest}", self.base)
    }
    pub fn hub(&self, rest: &str) -> String {
        format!("{}/hub/{rest}", self.base)
    }
    pub fn config(&self, object_id: &str) -> String {
        format!("{}/device/{object_id}/config", self.prefix)
    }
    pub fn hub_object_id(&self) -> String {
        format!("{}_hub", self.node)
    }
    pub fn device_object_id(&self, id: &DeviceId) -> String {
        format!("{}_{id}", self.node)
    }
    /// The object id a discovery config topic of ours names, if it is ours.
    pub fn our_object_id<'a>(&self, topic: &'a str) -> Option<&'a str> {
        let id = topic
            .strip_prefix(&self.prefix)?
            .strip_prefix("/device/")?
            .strip_suffix("/config")?;
        (id == self.hub_object_id() || id.starts_with(&format!("{}_", self.node))).then_some(id)
    }
}

/// How a state payload is written.
#[derive(Debug, Clone, PartialEq)]
pub enum Format {
    /// W, one decimal.
    Power,
    /// Wh in the snapshot, kWh on the wire with three decimals.
    Energy,
    /// °C, two decimals.
    Temperature,
    Number,
    /// `ON` / `OFF`.
    Bool,
    Text,
    /// One of these names, else unknown.
    Enum(Vec<String>),
}

/// What a state topic carries.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    Point {
        device: DeviceId,
        point: PointKey,
        format: Format,
    },
    Flow(Flow),
    /// Everything the ledger booked in a series, kWh, never decreasing.
    Lifetime(Series),
    /// JSON: used, bundle, expected, projected, remaining, status, last_reset.
    Bundle(BundleId, PeriodKind),
    /// JSON: eur, net_kwh, regime.
    Forecast,
    /// JSON: clock_trusted, store_ok.
    LedgerHealth,
    /// JSON: the price of a kWh now and next hour, today's and tomorrow's (a tariff).
    Prices,
    /// JSON: what grid import and export came to today and this month (a tariff).
    Costs,
    /// JSON: the settlement year's days too cold and short of hot water, PV verdicts.
    Guarantees,
    Mode,
    Setting(Setting),
    DeviceAvailability(DeviceId),
    /// JSON: link, errors, last_error.
    DeviceDiagnostics(DeviceId),
    /// When the device last answered; changes with every poll.
    LastPoll(DeviceId),
    /// JSON: decision, note, points (with their "why").
    Control,
}

impl Source {
    /// The change below which a number is not published before `max_interval`.
    pub fn deadband(&self, d: &crate::config::Deadband) -> f64 {
        match self {
            Source::Point { format, .. } => match format {
                Format::Power => d.power_w,
                Format::Energy => d.energy_wh / 1000.0,
                Format::Temperature => d.temperature_c,
                _ => 0.0,
            },
            Source::Flow(f) if f.is_power() => d.power_w,
            Source::Flow(_) => d.temperature_c,
            Source::Lifetime(_) => d.energy_wh / 1000.0,
            _ => 0.0,
        }
    }

    /// Whether a change alone is worth a message; a poll's timestamp is not (it
    /// would be one message per poll), and goes out after `max_interval`.
    pub fn change_matters(&self) -> bool {
        !matches!(self, Source::LastPoll(_))
    }

    /// Never published lower than before: Home Assistant takes a dip in a
    /// `total_increasing` sensor for a meter reset.
    pub fn never_decreases(&self) -> bool {
        matches!(self, Source::Lifetime(_))
    }
}

/// A command topic and what it sets.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Target {
    Mode,
    Setting(Setting),
    Boost,
    Forget,
}

/// One Home Assistant device's discovery message.
#[derive(Debug, Clone, PartialEq)]
pub struct HaDevice {
    pub object_id: String,
    pub payload: Json,
}

/// Everything nomhub announces and listens to.
#[derive(Debug, Clone, PartialEq)]
pub struct Discovery {
    pub topics: Topics,
    pub devices: Vec<HaDevice>,
    /// State topic → what it carries.
    pub states: BTreeMap<String, Source>,
    pub commands: BTreeMap<String, Target>,
    /// Where a sun forecast for the hot-water strategy is taken from (with
    /// `[control]`; docs/home-assistant.md).
    pub forecast: Option<String>,
    /// Where day-ahead prices are taken from (with a `[tariff]`; docs/home-assistant.md).
    pub prices: Option<String>,
}

/// What the discovery is built from; [`Inputs::from_config`] fills it from a config.
#[derive(Debug, Clone)]
pub struct Inputs<'a> {
    pub topics: Topics,
    pub hub_name: String,
    pub url: Option<String>,
    pub devices: Vec<(DeviceId, String, &'a Profile)>,
    pub flows: Vec<Flow>,
    /// Flows that are one device's point as it is: disabled by default on the hub.
    pub duplicates: Vec<Flow>,
    pub series: Vec<Series>,
    pub bundles: Vec<BundleId>,
    pub euros: bool,
    /// Whether nomhub acts (`[control]`): then it says why.
    pub control: bool,
    /// Whether it signals the heat pump through SG Ready (`[control.sg_ready]`).
    pub sg_ready: bool,
}

impl<'a> Inputs<'a> {
    pub fn from_config(config: &'a Config, setup: &MqttSetup) -> Self {
        let ledger = config.ledger.as_ref();
        let flows = FlowMap::from_config(config);
        Self {
            topics: Topics::new(setup),
            hub_name: config.hub.name.clone(),
            url: config.hub.url.clone(),
            devices: config
                .devices
                .iter()
                .filter_map(|d| {
                    let id = d.id.get_ref().clone();
                    let name = d.name.clone().unwrap_or_else(|| id.to_string());
                    Some((id, name, config.profiles.get(d.profile.get_ref())?))
                })
                .collect(),
            duplicates: flows
                .flows()
                .into_iter()
                .filter(|f| flows.single_source(*f))
                .collect(),
            flows: flows.flows(),
            series: ledger
                .map(|l| l.series.keys().copied().collect())
                .unwrap_or_default(),
            bundles: ledger
                .map(|l| l.budgets.keys().copied().collect())
                .unwrap_or_default(),
            euros: ledger.is_some_and(|l| l.tariff.is_some()),
            control: config.control.is_some(),
            sg_ready: config
                .control
                .as_ref()
                .is_some_and(|c| c.sg_ready.is_some()),
        }
    }
}

/// Puts into each device's discovery what the device reports about itself (SunSpec's
/// common model: its make, model, serial number and firmware) once known; gives the
/// object ids whose payload changed, to announce again.
pub fn with_identity(d: &mut Discovery, snapshot: &crate::state::Snapshot) -> Vec<String> {
    let mut changed = Vec::new();
    for (id, status) in &snapshot.devices {
        let Some(profile) = &status.profile else {
            continue;
        };
        let object_id = d.topics.device_object_id(id);
        let Some(dev) = d.devices.iter_mut().find(|x| x.object_id == object_id) else {
            continue;
        };
        let mut touched = false;
        for p in &profile.points {
            let field = match p.role {
                Some(Role::Manufacturer) => "manufacturer",
                Some(Role::Model) => "model",
                Some(Role::SerialNumber) => "serial_number",
                Some(Role::Firmware) => "sw_version",
                _ => continue,
            };
            let Some(crate::model::Value::Text(text)) = snapshot
                .points
                .get(&(id.clone(), p.key.clone()))
                .and_then(|s| s.value.as_ref().ok())
            else {
                continue;
            };
            let text = text.trim();
            if text.is_empty() || dev.payload["device"][field] == text {
                continue;
            }
            dev.payload["device"][field] = json!(text);
            touched = true;
        }
        if touched {
            changed.push(object_id);
        }
    }
    changed
}

/// Two entities would share a unique id (device and point ids joined by `_` can
/// collide, e.g. `grid` + `power_l1` and `grid_power` + `l1`).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("two Home Assistant entities would have the unique id `{0}`; rename one of the devices")]
pub struct DuplicateId(pub String);

const ORIGIN_URL: &str = "https://github.com/nomhub/nomhub";

/// A component under construction: the platform, then options.
struct Cmp {
    key: String,
    body: Map<String, Json>,
}

impl Cmp {
    fn new(platform: &str, key: String, name: &str) -> Self {
        let mut body = Map::new();
        body.insert("platform".into(), json!(platform));
        body.insert("name".into(), json!(name));
        Self { key, body }
    }
    fn set(mut self, k: &str, v: Json) -> Self {
        self.body.insert(k.into(), v);
        self
    }
    /// Off by default in Home Assistant unless `on` (the user switches it on).
    fn enabled(self, on: bool) -> Self {
        if on {
            self
        } else {
            self.set("enabled_by_default", json!(false))
        }
    }

    fn opt(self, k: &str, v: Option<&str>) -> Self {
        match v {
            Some(v) => self.set(k, json!(v)),
            None => self,
        }
    }
}

struct Builder<'a> {
    topics: &'a Topics,
    states: BTreeMap<String, Source>,
    commands: BTreeMap<String, Target>,
    ids: BTreeSet<String>,
    duplicate: Option<String>,
}

impl Builder<'_> {
    /// Finishes a component: unique id, default entity id, state topic.
    fn add(
        &mut self,
        cmps: &mut Map<String, Json>,
        owner: &str,
        c: Cmp,
        state: Option<(String, Source)>,
    ) {
        let Cmp { key, mut body } = c;
        let platform = body
            .get("platform")
            .and_then(Json::as_str)
            .unwrap_or("sensor")
            .to_owned();
        let unique = format!("{}_{owner}_{key}", self.topics.node);
        if !self.ids.insert(unique.clone()) && self.duplicate.is_none() {
            self.duplicate = Some(unique.clone());
        }
        body.insert("unique_id".into(), json!(unique));
        body.insert(
            "default_entity_id".into(),
            json!(format!("{platform}.{unique}")),
        );
        if let Some((topic, source)) = state {
            body.insert("state_topic".into(), json!(topic));
            self.states.insert(topic, source);
        }
        cmps.insert(key, Json::Object(body));
    }
}

/// The hub's own availability, for entities that must stay live when their device
/// does not answer (its diagnostics).
fn hub_availability(t: &Topics) -> Json {
    json!([{ "topic": t.status() }])
}

fn origin() -> Json {
    json!({
        "name": "nomhub",
        "sw_version": env!("CARGO_PKG_VERSION"),
        "support_url": ORIGIN_URL,
    })
}

/// Builds the whole discovery.
pub fn build(inputs: &Inputs) -> Result<Discovery, DuplicateId> {
    let t = &inputs.topics;
    let mut b = Builder {
        topics: t,
        states: BTreeMap::new(),
        commands: BTreeMap::new(),
        ids: BTreeSet::new(),
        duplicate: None,
    };
    let mut devices = vec![hub_device(inputs, &mut b)];
    for (id, name, profile) in &inputs.devices {
        devices.push(physical_device(inputs, &mut b, id, name, profile));
    }
    if let Some(d) = b.duplicate {
        return Err(DuplicateId(d));
    }
    Ok(Discovery {
        topics: t.clone(),
        devices,
        states: b.states,
        commands: b.commands,
        forecast: inputs.control.then(|| t.hub("forecast/pv")),
        prices: inputs.euros.then(|| t.hub("prices/day_ahead")),
    })
}

fn bundle_name(id: BundleId) -> &'static str {
    match id {
        BundleId::Pv => "PV generation",
        BundleId::EnergyUsed => "Energy used",
        BundleId::Household => "Household",
        BundleId::BuildingBound => "Building-bound",
        BundleId::HotWater => "Hot water",
    }
}

fn series_name(s: Series) -> &'static str {
    match s {
        Series::Pv => "PV production",
        Series::Household => "Household energy",
        Series::BuildingBound => "Building-bound energy",
        Series::HotWater => "Hot water heat",
        Series::GridImport => "Grid import",
        Series::GridExport => "Grid export",
        Series::ImportCost => "Grid import cost",
        Series::ExportEarned => "Grid export earned",
        Series::ExportNetted => "Grid export netted",
    }
}

/// With a tariff: the price of a kWh now and next hour, what is fed in earns now, and
/// what the grid came to today and this month.
fn prices_and_costs(t: &Topics, b: &mut Builder, cmps: &mut Map<String, Json>) {
    let topic = t.hub("prices");
    for (key, name, field) in [
        ("price_now", "Electricity price", "import_now"),
        (
            "price_next_hour",
            "Electricity price next hour",
            "import_next_hour",
        ),
        ("feed_in_price_now", "Feed-in price", "export_now"),
    ] {
        let mut c = Cmp::new("sensor", key.into(), name)
            .set("unit_of_measurement", json!("EUR/kWh"))
            .set("state_class", json!("measurement"))
            .set("suggested_display_precision", json!(3))
            .set(
                "value_template",
                json!(format!(
                    "{{{{ value_json.{field} if value_json.{field} is not none else 'None' }}}}"
                )),
            )
            .set("icon", json!("mdi:currency-eur"));
        if key == "price_now" {
            // Today's and tomorrow's prices per quarter hour, for a price graph.
            c = c.set("json_attributes_topic", json!(topic)).set(
                "json_attributes_template",
                json!("{{ {'day_ahead': value_json.day_ahead_now, 'fallback': value_json.fallback, 'net_metering': value_json.net_metering, 'today': value_json.today, 'tomorrow': value_json.tomorrow, 'updated': value_json.updated} | tojson }}"),
            );
        }
        b.add(cmps, "hub", c, Some((topic.clone(), Source::Prices)));
    }
    let missing = Cmp::new(
        "binary_sensor",
        "prices_missing".into(),
        "Day-ahead price missing",
    )
    .set("device_class", json!("problem"))
    .set("entity_category", json!("diagnostic"))
    .set(
        "value_template",
        json!("{% if value_json.fallback %}ON{% else %}OFF{% endif %}"),
    );
    b.add(cmps, "hub", missing, Some((topic, Source::Prices)));
    let topic = t.hub("costs");
    for (key, name, period) in [
        ("cost_today", "Energy cost today", "today"),
        ("cost_month", "Energy cost this month", "month"),
    ] {
        let c = Cmp::new("sensor", key.into(), name)
            .set("device_class", json!("monetary"))
            .set("unit_of_measurement", json!("EUR"))
            .set("state_class", json!("total"))
            .set("suggested_display_precision", json!(2))
            .set("value_template", json!(format!("{{{{ value_json.{period}_eur }}}}")))
            .set(
                "last_reset_value_template",
                json!(format!("{{{{ value_json.{period}_reset }}}}")),
            )
            .set("json_attributes_topic", json!(topic))
            .set(
                "json_attributes_template",
                json!(format!("{{{{ {{'import_eur': value_json.{period}_import_eur, 'export_eur': value_json.{period}_export_eur, 'priced_at_average_eur': value_json.{period}_fallback_eur}} | tojson }}}}")),
            );
        b.add(cmps, "hub", c, Some((topic.clone(), Source::Costs)));
    }
}

/// The contract's comfort promises over the running settlement year: on how many days
/// the rooms were too cold (with a room sensor) and the hot water ran short (with a
/// tank sensor); the PV verdicts of years over as attributes.
fn guarantees(inputs: &Inputs, t: &Topics, b: &mut Builder, cmps: &mut Map<String, Json>) {
    let topic = t.hub("guarantees");
    for (flow, key, name, icon, attributes) in [
        (
            Flow::RoomTemperature,
            "room_cold_days",
            "Days too cold this settlement year",
            "mdi:thermometer-alert",
            "{{ {'heating_season_days': value_json.room_days, 'lowest_c': value_json.room_min_c, 'since': value_json.from, 'pv_years': value_json.pv_years} | tojson }}",
        ),
        (
            Flow::TankTemperature,
            "hot_water_short_days",
            "Days short of hot water this settlement year",
            "mdi:water-thermometer-outline",
            "{{ {'days': value_json.hot_water_days, 'cold_minutes': value_json.cold_minutes, 'since': value_json.from} | tojson }}",
        ),
    ] {
        if !inputs.flows.contains(&flow) {
            continue;
        }
        let field = if key == "room_cold_days" {
            "room_below_days"
        } else {
            "hot_water_short_days"
        };
        // A count that starts again with each settlement year: no state class (its
        // statistics would mean nothing).
        let c = Cmp::new("sensor", key.into(), name)
            .set("unit_of_measurement", json!("d"))
            .set("icon", json!(icon))
            .set(
                "value_template",
                json!(format!("{{{{ value_json.{field} }}}}")),
            )
            .set("json_attributes_topic", json!(topic))
            .set("json_attributes_template", json!(attributes));
        b.add(cmps, "hub", c, Some((topic.clone(), Source::Guarantees)));
    }
}

fn hub_device(inputs: &Inputs, b: &mut Builder) -> HaDevice {
    let t = b.topics;
    let mut cmps = Map::new();
    for &flow in &inputs.flows {
        let (name, class, unit, precision) = match flow {
            Flow::PvPower => ("PV power", "power", "W", 0),
            Flow::GridPower => ("Grid power", "power", "W", 0),
            Flow::HomePower => ("Home consumption", "power", "W", 0),
            Flow::HeatPumpPower => ("Heat pump power", "power", "W", 0),
            Flow::TankTemperature => ("Tank temperature", "temperature", "°C", 1),
            Flow::OutdoorTemperature => ("Outdoor temperature", "temperature", "°C", 1),
            Flow::RoomTemperature => ("Room temperature", "temperature", "°C", 1),
        };
        // One device's point as it is: its own entity shows it already.
        let c = Cmp::new("sensor", flow.as_str().to_owned(), name)
            .set("device_class", json!(class))
            .set("state_class", json!("measurement"))
            .set("unit_of_measurement", json!(unit))
            .set("suggested_display_precision", json!(precision))
            .enabled(!inputs.duplicates.contains(&flow));
        b.add(
            &mut cmps,
            "hub",
            c,
            Some((
                t.hub(&format!("live/{}", flow.as_str())),
                Source::Flow(flow),
            )),
        );
    }
    for &s in &inputs.series {
        let c = Cmp::new("sensor", format!("energy_{}", s.as_str()), series_name(s))
            .set("device_class", json!("energy"))
            .set("state_class", json!("total_increasing"))
            .set("unit_of_measurement", json!("kWh"))
            .set("suggested_display_precision", json!(2));
        b.add(
            &mut cmps,
            "hub",
            c,
            Some((
                t.hub(&format!("energy/{}", s.as_str())),
                Source::Lifetime(s),
            )),
        );
    }
    for &bundle in &inputs.bundles {
        for (period, period_name) in [
            (PeriodKind::Month, "this month"),
            (PeriodKind::Settlement, "this settlement year"),
        ] {
            let topic = t.hub(&format!("bundle/{}/{}", bundle.as_str(), period.as_str()));
            let key = |what: &str| format!("{}_{}_{what}", bundle.as_str(), period.as_str());
            let b_name = bundle_name(bundle);
            let name = |what: &str| match what {
                "used" => format!("{b_name} {period_name}"),
                "bundle" => format!("{b_name} bundle {period_name}"),
                "expected" => format!("{b_name} expected by now {period_name}"),
                "projected" => format!("{b_name} projected {period_name}"),
                "remaining" => format!("{b_name} bundle left {period_name}"),
                _ => format!("{b_name} status {period_name}"),
            };
            // What a bundle card needs is on; the rest is there to switch on.
            let main = matches!(
                bundle,
                BundleId::Pv | BundleId::EnergyUsed | BundleId::HotWater
            );
            let enabled = |what: &str| {
                matches!(what, "used" | "status")
                    || (main
                        && period == PeriodKind::Month
                        && matches!(what, "bundle" | "expected"))
            };
            let kwh = |what: &str| {
                Cmp::new("sensor", key(what), &name(what))
                    .enabled(enabled(what))
                    .set("device_class", json!("energy"))
                    .set("unit_of_measurement", json!("kWh"))
                    .set("suggested_display_precision", json!(0))
                    .set(
                        "value_template",
                        json!(format!("{{{{ value_json.{what} }}}}")),
                    )
            };
            let used = kwh("used").set("state_class", json!("total")).set(
                "last_reset_value_template",
                json!("{{ value_json.last_reset }}"),
            );
            let source = Source::Bundle(bundle, period);
            b.add(
                &mut cmps,
                "hub",
                used,
                Some((topic.clone(), source.clone())),
            );
            for what in ["bundle", "expected", "projected", "remaining"] {
                b.add(
                    &mut cmps,
                    "hub",
                    kwh(what),
                    Some((topic.clone(), source.clone())),
                );
            }
            let status = Cmp::new("sensor", key("status"), &name("status"))
                .enabled(enabled("status"))
                .set("device_class", json!("enum"))
                .set("options", json!(["on_track", "above", "below"]))
                .set("value_template", json!("{{ value_json.status }}"));
            b.add(&mut cmps, "hub", status, Some((topic, source)));
        }
    }
    if !inputs.series.is_empty() {
        let topic = t.hub("forecast");
        if inputs.euros {
            // A forecast, not a running total: no state class, so Home Assistant keeps
            // no sum of its changes.
            let c = Cmp::new("sensor", "forecast_cost".into(), "Settlement forecast")
                .set("device_class", json!("monetary"))
                .set("unit_of_measurement", json!("EUR"))
                .set("suggested_display_precision", json!(0))
                .set("value_template", json!("{{ value_json.eur }}"));
            b.add(&mut cmps, "hub", c, Some((topic.clone(), Source::Forecast)));
        }
        let net = Cmp::new(
            "sensor",
            "forecast_net_import".into(),
            "Settlement forecast net import",
        )
        .set("device_class", json!("energy"))
        .set("unit_of_measurement", json!("kWh"))
        .set("suggested_display_precision", json!(0))
        .set("value_template", json!("{{ value_json.net_kwh }}"));
        b.add(
            &mut cmps,
            "hub",
            net,
            Some((topic.clone(), Source::Forecast)),
        );
        let regime = Cmp::new("sensor", "forecast_regime".into(), "Settlement regime")
            .set("device_class", json!("enum"))
            .set(
                "options",
                json!(["net_metering", "no_net_metering", "split"]),
            )
            .set("value_template", json!("{{ value_json.regime }}"));
        b.add(&mut cmps, "hub", regime, Some((topic, Source::Forecast)));
        if inputs.euros {
            prices_and_costs(t, b, &mut cmps);
        }
        guarantees(inputs, t, b, &mut cmps);
        let health = t.hub("ledger");
        let clock = Cmp::new(
            "binary_sensor",
            "clock_trusted".into(),
            "Clock synchronised",
        )
        .set("entity_category", json!("diagnostic"))
        .set("value_template", json!("{{ value_json.clock_trusted }}"));
        b.add(
            &mut cmps,
            "hub",
            clock,
            Some((health.clone(), Source::LedgerHealth)),
        );
        let store = Cmp::new("binary_sensor", "store_problem".into(), "Ledger store")
            .set("device_class", json!("problem"))
            .set("entity_category", json!("diagnostic"))
            .set("value_template", json!("{{ value_json.store_problem }}"));
        b.add(
            &mut cmps,
            "hub",
            store,
            Some((health, Source::LedgerHealth)),
        );
    }
    // The hot-water strategy's controls.
    let mode_topic = t.hub("strategy/mode");
    let mode = Cmp::new("select", "hot_water_mode".into(), "Hot water strategy")
        .set("options", json!(Mode::ALL.map(Mode::as_str)))
        .set("command_topic", json!(format!("{mode_topic}/set")));
    b.commands.insert(format!("{mode_topic}/set"), Target::Mode);
    b.add(&mut cmps, "hub", mode, Some((mode_topic, Source::Mode)));
    // The strategy's buttons: Home Assistant sends `PRESS` on their command topic.
    for (what, id, name, target, category) in [
        (
            "boost",
            "hot_water_boost",
            "Boost hot water now",
            Target::Boost,
            None,
        ),
        (
            "forget",
            "hot_water_forget",
            "Forget learned hot-water habits",
            Target::Forget,
            Some("config"),
        ),
    ] {
        let topic = t.hub(&format!("strategy/{what}/set"));
        let button = Cmp::new("button", id.into(), name)
            .opt("entity_category", category)
            .set("command_topic", json!(topic))
            .set("payload_press", json!("PRESS"));
        b.commands.insert(topic, target);
        b.add(&mut cmps, "hub", button, None);
    }
    for s in Setting::ALL {
        let topic = t.hub(&format!("strategy/{}", s.key()));
        let bounds = s.bounds();
        let c = Cmp::new("number", s.key().to_owned(), s.label())
            .set("entity_category", json!("config"))
            .set("min", json!(bounds.min))
            .set("max", json!(bounds.max))
            .set("step", json!(bounds.step))
            .set("mode", json!("box"))
            .opt("unit_of_measurement", s.unit())
            .opt(
                "device_class",
                match s.unit() {
                    Some("°C") => Some("temperature"),
                    Some("min") => Some("duration"),
                    _ => None,
                },
            )
            .set("command_topic", json!(format!("{topic}/set")));
        b.commands
            .insert(format!("{topic}/set"), Target::Setting(s));
        b.add(&mut cmps, "hub", c, Some((topic, Source::Setting(s))));
    }
    if inputs.control {
        // Why the heat pump has the settings it has, and the rules' notifications;
        // the whole status (every point with its "why") as attributes.
        let topic = t.hub("control");
        for (key, name, field) in [
            ("hot_water_decision", "Hot water decision", "decision"),
            ("notification", "Notification", "note"),
        ] {
            let c = Cmp::new("sensor", key.into(), name)
                .set(
                    "value_template",
                    json!(format!(
                        "{{{{ value_json.{field} if value_json.{field} else 'None' }}}}"
                    )),
                )
                .set("json_attributes_topic", json!(topic))
                .set("icon", json!("mdi:comment-question-outline"));
            b.add(&mut cmps, "hub", c, Some((topic.clone(), Source::Control)));
        }
        // The sun forecast the strategy plans with (unknown while it has none current).
        for (key, name, field) in [
            (
                "pv_forecast_today",
                "PV forecast today",
                "pv_forecast_today_kwh",
            ),
            (
                "pv_forecast_tomorrow",
                "PV forecast tomorrow",
                "pv_forecast_tomorrow_kwh",
            ),
        ] {
            let c = Cmp::new("sensor", key.into(), name)
                .set("device_class", json!("energy"))
                .set("unit_of_measurement", json!("kWh"))
                .set("suggested_display_precision", json!(1))
                .set(
                    "value_template",
                    json!(format!(
                        "{{{{ value_json.{field} if value_json.{field} is not none else 'None' }}}}"
                    )),
                )
                .set("json_attributes_topic", json!(topic))
                .set(
                    "json_attributes_template",
                    json!("{{ {'issued': value_json.pv_forecast_issued, 'day_error_pct': value_json.pv_forecast_day_error_pct} | tojson }}"),
                );
            b.add(&mut cmps, "hub", c, Some((topic.clone(), Source::Control)));
        }
        // A large draw now would run the tank cold: a problem to see coming. Unknown
        // until the strategy has had its first quarter hour.
        let c = Cmp::new("binary_sensor", "hot_water_comfort_risk".into(), "Hot water comfort at risk")
            .set("device_class", json!("problem"))
            .set(
                "value_template",
                json!("{% if value_json.comfort_at_risk is none %}None{% elif value_json.comfort_at_risk %}ON{% else %}OFF{% endif %}"),
            )
            .set("json_attributes_topic", json!(topic))
            .set(
                "json_attributes_template",
                json!("{{ {'hot_water_kwh': value_json.hot_water_kwh, 'large_draw_kwh': value_json.large_draw_kwh} | tojson }}"),
            );
        if inputs.sg_ready {
            // The state the heat pump's SG Ready input shows (read back from its
            // registers or the relays), with what nomhub wants and why.
            let sg = Cmp::new("sensor", "sg_ready_state".into(), "SG Ready state")
                .set("device_class", json!("enum"))
                .set(
                    "options",
                    json!(crate::model::SgState::ALL.map(crate::model::SgState::as_str)),
                )
                .set(
                    "value_template",
                    json!("{{ value_json.sg_ready_state if value_json.sg_ready_state else 'None' }}"),
                )
                .set("json_attributes_topic", json!(topic))
                .set(
                    "json_attributes_template",
                    json!("{{ {'wanted': value_json.sg_ready_wanted, 'why': value_json.sg_ready_why, 'since': value_json.sg_ready_since} | tojson }}"),
                )
                .set("icon", json!("mdi:transmission-tower"));
            b.add(&mut cmps, "hub", sg, Some((topic.clone(), Source::Control)));
        }
        b.add(&mut cmps, "hub", c, Some((topic, Source::Control)));
    }
    let mut device = json!({
        "identifiers": [t.hub_object_id()],
        "name": inputs.hub_name,
        "manufacturer": "nomhub",
        "model": "Nul op de Meter hub",
        "sw_version": env!("CARGO_PKG_VERSION"),
    });
    if let (Some(url), Some(d)) = (&inputs.url, device.as_object_mut()) {
        d.insert("configuration_url".into(), json!(url));
    }
    HaDevice {
        object_id: t.hub_object_id(),
        payload: json!({
            "device": device,
            "origin": origin(),
            "availability": hub_availability(t),
            "components": cmps,
        }),
    }
}

/// The points of a profile, once per key (a SunSpec profile lists a point per model).
pub fn unique_points(profile: &Profile) -> Vec<&PointFile> {
    let mut seen = BTreeSet::new();
    profile
        .file
        .points
        .iter()
        .filter(|p| seen.insert(p.key.as_str()))
        .collect()
}

/// How a profile point appears in Home Assistant: the component and its format.
fn point_component(p: &PointFile) -> (Cmp, Format) {
    let key = p.key.to_string();
    if p.ty == DataType::Bool && p.unit.is_none() {
        let c = Cmp::new("binary_sensor", key, &p.label)
            .set("payload_on", json!("ON"))
            .set("payload_off", json!("OFF"));
        return (c, Format::Bool);
    }
    // A flag the device takes as 0 or 1 (a one-off boost): on or off, not a number with
    // statistics.
    if p.unit.is_none()
        && p.states.is_empty()
        && p.write
            .as_ref()
            .is_some_and(|w| w.min == Some(0.0) && w.max == Some(1.0))
    {
        let c = Cmp::new("binary_sensor", key, &p.label)
            .set("payload_on", json!("1"))
            .set("payload_off", json!("0"));
        return (c, Format::Number);
    }
    if !p.states.is_empty() {
        let mut options: Vec<String> = p.states.values().cloned().collect();
        options.sort();
        options.dedup();
        let c = Cmp::new("sensor", key, &p.label)
            .set("device_class", json!("enum"))
            .set("options", json!(options));
        return (c, Format::Enum(options));
    }
    if p.ty == DataType::String {
        // What the device says it is goes into its device info (`with_identity`); the
        // sensor stays, switched off.
        let identity = matches!(
            p.role,
            Some(Role::Manufacturer | Role::Model | Role::SerialNumber | Role::Firmware)
        );
        let c = Cmp::new("sensor", key, &p.label)
            .set("entity_category", json!("diagnostic"))
            .enabled(!identity);
        return (c, Format::Text);
    }
    let c = Cmp::new("sensor", key, &p.label);
    let measurement = |c: Cmp, class: Option<&str>, unit: &str, precision: u8| {
        c.opt("device_class", class)
            .set("state_class", json!("measurement"))
            .set("unit_of_measurement", json!(unit))
            .set("suggested_display_precision", json!(precision))
    };
    match p.unit {
        Some(Unit::Watt | Unit::Kilowatt) => (measurement(c, Some("power"), "W", 0), Format::Power),
        Some(Unit::WattHour | Unit::KilowattHour) => (
            c.set("device_class", json!("energy"))
                .set("state_class", json!("total_increasing"))
                .set("unit_of_measurement", json!("kWh"))
                .set("suggested_display_precision", json!(2)),
            Format::Energy,
        ),
        Some(Unit::Celsius) => (
            measurement(c, Some("temperature"), "°C", 1),
            Format::Temperature,
        ),
        // A temperature difference: Home Assistant's temperature class would convert it
        // as a temperature (a 5 K offset shown as −268 °C).
        Some(Unit::Kelvin) => (measurement(c, None, "K", 1), Format::Temperature),
        Some(Unit::Volt) => (measurement(c, Some("voltage"), "V", 1), Format::Number),
        Some(Unit::Ampere) => (measurement(c, Some("current"), "A", 2), Format::Number),
        Some(Unit::Hertz) => (measurement(c, Some("frequency"), "Hz", 2), Format::Number),
        Some(Unit::Percent) => (measurement(c, None, "%", 0), Format::Number),
        Some(Unit::VoltAmpere) => (
            measurement(c, Some("apparent_power"), "VA", 0),
            Format::Number,
        ),
        Some(Unit::Var) => (
            measurement(c, Some("reactive_power"), "var", 0),
            Format::Number,
        ),
        Some(Unit::Minute) => (measurement(c, Some("duration"), "min", 0), Format::Number),
        Some(Unit::LitrePerMinute) => (
            measurement(c, Some("volume_flow_rate"), "L/min", 1),
            Format::Number,
        ),
        // A number about the device, not a measurement (a software version): no
        // statistics, under diagnostics.
        None if p.diagnostic => (
            c.set("entity_category", json!("diagnostic")),
            Format::Number,
        ),
        None => (c.set("state_class", json!("measurement")), Format::Number),
    }
}

fn physical_device(
    inputs: &Inputs,
    b: &mut Builder,
    id: &DeviceId,
    name: &str,
    profile: &Profile,
) -> HaDevice {
    let t = b.topics;
    let mut cmps = Map::new();
    for p in unique_points(profile) {
        let (c, format) = point_component(p);
        let source = Source::Point {
            device: id.clone(),
            point: p.key.clone(),
            format,
        };
        b.add(
            &mut cmps,
            id.as_str(),
            c,
            Some((t.device(id, &format!("point/{}", p.key)), source)),
        );
    }
    // Diagnostics stay available (hub availability only) when the device is not.
    let diagnostic = |platform: &str, key: &str, name: &str| {
        Cmp::new(platform, key.into(), name)
            .set("entity_category", json!("diagnostic"))
            .set("availability", hub_availability(t))
    };
    let diag = (
        t.device(id, "diagnostics"),
        Source::DeviceDiagnostics(id.clone()),
    );
    let link = diagnostic("binary_sensor", "link", "Link")
        .set("device_class", json!("connectivity"))
        .set("value_template", json!("{{ value_json.link }}"));
    b.add(&mut cmps, id.as_str(), link, Some(diag.clone()));
    let errors = diagnostic("sensor", "errors", "Poll errors")
        .set("state_class", json!("total_increasing"))
        .set("value_template", json!("{{ value_json.errors }}"));
    b.add(&mut cmps, id.as_str(), errors, Some(diag));
    let last = diagnostic("sensor", "last_poll", "Last successful poll")
        .set("device_class", json!("timestamp"));
    let last_topic = t.device(id, "last_poll");
    b.add(
        &mut cmps,
        id.as_str(),
        last,
        Some((last_topic, Source::LastPoll(id.clone()))),
    );
    let availability = t.device(id, "availability");
    b.states
        .insert(availability.clone(), Source::DeviceAvailability(id.clone()));
    let mut device = json!({
        "identifiers": [t.device_object_id(id)],
        "name": name,
        "manufacturer": profile.file.vendor,
        "model": profile.file.model,
        "model_id": profile.id(),
        "via_device": t.hub_object_id(),
    });
    if let (Some(url), Some(d)) = (&inputs.url, device.as_object_mut()) {
        d.insert("configuration_url".into(), json!(url));
    }
    HaDevice {
        object_id: t.device_object_id(id),
        payload: json!({
            "device": device,
            "origin": origin(),
            "availability": [{ "topic": t.status() }, { "topic": availability }],
            "availability_mode": "all",
            "components": cmps,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn demo() -> Discovery {
        let config = crate::config::demo(5020, std::path::Path::new("/tmp/x")).unwrap();
        build(&Inputs::from_config(
            &config,
            &MqttSetup::plain("localhost", 1883),
        ))
        .unwrap()
    }

    #[test]
    fn one_hub_and_one_device_per_configured_device() {
        let d = demo();
        let ids: Vec<&str> = d.devices.iter().map(|d| d.object_id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "nomhub_hub",
                "nomhub_inverter",
                "nomhub_grid",
                "nomhub_installations",
                "nomhub_heat_pump"
            ]
        );
        let grid = &d.devices[2].payload;
        assert_eq!(grid["device"]["via_device"], "nomhub_hub");
        assert_eq!(
            grid["components"]["import_energy"]["state_class"],
            "total_increasing"
        );
        assert_eq!(
            grid["components"]["import_energy"]["state_topic"],
            "nomhub/device/grid/point/import_energy"
        );
    }

    #[test]
    fn our_config_topics_are_recognised_and_others_are_not() {
        let t = demo().topics;
        assert_eq!(
            t.our_object_id("homeassistant/device/nomhub_grid/config"),
            Some("nomhub_grid")
        );
        assert_eq!(
            t.our_object_id("homeassistant/device/other_grid/config"),
            None
        );
        assert_eq!(
            t.our_object_id("homeassistant/sensor/nomhub_grid/config"),
            None
        );
    }

    #[test]
    fn colliding_unique_ids_are_refused() {
        let config = crate::config::demo(5020, std::path::Path::new("/tmp/x")).unwrap();
        let mut inputs = Inputs::from_config(&config, &MqttSetup::plain("localhost", 1883));
        let meter = inputs.devices[1].2;
        inputs
            .devices
            .push((DeviceId::new("grid").unwrap(), "again".into(), meter));
        assert!(build(&inputs).is_err());
    }
}
