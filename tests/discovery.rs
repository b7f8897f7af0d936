//! Home Assistant discovery payloads: a golden file per shipped profile and for
//! the hub of the demo dwelling (`tests/snapshots/`; review a change with
//! `cargo insta review` or `INSTA_UPDATE=always cargo test --test discovery`), and a
//! check of every entity against Home Assistant's rules.

#![allow(clippy::unwrap_used)] // test code may panic

use std::collections::BTreeSet;

use nomhub::config::MqttSetup;
use nomhub::mqtt::{Discovery, Inputs, build};
use nomhub::profile::ProfileSet;
use serde_json::Value;

fn one_device_config(profile: &str) -> String {
    // A P1 meter is read from its port, everything else from a Modbus bus.
    let link = if profile == "dsmr-p1" {
        r#"p1 = { tcp = "127.0.0.1:2001" }"#
    } else {
        "bus = \"b\"\nunit = 1"
    };
    format!(
        r#"
[[bus]]
id = "b"
type = "tcp"
host = "127.0.0.1"

[[device]]
id = "dev"
name = "Device"
profile = "{profile}"
{link}

[mqtt]
host = "127.0.0.1"
"#
    )
}

fn discovery(text: &str) -> Discovery {
    let config = nomhub::config::parse("test.toml", text).unwrap();
    build(&Inputs::from_config(&config, config.mqtt.as_ref().unwrap())).unwrap()
}

fn demo() -> Discovery {
    let config = nomhub::config::demo(5020, std::path::Path::new("/tmp/nomhub-demo")).unwrap();
    build(&Inputs::from_config(
        &config,
        &MqttSetup::plain("127.0.0.1", 1883),
    ))
    .unwrap()
}

#[test]
fn every_shipped_profile_has_its_golden_discovery_payload() {
    let profiles = ProfileSet::embedded().unwrap();
    assert!(profiles.iter().count() >= 6);
    for p in profiles.iter() {
        let d = discovery(&one_device_config(p.id()));
        assert_eq!(d.devices.len(), 2, "{}: hub + device", p.id());
        insta::assert_json_snapshot!(format!("device-{}", p.id()), d.devices[1].payload);
    }
}

#[test]
fn the_demo_hub_has_its_golden_discovery_payload() {
    insta::assert_json_snapshot!("hub-demo", demo().devices[0].payload);
}

fn valid_id(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// Units Home Assistant accepts per sensor device class (those nomhub uses).
fn units_for(class: &str) -> Option<&'static [&'static str]> {
    Some(match class {
        "power" => &["W", "kW"],
        "energy" => &["Wh", "kWh", "MWh"],
        "temperature" => &["°C", "°F", "K"],
        "voltage" => &["V", "mV"],
        "current" => &["A", "mA"],
        "frequency" => &["Hz", "kHz"],
        "apparent_power" => &["VA"],
        "reactive_power" => &["var"],
        "duration" => &["s", "min", "h", "d"],
        "volume_flow_rate" => &["L/min", "m³/h"],
        "monetary" => &["EUR"],
        "enum" | "timestamp" => &[],
        _ => return None,
    })
}

