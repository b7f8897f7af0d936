//! `[dwelling]`, `[settlement]`, `[bundle.*]` and `[ledger]`: the energy bundle's
//! configuration, resolved into a [`LedgerSetup`] the ledger runs with.

use std::collections::BTreeMap;
use std::path::PathBuf;

use chrono::NaiveDate;
use serde::Deserialize;
use toml::Spanned;

use crate::ledger::calc::{self, Shape};
pub use crate::ledger::setup::{LedgerSetup, Term, TrustClock};
use crate::ledger::{Budget, BundleId, Series, SettlementRule};
use crate::model::{Dur, WattHours};
use crate::tariff::Tariff;

use super::DeviceConfig;
use super::dwelling::DwellingConfig;
use crate::profile::ProfileSet;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SettlementConfig {
    /// The day the supplier's settlement year starts, "MM-DD".
    #[serde(default = "default_start")]
    pub start: Spanned<String>,
    /// First day of the tenancy, "YYYY-MM-DD".
    #[serde(default)]
    pub move_in: Option<Spanned<String>>,
    /// Last day of the tenancy, "YYYY-MM-DD".
    #[serde(default)]
    pub move_out: Option<Spanned<String>>,
    /// Price of a kWh taken from the grid, all in (energy tax and VAT included), €.
    #[serde(default)]
    pub supply_price: Option<Spanned<f64>>,
    /// What the supplier pays for a kWh fed in (or the net export under net metering), €.
    #[serde(default)]
    pub feed_in_price: Option<Spanned<f64>>,
    /// Fixed costs for a whole settlement year (standing charges minus the energy tax
    /// credit), €; a partial year pays its share.
    #[serde(default)]
    pub fixed_fees: f64,
    /// The last day net metering applies, "YYYY-MM-DD".
    #[serde(default = "default_net_metering_until")]
    pub net_metering_until: Spanned<String>,
}

fn default_start() -> Spanned<String> {
    Spanned::new(0..0, "01-01".to_owned())
}

fn default_net_metering_until() -> Spanned<String> {
    Spanned::new(0..0, "2026-12-31".to_owned())
}

