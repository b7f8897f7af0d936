//! `/api/v1/`: what the pages show, as JSON (docs/openapi.yaml).

use serde::Serialize;

use crate::control::ControlStatus;
use crate::ledger::{LedgerStatus, PeriodKind, Position};
use crate::live::Live;
use crate::strategy::Settings;
use crate::strategy::smart::Source;

/// `/api/v1/live`: the flows now. Power in W (grid + import, − export), temperatures in °C.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct LiveView {
    pub pv_w: Option<f64>,
    pub grid_w: Option<f64>,
    pub home_w: Option<f64>,
    pub heat_pump_w: Option<f64>,
    pub tank_c: Option<f64>,
    pub outdoor_c: Option<f64>,
    pub room_c: Option<f64>,
}

impl From<&Live> for LiveView {
    fn from(l: &Live) -> Self {
        // To `per` steps per unit: 1 for W, 10 for °C.
        let round = |x: f64, per: f64| (x * per).round() / per;
        Self {
            pv_w: l.pv_power.map(|w| round(w.0, 1.0)),
            grid_w: l.grid_power.map(|w| round(w.0, 1.0)),
            home_w: l.home_power.map(|w| round(w.0, 1.0)),
            heat_pump_w: l.heat_pump_power.map(|w| round(w.0, 1.0)),
            tank_c: l.tank_temperature.map(|c| round(c.0, 10.0)),
            outdoor_c: l.outdoor_temperature.map(|c| round(c.0, 10.0)),
            room_c: l.room_temperature.map(|c| round(c.0, 10.0)),
        }
    }
}

/// One bundle in one period, kWh.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct BundleView {
    pub bundle: &'static str,
    pub period: &'static str,
    /// First day, and the first day after the period (local dates).
    pub start: String,
    pub end: String,
    pub used_kwh: f64,
    pub bundle_kwh: f64,
    /// The bundle of the time already past; equal to the bundle once the period is over.
    pub expected_kwh: f64,
    pub projected_kwh: f64,
    pub remaining_kwh: f64,
    /// `on_track`, `above` or `below` the expected position.
    pub status: &'static str,
    /// Whether the status is good news (for PV, above is good).
    pub good: bool,
    pub more_is_better: bool,
    pub running: bool,
    /// Nothing was booked in the period (before nomhub, or the ledger was empty then).
    pub no_data: bool,
    /// The first day booked, when the period began before it: `expected_kwh` (and a
    /// closed period's verdict) count from there.
    pub data_from: Option<String>,
}

pub fn period_kind(s: &str) -> Option<PeriodKind> {
    [PeriodKind::Month, PeriodKind::Year, PeriodKind::Settlement]
        .into_iter()
        .find(|k| k.as_str() == s)
}

/// `/api/v1/bundles?period=…&offset=…`: every bundle in a period.
pub fn bundles(positions: &[Position]) -> Vec<BundleView> {
    positions
        .iter()
        .map(|p| BundleView {
            bundle: p.bundle_id.as_str(),
            period: p.period.kind.as_str(),
            start: p.period.start.to_string(),
            end: p.period.end.to_string(),
            used_kwh: kwh(p.used),
            bundle_kwh: kwh(p.bundle),
            expected_kwh: kwh(p.expected),
            projected_kwh: kwh(p.projected),
            remaining_kwh: kwh(p.remaining),
            status: match p.status {
                crate::ledger::Status::OnTrack => "on_track",
                crate::ledger::Status::Above => "above",
                crate::ledger::Status::Below => "below",
            },
            good: p.good,
            more_is_better: p.bundle_id.more_is_better(),
            running: p.running,
            no_data: !p.running && p.used.0 == 0 && p.estimated.0 == 0,
            data_from: p.data_from.map(|d| d.to_string()),
        })
        .collect()
}

