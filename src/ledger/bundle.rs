//! Bundles: a yearly amount of kWh with a monthly shape, and where a period stands
//! against it (used, bundle, expected so far, projected, remaining, status).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::period::Period;
use crate::model::WattHours;

/// The ledger's series: what every counter delta is booked under.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Series {
    /// PV generation.
    Pv,
    /// What the residents use themselves: appliances, cooking, lighting.
    Household,
    /// What the building uses to work: heat pump, ventilation, boiler.
    BuildingBound,
    /// Hot water (heat delivered to the tank, or as configured).
    HotWater,
    GridImport,
    GridExport,
    /// What the grid import cost under the tariff (µ€; `estimated`: priced without the
    /// quarter hour's day-ahead price).
    ImportCost,
    /// What the export earned without net metering: compensation less feed-in costs (µ€).
    ExportEarned,
    /// What the export offsets under net metering: its kWh at the import price (µ€).
    ExportNetted,
}

impl Series {
    pub const ALL: [Series; 6] = [
        Series::Pv,
        Series::Household,
        Series::BuildingBound,
        Series::HotWater,
        Series::GridImport,
        Series::GridExport,
    ];

    /// The money series, booked beside grid import and export when a tariff is set;
    /// their buckets hold micro-euros.
    pub const MONEY: [Series; 3] = [
        Series::ImportCost,
        Series::ExportEarned,
        Series::ExportNetted,
    ];

    /// Every series the store holds: energy, then money.
    pub const STORED: [Series; 9] = [
        Series::Pv,
        Series::Household,
        Series::BuildingBound,
        Series::HotWater,
        Series::GridImport,
        Series::GridExport,
        Series::ImportCost,
        Series::ExportEarned,
        Series::ExportNetted,
    ];

    pub fn is_money(self) -> bool {
        Series::MONEY.contains(&self)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Series::Pv => "pv",
            Series::Household => "household",
            Series::BuildingBound => "building_bound",
            Series::HotWater => "hot_water",
            Series::GridImport => "grid_import",
            Series::GridExport => "grid_export",
            Series::ImportCost => "import_cost",
            Series::ExportEarned => "export_earned",
            Series::ExportNetted => "export_netted",
        }
    }

    pub fn parse(s: &str) -> Option<Series> {
        Series::STORED.into_iter().find(|x| x.as_str() == s)
    }
}

/// The bundles a resident sees. "Energy used" is household plus building-bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BundleId {
    Pv,
    EnergyUsed,
    Household,
    BuildingBound,
    HotWater,
}

impl BundleId {
    pub const ALL: [BundleId; 5] = [
        BundleId::Pv,
        BundleId::EnergyUsed,
        BundleId::Household,
        BundleId::BuildingBound,
        BundleId::HotWater,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            BundleId::Pv => "pv",
            BundleId::EnergyUsed => "energy_used",
            BundleId::Household => "household",
            BundleId::BuildingBound => "building_bound",
            BundleId::HotWater => "hot_water",
        }
    }

    pub fn parse(s: &str) -> Option<BundleId> {
        BundleId::ALL.into_iter().find(|x| x.as_str() == s)
    }

    /// The series that add up to this bundle.
    pub fn series(self) -> &'static [Series] {
        match self {
            BundleId::Pv => &[Series::Pv],
            BundleId::EnergyUsed => &[Series::Household, Series::BuildingBound],
            BundleId::Household => &[Series::Household],
            BundleId::BuildingBound => &[Series::BuildingBound],
            BundleId::HotWater => &[Series::HotWater],
        }
    }

    /// PV is the inverse case: more is better.
    pub fn more_is_better(self) -> bool {
        self == BundleId::Pv
    }
}

/// A yearly bundle as twelve monthly amounts (January first) in whole Wh.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Budget {
    pub monthly: [WattHours; 12],
}

impl Budget {
    /// Splits `yearly` over the months by `weights` so the months add up to it exactly.
    pub fn from_weights(yearly: WattHours, weights: &[f64; 12]) -> Self {
        let total: f64 = weights.iter().sum();
        let shares = weights.map(|w| if total > 0.0 { w / total } else { 1.0 / 12.0 });
        let parts = split_months(yearly.0, &shares);
        Self {
            monthly: parts.map(WattHours),
        }
    }

    pub fn yearly(&self) -> WattHours {
        WattHours(self.monthly.iter().map(|w| w.0).sum())
    }

