//! The resident's electricity contract: what a kWh taken from the grid costs and what
//! one fed in earns, quarter hour by quarter hour, under the rules in force then.
//!
//! Prices here are € per kWh. The day-ahead price (EPEX NL, excluding VAT) of a quarter
//! hour comes from [`DayAhead`]; where none is known the contract's average stands in
//! and the result says so (`fallback`).

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::clock::TZ;

/// The first and last day of the legal minimum feed-in compensation (50 % of the bare
/// supply price; Elektriciteitswet 1998 as changed by Kamerstuk 36 611, from the end
/// of net metering until 2030).
pub const LEGAL_MINIMUM_FROM: (i32, u32, u32) = (2027, 1, 1);
pub const LEGAL_MINIMUM_UNTIL: (i32, u32, u32) = (2030, 12, 31);
/// The legal minimum's share of the bare supply price.
pub const LEGAL_MINIMUM_SHARE: f64 = 0.5;

/// How a kWh from the grid is priced before energy tax and VAT.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Import {
    /// One supply price per kWh for the whole contract.
    Fixed { supply_eur_kwh: f64 },
    /// The quarter hour's day-ahead price plus the supplier's markup.
    Dynamic { markup_eur_kwh: f64 },
}

/// What a kWh fed in earns before feed-in costs.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum FeedIn {
    /// A fixed compensation per kWh.
    Fixed { eur_kwh: f64 },
    /// A share of the quarter hour's day-ahead price (1.0: the price itself).
    Share { share: f64 },
}

/// Energy tax, its yearly credit and VAT, from a calendar year on.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Taxes {
    /// The first calendar year these apply to (until the next entry's).
    pub year: i32,
    /// Energy tax per kWh imported, excluding VAT.
    pub energy_tax_eur_kwh: f64,
    /// The yearly tax credit (heffingskorting), excluding VAT.
    pub tax_credit_eur_year: f64,
    /// VAT as a fraction (0.21).
    pub vat: f64,
}

/// A yearly feed-in cost for exporting up to `up_to_kwh` in a contract year.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Band {
    /// The band's upper end (kWh exported a year); `None` for the last, open band.
    pub up_to_kwh: Option<f64>,
    pub eur_year: f64,
}

/// The resident's contract.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Tariff {
    pub contract_start: NaiveDate,
    pub import: Import,
    pub feed_in: FeedIn,
    /// The contract's average day-ahead price (excluding VAT), used where the quarter
    /// hour's price is not known.
    pub average_day_ahead_eur_kwh: f64,
    /// Feed-in costs per kWh exported (including VAT).
    pub feed_in_costs_eur_kwh: f64,
    /// Feed-in costs as yearly bands of what is exported (including VAT), ascending.
    pub feed_in_cost_bands: Vec<Band>,
    /// Standing charges and the grid operator's fee per month (including VAT).
    pub fixed_eur_month: f64,
    /// The landlord's energy performance fee (EPV) per month.
    pub epv_eur_month: f64,
    /// The last day net metering applies.
    pub net_metering_until: NaiveDate,
    /// By calendar year, ascending; the first also covers earlier years.
    pub taxes: Vec<Taxes>,
    /// The `[settlement]` section's simple form: one all-in import price and one
    /// feed-in price, taken as given (no taxes added, no legal minimum).
    pub all_in: bool,
}

/// One quarter hour's prices under a tariff.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct QuarterPrice {
    /// A kWh taken from the grid, all in (supply, energy tax, VAT).
    pub import_eur_kwh: f64,
    /// A kWh fed in without net metering: the compensation (at least the legal
    /// minimum) less feed-in costs per kWh. Negative when exporting costs money.
    pub export_eur_kwh: f64,
    /// Whether net metering applies on this day (an exported kWh then offsets an
    /// imported one, up to the year's import).
    pub net_metering: bool,
    /// The day-ahead price used, excluding VAT.
    pub day_ahead_eur_kwh: f64,
    /// True when the day-ahead price was not known and the contract's average stood in.
    pub fallback: bool,
}

impl Tariff {
    /// The simple form: `supply` all in per kWh imported, `feed_in` per kWh exported,
    /// `fixed_year` a year of fixed costs.
    pub fn all_in(
        supply: f64,
        feed_in: f64,
        fixed_year: f64,
        net_metering_until: NaiveDate,
    ) -> Self {
        Tariff {
            contract_start: NaiveDate::MIN,
            import: Import::Fixed {
                supply_eur_kwh: supply,
            },
            feed_in: FeedIn::Fixed { eur_kwh: feed_in },
            average_day_ahead_eur_kwh: 0.0,
            feed_in_costs_eur_kwh: 0.0,
            feed_in_cost_bands: Vec::new(),
            fixed_eur_month: fixed_year / 12.0,
            epv_eur_month: 0.0,
            net_metering_until,
            taxes: Vec::new(),
            all_in: true,
        }
    }

