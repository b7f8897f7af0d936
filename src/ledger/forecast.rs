//! The settlement forecast: net import or export for the settlement year in kWh and
//! euros, with net metering (salderen, until 31 December 2026) and without it.
//!
//! What has happened so far comes from the ledger; the rest of the year from the
//! bundles. How much of the remaining PV is used on the spot follows the share the
//! home used itself so far (30 % until there is enough PV to tell).

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

use super::bundle::Budget;
use super::period::{Period, local_midnight};
use crate::model::WattHours;
use crate::tariff::{QuarterPrice, Tariff};

/// Used for the rest of the year until the ledger has seen this much PV.
pub const MIN_PV_FOR_OWN_SHARE: WattHours = WattHours(20_000);
pub const DEFAULT_OWN_SHARE: f64 = 0.3;

/// Grid flows of one stretch of time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Flows {
    pub import_kwh: f64,
    pub export_kwh: f64,
}

impl Flows {
    pub fn net_kwh(&self) -> f64 {
        self.import_kwh - self.export_kwh
    }
    fn add(self, o: Flows) -> Flows {
        Flows {
            import_kwh: self.import_kwh + o.import_kwh,
            export_kwh: self.export_kwh + o.export_kwh,
        }
    }
}

/// Which rules settle the year.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Regime {
    NetMetering,
    NoNetMetering,
    /// Net metering up to its last day, gross after it.
    Split,
}

/// Euros booked for grid import and export over a stretch of time (see the money
/// series), or estimated for the rest of the year.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Money {
    /// What the import cost.
    pub import_eur: f64,
    /// What the export earned without net metering.
    pub earned_eur: f64,
    /// What the export offsets under net metering.
    pub netted_eur: f64,
    /// Of import and earned, what was priced without the day-ahead price.
    pub fallback_eur: f64,
}

impl Money {
    fn add(self, o: Money) -> Money {
        Money {
            import_eur: self.import_eur + o.import_eur,
            earned_eur: self.earned_eur + o.earned_eur,
            netted_eur: self.netted_eur + o.netted_eur,
            fallback_eur: self.fallback_eur + o.fallback_eur,
        }
    }

