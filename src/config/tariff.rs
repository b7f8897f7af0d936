//! `[tariff]`: the resident's electricity contract (docs/tariff.md), and where the
//! day-ahead prices come from.

use chrono::NaiveDate;
use serde::Deserialize;
use toml::Spanned;

use super::ledger::Problem;
use crate::tariff::{Band, FeedIn, Import, LEGAL_MINIMUM_SHARE, Tariff, Taxes};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TariffConfig {
    /// The contract's first day, "YYYY-MM-DD".
    pub contract_start: Spanned<String>,
    /// `fixed` (supply_price) or `dynamic` (day-ahead + markup).
    pub import: Spanned<String>,
    #[serde(default)]
    pub supply_price: Option<Spanned<f64>>,
    #[serde(default)]
    pub markup: Option<Spanned<f64>>,
    /// The contract's average day-ahead price, €/kWh excl. VAT: where no price is known.
    #[serde(default)]
    pub average_day_ahead: Option<Spanned<f64>>,
    /// `fixed` (feed_in_price) or `share` (feed_in_share × day-ahead).
    pub feed_in: Spanned<String>,
    #[serde(default)]
    pub feed_in_price: Option<Spanned<f64>>,
    #[serde(default)]
    pub feed_in_share: Option<Spanned<f64>>,
    #[serde(default)]
    pub feed_in_costs: Option<Spanned<f64>>,
    #[serde(default)]
    pub feed_in_cost_bands: Vec<BandConfig>,
    #[serde(default)]
    pub fixed_per_month: Option<Spanned<f64>>,
    #[serde(default)]
    pub epv_per_month: Option<Spanned<f64>>,
    #[serde(default = "default_net_metering_until")]
    pub net_metering_until: Spanned<String>,
    #[serde(default)]
    pub taxes: Vec<TaxesConfig>,
    /// Where day-ahead prices come from besides the MQTT topic: `mqtt` or `energyzero`.
    #[serde(default = "default_prices")]
    pub prices: Spanned<String>,
    /// The price service's address (a mirror, or a local server in tests).
    #[serde(default = "default_prices_url")]
    pub prices_url: Spanned<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BandConfig {
    #[serde(default)]
    pub up_to_kwh: Option<Spanned<f64>>,
    pub per_year: Spanned<f64>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaxesConfig {
    pub year: Spanned<i32>,
    pub energy_tax: Spanned<f64>,
    #[serde(default)]
    pub tax_credit: Option<Spanned<f64>>,
    #[serde(default = "default_vat")]
    pub vat: Spanned<f64>,
}

fn default_net_metering_until() -> Spanned<String> {
    Spanned::new(0..0, "2026-12-31".to_owned())
}

fn default_prices() -> Spanned<String> {
    Spanned::new(0..0, "mqtt".to_owned())
}

fn default_prices_url() -> Spanned<String> {
    Spanned::new(0..0, EnergyZero::URL.to_owned())
}

fn default_vat() -> Spanned<f64> {
    Spanned::new(0..0, 0.21)
}

/// EnergyZero's public day-ahead prices.
#[derive(Debug, Clone, PartialEq)]
pub struct EnergyZero {
    pub url: String,
}

impl EnergyZero {
    pub const URL: &str = "https://public.api.energyzero.nl/public/v1/prices";
}

/// What `key` is measured in, for messages.
fn unit(key: &str) -> &'static str {
    match key {
        "feed_in_share" => "a share of the day-ahead price: 1.0 is all of it",
        "fixed_per_month" | "epv_per_month" => "€ a month",
        _ => "€/kWh, not cents",
    }
}

/// The 2027-style dynamic contract `nomhub simulate` costs hot water with by default.
pub const DYNAMIC_2027: &str = include_str!("../../config/tariff-dynamic-2027.toml");

/// A file with only a `[tariff]` (`nomhub simulate --tariff FILE`), checked like the
/// section in a config: every problem with its line and column.
pub fn parse_file(name: &str, text: &str) -> Result<Tariff, crate::report::Report> {
    use crate::report::{Issue, Report};
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct File {
        tariff: TariffConfig,
    }
    let mut report = Report::default();
    let file: File = match toml::from_str(text) {
        Ok(f) => f,
        Err(e) => {
            report.push(Issue::at(name, text, e.span(), e.message().to_owned()));
            return Err(report);
        }
    };
    let (mut problems, mut warnings) = (Vec::new(), Vec::new());
    let tariff = resolve(&file.tariff, &mut problems, &mut warnings);
    for (span, msg) in problems {
        report.push(Issue::at(name, text, span, msg));
    }
    report.into_result(())?;
    tariff.map(|(t, _)| t).ok_or_else(|| {
        let mut r = Report::default();
        r.push(Issue::at(name, text, None, "no usable [tariff]"));
        r
    })
}

/// A number (mostly € per kWh), finite and within `range`; `needed` names the setting that asks
/// for it when it is missing.
fn price(
    problems: &mut Vec<Problem>,
    v: &Option<Spanned<f64>>,
    key: &str,
    needed: Option<&Spanned<String>>,
    range: std::ops::RangeInclusive<f64>,
) -> Option<f64> {
    match v {
        None => {
            if let Some(why) = needed {
                problems.push((
                    Some(why.span()),
                    format!("tariff: `{}` needs `{key}`", why.get_ref()),
                ));
            }
            None
        }
        Some(x) if !x.get_ref().is_finite() || !range.contains(x.get_ref()) => {
            problems.push((
                Some(x.span()),
                format!(
                    "tariff: {key} {} is outside {}..={} ({})",
                    x.get_ref(),
                    range.start(),
                    range.end(),
                    unit(key)
                ),
            ));
            None
        }
        Some(x) => Some(*x.get_ref()),
    }
}

/// `[tariff]`, checked: the tariff and the price service, if any.
pub fn resolve(
    c: &TariffConfig,
    problems: &mut Vec<Problem>,
    warnings: &mut Vec<Problem>,
) -> Option<(Tariff, Option<EnergyZero>)> {
    let before = problems.len();
    let mut date = |s: &Spanned<String>, key: &str| {
        NaiveDate::parse_from_str(s.get_ref(), "%Y-%m-%d")
            .map_err(|_| {
                problems.push((
                    Some(s.span()),
                    format!(
                        "tariff: {key} `{}` is not a date like \"2027-01-01\"",
                        s.get_ref()
                    ),
                ))
            })
            .ok()
    };
    let contract_start = date(&c.contract_start, "contract_start");
    let net_metering_until = date(&c.net_metering_until, "net_metering_until");
    let per_kwh = -1.0..=2.0;
    let import = match c.import.get_ref().as_str() {
        "fixed" => price(
            problems,
            &c.supply_price,
            "supply_price",
            Some(&c.import),
            0.0..=2.0,
        )
        .map(|supply_eur_kwh| Import::Fixed { supply_eur_kwh }),
        "dynamic" => price(
            problems,
            &c.markup,
            "markup",
            Some(&c.import),
            per_kwh.clone(),
        )
        .map(|markup_eur_kwh| Import::Dynamic { markup_eur_kwh }),
        other => {
            problems.push((
                Some(c.import.span()),
                format!("tariff: import `{other}` is not one of fixed, dynamic"),
            ));
            None
        }
    };
    let feed_in = match c.feed_in.get_ref().as_str() {
        "fixed" => price(
            problems,
            &c.feed_in_price,
            "feed_in_price",
            Some(&c.feed_in),
            per_kwh.clone(),
        )
        .map(|eur_kwh| FeedIn::Fixed { eur_kwh }),
        "share" => price(
            problems,
            &c.feed_in_share,
            "feed_in_share",
            Some(&c.feed_in),
            0.0..=2.0,
        )
        .map(|share| FeedIn::Share { share }),
        other => {
            problems.push((
                Some(c.feed_in.span()),
                format!("tariff: feed_in `{other}` is not one of fixed, share"),
            ));
            None
        }
    };
    let dynamic = c.import.get_ref() == "dynamic" || c.feed_in.get_ref() == "share";
    let average = if dynamic {
        let why = if c.import.get_ref() == "dynamic" {
            &c.import
        } else {
            &c.feed_in
        };
        price(
            problems,
            &c.average_day_ahead,
            "average_day_ahead",
            Some(why),
            per_kwh.clone(),
        )
    } else {
        price(
            problems,
            &c.average_day_ahead,
            "average_day_ahead",
            None,
            per_kwh.clone(),
        )
        .or(Some(0.0))
    };
    let feed_in_costs =
        price(problems, &c.feed_in_costs, "feed_in_costs", None, 0.0..=2.0).unwrap_or(0.0);
    let fixed = price(
        problems,
        &c.fixed_per_month,
        "fixed_per_month",
        None,
        -100.0..=500.0,
    )
    .unwrap_or(0.0);
    let epv = price(
        problems,
        &c.epv_per_month,
        "epv_per_month",
        None,
        0.0..=500.0,
    )
    .unwrap_or(0.0);
    let mut bands = Vec::new();
    for (i, b) in c.feed_in_cost_bands.iter().enumerate() {
        let last = i + 1 == c.feed_in_cost_bands.len();
        let up = b.up_to_kwh.as_ref().map(|u| (*u.get_ref(), u.span()));
        match up.clone() {
            None if !last => problems.push((
                Some(b.per_year.span()),
                "tariff: only the last feed_in_cost_band may leave out `up_to_kwh`".to_owned(),
            )),
            Some((u, span)) if !u.is_finite() || u <= 0.0 => problems.push((
                Some(span),
                format!("tariff: feed_in_cost_bands up_to_kwh {u} must be above 0"),
            )),
            Some((u, span))
                if bands
                    .last()
                    .and_then(|p: &Band| p.up_to_kwh)
                    .is_some_and(|prev| u <= prev) =>
            {
                problems.push((
                    Some(span),
                    format!(
                        "tariff: feed_in_cost_bands must rise: {u} kWh is not above the band before"
                    ),
                ))
            }
            _ => {}
        }
        let per_year = *b.per_year.get_ref();
        if !per_year.is_finite() || !(0.0..=5000.0).contains(&per_year) {
            problems.push((
                Some(b.per_year.span()),
                format!("tariff: feed_in_cost_bands per_year {per_year} is outside 0..=5000"),
            ));
        }
        bands.push(Band {
            up_to_kwh: up.map(|(u, _)| u),
            eur_year: per_year,
        });
    }
    let mut taxes: Vec<Taxes> = Vec::new();
    for t in &c.taxes {
        let year = *t.year.get_ref();
        if !(2000..=2100).contains(&year) {
            problems.push((
                Some(t.year.span()),
                format!("tariff: taxes year {year} is outside 2000..=2100"),
            ));
        } else if taxes.iter().any(|x| x.year == year) {
            problems.push((
                Some(t.year.span()),
                format!("tariff: taxes for {year} are given twice"),
            ));
        }
        let tax = *t.energy_tax.get_ref();
        if !tax.is_finite() || !(0.0..=1.0).contains(&tax) {
            problems.push((
                Some(t.energy_tax.span()),
                format!("tariff: energy_tax {tax} is outside 0..=1 (€/kWh, excluding VAT)"),
            ));
        }
        let vat = *t.vat.get_ref();
        if !vat.is_finite() || !(0.0..=0.5).contains(&vat) {
            problems.push((
                Some(t.vat.span()),
                format!("tariff: vat {vat} is outside 0..=0.5 (a fraction: 0.21 is 21 %)"),
            ));
        }
        let credit = t.tax_credit.as_ref().map_or(0.0, |c| *c.get_ref());
        if let Some(cr) = &t.tax_credit
            && (!credit.is_finite() || !(0.0..=2000.0).contains(&credit))
        {
            problems.push((
                Some(cr.span()),
                format!(
                    "tariff: tax_credit {credit} is outside 0..=2000 (€ a year, excluding VAT)"
                ),
            ));
        }
        taxes.push(Taxes {
            year,
            energy_tax_eur_kwh: tax,
            tax_credit_eur_year: credit,
            vat,
        });
    }
    taxes.sort_by_key(|t| t.year);
    if c.taxes.is_empty() {
        problems.push((
            Some(c.import.span()),
            "tariff: give the energy tax as [[tariff.taxes]] (year, energy_tax, tax_credit, vat) for each year from the contract's start".to_owned(),
        ));
    }
    if let (Some(start), Some(first)) = (contract_start, taxes.first())
        && first.year > chrono::Datelike::year(&start)
    {
        problems.push((
            c.taxes.first().map(|t| t.year.span()),
            format!(
                "tariff: the contract starts in {} but the first [[tariff.taxes]] is for {}",
                chrono::Datelike::year(&start),
                first.year
            ),
        ));
    }
    if let Some(FeedIn::Share { share }) = feed_in
        && share < LEGAL_MINIMUM_SHARE
        && let Some(s) = &c.feed_in_share
    {
        warnings.push((
            Some(s.span()),
            format!("tariff: feed_in_share {share} is below the legal minimum of {LEGAL_MINIMUM_SHARE} of the supply price from 2027 to 2030 (on average): check the contract"),
        ));
    }
    let source = match c.prices.get_ref().as_str() {
        "mqtt" => None,
        "energyzero" => {
            let url = c.prices_url.get_ref();
            if !(url.starts_with("https://") || url.starts_with("http://")) {
                problems.push((
                    Some(c.prices_url.span()),
                    format!("tariff: prices_url `{url}` is not an http(s) address"),
                ));
            }
            Some(EnergyZero { url: url.clone() })
        }
        other => {
            problems.push((
                Some(c.prices.span()),
                format!("tariff: prices `{other}` is not one of mqtt, energyzero"),
            ));
            None
        }
    };
    if problems.len() > before {
        return None;
    }
    Some((
        Tariff {
            contract_start: contract_start?,
            import: import?,
            feed_in: feed_in?,
            average_day_ahead_eur_kwh: average?,
            feed_in_costs_eur_kwh: feed_in_costs,
            feed_in_cost_bands: bands,
            fixed_eur_month: fixed,
            epv_eur_month: epv,
            net_metering_until: net_metering_until?,
            taxes,
            all_in: false,
        },
        source,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_dynamic_2027_contract_reads_and_a_bad_file_says_where() {
        let t = parse_file("tariff-dynamic-2027.toml", DYNAMIC_2027).unwrap();
        assert_eq!(
            t.import,
            Import::Dynamic {
                markup_eur_kwh: 0.02
            }
        );
        let e = parse_file("t.toml", "[tariff]\ncontract_start = \"2027-01-01\"\nimport = \"fixed\"\nsupply_price = 12\nfeed_in = \"fixed\"\nfeed_in_price = 0.05\n[[tariff.taxes]]\nyear = 2027\nenergy_tax = 0.1\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("t.toml:4:16: tariff: supply_price 12 is outside 0..=2 (€/kWh, not cents)"),
            "{e}"
        );
        let e = parse_file("t.toml", "tariff = 3").unwrap_err().to_string();
        assert!(e.contains("t.toml:1:10: invalid type"), "{e}");
    }
}