/// Every rule from `shared/reference/ha-mqtt-discovery.md` a payload can break.
fn check(object_id: &str, payload: &Value, unique_ids: &mut BTreeSet<String>) -> Vec<String> {
    let mut bad = Vec::new();
    let mut fail = |m: String| bad.push(format!("{object_id}: {m}"));
    if !object_id
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        fail("object id has characters outside [a-zA-Z0-9_-]".into());
    }
    let device = &payload["device"];
    if !device["identifiers"].is_array() || !device["name"].is_string() {
        fail("device needs identifiers and a name".into());
    }
    if !payload["origin"]["name"].is_string() {
        fail("origin needs a name".into());
    }
    for (key, c) in payload["components"].as_object().unwrap() {
        let mut fail = |m: &str| fail(format!("component `{key}`: {m}"));
        let platform = c["platform"].as_str().unwrap_or_default();
        let uid = c["unique_id"].as_str().unwrap_or_default();
        if !valid_id(uid) {
            fail("unique_id missing or outside [a-z0-9_]");
        }
        if !unique_ids.insert(uid.to_owned()) {
            fail("unique_id used twice");
        }
        if c["default_entity_id"] != format!("{platform}.{uid}").as_str() {
            fail("default_entity_id is not <platform>.<unique_id>");
        }
        if c.get("object_id").is_some() {
            fail("object_id is deprecated");
        }
        let class = c["device_class"].as_str();
        let state_class = c["state_class"].as_str();
        let unit = c["unit_of_measurement"].as_str();
        match platform {
            "sensor" => {
                if !c["state_topic"].is_string() {
                    fail("a sensor needs a state_topic");
                }
                if let Some(sc) = state_class
                    && !["measurement", "total", "total_increasing"].contains(&sc)
                {
                    fail("unknown state_class");
                }
                if class == Some("energy") && state_class == Some("measurement") {
                    fail("energy is never `measurement`");
                }
                if matches!(class, Some("enum" | "timestamp"))
                    && (state_class.is_some() || unit.is_some())
                {
                    fail("enum and timestamp sensors take no state_class or unit");
                }
                if (class == Some("enum")) != c.get("options").is_some() {
                    fail("options go with device_class enum, and only there");
                }
                if state_class == Some("total")
                    && class == Some("energy")
                    && c.get("last_reset_value_template").is_none()
                {
                    fail("a period total needs last_reset");
                }
                if c["entity_category"] == "config" {
                    fail("a sensor cannot be a config entity");
                }
                // A forecast is not a running total: HA would sum its changes.
                if class == Some("monetary") && key.contains("forecast") && state_class.is_some() {
                    fail("a forecast in € takes no state_class");
                }
                // A temperature difference converts as a temperature under that class.
                if unit == Some("K") && class == Some("temperature") {
                    fail("a difference in K is not a temperature");
                }
                // No blank tile: a text that can be empty says unknown instead.
                if class.is_none()
                    && unit.is_none()
                    && let Some(t) = c["value_template"].as_str()
                    && !t.contains("'None'")
                    && ["decision", "note"]
                        .iter()
                        .any(|f| t.contains(&format!("value_json.{f}")))
                {
                    fail("a text state that can be empty must render unknown");
                }
            }
            "binary_sensor" => {
                if !c["state_topic"].is_string() {
                    fail("a binary sensor needs a state_topic");
                }
                if let Some(cl) = class
                    && !["connectivity", "problem", "running", "power"].contains(&cl)
                {
                    fail("unexpected binary sensor class");
                }
            }
            "number" => {
                if !c["command_topic"].is_string() || !c["state_topic"].is_string() {
                    fail("a number needs command and state topics");
                }
                if c["min"].as_f64().unwrap() >= c["max"].as_f64().unwrap() {
                    fail("min must be below max");
                }
            }
            "select" => {
                if !c["command_topic"].is_string() || !c["options"].is_array() {
                    fail("a select needs a command_topic and options");
                }
            }
            "button" => {
                if !c["command_topic"].is_string() {
                    fail("a button needs a command_topic");
                }
            }
            other => fail(&format!("unexpected platform `{other}`")),
        }
        if let Some(cl) = class
            && platform == "sensor"
        {
            match units_for(cl) {
                None => fail(&format!("device class `{cl}` is not one nomhub should use")),
                Some(units) => {
                    if !units.is_empty() && !unit.is_some_and(|u| units.contains(&u)) {
                        fail(&format!("unit {unit:?} is not valid for `{cl}`"));
                    }
                }
            }
        }
        if let Some(cat) = c["entity_category"].as_str()
            && !["config", "diagnostic"].contains(&cat)
        {
            fail("entity_category must be config or diagnostic");
        }
    }
    bad
}

