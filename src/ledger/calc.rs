//! The bundle calculator: a dwelling's bundles from its figures by the NOM Keur
//! rules, with monthly shapes from Dutch climate data.
//!
//! Figures and their sources:
//! - household: 26 kWh per m² usable floor area per year, at least 1,800 kWh, and no
//!   need to go above 2,600 kWh (NOM Keur);
//! - hot water: 856 kWh of heat per person per year (NOM Keur: 45 l of 55 °C a day);
//! - PV shape: KNMI De Bilt monthly global irradiation, means of 2000–2021;
//! - heating shape: KNMI De Bilt degree days (base 18 °C), means of 2000–2021;
//! - household shape: the household column of `shared/data/reference-year-A.csv`;
//! - PV yield at the best orientation: 960 kWh per kWp, from reference year A
//!   (5,272 kWh from 5.6 kWp facing 190° at 40°, where the table below gives 0.98).

use serde::{Deserialize, Serialize};

use super::bundle::{Budget, split_months};
use crate::model::WattHours;

/// KNMI De Bilt, global irradiation per month, kWh/m² (2000–2021 means).
pub const IRRADIATION_KWH_M2: [f64; 12] = [
    20.2, 37.4, 76.3, 123.3, 152.7, 158.9, 154.3, 130.6, 90.4, 53.4, 23.7, 15.5,
];
/// KNMI De Bilt, heating degree days per month, base 18 °C (2000–2021 means).
pub const DEGREE_DAYS: [f64; 12] = [
    441.0, 393.0, 360.0, 240.0, 147.0, 62.0, 32.0, 34.0, 99.0, 207.0, 318.0, 417.0,
];
/// Household use per month in reference year A, kWh (2,600 kWh in all).
pub const HOUSEHOLD_KWH: [f64; 12] = [
    255.0, 230.0, 240.0, 218.0, 212.0, 207.0, 168.0, 173.0, 200.0, 215.0, 238.0, 245.0,
];
/// Days per month in an average year.
pub const DAYS: [f64; 12] = [
    31.0, 28.25, 31.0, 30.0, 31.0, 30.0, 31.0, 31.0, 30.0, 31.0, 30.0, 31.0,
];

pub const HOUSEHOLD_KWH_PER_M2: f64 = 26.0;
pub const HOUSEHOLD_MIN_KWH: f64 = 1800.0;
pub const HOUSEHOLD_MAX_KWH: f64 = 2600.0;
pub const HOT_WATER_KWH_PER_PERSON: f64 = 856.0;
pub const PV_KWH_PER_KWP: f64 = 960.0;

/// A named monthly shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Shape {
    /// Dutch irradiation: high in summer.
    Pv,
    /// Degree days: high in winter.
    Heating,
    /// A Dutch household: a little higher in winter, lower in the summer holidays.
    Household,
    /// The same every day.
    Flat,
}

impl Shape {
    pub fn weights(self) -> [f64; 12] {
        match self {
            Shape::Pv => IRRADIATION_KWH_M2,
            Shape::Heating => DEGREE_DAYS,
            Shape::Household => HOUSEHOLD_KWH,
            Shape::Flat => DAYS,
        }
    }
}

/// The smallest household bundle the NOM Keur allows for `floor_area_m2`, capped at
/// `max_kwh` (2,600 by default: there is no need to go higher).
pub fn household_kwh(floor_area_m2: f64, max_kwh: f64) -> f64 {
    (HOUSEHOLD_KWH_PER_M2 * floor_area_m2)
        .max(HOUSEHOLD_MIN_KWH)
        .min(max_kwh.max(HOUSEHOLD_MIN_KWH))
}

/// Hot water heat for `persons`, kWh per year.
pub fn hot_water_kwh(persons: f64) -> f64 {
    HOT_WATER_KWH_PER_PERSON * persons
}

/// Share of the best yield for panels at `tilt_deg` facing `azimuth_deg` (180 = south),
/// interpolated in a table of Dutch rules of thumb.
pub fn orientation_factor(tilt_deg: f64, azimuth_deg: f64) -> f64 {
    const TILTS: [f64; 6] = [0.0, 15.0, 30.0, 45.0, 60.0, 90.0];
    const OFF_SOUTH: [f64; 5] = [0.0, 45.0, 90.0, 135.0, 180.0];
    // rows: tilt; columns: degrees away from south
    const F: [[f64; 5]; 6] = [
        [0.87, 0.87, 0.87, 0.87, 0.87],
        [0.96, 0.93, 0.85, 0.80, 0.75],
        [1.00, 0.95, 0.80, 0.70, 0.62],
        [0.99, 0.93, 0.75, 0.60, 0.50],
        [0.94, 0.88, 0.68, 0.50, 0.40],
        [0.72, 0.68, 0.52, 0.38, 0.28],
    ];
    let d = (azimuth_deg - 180.0).rem_euclid(360.0);
    let off = if d > 180.0 { 360.0 - d } else { d };
    let (ti, tf) = locate(&TILTS, tilt_deg.clamp(0.0, 90.0));
    let (ai, af) = locate(&OFF_SOUTH, off);
    let row = |t: usize| F[t][ai] * (1.0 - af) + F[t][(ai + 1).min(4)] * af;
    row(ti) * (1.0 - tf) + row((ti + 1).min(5)) * tf
}

