//! The HomeWizard Wi-Fi P1 meter's local API: version 1 (`GET /api/v1/data` over HTTP,
//! enabled in the Energy app) and version 2 (`GET /api/measurement` over HTTPS with a
//! token the meter hands out when its button is pressed). Both give the meter's
//! registers as JSON, which the dongle reads from the P1 port and checks itself; the
//! fields differ only in name. Each answer is checked again here (every counter a finite
//! number ≥ 0 in kWh, the tariff 1 or 2) before it becomes a [`Reading`].

use serde::Deserialize;

use super::Reading;
use super::telegram::TelegramError;

/// Which version of the local API an answer comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    /// `GET /api/v1/data`, plain HTTP.
    V1,
    /// `GET /api/measurement` with `X-Api-Version: 2`, HTTPS and a token.
    V2,
}

impl Api {
    /// The answer's path.
    pub fn path(self) -> &'static str {
        match self {
            Api::V1 => "/api/v1/data",
            Api::V2 => "/api/measurement",
        }
    }

    /// A field's name in this version (nomhub's names are version 1's).
    fn name(self, v1: &'static str) -> &'static str {
        if self == Api::V1 {
            return v1;
        }
        match v1 {
            "active_tariff" => "tariff",
            "total_power_import_t1_kwh" => "energy_import_t1_kwh",
            "total_power_import_t2_kwh" => "energy_import_t2_kwh",
            "total_power_export_t1_kwh" => "energy_export_t1_kwh",
            "total_power_export_t2_kwh" => "energy_export_t2_kwh",
            other => other,
        }
    }
}

/// The fields nomhub reads (a P1 meter's; the others are ignored), by their version 1
/// names with version 2's as aliases.
#[derive(Debug, Deserialize)]
struct Data {
    #[serde(default)]
    unique_id: Option<String>,
    #[serde(default, alias = "tariff")]
    active_tariff: Option<f64>,
    #[serde(default, alias = "energy_import_t1_kwh")]
    total_power_import_t1_kwh: Option<f64>,
    #[serde(default, alias = "energy_import_t2_kwh")]
    total_power_import_t2_kwh: Option<f64>,
    #[serde(default, alias = "energy_export_t1_kwh")]
    total_power_export_t1_kwh: Option<f64>,
    #[serde(default, alias = "energy_export_t2_kwh")]
    total_power_export_t2_kwh: Option<f64>,
    #[serde(default, alias = "power_w")]
    active_power_w: Option<f64>,
    #[serde(default, alias = "power_l1_w")]
    active_power_l1_w: Option<f64>,
    #[serde(default, alias = "power_l2_w")]
    active_power_l2_w: Option<f64>,
    #[serde(default, alias = "power_l3_w")]
    active_power_l3_w: Option<f64>,
    #[serde(default, alias = "voltage_l1_v")]
    active_voltage_l1_v: Option<f64>,
    #[serde(default, alias = "voltage_l2_v")]
    active_voltage_l2_v: Option<f64>,
    #[serde(default, alias = "voltage_l3_v")]
    active_voltage_l3_v: Option<f64>,
    #[serde(default, alias = "current_l1_a")]
    active_current_l1_a: Option<f64>,
    #[serde(default, alias = "current_l2_a")]
    active_current_l2_a: Option<f64>,
    #[serde(default, alias = "current_l3_a")]
    active_current_l3_a: Option<f64>,
}

fn bad(field: &str, value: impl std::fmt::Display, expected: &'static str) -> TelegramError {
    TelegramError::Value {
        obis: field.to_owned(),
        value: value.to_string(),
        expected,
    }
}

/// A counter in kWh as exact Wh; a negative or non-finite one is refused.
fn wh(field: &str, kwh: Option<f64>) -> Result<Option<i64>, TelegramError> {
    match kwh {
        None => Ok(None),
        Some(k) if k.is_finite() && k >= 0.0 => Ok(Some((k * 1000.0).round() as i64)),
        Some(k) => Err(bad(field, k, "a counter in kWh, 0 or more")),
    }
}