#[test]
fn every_entity_follows_home_assistants_rules() {
    let mut all = vec![demo(), discovery(&sg_ready_config())];
    for p in ProfileSet::embedded().unwrap().iter() {
        all.push(discovery(&one_device_config(p.id())));
    }
    let mut problems = Vec::new();
    for d in &all {
        let mut ids = BTreeSet::new();
        for dev in &d.devices {
            problems.extend(check(&dev.object_id, &dev.payload, &mut ids));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// A heat pump signalled through SG Ready contacts on a relay board.
fn sg_ready_config() -> String {
    r#"
[[bus]]
id = "b"
type = "tcp"
host = "127.0.0.1"

[[device]]
id = "heat_pump"
profile = "nibe-s_series"
bus = "b"
unit = 1

[[device]]
id = "relays"
profile = "waveshare-modbus_rtu_relay"
bus = "b"
unit = 5

[control]

[control.sg_ready]
contacts = { device = "relays", a = "relay_1", b = "relay_2" }

[mqtt]
host = "127.0.0.1"
"#
    .to_owned()
}

#[test]
fn an_sg_ready_hub_says_the_state_the_heat_pump_shows() {
    let d = discovery(&sg_ready_config());
    let cmps = &d.devices[0].payload["components"];
    let sg = &cmps["sg_ready_state"];
    assert_eq!(sg["device_class"], "enum");
    assert_eq!(
        sg["options"],
        serde_json::json!(["lock", "normal", "recommend", "force"])
    );
    assert_eq!(sg["state_topic"], "nomhub/hub/control");
    // Without SG Ready there is no such sensor.
    assert!(demo().devices[0].payload["components"]["sg_ready_state"].is_null());
}

#[test]
fn the_checker_catches_what_home_assistant_rejects() {
    let mut d = demo();
    let hub = d.devices[0].payload["components"].as_object_mut().unwrap();
    hub["energy_pv"]["state_class"] = "measurement".into();
    hub["pv_power"]["unit_of_measurement"] = "kWh".into();
    hub["grid_power"]["unique_id"] = "nomhub.grid power".into();
    hub["forecast_cost"]["state_class"] = "total".into();
    hub["notification"]["value_template"] = "{{ value_json.note }}".into();
    let problems = check("nomhub_hub", &d.devices[0].payload, &mut BTreeSet::new());
    assert_eq!(problems.len(), 6, "{problems:#?}"); // the bad id also breaks default_entity_id
}

/// What a bundle card needs is enabled; the rest of the 60 bundle sensors waits to be
/// switched on. Names read as English in Home Assistant's UI.
#[test]
fn the_bundle_sensors_a_card_needs_are_on_and_read_well() {
    let d = demo();
    let hub = d.devices[0].payload["components"].as_object().unwrap();
    let on = |k: &str| hub[k].get("enabled_by_default").is_none();
    for k in [
        "energy_used_month_used",
        "energy_used_month_bundle",
        "energy_used_month_expected",
        "pv_month_status",
        "hot_water_settlement_used",
    ] {
        assert!(on(k), "{k} should be on");
    }
    for k in [
        "energy_used_month_projected",
        "household_month_bundle",
        "pv_settlement_remaining",
    ] {
        assert!(!on(k), "{k} should wait to be switched on");
    }
    let bundle_keys = hub.keys().filter(|k| {
        k.ends_with("_used")
            || k.ends_with("_status")
            || k.ends_with("_bundle")
            || k.ends_with("_expected")
            || k.ends_with("_projected")
            || k.ends_with("_remaining")
    });
    let (total, enabled) = bundle_keys.fold((0, 0), |(t, e), k| (t + 1, e + usize::from(on(k))));
    assert!(total >= 50 && enabled <= 30, "{enabled} of {total} on");
    assert_eq!(
        hub["energy_used_month_used"]["name"],
        "Energy used this month"
    );
    let hp = d
        .devices
        .iter()
        .find(|x| x.object_id == "nomhub_heat_pump")
        .unwrap();
    assert_eq!(hp.payload["device"]["model"], "Luxtronik 2.1 (SHI)");
    assert_eq!(
        hp.payload["components"]["hot_water_extra"]["platform"],
        "binary_sensor"
    );
    assert!(
        hp.payload["components"]["hot_water_offset"]
            .get("device_class")
            .is_none()
    );
}

#[test]
fn energy_dashboard_counters_are_lifetime_totals_in_kwh() {
    let d = demo();
    let hub = &d.devices[0].payload["components"];
    for s in [
        "pv",
        "grid_import",
        "grid_export",
        "household",
        "building_bound",
    ] {
        let c = &hub[format!("energy_{s}")];
        assert_eq!(c["state_class"], "total_increasing", "{s}");
        assert_eq!(c["unit_of_measurement"], "kWh", "{s}");
    }
    // The heat pump's and the installations meter's own counters, too.
    let hp = d
        .devices
        .iter()
        .find(|x| x.object_id == "nomhub_heat_pump")
        .unwrap();
    assert_eq!(
        hp.payload["components"]["electric_energy"]["state_class"],
        "total_increasing"
    );
    let inst = d
        .devices
        .iter()
        .find(|x| x.object_id == "nomhub_installations")
        .unwrap();
    assert_eq!(
        inst.payload["components"]["import_energy"]["device_class"],
        "energy"
    );
}