impl Default for SettlementConfig {
    fn default() -> Self {
        Self {
            start: default_start(),
            move_in: None,
            move_out: None,
            supply_price: None,
            feed_in_price: None,
            fixed_fees: 0.0,
            net_metering_until: default_net_metering_until(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum ShapeSpec {
    Named(Shape),
    Fractions(Vec<f64>),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BundleConfig {
    #[serde(default)]
    pub yearly_kwh: Option<f64>,
    /// "pv", "heating", "household", "flat", or twelve fractions that add up to 1.
    #[serde(default)]
    pub shape: Option<ShapeSpec>,
    /// Twelve monthly amounts, January first (instead of `yearly_kwh` and `shape`).
    #[serde(default)]
    pub monthly_kwh: Option<Vec<f64>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LedgerConfig {
    /// The sled store's directory.
    #[serde(default = "default_store")]
    pub store: PathBuf,
    #[serde(default)]
    pub trust_clock: TrustClock,
    /// How often booked energy is written to the store.
    #[serde(default = "default_flush")]
    pub flush: Dur,
    /// How many days of 15-minute buckets to keep (day buckets are kept for ever).
    #[serde(default = "default_fine_days")]
    pub fine_days: u32,
    #[serde(default)]
    pub pv: Vec<Spanned<String>>,
    #[serde(default)]
    pub household: Vec<Spanned<String>>,
    #[serde(default)]
    pub building_bound: Vec<Spanned<String>>,
    #[serde(default)]
    pub hot_water: Vec<Spanned<String>>,
    #[serde(default)]
    pub grid_import: Vec<Spanned<String>>,
    #[serde(default)]
    pub grid_export: Vec<Spanned<String>>,
}

fn default_store() -> PathBuf {
    PathBuf::from("/var/lib/nomhub/store")
}

fn default_flush() -> Dur {
    Dur(std::time::Duration::from_secs(60))
}

fn default_fine_days() -> u32 {
    42
}

/// Where a problem is (a span in the file) and what it is.
pub type Problem = (Option<std::ops::Range<usize>>, String);

fn date(s: &Spanned<String>, what: &str, problems: &mut Vec<Problem>) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(s.get_ref(), "%Y-%m-%d")
        .map_err(|_| {
            problems.push((
                Some(s.span()),
                format!("{what} `{}` is not a date like \"2026-04-01\"", s.get_ref()),
            ))
        })
        .ok()
}

fn settlement_rule(c: &SettlementConfig, problems: &mut Vec<Problem>) -> SettlementRule {
    let mut rule = SettlementRule {
        move_in: c
            .move_in
            .as_ref()
            .and_then(|d| date(d, "move_in", problems)),
        move_out: c
            .move_out
            .as_ref()
            .and_then(|d| date(d, "move_out", problems)),
        ..SettlementRule::default()
    };
    let start = c.start.get_ref();
    match NaiveDate::parse_from_str(&format!("2001-{start}"), "%Y-%m-%d") {
        Ok(d) => {
            use chrono::Datelike;
            (rule.month, rule.day) = (d.month(), d.day());
        }
        Err(_) if start == "02-29" => problems.push((
            Some(c.start.span()),
            "a settlement year cannot start on 29 February (it is missing three years in four); use \"02-28\" or \"03-01\"".to_owned(),
        )),
        Err(_) => problems.push((
            Some(c.start.span()),
            format!("start `{start}` is not a day like \"04-01\" (MM-DD)"),
        )),
    }
    if let (Some(a), Some(b)) = (rule.move_in, rule.move_out)
        && b < a
    {
        problems.push((
            c.move_out.as_ref().map(Spanned::span),
            format!("move_out {b} is before move_in {a}"),
        ));
    }
    rule
}

fn budget(name: &str, b: &BundleConfig, problems: &mut Vec<Problem>) -> Option<Budget> {
    let kwh = WattHours::from_kwh;
    let bad = |problems: &mut Vec<Problem>, msg: String| {
        problems.push((None, format!("bundle `{name}`: {msg}")));
        None
    };
    match (&b.monthly_kwh, b.yearly_kwh, &b.shape) {
        (Some(m), None, None) => {
            if m.len() != 12 || m.iter().any(|v| !v.is_finite() || *v < 0.0) {
                return bad(
                    problems,
                    format!(
                        "monthly_kwh needs 12 amounts of 0 or more, January first (got {})",
                        m.len()
                    ),
                );
            }
            Some(Budget {
                monthly: std::array::from_fn(|i| kwh(m[i])),
            })
        }
        (None, Some(y), shape) => {
            if !y.is_finite() || y < 0.0 {
                return bad(problems, format!("yearly_kwh {y} must be 0 or more"));
            }
            let weights = match shape {
                None => return bad(problems, "give a `shape` with `yearly_kwh` (\"pv\", \"heating\", \"household\", \"flat\" or 12 fractions)".to_owned()),
                Some(ShapeSpec::Named(s)) => s.weights(),
                Some(ShapeSpec::Fractions(f)) => {
                    let sum: f64 = f.iter().sum();
                    if f.len() != 12 || f.iter().any(|v| !v.is_finite() || *v < 0.0) || (sum - 1.0).abs() > 0.01 {
                        return bad(problems, format!("shape needs 12 fractions of 0 or more that add up to 1 (got {} adding up to {sum:.3})", f.len()));
                    }
                    std::array::from_fn(|i| f[i])
                }
            };
            Some(Budget::from_weights(kwh(y), &weights))
        }
        _ => bad(
            problems,
            "give either `monthly_kwh`, or `yearly_kwh` with a `shape`".to_owned(),
        ),
    }
}

fn terms(
    series: Series,
    list: &[Spanned<String>],
    devices: &[DeviceConfig],
    profiles: &ProfileSet,
    problems: &mut Vec<Problem>,
) -> Vec<Term> {
    let mut out = Vec::new();
    for t in list {
        let text = t.get_ref().trim();
        let (sign, name) = match text.strip_prefix('-') {
            Some(rest) => (-1, rest.trim()),
            None => (1, text.strip_prefix('+').unwrap_or(text).trim()),
        };
        let mut fail = |msg: String| {
            problems.push((
                Some(t.span()),
                format!("ledger.{}: `{text}`: {msg}", series.as_str()),
            ))
        };
        let Some((dev, point)) = name.split_once('.') else {
            fail(
                "write a counter as \"device.point\", with \"-\" in front to subtract it"
                    .to_owned(),
            );
            continue;
        };
        let Some(d) = devices.iter().find(|d| d.id.get_ref().as_str() == dev) else {
            fail(format!("no [[device]] with id `{dev}`"));
            continue;
        };
        let Some(profile) = profiles.get(d.profile.get_ref()) else {
            continue; // the unknown profile is reported with the device
        };
        let Some(p) = profile.file.points.iter().find(|p| p.key.as_str() == point) else {
            fail(format!("profile `{}` has no point `{point}`", profile.id()));
            continue;
        };
        let Some(counter) = p.counter else {
            let counters: Vec<&str> = profile
                .file
                .points
                .iter()
                .filter(|p| p.counter.is_some())
                .map(|p| p.key.as_str())
                .collect();
            fail(format!(
                "`{point}` is not an energy counter; counters of `{}`: {}",
                profile.id(),
                counters.join(", ")
            ));
            continue;
        };
        out.push(Term {
            device: d.id.get_ref().clone(),
            point: p.key.clone(),
            sign,
            max_power_w: counter.max_power_w,
        });
    }
    out
}

/// The sections the ledger is made from, as read.
pub struct Sections<'a> {
    pub dwelling: &'a DwellingConfig,
    pub settlement: &'a SettlementConfig,
    pub bundles: &'a [(Spanned<String>, BundleConfig)],
    pub ledger: &'a LedgerConfig,
    /// `[tariff]`, resolved.
    pub tariff: Option<&'a Tariff>,
}

/// Resolves the ledger sections; problems are errors, warnings are NOM Keur advice.
pub fn resolve(
    sections: &Sections,
    devices: &[DeviceConfig],
    profiles: &ProfileSet,
    problems: &mut Vec<Problem>,
    warnings: &mut Vec<Problem>,
) -> LedgerSetup {
    let Sections {
        dwelling,
        settlement,
        bundles,
        ledger,
        tariff,
    } = *sections;
    let rule = settlement_rule(settlement, problems);
    let net_metering_until = date(
        &settlement.net_metering_until,
        "net_metering_until",
        problems,
    )
    .unwrap_or(NaiveDate::MAX);
    let simple = match (&settlement.supply_price, &settlement.feed_in_price) {
        (Some(s), Some(f)) => Some(Tariff::all_in(
            *s.get_ref(),
            *f.get_ref(),
            settlement.fixed_fees,
            net_metering_until,
        )),
        (None, None) => None,
        (Some(one), None) | (None, Some(one)) => {
            problems.push((
                Some(one.span()),
                "settlement: give both `supply_price` and `feed_in_price` for a forecast in euros"
                    .to_owned(),
            ));
            None
        }
    };
    let tariff = match (tariff, simple) {
        (Some(t), None) => {
            let explicit = settlement.net_metering_until.span() != (0..0);
            if explicit && t.net_metering_until != net_metering_until {
                problems.push((
                    Some(settlement.net_metering_until.span()),
                    "settlement: net_metering_until differs from [tariff]'s; give it in [tariff] only".to_owned(),
                ));
            }
            Some(t.clone())
        }
        // Both: reported with the sections (config::parse).
        (Some(_), Some(_)) => None,
        (None, simple) => simple,
    };
    let net_metering_until = tariff
        .as_ref()
        .map_or(net_metering_until, |t| t.net_metering_until);
    let mut budgets = BTreeMap::new();
    for (name, b) in bundles {
        let id = match BundleId::parse(name.get_ref()) {
            Some(id) if id != BundleId::EnergyUsed => id,
            _ => {
                problems.push((
                    Some(name.span()),
                    format!("unknown bundle `{}`; bundles are pv, household, building_bound and hot_water (energy used is household + building_bound)", name.get_ref()),
                ));
                continue;
            }
        };
        let mut local = Vec::new();
        if let Some(budget) = budget(name.get_ref(), b, &mut local) {
            budgets.insert(id, budget);
        }
        problems.extend(local.into_iter().map(|(_, m)| (Some(name.span()), m)));
    }
    if let (Some(h), Some(b)) = (
        budgets.get(&BundleId::Household),
        budgets.get(&BundleId::BuildingBound),
    ) {
        budgets.insert(BundleId::EnergyUsed, h.add(b));
    }
    nom_keur_warnings(dwelling, &budgets, bundles, warnings);
    let mut series = BTreeMap::new();
    for (s, list) in [
        (Series::Pv, &ledger.pv),
        (Series::Household, &ledger.household),
        (Series::BuildingBound, &ledger.building_bound),
        (Series::HotWater, &ledger.hot_water),
        (Series::GridImport, &ledger.grid_import),
        (Series::GridExport, &ledger.grid_export),
    ] {
        let t = terms(s, list, devices, profiles, problems);
        if !t.is_empty() {
            series.insert(s, t);
        }
    }
    // Household is what the home used minus what the building used, unless metered.
    if !series.contains_key(&Series::Household)
        && let (Some(i), Some(e), Some(pv)) = (
            series.get(&Series::GridImport),
            series.get(&Series::GridExport),
            series.get(&Series::Pv),
        )
    {
        let neg = |ts: &[Term]| {
            ts.iter()
                .map(|t| Term {
                    sign: -t.sign,
                    ..t.clone()
                })
                .collect::<Vec<_>>()
        };
        let mut h: Vec<Term> = i.iter().chain(pv).cloned().collect();
        h.extend(neg(e));
        h.extend(neg(series
            .get(&Series::BuildingBound)
            .map_or(&[][..], Vec::as_slice)));
        series.insert(Series::Household, h);
    }
    if ledger.fine_days == 0 {
        problems.push((None, "ledger: fine_days must be at least 1".to_owned()));
    }
    if ledger.flush.0 < std::time::Duration::from_secs(1) {
        problems.push((None, "ledger: flush must be at least 1s".to_owned()));
    }
    LedgerSetup {
        store: ledger.store.clone(),
        trust_clock: ledger.trust_clock,
        flush: ledger.flush.0,
        fine_days: ledger.fine_days,
        rule,
        net_metering_until,
        tariff,
        budgets,
        series,
        // Set from the resolved `[dwelling]` (config::parse).
        promises: Default::default(),
    }
}

fn nom_keur_warnings(
    dwelling: &DwellingConfig,
    budgets: &BTreeMap<BundleId, Budget>,
    bundles: &[(Spanned<String>, BundleConfig)],
    warnings: &mut Vec<Problem>,
) {
    let span = |id: BundleId| {
        bundles
            .iter()
            .find(|(k, _)| k.get_ref() == id.as_str())
            .map(|(k, _)| k.span())
    };
    if let (Some(area), Some(h)) = (dwelling.floor_area, budgets.get(&BundleId::Household)) {
        let least = calc::household_kwh(area, calc::HOUSEHOLD_MAX_KWH);
        if h.yearly().kwh() + 0.5 < least {
            warnings.push((
                span(BundleId::Household),
                format!(
                    "bundle `household`: {:.0} kWh a year is below the NOM Keur's {least:.0} kWh for {area} m² (26 kWh/m², at least 1,800)",
                    h.yearly().kwh()
                ),
            ));
        }
    }
    if let (Some(persons), Some(hw)) = (dwelling.persons, budgets.get(&BundleId::HotWater)) {
        let least = calc::hot_water_kwh(persons);
        if hw.yearly().kwh() + 0.5 < least {
            warnings.push((
                span(BundleId::HotWater),
                format!(
                    "bundle `hot_water`: {:.0} kWh a year is below the NOM Keur's {least:.0} kWh of heat for {persons} persons (856 kWh each)",
                    hw.yearly().kwh()
                ),
            ));
        }
    }
}