    /// The taxes in force on `day`.
    pub fn taxes_on(&self, day: NaiveDate) -> Taxes {
        let year = day.year();
        self.taxes
            .iter()
            .rev()
            .find(|t| t.year <= year)
            .or(self.taxes.first())
            .copied()
            .unwrap_or(Taxes {
                year,
                energy_tax_eur_kwh: 0.0,
                tax_credit_eur_year: 0.0,
                vat: 0.0,
            })
    }

    /// Whether the day-ahead price matters to this tariff at all.
    pub fn is_dynamic(&self) -> bool {
        matches!(self.import, Import::Dynamic { .. })
            || matches!(self.feed_in, FeedIn::Share { .. })
    }

    /// The prices of the quarter hour starting at `at`, with its day-ahead price if known.
    pub fn price(&self, at: DateTime<Utc>, day_ahead: Option<f64>) -> QuarterPrice {
        let day = at.with_timezone(&TZ).date_naive();
        let fallback = day_ahead.is_none() && self.is_dynamic();
        let da = day_ahead.unwrap_or(self.average_day_ahead_eur_kwh);
        let taxes = self.taxes_on(day);
        let supply = match self.import {
            Import::Fixed { supply_eur_kwh } => supply_eur_kwh,
            Import::Dynamic { markup_eur_kwh } => da + markup_eur_kwh,
        };
        let import = (supply + taxes.energy_tax_eur_kwh) * (1.0 + taxes.vat);
        let compensation = match self.feed_in {
            // A fixed compensation against the contract's average bare supply price.
            FeedIn::Fixed { eur_kwh } => {
                let average = match self.import {
                    Import::Fixed { supply_eur_kwh } => supply_eur_kwh,
                    Import::Dynamic { markup_eur_kwh } => {
                        self.average_day_ahead_eur_kwh + markup_eur_kwh
                    }
                };
                match legal_minimum(day, average) {
                    Some(min) if !self.all_in => eur_kwh.max(min),
                    _ => eur_kwh,
                }
            }
            // A share of each quarter hour's price follows the market, negative prices
            // included; the minimum holds for the average (checked with the config).
            FeedIn::Share { share } => share * da,
        };
        QuarterPrice {
            import_eur_kwh: import,
            export_eur_kwh: compensation - self.feed_in_costs_eur_kwh,
            net_metering: day <= self.net_metering_until,
            day_ahead_eur_kwh: da,
            fallback,
        }
    }

    /// The yearly feed-in cost band for `export_kwh` exported in a contract year.
    pub fn band_cost(&self, export_kwh: f64) -> f64 {
        self.feed_in_cost_bands
            .iter()
            .find(|b| b.up_to_kwh.is_none_or(|up| export_kwh <= up))
            .map_or(0.0, |b| b.eur_year)
    }

    /// Costs that do not depend on the kWh for `days` days from `from`: standing
    /// charges and the EPV, less the tax credit (VAT included), in €.
    pub fn fixed_costs(&self, from: NaiveDate, days: i64) -> f64 {
        let mut eur = 0.0;
        for i in 0..days.max(0) {
            let d = from + chrono::Days::new(i as u64);
            let t = self.taxes_on(d);
            let year_days = if NaiveDate::from_ymd_opt(d.year(), 12, 31)
                .is_some_and(|last| last.ordinal() == 366)
            {
                366.0
            } else {
                365.0
            };
            let month_days = f64::from(days_in_month(d));
            eur += (self.fixed_eur_month + self.epv_eur_month) / month_days
                - t.tax_credit_eur_year * (1.0 + t.vat) / year_days;
        }
        eur
    }
}

fn days_in_month(d: NaiveDate) -> u32 {
    let (y, m) = (d.year(), d.month());
    let next = if m == 12 {
        NaiveDate::from_ymd_opt(y + 1, 1, 1)
    } else {
        NaiveDate::from_ymd_opt(y, m + 1, 1)
    };
    next.and_then(|n| n.pred_opt()).map_or(30, |l| l.day())
}

/// The legal minimum compensation per kWh fed in on `day` when the bare supply price is
/// `supply` (€/kWh, excluding tax and VAT), if one is in force.
pub fn legal_minimum(day: NaiveDate, supply: f64) -> Option<f64> {
    let date = |(y, m, d): (i32, u32, u32)| NaiveDate::from_ymd_opt(y, m, d);
    let (from, until) = (date(LEGAL_MINIMUM_FROM)?, date(LEGAL_MINIMUM_UNTIL)?);
    (from..=until)
        .contains(&day)
        .then_some(LEGAL_MINIMUM_SHARE * supply)
}