fn locate<const N: usize>(xs: &[f64; N], x: f64) -> (usize, f64) {
    for i in 0..N - 1 {
        if x <= xs[i + 1] {
            return (i, (x - xs[i]) / (xs[i + 1] - xs[i]));
        }
    }
    (N - 2, 1.0)
}

/// A dwelling's figures, as the installer gives them.
#[derive(Debug, Clone, Serialize)]
pub struct Figures {
    pub floor_area_m2: f64,
    pub persons: f64,
    pub pv_kwp: Option<f64>,
    pub pv_tilt_deg: f64,
    pub pv_azimuth_deg: f64,
    /// Space heating demand, kWh of heat per m² per year.
    pub heat_demand_kwh_m2: Option<f64>,
    /// Seasonal COP of the heat pump for space heating.
    pub scop: f64,
    /// COP of the heat pump when heating the tank.
    pub hot_water_cop: f64,
    /// Ventilation unit, kWh per year.
    pub ventilation_kwh: f64,
    pub household_max_kwh: f64,
}

/// One bundle from the calculator: its yearly total and months in whole kWh.
#[derive(Debug, Clone, Serialize)]
pub struct CalcBundle {
    pub yearly_kwh: i64,
    pub monthly_kwh: [i64; 12],
    /// How it was made, in a line.
    pub basis: String,
}

impl CalcBundle {
    fn new(yearly_kwh: f64, weights: &[f64; 12], basis: String) -> Self {
        let yearly = yearly_kwh.round() as i64;
        let total: f64 = weights.iter().sum();
        let shares = weights.map(|w| w / total);
        Self {
            yearly_kwh: yearly,
            monthly_kwh: split_months(yearly, &shares),
            basis,
        }
    }

    pub fn budget(&self) -> Budget {
        Budget {
            monthly: self.monthly_kwh.map(|k| WattHours(k * 1000)),
        }
    }
}

/// What the calculator derives.
#[derive(Debug, Clone, Serialize)]
pub struct Calculation {
    pub figures: Figures,
    pub household: CalcBundle,
    pub hot_water: CalcBundle,
    pub pv: Option<CalcBundle>,
    pub building_bound: Option<CalcBundle>,
    pub notes: Vec<String>,
}

pub fn calculate(f: &Figures) -> Calculation {
    let mut notes = Vec::new();
    let household = household_kwh(f.floor_area_m2, f.household_max_kwh);
    let raw = HOUSEHOLD_KWH_PER_M2 * f.floor_area_m2;
    let household_basis = if raw < HOUSEHOLD_MIN_KWH {
        format!(
            "26 kWh/m² × {} m² = {raw:.0} kWh, raised to the minimum of 1,800",
            f.floor_area_m2
        )
    } else if raw > household {
        format!(
            "26 kWh/m² × {} m² = {raw:.0} kWh, capped at {household:.0}",
            f.floor_area_m2
        )
    } else {
        format!("26 kWh/m² × {} m²", f.floor_area_m2)
    };
    let hot_water = hot_water_kwh(f.persons);
    let pv = f.pv_kwp.map(|kwp| {
        let factor = orientation_factor(f.pv_tilt_deg, f.pv_azimuth_deg);
        CalcBundle::new(
            kwp * PV_KWH_PER_KWP * factor,
            &Shape::Pv.weights(),
            format!(
                "{kwp} kWp × 960 kWh/kWp × {factor:.2} (tilt {}°, azimuth {}°)",
                f.pv_tilt_deg, f.pv_azimuth_deg
            ),
        )
    });
    if pv.is_none() {
        notes.push("Give --pv-kwp (and --tilt, --azimuth) for the PV bundle.".to_owned());
    }
    let building_bound = f.heat_demand_kwh_m2.map(|demand| {
        let heat = demand * f.floor_area_m2;
        let heating = heat / f.scop;
        let dhw = hot_water / f.hot_water_cop;
        let weights: [f64; 12] = std::array::from_fn(|m| {
            let heating_share = DEGREE_DAYS[m] / DEGREE_DAYS.iter().sum::<f64>();
            let flat_share = DAYS[m] / DAYS.iter().sum::<f64>();
            heating * heating_share + (dhw + f.ventilation_kwh) * flat_share
        });
        CalcBundle::new(
            heating + dhw + f.ventilation_kwh,
            &weights,
            format!(
                "space heating {heat:.0} kWh heat / SCOP {} + hot water {hot_water:.0} kWh / COP {} + ventilation {} kWh",
                f.scop, f.hot_water_cop, f.ventilation_kwh
            ),
        )
    });
    if building_bound.is_none() {
        notes.push(
            "Give --heat-demand (kWh/m² a year, from the energy performance calculation) for the building-bound bundle."
                .to_owned(),
        );
    }
    if let Some(d) = f.heat_demand_kwh_m2
        && d >= 50.0
    {
        notes.push(format!(
            "A heat demand of {d} kWh/m² is above the NOM limit of 50 kWh/m²."
        ));
    }
    Calculation {
        figures: f.clone(),
        household: CalcBundle::new(household, &Shape::Household.weights(), household_basis),
        hot_water: CalcBundle::new(
            hot_water,
            &Shape::Flat.weights(),
            format!("856 kWh heat × {} persons", f.persons),
        ),
        pv,
        building_bound,
        notes,
    }
}