/// `/api/v1/strategy`: the hot-water strategy's mode, settings and why.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct StrategyView {
    pub mode: &'static str,
    pub settings: std::collections::BTreeMap<&'static str, f64>,
    /// The strategy's last decision and why (empty without `[control]`).
    pub reason: String,
    /// The same as data (`why` names the case), for other languages.
    pub why: crate::strategy::Why,
    /// Whether the strategy has a charge under way.
    pub charging: bool,
    /// Whether smart mode plans with current data (false: off, boost, handed back).
    pub planning: bool,
    /// Whether the strategy has seen less than a day of the dwelling (it learns the
    /// sun and the draws from what it sees, so it sees little ahead yet).
    pub learning: bool,
    /// The charge smart mode expects next (null while one runs or none is needed
    /// within a day and a half).
    pub next_charge: Option<NextChargeView>,
    /// How the hot water stands against the household's large draws (null without
    /// `[control]` or before the strategy's first quarter hour).
    pub comfort: Option<ComfortView>,
    /// The sun forecast the strategy holds (null before one came; `current` false
    /// when it no longer covers the coming hour and the strategy plans with the sun
    /// it learned).
    pub forecast: Option<crate::strategy::sun::ForecastSummary>,
    /// The heat pump's SG Ready state (null without `[control.sg_ready]`).
    pub sg_ready: Option<SgReadyView>,
    /// Every point nomhub sets, with its value, who set it and why.
    pub points: Vec<PointView>,
}

/// The state on the heat pump's SG Ready input: `lock`, `normal`, `recommend`, `force`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SgReadyView {
    /// What the device's points show (null while unknown).
    pub shown: Option<crate::model::SgState>,
    /// What nomhub signals.
    pub wanted: crate::model::SgState,
    pub since: Option<chrono::DateTime<chrono::Utc>>,
    pub why: String,
}

/// The hot water left against what a large draw takes.
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct ComfortView {
    /// Hot water the tank probably holds (at or above 45 °C), kWh.
    pub usable_kwh: f64,
    /// What the household's large draws take within an hour (nine days in ten stay
    /// under it), kWh; 0 before a day has been seen.
    pub large_draw_kwh: f64,
    /// A large draw now would run the tank cold (the strategy heats).
    pub at_risk: bool,
}

/// When the next charge is expected, and where its heat comes from.
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct NextChargeView {
    /// The start of the quarter hour it is expected in.
    pub at: chrono::DateTime<chrono::Utc>,
    pub source: HeatSource,
}

#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum HeatSource {
    Sun,
    /// From the grid: the tank runs low before the sun comes.
    Grid,
}

/// A point nomhub sets: its value, who set it and why.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PointView {
    pub device: String,
    pub point: String,
    pub value: f64,
    pub by: String,
    pub why: String,
}

pub fn strategy(settings: &Settings, control: Option<&ControlStatus>) -> StrategyView {
    StrategyView {
        mode: settings.mode.as_str(),
        settings: crate::strategy::Setting::ALL
            .into_iter()
            .map(|s| (s.key(), settings.get(s)))
            .collect(),
        reason: control.map(|c| c.strategy.clone()).unwrap_or_default(),
        why: control.map(|c| c.why).unwrap_or_default(),
        charging: control.is_some_and(|c| c.charging),
        planning: control.is_some_and(|c| c.planning),
        learning: control.is_some_and(|c| c.learning),
        next_charge: control.and_then(|c| c.next_charge).map(|n| NextChargeView {
            at: n.at,
            source: match n.source {
                Source::Sun => HeatSource::Sun,
                Source::Grid => HeatSource::Grid,
            },
        }),
        forecast: control.and_then(|c| c.forecast),
        sg_ready: control
            .and_then(|c| c.sg_ready.as_ref())
            .map(|s| SgReadyView {
                shown: s.shown,
                wanted: s.wanted,
                since: s.since,
                why: s.why.clone(),
            }),
        comfort: control.and_then(|c| c.comfort).map(|c| ComfortView {
            usable_kwh: c.usable_kwh,
            large_draw_kwh: c.large_draw_kwh,
            at_risk: c.at_risk,
        }),
        points: control
            .map(|c| {
                c.points
                    .iter()
                    .map(|p| PointView {
                        device: p.device.clone(),
                        point: p.point.clone(),
                        value: p.value,
                        by: p.by.clone(),
                        why: p.why.clone(),
                    })
                    .collect()
            })
            .unwrap_or_default(),
    }
}