    pub fn add(&self, other: &Budget) -> Budget {
        let mut monthly = self.monthly;
        for (m, o) in monthly.iter_mut().zip(other.monthly) {
            m.0 += o.0;
        }
        Budget { monthly }
    }

    /// The bundle for `[from, to)`: whole months count in full, a month cut short
    /// counts by the share of its time (so a 25-hour day gets a little more).
    pub fn between(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> WattHours {
        if to <= from {
            return WattHours(0);
        }
        let span = Period {
            kind: super::period::PeriodKind::Day,
            start: super::period::local_date(from),
            end: super::period::local_date(to) + chrono::Days::new(1),
        };
        let mut whole = 0i64;
        let mut partial = 0f64;
        for m in span.months() {
            use chrono::Datelike;
            let month = Period::month(m.start.year(), m.start.month());
            let (ms, me) = (month.start_instant(), month.end_instant());
            let (a, b) = (ms.max(from), me.min(to));
            if b <= a {
                continue;
            }
            let wh = self.monthly[m.start.month0() as usize].0;
            if a == ms && b == me {
                whole += wh;
            } else {
                partial += wh as f64 * (b - a).num_milliseconds() as f64
                    / (me - ms).num_milliseconds() as f64;
            }
        }
        WattHours(whole + partial.round() as i64)
    }
}

/// Splits `total` into parts proportional to `shares` (summing to 1) that add up to
/// `total` exactly (largest remainder).
pub fn split_exact(total: i64, shares: &[f64]) -> Vec<i64> {
    let exact: Vec<f64> = shares.iter().map(|s| total as f64 * s).collect();
    let mut parts: Vec<i64> = exact.iter().map(|x| x.floor() as i64).collect();
    let mut left = total - parts.iter().sum::<i64>();
    let mut order: Vec<usize> = (0..parts.len()).collect();
    order.sort_by(|&a, &b| {
        let (ra, rb) = (exact[a] - exact[a].floor(), exact[b] - exact[b].floor());
        rb.total_cmp(&ra)
    });
    // Floors fall short by less than one per part, so one pass places the rest.
    for i in order.into_iter().cycle().take(parts.len() * 2) {
        if left == 0 {
            break;
        }
        let step = left.signum();
        parts[i] += step;
        left -= step;
    }
    parts
}

/// [`split_exact`] into twelve months.
pub fn split_months(total: i64, shares: &[f64; 12]) -> [i64; 12] {
    let parts = split_exact(total, shares);
    std::array::from_fn(|i| parts[i])
}

/// How a period is going against the expected position.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    OnTrack,
    Above,
    Below,
}

/// Where a bundle stands in one period.
#[derive(Debug, Clone, Serialize)]
pub struct Position {
    pub bundle_id: BundleId,
    pub period: Period,
    pub used: WattHours,
    /// The part of `used` that was apportioned over a gap rather than measured.
    pub estimated: WattHours,
    pub bundle: WattHours,
    /// The bundle of the time already past (equal to `bundle` once the period is over).
    pub expected: WattHours,
    /// Where the period will end if the rest goes as the bundle's shape, scaled by how
    /// the period has gone so far.
    pub projected: WattHours,
    /// Bundle minus used (negative once used is over the bundle).
    pub remaining: WattHours,
    pub status: Status,
    /// Whether the status is good news: below for use, above for PV.
    pub good: bool,
    /// Whether `now` lies inside the period.
    pub running: bool,
    /// The first day booked, when that is inside the period: the expected position and
    /// a closed period's verdict count from there (nothing was measured before it).
    pub data_from: Option<chrono::NaiveDate>,
}

/// Within this share of the expected position a period is "on track".
pub const ON_TRACK_BAND: f64 = 0.05;
/// ... or within this much, whichever is larger (so a new period is not "above" at once).
pub const ON_TRACK_MIN: WattHours = WattHours(500);

impl Position {
    pub fn new(
        bundle_id: BundleId,
        period: Period,
        budget: &Budget,
        used: WattHours,
        estimated: WattHours,
        now: DateTime<Utc>,
    ) -> Self {
        Self::since(bundle_id, period, budget, used, estimated, now, None)
    }

