//! `[forecast]`: where the hot-water strategy's sun forecast comes from besides
//! Home Assistant's MQTT topic (docs/home-assistant.md), which is always listened to.

use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::ledger::Problem;
use crate::model::Dur;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForecastConfig {
    /// `open-meteo`: nomhub fetches Open-Meteo's irradiance forecast for the roof;
    /// `mqtt`: only what Home Assistant sends.
    pub source: Spanned<String>,
    #[serde(default)]
    pub latitude: Option<Spanned<f64>>,
    #[serde(default)]
    pub longitude: Option<Spanned<f64>>,
    /// The PV system's peak power, kWp.
    #[serde(default)]
    pub kwp: Option<Spanned<f64>>,
    /// The panels' tilt from horizontal, degrees.
    #[serde(default)]
    pub tilt: Option<Spanned<f64>>,
    /// Which way the panels face, degrees on the compass (180 = south, 90 = east).
    #[serde(default)]
    pub azimuth: Option<Spanned<f64>>,
    /// How often the forecast is fetched.
    #[serde(default = "default_refresh")]
    pub refresh: Spanned<Dur>,
    /// The forecast service (a mirror, or a local server in tests).
    #[serde(default = "default_url")]
    pub url: Spanned<String>,
}

fn default_refresh() -> Spanned<Dur> {
    Spanned::new(0..0, Dur(Duration::from_secs(3 * 3600)))
}

fn default_url() -> Spanned<String> {
    Spanned::new(0..0, OpenMeteo::URL.to_owned())
}

/// Open-Meteo's forecast for one roof.
#[derive(Debug, Clone, PartialEq)]
pub struct OpenMeteo {
    pub url: String,
    pub latitude: f64,
    pub longitude: f64,
    pub kwp: f64,
    pub tilt: f64,
    /// Compass degrees, 180 = south.
    pub azimuth: f64,
    pub refresh: Duration,
}

impl OpenMeteo {
    pub const URL: &str = "https://api.open-meteo.com/v1/forecast";
}

/// `[forecast]`, checked: Open-Meteo's settings, or None for `mqtt`.
pub fn resolve(c: &ForecastConfig, problems: &mut Vec<Problem>) -> Option<OpenMeteo> {
    match c.source.get_ref().as_str() {
        "mqtt" => return None,
        "open-meteo" => {}
        other => {
            problems.push((
                Some(c.source.span()),
                format!("forecast: source `{other}` is not one of open-meteo, mqtt"),
            ));
            return None;
        }
    }
    let mut value =
        |v: &Option<Spanned<f64>>, key: &str, range: std::ops::RangeInclusive<f64>, what: &str| {
            match v {
                None => {
                    problems.push((
                        Some(c.source.span()),
                        format!("forecast: open-meteo needs `{key}` ({what})"),
                    ));
                    None
                }
                Some(x) if !range.contains(x.get_ref()) => {
                    problems.push((
                        Some(x.span()),
                        format!(
                            "forecast: {key} {} is outside {}..={} ({what})",
                            x.get_ref(),
                            range.start(),
                            range.end()
                        ),
                    ));
                    None
                }
                Some(x) => Some(*x.get_ref()),
            }
        };
    let latitude = value(&c.latitude, "latitude", -90.0..=90.0, "degrees north");
    let longitude = value(&c.longitude, "longitude", -180.0..=180.0, "degrees east");
    let kwp = value(
        &c.kwp,
        "kwp",
        0.1..=100.0,
        "the PV system's peak power, kWp",
    );
    let tilt = value(&c.tilt, "tilt", 0.0..=90.0, "degrees from horizontal");
    let azimuth = value(
        &c.azimuth,
        "azimuth",
        0.0..=360.0,
        "compass degrees, 180 = south",
    );
    let refresh = c.refresh.get_ref().0;
    if !(Duration::from_secs(900)..=Duration::from_secs(86_400)).contains(&refresh) {
        problems.push((
            Some(c.refresh.span()),
            format!(
                "forecast: refresh {} is outside 15m..=24h",
                humantime::format_duration(refresh)
            ),
        ));
    }
    let url = c.url.get_ref();
    if !(url.starts_with("https://") || url.starts_with("http://")) {
        problems.push((
            Some(c.url.span()),
            format!("forecast: url `{url}` is not an http(s) address"),
        ));
    }
    Some(OpenMeteo {
        url: url.clone(),
        latitude: latitude?,
        longitude: longitude?,
        kwp: kwp?,
        tilt: tilt?,
        azimuth: azimuth?,
        refresh,
    })
}