/// One answer of the API's version `api` as a reading.
pub fn reading(api: Api, body: &str) -> Result<Reading, TelegramError> {
    let d: Data = serde_json::from_str(body).map_err(|e| bad(api.path(), e, "JSON"))?;
    let n = |v1| api.name(v1);
    let import_wh = [
        wh(n("total_power_import_t1_kwh"), d.total_power_import_t1_kwh)?,
        wh(n("total_power_import_t2_kwh"), d.total_power_import_t2_kwh)?,
    ];
    if import_wh == [None, None] {
        return Err(bad(
            n("total_power_import_t1_kwh"),
            "nothing",
            "a P1 meter's import counter",
        ));
    }
    let tariff = match d.active_tariff {
        None => None,
        Some(t) if t == 1.0 || t == 2.0 => Some(t as u8),
        Some(t) => return Err(bad(n("active_tariff"), t, "tariff 1 or 2")),
    };
    // HomeWizard gives power as import less export, overall and per phase.
    let split = |w: Option<f64>| (w.map(|w| w.max(0.0)), w.map(|w| (-w).max(0.0)));
    let (power_import_w, power_export_w) = split(d.active_power_w);
    let phases = [
        split(d.active_power_l1_w),
        split(d.active_power_l2_w),
        split(d.active_power_l3_w),
    ];
    Ok(Reading {
        meter_time: None,
        equipment_id: d.unique_id,
        import_wh,
        export_wh: [
            wh(n("total_power_export_t1_kwh"), d.total_power_export_t1_kwh)?,
            wh(n("total_power_export_t2_kwh"), d.total_power_export_t2_kwh)?,
        ],
        tariff,
        power_import_w,
        power_export_w,
        voltage_v: [
            d.active_voltage_l1_v,
            d.active_voltage_l2_v,
            d.active_voltage_l3_v,
        ],
        // Signed on newer firmware (negative: returned); nomhub's currents are sizes.
        current_a: [
            d.active_current_l1_a,
            d.active_current_l2_a,
            d.active_current_l3_a,
        ]
        .map(|a| a.map(f64::abs)),
        phase_import_w: phases.map(|p| p.0),
        phase_export_w: phases.map(|p| p.1),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const DATA: &str = include_str!("../../tests/fixtures/p1/homewizard-v1-data.json");
    const MEASUREMENT: &str =
        include_str!("../../tests/fixtures/p1/homewizard-v2-measurement.json");

    #[test]
    fn an_answer_reads_like_a_telegram() {
        let r = reading(Api::V1, DATA).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(r.import_wh, [Some(10_830_511), Some(2_948_827)]);
        assert_eq!(r.export_total_wh(), Some(1_234));
        assert_eq!((r.tariff, r.grid_w()), (Some(2), Some(-543.0)));
        assert_eq!(r.phase_export_w[0], Some(676.0));
        assert_eq!(r.current_a[0], Some(4.0));
    }

    #[test]
    fn a_bad_answer_is_refused_naming_the_field() {
        let negative = DATA.replace("10830.511", "-1.0");
        let e = reading(Api::V1, &negative).map_err(|e| e.to_string());
        assert_eq!(
            e.err().as_deref(),
            Some("total_power_import_t1_kwh: `-1` is not a counter in kWh, 0 or more")
        );
        assert!(reading(Api::V1, "<html>").is_err());
        assert!(reading(Api::V1, r#"{"wifi_ssid": "x"}"#).is_err());
        // Version 2 names its own fields.
        let e = reading(
            Api::V2,
            &MEASUREMENT.replace("\"tariff\": 2", "\"tariff\": 5"),
        );
        assert_eq!(
            e.map_err(|e| e.to_string()).err().as_deref(),
            Some("tariff: `5` is not tariff 1 or 2")
        );
    }

    #[test]
    fn a_version_2_measurement_reads_like_version_1_data() {
        let v2 = reading(Api::V2, MEASUREMENT).unwrap_or_else(|e| panic!("{e}"));
        let v1 = reading(Api::V1, DATA).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(v2.import_wh, v1.import_wh);
        assert_eq!(v2.export_wh, v1.export_wh);
        assert_eq!((v2.tariff, v2.grid_w()), (v1.tariff, v1.grid_w()));
        assert_eq!(v2.phase_export_w, v1.phase_export_w);
        assert_eq!(v2.current_a, v1.current_a);
        assert_eq!(v2.voltage_v, v1.voltage_v);
    }
}