impl Calculation {
    /// The bundles in the order a resident reads them, with their config names.
    pub fn bundles(&self) -> Vec<(&'static str, &CalcBundle)> {
        let mut out = Vec::new();
        if let Some(pv) = &self.pv {
            out.push(("pv", pv));
        }
        out.push(("household", &self.household));
        if let Some(b) = &self.building_bound {
            out.push(("building_bound", b));
        }
        out.push(("hot_water", &self.hot_water));
        out
    }

    /// A `[bundle.*]` snippet for `nomhub.toml`.
    pub fn config_snippet(&self) -> String {
        let mut s = String::new();
        for (name, b) in self.bundles() {
            let months: Vec<String> = b.monthly_kwh.iter().map(i64::to_string).collect();
            s.push_str(&format!(
                "[bundle.{name}]\n# {} kWh a year: {}\nmonthly_kwh = [{}]\n\n",
                b.yearly_kwh,
                b.basis,
                months.join(", ")
            ));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn figures(area: f64, persons: f64) -> Figures {
        Figures {
            floor_area_m2: area,
            persons,
            pv_kwp: None,
            pv_tilt_deg: 35.0,
            pv_azimuth_deg: 180.0,
            heat_demand_kwh_m2: None,
            scop: 4.0,
            hot_water_cop: 2.5,
            ventilation_kwh: 330.0,
            household_max_kwh: HOUSEHOLD_MAX_KWH,
        }
    }

    #[test]
    fn household_follows_the_nom_keur() {
        for (area, max, want) in [
            (60.0, 2600.0, 1800.0),
            (69.0, 2600.0, 1800.0),
            (80.0, 2600.0, 2080.0),
            (100.0, 2600.0, 2600.0),
            (120.0, 2600.0, 2600.0),
            (120.0, 3500.0, 3120.0),
            (50.0, 1000.0, 1800.0),
        ] {
            assert_eq!(household_kwh(area, max), want, "{area} m² max {max}");
        }
    }

    #[test]
    fn calculates_the_bundles_of_a_dwelling() {
        let c = calculate(&Figures {
            pv_kwp: Some(5.6),
            pv_tilt_deg: 40.0,
            pv_azimuth_deg: 190.0,
            heat_demand_kwh_m2: Some(40.0),
            ..figures(120.0, 2.4)
        });
        assert_eq!(c.household.yearly_kwh, 2600);
        assert_eq!(c.hot_water.yearly_kwh, 2054);
        let pv = c.pv.as_ref().unwrap();
        // Reference year A made 5,272 kWh with these panels.
        assert!((pv.yearly_kwh - 5272).abs() < 60, "{}", pv.yearly_kwh);
        assert!(pv.monthly_kwh[5] > 5 * pv.monthly_kwh[11]);
        let bb = c.building_bound.as_ref().unwrap();
        assert_eq!(
            bb.yearly_kwh,
            (4800.0f64 / 4.0 + 2054.4 / 2.5 + 330.0).round() as i64
        );
        assert!(bb.monthly_kwh[0] > 2 * bb.monthly_kwh[6]);
        for (_, b) in c.bundles() {
            assert_eq!(b.monthly_kwh.iter().sum::<i64>(), b.yearly_kwh);
        }
        assert!(c.notes.is_empty(), "{:?}", c.notes);
    }

    #[test]
    fn orientation_factors_are_sensible() {
        assert_eq!(orientation_factor(30.0, 180.0), 1.0);
        assert_eq!(orientation_factor(0.0, 0.0), 0.87);
        assert!((orientation_factor(30.0, 90.0) - 0.80).abs() < 1e-9);
        assert!((orientation_factor(30.0, 270.0) - 0.80).abs() < 1e-9);
        let between = orientation_factor(37.5, 202.5);
        assert!(between < 1.0 && between > 0.93, "{between}");
    }
}
