//! The heat pump of `shared/data/MODEL.md` §3 (the backtest's heat pump, and the
//! smart strategy's estimate of the heat it puts in): Carnot-fraction COPs for hot water
//! and weather-compensated space heating, and the hot-water heating power.

use serde::Deserialize;

const KELVIN: f64 = 273.15;

/// The heat pump's parameters (the sidecar JSON's `heat_pump`).
#[derive(Debug, Clone, Deserialize)]
pub struct HeatPumpParams {
    pub p_th_dhw_kw_at_7c: f64,
    pub p_th_dhw_slope_kw_per_k: f64,
    pub p_th_dhw_min_kw: f64,
    pub p_th_dhw_max_kw: f64,
    pub dhw_eta_carnot: f64,
    pub dhw_cond_offset_k: f64,
    pub evap_offset_k: f64,
    pub sh_eta_carnot: f64,
    pub sh_cond_offset_k: f64,
    pub sh_supply_c_at_m10: f64,
    pub sh_supply_c_at_p15: f64,
    pub cop_min: f64,
    pub cop_max_dhw: f64,
    pub cop_max_sh: f64,
}

impl Default for HeatPumpParams {
    /// Year A's heat pump.
    fn default() -> Self {
        Self {
            p_th_dhw_kw_at_7c: 3.2,
            p_th_dhw_slope_kw_per_k: 0.04,
            p_th_dhw_min_kw: 2.4,
            p_th_dhw_max_kw: 3.6,
            dhw_eta_carnot: 0.45,
            dhw_cond_offset_k: 5.0,
            evap_offset_k: 6.0,
            sh_eta_carnot: 0.5,
            sh_cond_offset_k: 3.0,
            sh_supply_c_at_m10: 35.0,
            sh_supply_c_at_p15: 25.0,
            cop_min: 1.5,
            cop_max_dhw: 5.0,
            cop_max_sh: 6.5,
        }
    }
}

fn carnot(eta: f64, cond_c: f64, source_c: f64) -> f64 {
    let lift = (cond_c - source_c).max(1.0);
    eta * (cond_c + KELVIN) / lift
}

impl HeatPumpParams {
    /// Hot-water heating power (thermal), kW.
    pub fn dhw_power_kw(&self, outdoor_c: f64) -> f64 {
        (self.p_th_dhw_kw_at_7c + self.p_th_dhw_slope_kw_per_k * (outdoor_c - 7.0))
            .clamp(self.p_th_dhw_min_kw, self.p_th_dhw_max_kw)
    }

    /// Hot-water COP when the condenser runs for `target_c`.
    pub fn dhw_cop(&self, target_c: f64, outdoor_c: f64) -> f64 {
        carnot(
            self.dhw_eta_carnot,
            target_c + self.dhw_cond_offset_k,
            outdoor_c - self.evap_offset_k,
        )
        .clamp(self.cop_min, self.cop_max_dhw)
    }

    /// Space-heating supply temperature from the heating curve.
    pub fn sh_supply_c(&self, outdoor_c: f64) -> f64 {
        let (lo, hi) = (self.sh_supply_c_at_p15, self.sh_supply_c_at_m10);
        let f = (outdoor_c + 10.0) / 25.0;
        (hi + (lo - hi) * f).clamp(lo.min(hi), lo.max(hi))
    }

    pub fn sh_cop(&self, outdoor_c: f64) -> f64 {
        carnot(
            self.sh_eta_carnot,
            self.sh_supply_c(outdoor_c) + self.sh_cond_offset_k,
            outdoor_c - self.evap_offset_k,
        )
        .clamp(self.cop_min, self.cop_max_sh)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cops_match_the_model_table() {
        let hp = HeatPumpParams::default();
        let cop55 = [2.05, 2.34, 2.54, 2.78, 3.26];
        let cop60 = [1.95, 2.21, 2.38, 2.58, 2.98];
        for (i, t) in [-7.0, 2.0, 7.0, 12.0, 20.0].into_iter().enumerate() {
            assert!((hp.dhw_cop(55.0, t) - cop55[i]).abs() < 0.006, "{t}");
            assert!((hp.dhw_cop(60.0, t) - cop60[i]).abs() < 0.006, "{t}");
        }
        assert!((hp.dhw_power_kw(7.0) - 3.2).abs() < 1e-9);
        assert_eq!(hp.dhw_power_kw(-20.0), 2.4);
        assert_eq!(hp.dhw_power_kw(40.0), 3.6);
        assert_eq!(hp.sh_supply_c(-10.0), 35.0);
        assert_eq!(hp.sh_supply_c(15.0), 25.0);
    }
}