    /// `f` priced at `p` (the rest of a year, at the contract's average price).
    fn at(f: Flows, p: &QuarterPrice) -> Money {
        Money {
            import_eur: f.import_kwh * p.import_eur_kwh,
            earned_eur: f.export_kwh * p.export_eur_kwh,
            netted_eur: f.export_kwh * p.import_eur_kwh,
            fallback_eur: 0.0,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Forecast {
    pub period: Period,
    /// So far, measured.
    pub so_far: Flows,
    /// The whole settlement year, so far plus the bundles' rest.
    pub projected: Flows,
    pub net_kwh: f64,
    /// The share of PV used on the spot assumed for the rest of the year.
    pub own_share: f64,
    pub regime: Regime,
    /// What the grid import and export so far came to under the regime that applies
    /// (energy only; negative: money back).
    pub so_far_eur: Option<f64>,
    /// Of the money so far, what was priced at the contract's average for want of the
    /// day-ahead price.
    pub fallback_eur: Option<f64>,
    /// Euros for the year under the regime that applies, fixed costs, EPV and the tax
    /// credit included (negative: money back).
    pub eur: Option<f64>,
    /// Euros as if net metering applied to the whole year.
    pub eur_with_net_metering: Option<f64>,
    /// Euros as if there were no net metering all year.
    pub eur_without_net_metering: Option<f64>,
}

/// What the forecast needs from the ledger.
pub struct Inputs<'a> {
    pub period: Period,
    pub now: DateTime<Utc>,
    /// Measured flows before the end of net metering and from it on.
    pub before: Flows,
    pub after: Flows,
    /// What they were booked at (zero without a tariff).
    pub before_money: Money,
    pub after_money: Money,
    /// PV measured so far.
    pub pv_so_far: WattHours,
    pub pv: Option<&'a Budget>,
    pub used: Option<&'a Budget>,
    pub net_metering_until: NaiveDate,
    pub tariff: Option<&'a Tariff>,
}

/// A stretch settled with net metering: exported kWh offset imported ones at the
/// import price; a surplus earns what export earns.
fn with_net_metering(f: Flows, m: Money) -> f64 {
    if f.export_kwh <= f.import_kwh || f.export_kwh <= 0.0 {
        m.import_eur - m.netted_eur
    } else {
        let offset = f.import_kwh / f.export_kwh;
        m.import_eur - offset * m.netted_eur - (1.0 - offset) * m.earned_eur
    }
}

/// A stretch settled without net metering: every kWh at its own price.
fn without_net_metering(m: Money) -> f64 {
    m.import_eur - m.earned_eur
}

pub fn forecast(i: &Inputs) -> Forecast {
    let (start, end) = (i.period.start_instant(), i.period.end_instant());
    let boundary = local_midnight(i.net_metering_until + chrono::Days::new(1)).clamp(start, end);
    let now = i.now.clamp(start, end);
    let so_far = i.before.add(i.after);
    let pv_seen = i.pv_so_far.kwh();
    let own_share = if i.pv_so_far >= MIN_PV_FOR_OWN_SHARE {
        ((pv_seen - so_far.export_kwh) / pv_seen).clamp(0.0, 1.0)
    } else {
        DEFAULT_OWN_SHARE
    };
    // The rest of the year from the bundles, on each side of the boundary.
    let rest = |from: DateTime<Utc>, to: DateTime<Utc>| {
        let pv = i.pv.map_or(0.0, |b| b.between(from, to).kwh());
        let used = i.used.map_or(0.0, |b| b.between(from, to).kwh());
        let direct = (pv * own_share).min(used);
        Flows {
            import_kwh: used - direct,
            export_kwh: pv - direct,
        }
    };
    let (rest_before, rest_after) = (rest(now, boundary.max(now)), rest(boundary.max(now), end));
    let before = i.before.add(rest_before);
    let after = i.after.add(rest_after);
    let projected = before.add(after);
    let regime = if boundary >= end {
        Regime::NetMetering
    } else if boundary <= start {
        Regime::NoNetMetering
    } else {
        Regime::Split
    };
    let mut out = Forecast {
        period: i.period,
        so_far,
        projected,
        net_kwh: projected.net_kwh(),
        own_share,
        regime,
        so_far_eur: None,
        fallback_eur: None,
        eur: None,
        eur_with_net_metering: None,
        eur_without_net_metering: None,
    };
    let Some(t) = i.tariff else {
        return out;
    };
    // The rest at the contract's average prices in force on each side.
    let money_before = i
        .before_money
        .add(Money::at(rest_before, &t.price(now.min(boundary), None)));
    let money_after = i
        .after_money
        .add(Money::at(rest_after, &t.price(boundary.max(now), None)));
    let days = (end - start).num_days();
    let fixed = t.fixed_costs(i.period.start, days)
        + t.band_cost(projected.export_kwh) * days as f64 / 365.0;
    out.so_far_eur =
        Some(with_net_metering(i.before, i.before_money) + without_net_metering(i.after_money));
    out.fallback_eur = Some(i.before_money.fallback_eur + i.after_money.fallback_eur);
    out.eur =
        Some(with_net_metering(before, money_before) + without_net_metering(money_after) + fixed);
    let all = money_before.add(money_after);
    out.eur_with_net_metering = Some(with_net_metering(projected, all) + fixed);
    out.eur_without_net_metering = Some(without_net_metering(all) + fixed);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::period::SettlementRule;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    static T: std::sync::LazyLock<Tariff> =
        std::sync::LazyLock::new(|| Tariff::all_in(0.30, 0.05, 0.0, d(2026, 12, 31)));

    /// The ledger's money for `f` under the all-in tariff.
    fn money(f: Flows) -> Money {
        Money::at(f, &T.price(local_midnight(d(2026, 6, 1)), None))
    }

    fn inputs(period: Period, now: NaiveDate, before: Flows, after: Flows) -> Inputs<'static> {
        Inputs {
            period,
            now: local_midnight(now),
            before,
            after,
            before_money: money(before),
            after_money: money(after),
            pv_so_far: WattHours(0),
            pv: None,
            used: None,
            net_metering_until: d(2026, 12, 31),
            tariff: Some(&T),
        }
    }

    #[test]
    fn net_metering_nets_and_after_it_only_feed_in_is_paid() {
        let flows = Flows {
            import_kwh: 3000.0,
            export_kwh: 2800.0,
        };
        let zero = Flows::default();
        // 2026: the whole year under net metering, the year is over.
        let y2026 = Period::year(2026);
        let f = forecast(&inputs(y2026, d(2027, 1, 5), flows, zero));
        assert_eq!(f.regime, Regime::NetMetering);
        assert!((f.eur.unwrap() - 200.0 * 0.30).abs() < 1e-6);
        // More export than import: paid the feed-in price for the surplus.
        let surplus = Flows {
            import_kwh: 2000.0,
            export_kwh: 2500.0,
        };
        let f = forecast(&inputs(y2026, d(2027, 1, 5), surplus, zero));
        assert!((f.eur.unwrap() + 500.0 * 0.05).abs() < 1e-6);
        // 2027: no netting.
        let f = forecast(&inputs(Period::year(2027), d(2028, 1, 5), zero, flows));
        assert_eq!(f.regime, Regime::NoNetMetering);
        assert!((f.eur.unwrap() - (3000.0 * 0.30 - 2800.0 * 0.05)).abs() < 1e-6);
        assert!((f.eur_with_net_metering.unwrap() - 60.0).abs() < 1e-6);
    }

    #[test]
    fn a_settlement_year_across_new_year_2027_is_split() {
        let rule = SettlementRule {
            month: 7,
            day: 1,
            ..SettlementRule::default()
        };
        let p = Period::settlement(d(2026, 8, 1), &rule);
        let before = Flows {
            import_kwh: 500.0,
            export_kwh: 1500.0,
        };
        let after = Flows {
            import_kwh: 2000.0,
            export_kwh: 600.0,
        };
        let f = forecast(&inputs(p, d(2027, 7, 1), before, after));
        assert_eq!(f.regime, Regime::Split);
        let want = -1000.0 * 0.05 + (2000.0 * 0.30 - 600.0 * 0.05);
        assert!((f.eur.unwrap() - want).abs() < 1e-6, "{:?}", f.eur);
    }

    #[test]
    fn the_rest_of_the_year_comes_from_the_bundles() {
        let flat = Budget::from_weights(WattHours(3_650_000), &crate::ledger::calc::DAYS);
        let mut i = inputs(
            Period::year(2027),
            d(2027, 1, 1),
            Flows::default(),
            Flows::default(),
        );
        i.used = Some(&flat);
        i.pv = Some(&flat);
        let f = forecast(&i);
        // Same PV as use, 30 % of PV used on the spot: 70 % imported and 70 % exported.
        assert!(
            (f.projected.import_kwh - 2555.0).abs() < 1.0,
            "{:?}",
            f.projected
        );
        assert!((f.projected.export_kwh - 2555.0).abs() < 1.0);
        assert!(f.net_kwh.abs() < 1.0);
        assert!((f.eur.unwrap() - 2555.0 * 0.25).abs() < 1.0);
    }
}