/// kWh from Wh, to a tenth.
fn kwh(wh: crate::model::WattHours) -> f64 {
    (wh.0 as f64 / 100.0).round() / 10.0
}

/// `/api/v1/settlement`: the settlement year's forecast.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SettlementView {
    /// First day, and the first day after the settlement year.
    pub start: chrono::NaiveDate,
    pub end: chrono::NaiveDate,
    pub import_so_far_kwh: f64,
    pub export_so_far_kwh: f64,
    pub import_projected_kwh: f64,
    pub export_projected_kwh: f64,
    /// Projected import minus export over the whole year.
    pub net_kwh: f64,
    /// `net_metering`, `no_net_metering` or `split` (net metering ends inside the year).
    pub regime: crate::ledger::forecast::Regime,
    /// Euros for the year under the rules that apply (negative: money back); null
    /// without prices in the config.
    pub eur: Option<f64>,
    pub eur_with_net_metering: Option<f64>,
    pub eur_without_net_metering: Option<f64>,
}

/// With a tariff: prices now, next hour, today's and tomorrow's, and what the grid came
/// to today and this month.
#[derive(Debug, Clone, Serialize)]
pub struct PricesView {
    #[serde(flatten)]
    pub outlook: crate::prices::Outlook,
    /// What the grid came to today and this month.
    pub cost_today: Option<crate::ledger::PeriodEuros>,
    pub cost_month: Option<crate::ledger::PeriodEuros>,
}

pub fn settlement(status: &LedgerStatus) -> Option<SettlementView> {
    let f = status.forecast.as_ref()?;
    let r1 = |x: f64| (x * 10.0).round() / 10.0;
    let eur = |x: Option<f64>| x.map(|e| (e * 100.0).round() / 100.0);
    Some(SettlementView {
        start: f.period.start,
        end: f.period.end,
        import_so_far_kwh: r1(f.so_far.import_kwh),
        export_so_far_kwh: r1(f.so_far.export_kwh),
        import_projected_kwh: r1(f.projected.import_kwh),
        export_projected_kwh: r1(f.projected.export_kwh),
        net_kwh: r1(f.net_kwh),
        regime: f.regime,
        eur: eur(f.eur),
        eur_with_net_metering: eur(f.eur_with_net_metering),
        eur_without_net_metering: eur(f.eur_without_net_metering),
    })
}

/// `/api/v1/guarantees`: what the contract guarantees against what the home does.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct GuaranteesView {
    /// Null without `pv_guarantee_kwh`, a PV bundle or a ledger.
    pub pv: Option<PvGuarantee>,
    /// Null where no room temperature is measured.
    pub room: Option<RoomGuarantee>,
    /// The running settlement year day by day: days of the heating season the rooms
    /// were below the agreed temperature, days the hot water ran short. Null without a
    /// ledger.
    pub days: Option<crate::ledger::comfort::ComfortSummary>,
    /// Every settlement year over: its PV against the guarantee, as kept when it ended.
    pub pv_years: Vec<crate::ledger::comfort::PvVerdict>,
}

/// The minimum PV yield, over the running settlement year.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PvGuarantee {
    /// First day, and the first day after the settlement year.
    pub start: chrono::NaiveDate,
    pub end: chrono::NaiveDate,
    /// The yearly minimum the contract names.
    pub yearly_kwh: f64,
    /// The minimum for this settlement year (less for a partial year).
    pub guaranteed_kwh: f64,
    /// The minimum for the time already past, spread like the PV bundle.
    pub guaranteed_by_now_kwh: f64,
    pub generated_kwh: f64,
    pub projected_kwh: f64,
    /// Whether the PV has generated at least the minimum for the time past.
    pub on_course: bool,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RoomGuarantee {
    pub agreed_c: f64,
    pub measured_c: f64,
    /// Measured at least the agreed temperature (less [`ROOM_TOLERANCE_K`]).
    pub met: bool,
}

