//! Simulated history for the demo: the settlement year up to the day the simulation
//! starts, day by day, following the bundles with some weather in it, so the demo's
//! bundle bars and forecast have a past to stand on.

use chrono::{DateTime, Days, Utc};

use crate::ledger::period::local_date;
use crate::ledger::{BundleId, Ledger, LedgerError, Period, PeriodKind, Row, Series};

/// Share of the PV the simulated home uses on the spot.
const OWN_SHARE: f64 = 0.3;

/// Fills `ledger` with simulated days from the start of the settlement year to the
/// day before `start`, unless it already holds them. Returns the number of days written.
pub fn seed(ledger: &mut Ledger, start: DateTime<Utc>) -> Result<usize, LedgerError> {
    let year = ledger.period(PeriodKind::Settlement, start);
    let today = local_date(start);
    if ledger.sum(&Series::ALL, year.start, today)?.wh != 0 {
        return Ok(0);
    }
    let mut rng = fastrand::Rng::with_seed(20_260_101);
    let mut rows = Vec::new();
    let mut line = 0;
    let mut day = year.start;
    while day < today {
        let p = Period::day(day);
        let budget = |id: BundleId| {
            ledger.setup.budgets.get(&id).map_or(0.0, |b| {
                b.between(p.start_instant(), p.end_instant()).0 as f64
            })
        };
        let sun = 0.3 + 1.4 * rng.f64(); // cloudy to bright
        let cold = 0.85 + 0.3 * rng.f64();
        let pv = budget(BundleId::Pv) * sun;
        let household = budget(BundleId::Household) * (0.8 + 0.4 * rng.f64());
        let building = budget(BundleId::BuildingBound) * cold;
        let hot_water = budget(BundleId::HotWater) * (0.8 + 0.4 * rng.f64());
        let direct = (pv * OWN_SHARE).min(household + building);
        let (import, export) = (household + building - direct, pv - direct);
        let date = day.format("%Y-%m-%d").to_string();
        let mut push = |s: Series, wh: Option<f64>, eur: Option<f64>| {
            line += 1;
            let wh = wh.map(|w| w.round() as i64);
            rows.push((
                line,
                Row {
                    date: date.clone(),
                    series: s.as_str().to_owned(),
                    wh,
                    kwh: None,
                    estimated_wh: wh,
                    eur,
                },
            ));
        };
        for (s, wh) in [
            (Series::Pv, pv),
            (Series::Household, household),
            (Series::BuildingBound, building),
            (Series::HotWater, hot_water),
            (Series::GridImport, import),
            (Series::GridExport, export),
        ] {
            push(s, Some(wh), None);
        }
        // Euros at the day's average prices under the tariff, if there is one.
        if let Some(t) = &ledger.setup.tariff {
            let quarters: Vec<f64> = crate::ledger::period::quarters_of(day)
                .map(crate::sim::prices::price)
                .collect();
            let avg = quarters.iter().sum::<f64>() / quarters.len() as f64;
            let price = t.price(p.start_instant() + chrono::TimeDelta::hours(12), Some(avg));
            push(
                Series::ImportCost,
                None,
                Some(import / 1000.0 * price.import_eur_kwh),
            );
            push(
                Series::ExportEarned,
                None,
                Some(export / 1000.0 * price.export_eur_kwh),
            );
            push(
                Series::ExportNetted,
                None,
                Some(export / 1000.0 * price.import_eur_kwh),
            );
        }
        day = day + Days::new(1);
    }
    let days = rows.iter().filter(|(_, r)| r.series == "pv").count();
    ledger.import("<demo history>", &rows, false)?;
    Ok(days)
}