    /// As [`Position::new`], with the first day anything was booked: a period that
    /// began before it expects only the bundle of the days since (a year whose first
    /// three months came before nomhub is not "below" for them).
    pub fn since(
        bundle_id: BundleId,
        period: Period,
        budget: &Budget,
        used: WattHours,
        estimated: WattHours,
        now: DateTime<Utc>,
        first: Option<chrono::NaiveDate>,
    ) -> Self {
        let (start, end) = (period.start_instant(), period.end_instant());
        let data_from = first.filter(|f| period.start < *f && *f < period.end);
        let from = data_from.map_or(start, |f| Period::day(f).start_instant());
        let bundle = budget.between(start, end);
        let expected = budget.between(from, now.clamp(from, end));
        let future = budget.between(now.clamp(start, end), end);
        let running = start <= now && now < end;
        let projected = if now >= end {
            used
        } else if expected.0 <= 0 {
            WattHours(used.0 + future.0)
        } else {
            // The rest of the bundle, scaled by how far above or below plan we are
            // (bounded, so one odd day early in the period does not swing it wildly).
            let pace = (used.0 as f64 / expected.0 as f64).clamp(0.5, 2.0);
            WattHours(used.0 + (future.0 as f64 * pace).round() as i64)
        };
        // A running period is on track within a band around the expected position; a
        // closed one is over or under its bundle, plainly.
        let band = if now >= end {
            0
        } else {
            ((expected.0 as f64 * ON_TRACK_BAND) as i64).max(ON_TRACK_MIN.0)
        };
        let status = if used.0 > expected.0 + band {
            Status::Above
        } else if used.0 < expected.0 - band {
            Status::Below
        } else {
            Status::OnTrack
        };
        let good = match status {
            Status::OnTrack => true,
            Status::Above => bundle_id.more_is_better(),
            Status::Below => !bundle_id.more_is_better(),
        };
        Self {
            bundle_id,
            period,
            used,
            estimated,
            bundle,
            expected,
            projected,
            remaining: WattHours(bundle.0 - used.0),
            status,
            good,
            running,
            data_from,
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;
    use proptest::prelude::*;

    use super::*;
    use crate::ledger::period::{PeriodKind, SettlementRule, local_midnight};

    fn budget() -> Budget {
        let w = [
            441.0, 393.0, 360.0, 240.0, 147.0, 62.0, 32.0, 34.0, 99.0, 207.0, 318.0, 417.0,
        ];
        Budget::from_weights(WattHours(2_400_000), &w)
    }

    #[test]
    fn weights_split_exactly() {
        let b = budget();
        assert_eq!(b.yearly(), WattHours(2_400_000));
        assert_eq!(split_exact(10, &[1.0 / 3.0; 3]), vec![4, 3, 3]);
        assert_eq!(split_exact(-10, &[1.0 / 3.0; 3]).iter().sum::<i64>(), -10);
    }

    #[test]
    fn a_day_gets_its_share_of_the_month_by_time() {
        let b = budget();
        let march = b.monthly[2].0 as f64;
        let day = |y, m, d| Period::day(NaiveDate::from_ymd_opt(y, m, d).unwrap());
        let share = |p: Period| b.between(p.start_instant(), p.end_instant()).0;
        // 29 March 2026 has 23 hours of March's 743.
        assert_eq!(
            share(day(2026, 3, 29)),
            (march * 23.0 / 743.0).round() as i64
        );
        assert_eq!(
            share(day(2026, 3, 30)),
            (march * 24.0 / 743.0).round() as i64
        );
    }

    #[test]
    fn a_closed_period_is_plainly_over_or_under_its_bundle() {
        let b = budget();
        let jan = Period::month(2026, 1);
        let feb = local_midnight(NaiveDate::from_ymd_opt(2026, 2, 10).unwrap());
        let bundle = b.between(jan.start_instant(), jan.end_instant());
        // 1 % over: inside a running period's band, but the month is over and it is over.
        let over = Position::new(
            BundleId::EnergyUsed,
            jan,
            &b,
            WattHours(bundle.0 + bundle.0 / 100),
            WattHours(0),
            feb,
        );
        assert_eq!(
            (over.status, over.good, over.running),
            (Status::Above, false, false)
        );
        let under = Position::new(
            BundleId::EnergyUsed,
            jan,
            &b,
            WattHours(bundle.0 - 1000),
            WattHours(0),
            feb,
        );
        assert_eq!((under.status, under.good), (Status::Below, true));
        let pv = Position::new(
            BundleId::Pv,
            jan,
            &b,
            WattHours(bundle.0 - 1000),
            WattHours(0),
            feb,
        );
        assert_eq!((pv.status, pv.good), (Status::Below, false));
    }

    #[test]
    fn a_period_begun_before_the_first_booked_day_expects_from_that_day() {
        let b = budget();
        let jan = Period::month(2026, 1);
        let (first, now) = (
            NaiveDate::from_ymd_opt(2026, 1, 11).unwrap(),
            local_midnight(NaiveDate::from_ymd_opt(2026, 1, 21).unwrap()),
        );
        let ten_days = b.between(local_midnight(first), now);
        let p = Position::since(
            BundleId::EnergyUsed,
            jan,
            &b,
            ten_days,
            WattHours(0),
            now,
            Some(first),
        );
        assert_eq!((p.expected, p.status), (ten_days, Status::OnTrack));
        assert_eq!(p.data_from, Some(first));
        assert_eq!(
            p.projected.0,
            ten_days.0 + b.between(now, jan.end_instant()).0
        );
        // Without it the same month would be far below.
        let p = Position::new(BundleId::EnergyUsed, jan, &b, ten_days, WattHours(0), now);
        assert_eq!((p.status, p.data_from), (Status::Below, None));
        // A first day before the period changes nothing.
        let before = Some(NaiveDate::from_ymd_opt(2025, 12, 1).unwrap());
        let q = Position::since(
            BundleId::EnergyUsed,
            jan,
            &b,
            ten_days,
            WattHours(0),
            now,
            before,
        );
        assert_eq!((q.expected, q.data_from), (p.expected, None));
    }

    #[test]
    fn position_says_how_it_goes() {
        let b = budget();
        let jan = Period::month(2026, 1);
        let mid = local_midnight(NaiveDate::from_ymd_opt(2026, 1, 16).unwrap());
        let half = b.between(jan.start_instant(), mid);
        let at = |used: i64, id| Position::new(id, jan, &b, WattHours(used), WattHours(0), mid);
        let on = at(half.0, BundleId::EnergyUsed);
        assert_eq!(
            (on.status, on.good, on.running),
            (Status::OnTrack, true, true)
        );
        assert_eq!(on.projected, on.bundle);
        let above = at(half.0 * 2, BundleId::EnergyUsed);
        assert_eq!((above.status, above.good), (Status::Above, false));
        assert!(above.projected > above.bundle);
        let pv_above = at(half.0 * 2, BundleId::Pv);
        assert_eq!((pv_above.status, pv_above.good), (Status::Above, true));
        let below = at(half.0 / 2, BundleId::Pv);
        assert_eq!((below.status, below.good), (Status::Below, false));
        // After the period, expected is the bundle and the projection is what was used.
        let later = local_midnight(NaiveDate::from_ymd_opt(2026, 3, 1).unwrap());
        let done = Position::new(
            BundleId::Household,
            jan,
            &b,
            WattHours(7),
            WattHours(0),
            later,
        );
        assert_eq!(
            (done.expected, done.projected, done.running),
            (done.bundle, WattHours(7), false)
        );
    }

    proptest! {
        #[test]
        fn months_sum_to_the_year_and_expected_ends_at_the_bundle(
            yearly in 0i64..20_000_000,
            weights in proptest::array::uniform12(0.0f64..1000.0),
            year in 2000i32..2100,
            smonth in 1u32..=12, sday in 1u32..=28,
        ) {
            let b = Budget::from_weights(WattHours(yearly), &weights);
            prop_assert_eq!(b.yearly(), WattHours(yearly));
            let y = Period::year(year);
            let months: i64 = y.months().iter()
                .map(|m| b.between(m.start_instant(), m.end_instant()).0).sum();
            prop_assert_eq!(months, yearly);
            prop_assert_eq!(b.between(y.start_instant(), y.end_instant()).0, yearly);
            let rule = SettlementRule { month: smonth, day: sday, ..SettlementRule::default() };
            let s = Period::containing(PeriodKind::Settlement, y.start, &rule);
            let pos = Position::new(BundleId::Household, s, &b, WattHours(0), WattHours(0), s.end_instant());
            prop_assert_eq!(pos.expected, pos.bundle);
            // Twelve months' worth, give or take a day of the month it starts in
            // (February of a leap year, or an hour of a DST month, differ between years).
            let slack = b.monthly.iter().map(|m| m.0).max().unwrap_or(0) / 28 + 1;
            prop_assert!((pos.bundle.0 - yearly).abs() <= slack, "{} vs {}", pos.bundle.0, yearly);
        }
    }
}