/// Day-ahead prices (€/kWh, excluding VAT) by the start of their quarter hour (unix
/// seconds); an hourly price is held by each of its four quarters.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DayAhead {
    pub quarters: BTreeMap<i64, f64>,
}

/// Seconds in a quarter hour.
const QUARTER: i64 = 900;

impl DayAhead {
    /// The price of the quarter hour holding `at`, if known.
    pub fn at(&self, at: DateTime<Utc>) -> Option<f64> {
        let q = at.timestamp().div_euclid(QUARTER) * QUARTER;
        self.quarters.get(&q).copied()
    }

    /// Adds prices for `[start, end)` (a quarter hour or an hour); later ones replace
    /// earlier ones for the same quarter.
    pub fn insert(&mut self, start: DateTime<Utc>, end: DateTime<Utc>, eur_kwh: f64) {
        let mut q = start.timestamp().div_euclid(QUARTER) * QUARTER;
        while q < end.timestamp() {
            self.quarters.insert(q, eur_kwh);
            q += QUARTER;
        }
    }

    /// Forgets prices of quarters that start before `before`.
    pub fn forget_before(&mut self, before: DateTime<Utc>) {
        self.quarters = self.quarters.split_off(&before.timestamp());
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    fn local(y: i32, m: u32, day: u32, h: u32) -> DateTime<Utc> {
        TZ.with_ymd_and_hms(y, m, day, h, 0, 0)
            .earliest()
            .unwrap()
            .with_timezone(&Utc)
    }

    /// A 2027-style dynamic contract: day-ahead + 2 ct, all of the day-ahead price back
    /// for feed-in, 1.5 ct feed-in costs.
    fn dynamic() -> Tariff {
        Tariff {
            contract_start: d(2026, 1, 1),
            import: Import::Dynamic {
                markup_eur_kwh: 0.02,
            },
            feed_in: FeedIn::Share { share: 1.0 },
            average_day_ahead_eur_kwh: 0.09,
            feed_in_costs_eur_kwh: 0.015,
            feed_in_cost_bands: Vec::new(),
            fixed_eur_month: 7.0,
            epv_eur_month: 0.0,
            net_metering_until: d(2026, 12, 31),
            all_in: false,
            taxes: vec![
                Taxes {
                    year: 2026,
                    energy_tax_eur_kwh: 0.0916,
                    tax_credit_eur_year: 519.80,
                    vat: 0.21,
                },
                Taxes {
                    year: 2027,
                    energy_tax_eur_kwh: 0.10,
                    tax_credit_eur_year: 500.0,
                    vat: 0.21,
                },
            ],
        }
    }

    #[test]
    fn a_dynamic_import_is_day_ahead_plus_markup_plus_tax_with_vat_by_year() {
        let t = dynamic();
        let p = t.price(local(2026, 6, 1, 12), Some(0.05));
        assert!((p.import_eur_kwh - (0.05 + 0.02 + 0.0916) * 1.21).abs() < 1e-12);
        assert!(p.net_metering && !p.fallback);
        // The new year's taxes from local midnight on 1 January, not UTC's.
        let before = t.price(local(2026, 12, 31, 23), Some(0.05));
        let after = t.price(local(2027, 1, 1, 0), Some(0.05));
        assert!((before.import_eur_kwh - (0.07 + 0.0916) * 1.21).abs() < 1e-12);
        assert!((after.import_eur_kwh - (0.07 + 0.10) * 1.21).abs() < 1e-12);
        assert!(before.net_metering && !after.net_metering);
    }

    #[test]
    fn feed_in_never_pays_below_the_legal_minimum_from_2027_to_2030() {
        let mut t = dynamic();
        t.feed_in = FeedIn::Fixed { eur_kwh: 0.01 };
        t.feed_in_costs_eur_kwh = 0.0;
        // 2026: what the contract says.
        assert!((t.price(local(2026, 6, 1, 12), Some(0.10)).export_eur_kwh - 0.01).abs() < 1e-12);
        // 2027: half of the average bare supply price (0.09 + 0.02 markup).
        let p = t.price(local(2027, 6, 1, 12), Some(0.10));
        assert!((p.export_eur_kwh - 0.055).abs() < 1e-12, "{p:?}");
        // 2031: the contract again.
        assert!((t.price(local(2031, 6, 1, 12), Some(0.10)).export_eur_kwh - 0.01).abs() < 1e-12);
        assert_eq!(legal_minimum(d(2030, 12, 31), 0.2), Some(0.1));
        assert_eq!(legal_minimum(d(2031, 1, 1), 0.2), None);
    }

    #[test]
    fn negative_prices_make_exporting_cost_and_importing_cheap() {
        let t = dynamic();
        let p = t.price(local(2027, 5, 11, 13), Some(-0.40));
        // Import: (-0.40 + 0.02 + 0.10) × 1.21 < 0: paid to take power.
        assert!((p.import_eur_kwh - (-0.28 * 1.21)).abs() < 1e-12);
        // Export: the price itself, less the feed-in costs.
        assert!((p.export_eur_kwh - (-0.40 - 0.015)).abs() < 1e-12, "{p:?}");
    }

    #[test]
    fn a_missing_price_falls_back_to_the_average_and_says_so() {
        let t = dynamic();
        let p = t.price(local(2027, 2, 1, 8), None);
        assert!(p.fallback);
        assert!((p.day_ahead_eur_kwh - 0.09).abs() < 1e-12);
        // A fixed contract needs no day-ahead price: never a fallback.
        let mut f = dynamic();
        f.import = Import::Fixed {
            supply_eur_kwh: 0.12,
        };
        f.feed_in = FeedIn::Fixed { eur_kwh: 0.05 };
        assert!(!f.price(local(2027, 2, 1, 8), None).fallback);
    }

    #[test]
    fn bands_and_fixed_costs() {
        let mut t = dynamic();
        t.feed_in_cost_bands = vec![
            Band {
                up_to_kwh: Some(1000.0),
                eur_year: 0.0,
            },
            Band {
                up_to_kwh: Some(3000.0),
                eur_year: 120.0,
            },
            Band {
                up_to_kwh: None,
                eur_year: 300.0,
            },
        ];
        assert_eq!(t.band_cost(800.0), 0.0);
        assert_eq!(t.band_cost(1000.0), 0.0);
        assert_eq!(t.band_cost(2500.0), 120.0);
        assert_eq!(t.band_cost(9000.0), 300.0);
        // A whole 2027: twelve months of 7 €, less 500 € × 1.21 of tax credit.
        let year = t.fixed_costs(d(2027, 1, 1), 365);
        assert!((year - (84.0 - 605.0)).abs() < 1e-9, "{year}");
    }

    #[test]
    fn day_ahead_prices_by_quarter_hour_hourly_ones_cover_four() {
        let mut p = DayAhead::default();
        let h = local(2026, 10, 25, 2);
        p.insert(h, h + chrono::TimeDelta::hours(1), 0.1);
        let q = h + chrono::TimeDelta::minutes(75);
        p.insert(q, q + chrono::TimeDelta::minutes(15), 0.2);
        assert_eq!(p.at(h + chrono::TimeDelta::minutes(44)), Some(0.1));
        assert_eq!(p.at(q + chrono::TimeDelta::minutes(1)), Some(0.2));
        assert_eq!(p.at(h + chrono::TimeDelta::minutes(60)), None);
        assert_eq!(p.quarters.len(), 5);
        p.forget_before(h + chrono::TimeDelta::minutes(30));
        assert_eq!(p.quarters.len(), 3);
    }

    /// The worked example in docs/tariff.md.
    #[test]
    fn the_worked_example_in_the_docs() {
        let mut t = dynamic();
        t.import = Import::Fixed {
            supply_eur_kwh: 0.12,
        };
        t.feed_in = FeedIn::Fixed { eur_kwh: 0.05 };
        t.feed_in_costs_eur_kwh = 0.0;
        t.fixed_eur_month = 44.0;
        t.taxes = vec![Taxes {
            year: 2026,
            energy_tax_eur_kwh: 0.0916,
            tax_credit_eur_year: 519.80,
            vat: 0.21,
        }];
        let p = t.price(local(2027, 3, 1, 12), None);
        assert!((p.import_eur_kwh - 0.256036).abs() < 1e-9);
        assert!((p.export_eur_kwh - 0.06).abs() < 1e-12, "the legal minimum");
        let energy = 3000.0 * p.import_eur_kwh - 3300.0 * p.export_eur_kwh;
        let fixed = t.fixed_costs(d(2027, 1, 1), 365);
        assert!((energy - 570.108).abs() < 1e-6, "{energy}");
        assert!((fixed - (528.0 - 628.958)).abs() < 1e-9, "{fixed}");
        assert!((energy + fixed - 469.15).abs() < 0.005);
        // Net metering in 2026: the 300 kWh surplus at the contract's 0.05.
        let p26 = t.price(local(2026, 3, 1, 12), None);
        assert!((p26.export_eur_kwh - 0.05).abs() < 1e-12);
        // The dynamic example.
        let q = dynamic().price(local(2027, 3, 1, 12), Some(0.05));
        assert!((q.export_eur_kwh - 0.035).abs() < 1e-12);
        assert!(
            (dynamic()
                .price(local(2026, 3, 1, 12), Some(0.05))
                .import_eur_kwh
                - 0.195536)
                .abs()
                < 1e-9
        );
    }
}