pub use crate::ledger::comfort::ROOM_TOLERANCE_K;

/// `pv_yearly`: the PV bundle's year, which spreads the guarantee over the months.
pub fn guarantees(
    home: &crate::config::Home,
    status: Option<&LedgerStatus>,
    pv_yearly: Option<crate::model::WattHours>,
    live: &LiveView,
) -> GuaranteesView {
    use crate::ledger::BundleId;
    let pv = (|| {
        let guarantee = home.pv_guarantee?;
        let yearly = pv_yearly?;
        let p = status?
            .positions
            .iter()
            .find(|p| p.period.kind == PeriodKind::Settlement && p.bundle_id == BundleId::Pv)?;
        if yearly.0 <= 0 {
            return None;
        }
        let share = |wh: crate::model::WattHours| {
            crate::model::WattHours(
                (guarantee.0 as f64 * wh.0 as f64 / yearly.0 as f64).round() as i64
            )
        };
        let by_now = share(p.expected);
        Some(PvGuarantee {
            start: p.period.start,
            end: p.period.end,
            yearly_kwh: kwh(guarantee),
            guaranteed_kwh: kwh(share(p.bundle)),
            guaranteed_by_now_kwh: kwh(by_now),
            generated_kwh: kwh(p.used),
            projected_kwh: kwh(p.projected),
            on_course: p.used >= by_now,
        })
    })();
    let room = live.room_c.map(|measured| {
        let agreed = home.room_temperature.0;
        RoomGuarantee {
            agreed_c: agreed,
            measured_c: measured,
            met: measured >= agreed - ROOM_TOLERANCE_K,
        }
    });
    GuaranteesView {
        pv,
        room,
        days: status.map(|s| s.comfort.clone()),
        pv_years: status.map(|s| s.pv_verdicts.clone()).unwrap_or_default(),
    }
}

/// `/api/v1/year-bundles`: every bundle's twelve months (January first), kWh.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct YearBundle {
    pub bundle: &'static str,
    pub monthly_kwh: [f64; 12],
    pub yearly_kwh: f64,
    pub more_is_better: bool,
}

pub fn year_bundles(setup: &crate::config::LedgerSetup) -> Vec<YearBundle> {
    setup
        .budgets
        .iter()
        .map(|(id, b)| YearBundle {
            bundle: id.as_str(),
            monthly_kwh: b.monthly.map(kwh),
            yearly_kwh: kwh(b.yearly()),
            more_is_better: id.more_is_better(),
        })
        .collect()
}

/// A document in the manuals folder.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Manual {
    pub name: String,
    pub bytes: u64,
    /// Where the dashboard serves it.
    pub href: String,
}

/// The manuals folder's files (not hidden ones, not folders), by name.
pub fn manuals(dir: Option<&std::path::Path>) -> Vec<Manual> {
    use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
    // A path segment: everything but unreserved characters encoded.
    const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~');
    let Some(entries) = dir.and_then(|d| std::fs::read_dir(d).ok()) else {
        return Vec::new();
    };
    let mut out: Vec<Manual> = entries
        .filter_map(Result::ok)
        .filter_map(|e| {
            let meta = e.metadata().ok().filter(std::fs::Metadata::is_file)?;
            let name = e.file_name().into_string().ok()?;
            (!name.starts_with('.')).then(|| Manual {
                href: format!("/manuals/{}", utf8_percent_encode(&name, SEGMENT)),
                name,
                bytes: meta.len(),
            })
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// `/api/v1/dwelling`: the home, its documents, who to call.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct DwellingView {
    pub address: Option<String>,
    pub manuals: Vec<Manual>,
    pub contacts: Vec<crate::config::Contact>,
    pub pv_guarantee_kwh: Option<f64>,
    pub room_temperature_c: f64,
}

pub fn dwelling(home: &crate::config::Home) -> DwellingView {
    DwellingView {
        address: home.address.clone(),
        manuals: manuals(home.manuals.as_deref()),
        contacts: home.contacts.clone(),
        pv_guarantee_kwh: home.pv_guarantee.map(kwh),
        room_temperature_c: home.room_temperature.0,
    }
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;

    use super::*;
    use crate::config::Home;
    use crate::ledger::Period;
    use crate::ledger::{BundleId, Status};
    use crate::model::{Celsius, WattHours};

    fn live(room_c: Option<f64>) -> LiveView {
        LiveView {
            pv_w: None,
            grid_w: None,
            home_w: None,
            heat_pump_w: None,
            tank_c: None,
            outdoor_c: None,
            room_c,
        }
    }

    /// The ledger's status with the settlement year's PV position.
    fn status(used_kwh: i64, expected_kwh: i64, bundle_kwh: i64) -> LedgerStatus {
        let d = |m| NaiveDate::from_ymd_opt(2026, m, 1).unwrap_or_default();
        LedgerStatus {
            at: None,
            clock_trusted: true,
            positions: vec![Position {
                bundle_id: BundleId::Pv,
                period: Period {
                    kind: PeriodKind::Settlement,
                    start: d(4),
                    end: d(10),
                },
                used: WattHours(used_kwh * 1000),
                estimated: WattHours(0),
                bundle: WattHours(bundle_kwh * 1000),
                expected: WattHours(expected_kwh * 1000),
                projected: WattHours(used_kwh * 1000),
                remaining: WattHours(0),
                status: Status::OnTrack,
                good: true,
                running: true,
                data_from: None,
            }],
            lifetime: Default::default(),
            ..LedgerStatus::default()
        }
    }

    #[test]
    fn the_pv_guarantee_follows_the_bundle_and_a_partial_year_gets_its_share() {
        let home = Home {
            pv_guarantee: Some(WattHours(4_000_000)),
            ..Home::default()
        };
        // A settlement year of six months holding 3000 of the bundle's 5000 kWh;
        // 1000 kWh of the bundle is past, 700 kWh generated.
        let g = guarantees(
            &home,
            Some(&status(700, 1000, 3000)),
            Some(WattHours(5_000_000)),
            &live(None),
        );
        let pv = g.pv.unwrap_or_else(|| panic!("a PV guarantee"));
        assert_eq!(pv.yearly_kwh, 4000.0);
        assert_eq!(pv.guaranteed_kwh, 2400.0);
        assert_eq!(pv.guaranteed_by_now_kwh, 800.0);
        assert!(!pv.on_course, "700 of 800 kWh");
        let g = guarantees(
            &home,
            Some(&status(800, 1000, 3000)),
            Some(WattHours(5_000_000)),
            &live(None),
        );
        assert!(g.pv.is_some_and(|p| p.on_course), "800 of 800 kWh");
        // No guarantee, or no PV bundle: nothing to show.
        let none = guarantees(&Home::default(), Some(&status(1, 1, 1)), None, &live(None));
        assert_eq!((none.pv, none.room), (None, None));
    }

    #[test]
    fn the_room_guarantee_allows_half_a_degree() {
        let home = Home {
            room_temperature: Celsius(20.0),
            ..Home::default()
        };
        let met = |c| {
            guarantees(&home, None, None, &live(Some(c)))
                .room
                .map(|r| r.met)
        };
        assert_eq!(met(20.5), Some(true));
        assert_eq!(met(19.5), Some(true));
        assert_eq!(met(19.4), Some(false));
        assert_eq!(guarantees(&home, None, None, &live(None)).room, None);
    }
}
