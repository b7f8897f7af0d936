//! The stratified hot-water tank of `shared/data/MODEL.md` §2: node temperatures,
//! plug-flow draws, stratified or coil charging, standby loss.

use serde::Deserialize;

/// Heat capacity of water, kWh per litre and kelvin.
pub const C_W: f64 = 1.163e-3;

/// How the heat pump puts heat into the tank.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Charging {
    /// Coldest water out, water at the target back in at the top: hot builds top-down.
    #[default]
    Stratified,
    /// A coil in the bottom layers; buoyancy mixes what is warmer than above it.
    Coil,
}

/// The tank's parameters (the sidecar JSON's `tank`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct TankParams {
    pub volume_l: f64,
    pub ua_w_per_k: f64,
    pub t_cold_c: f64,
    pub t_ambient_c: f64,
    pub t_min_use_c: f64,
    pub t_set_c: f64,
    pub t_max_hp_c: f64,
    pub t_init_c: f64,
    #[serde(default = "default_nodes")]
    pub n_nodes: usize,
    #[serde(default = "default_coil_nodes")]
    pub coil_nodes: usize,
    pub sensor_node: usize,
    #[serde(default)]
    pub charging: Charging,
}

fn default_nodes() -> usize {
    20
}

fn default_coil_nodes() -> usize {
    6
}

impl Default for TankParams {
    /// Year A's tank: 200 l, 1.6 W/K.
    fn default() -> Self {
        Self {
            volume_l: 200.0,
            ua_w_per_k: 1.6,
            t_cold_c: 10.0,
            t_ambient_c: 18.0,
            t_min_use_c: 45.0,
            t_set_c: 55.0,
            t_max_hp_c: 60.0,
            t_init_c: 50.0,
            n_nodes: 20,
            coil_nodes: 6,
            sensor_node: 9,
            charging: Charging::Stratified,
        }
    }
}

impl TankParams {
    /// The same make of tank with another volume: its standby loss scales with its
    /// surface (volume^2/3).
    pub fn resized(&self, litres: f64) -> Self {
        Self {
            ua_w_per_k: self.ua_w_per_k * (litres / self.volume_l).powf(2.0 / 3.0),
            volume_l: litres,
            ..self.clone()
        }
    }

    /// Year A's tank made into the one `[control.tank]` describes: its volume, its
    /// label's standby loss (measured at 65 °C in a 20 °C room; by default year A's
    /// make at this volume) and its sensor's height.
    pub fn labelled(t: &crate::config::TankSetup) -> Self {
        /// The label's tank and room temperatures differ by this, K.
        const LABEL_DELTA_K: f64 = 45.0;
        let mut tank = Self::default().resized(t.litres);
        if let Some(w) = t.standby_loss_w {
            tank.ua_w_per_k = w / LABEL_DELTA_K;
        }
        if let Some(h) = t.sensor_height {
            tank.sensor_node = ((h * tank.n_nodes as f64) as usize).min(tank.n_nodes - 1);
        }
        tank
    }

    pub fn check(&self) -> Result<(), String> {
        let sized = self.volume_l > 0.0 && self.ua_w_per_k >= 0.0;
        if !sized {
            return Err("tank: volume_l must be > 0 and ua_w_per_k ≥ 0".into());
        }
        if self.n_nodes < 2 || self.sensor_node >= self.n_nodes {
            return Err(format!(
                "tank: sensor_node {} must lie in 0..{} (n_nodes ≥ 2)",
                self.sensor_node, self.n_nodes
            ));
        }
        if self.coil_nodes == 0 || self.coil_nodes > self.n_nodes {
            return Err("tank: coil_nodes must lie in 1..=n_nodes".into());
        }
        if !(self.t_cold_c < self.t_min_use_c && self.t_min_use_c < self.t_set_c) {
            return Err("tank: t_cold_c < t_min_use_c < t_set_c is required".into());
        }
        Ok(())
    }

    /// Heat held when the whole tank is at `t` (relative to mains water), kWh.
    pub fn full_charge_kwh(&self, t: f64) -> f64 {
        C_W * self.volume_l * (t - self.t_cold_c)
    }
}

/// What a draw delivered.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct DrawOutcome {
    /// Heat delivered from water below the minimum use temperature, kWh.
    pub cold_kwh: f64,
    /// Heat asked for that the tank did not hold, kWh.
    pub unmet_kwh: f64,
}

#[derive(Debug, Clone)]
pub struct Tank {
    pub params: TankParams,
    /// Node temperatures, node 0 at the bottom.
    pub t: Vec<f64>,
}

impl Tank {
    pub fn new(params: TankParams) -> Self {
        let t = vec![params.t_init_c; params.n_nodes];
        Self { params, t }
    }

    /// kWh per kelvin of one node.
    fn node_cap(&self) -> f64 {
        C_W * self.params.volume_l / self.t.len() as f64
    }

    /// What the controller reads.
    pub fn sensor(&self) -> f64 {
        self.t[self.params.sensor_node]
    }

    pub fn top(&self) -> f64 {
        self.t[self.t.len() - 1]
    }

    /// Heat above mains water, kWh.
    pub fn stored_kwh(&self) -> f64 {
        let cap = self.node_cap();
        self.t
            .iter()
            .map(|t| cap * (t - self.params.t_cold_c))
            .sum()
    }

    /// Heat the tank could deliver at or above the minimum use temperature, kWh.
    pub fn usable_kwh(&self) -> f64 {
        let cap = self.node_cap();
        self.t
            .iter()
            .filter(|t| **t >= self.params.t_min_use_c)
            .map(|t| cap * (t - self.params.t_cold_c))
            .sum()
    }

    /// Per-node standby loss over `hours`, in kelvin, from the current temperatures.
    pub fn standby_loss(&self, hours: f64) -> Vec<f64> {
        let per_node_w = self.params.ua_w_per_k / self.t.len() as f64;
        let cap = self.node_cap();
        self.t
            .iter()
            .map(|t| per_node_w * (t - self.params.t_ambient_c) * hours / 1000.0 / cap)
            .collect()
    }

    /// Subtracts a loss computed by [`Tank::standby_loss`]; returns it in kWh.
    pub fn apply_loss(&mut self, loss_k: &[f64]) -> f64 {
        let cap = self.node_cap();
        let mut kwh = 0.0;
        for (t, l) in self.t.iter_mut().zip(loss_k) {
            *t -= l;
            kwh += l * cap;
        }
        kwh
    }

    /// Takes `demand_kwh` of heat from the top (plug flow) and refills with mains water.
    pub fn draw(&mut self, demand_kwh: f64) -> DrawOutcome {
        let mut out = DrawOutcome::default();
        if demand_kwh <= 0.0 {
            return out;
        }
        let cap = self.node_cap();
        let (tc, tmin) = (self.params.t_cold_c, self.params.t_min_use_c);
        let n = self.t.len();
        let mut left = demand_kwh;
        let mut volume = 0.0; // in nodes
        for i in (0..n).rev() {
            if left <= 0.0 {
                break;
            }
            let content = cap * (self.t[i] - tc);
            let taken = if content.max(0.0) < left {
                volume += 1.0;
                content.max(0.0)
            } else {
                volume += left / content;
                left
            };
            if self.t[i] < tmin {
                out.cold_kwh += taken;
            }
            left -= taken;
        }
        if left > 1e-12 {
            out.unmet_kwh = left;
        }
        // Shift the profile up by `volume` nodes and re-bin onto the nodes.
        let k = volume.floor() as usize;
        let f = volume - volume.floor();
        let old = self.t.clone();
        let at = |i: isize| if i < 0 { tc } else { old[i as usize] };
        for j in 0..n {
            let j = j as isize;
            let k = k as isize;
            self.t[j as usize] = f * at(j - k - 1) + (1.0 - f) * at(j - k);
        }
        out
    }

    /// Heat needed to bring every node to `target`, kWh.
    pub fn need_kwh(&self, target: f64) -> f64 {
        let cap = self.node_cap();
        self.t.iter().map(|t| cap * (target - t).max(0.0)).sum()
    }

    /// Whether a charge to `target` is complete.
    pub fn charged(&self, target: f64) -> bool {
        match self.params.charging {
            Charging::Stratified => self.t.iter().all(|t| *t >= target - 1.0),
            Charging::Coil => self.sensor() >= target - 0.5,
        }
    }

    /// Puts up to `kwh` of heat in towards `target`; returns what was absorbed.
    pub fn heat(&mut self, kwh: f64, target: f64) -> f64 {
        match self.params.charging {
            Charging::Stratified => self.heat_stratified(kwh, target),
            Charging::Coil => self.heat_coil(kwh, target),
        }
    }

    fn heat_stratified(&mut self, kwh: f64, target: f64) -> f64 {
        let cap = self.node_cap();
        let mut left = kwh;
        for t in self.t.iter_mut().rev() {
            if left <= 0.0 {
                break;
            }
            if *t < target {
                let give = (cap * (target - *t)).min(left);
                *t += give / cap;
                left -= give;
            }
        }
        kwh - left
    }

    fn heat_coil(&mut self, kwh: f64, target: f64) -> f64 {
        let cap = self.node_cap();
        let m = self.params.coil_nodes;
        let mean = self.t[..m].iter().sum::<f64>() / m as f64;
        let room = (cap * m as f64 * (target - mean)).max(0.0);
        let give = kwh.min(room);
        let t = mean + give / (cap * m as f64);
        for x in &mut self.t[..m] {
            *x = t;
        }
        self.buoyancy();
        give
    }

    /// Merges any node warmer than the one above it, until the profile is stable.
    fn buoyancy(&mut self) {
        let n = self.t.len();
        // Pool-adjacent-violators: layers of equal temperature, merged upwards.
        let mut blocks: Vec<(f64, usize)> = Vec::with_capacity(n);
        for &t in &self.t {
            blocks.push((t, 1));
            while blocks.len() >= 2 {
                let (t2, n2) = blocks[blocks.len() - 1];
                let (t1, n1) = blocks[blocks.len() - 2];
                if t1 <= t2 {
                    break;
                }
                blocks.pop();
                let last = blocks.len() - 1;
                blocks[last] = (
                    (t1 * n1 as f64 + t2 * n2 as f64) / (n1 + n2) as f64,
                    n1 + n2,
                );
            }
        }
        let mut i = 0;
        for (t, len) in blocks {
            for x in &mut self.t[i..i + len] {
                *x = t;
            }
            i += len;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_labelled_tank_is_year_as_make_resized_with_the_labels_loss_and_sensor() {
        let label = |litres, standby_loss_w, sensor_height| {
            TankParams::labelled(&crate::config::TankSetup {
                litres,
                standby_loss_w,
                sensor_height,
            })
        };
        let a = TankParams::default();
        let small = label(150.0, None, None);
        assert_eq!(small.volume_l, 150.0);
        // Same make: the loss scales with the surface.
        let want = a.ua_w_per_k * (150.0_f64 / 200.0).powf(2.0 / 3.0);
        assert!((small.ua_w_per_k - want).abs() < 1e-9, "{small:?}");
        assert_eq!(small.sensor_node, a.sensor_node);
        // 54 W on the label at 65 °C in a 20 °C room; the sensor at three quarters.
        let labelled = label(300.0, Some(54.0), Some(0.75));
        assert!((labelled.ua_w_per_k - 1.2).abs() < 1e-9, "{labelled:?}");
        assert_eq!(labelled.sensor_node, 15);
        // Year A's own label gives year A's tank.
        assert_eq!(label(200.0, Some(72.0), Some(0.475)), a);
    }

    fn tank(t: f64) -> Tank {
        Tank::new(TankParams {
            t_init_c: t,
            ..TankParams::default()
        })
    }

    #[test]
    fn a_full_charge_holds_the_reference_heat() {
        let t = tank(55.0);
        assert!((t.stored_kwh() - 10.47).abs() < 0.01);
        assert!((TankParams::default().full_charge_kwh(60.0) - 11.63).abs() < 0.01);
    }

    #[test]
    fn a_draw_takes_heat_from_the_top_and_refills_cold_at_the_bottom() {
        let mut t = tank(55.0);
        let before = t.stored_kwh();
        let out = t.draw(2.0);
        assert_eq!(out, DrawOutcome::default());
        assert!(
            (before - t.stored_kwh() - 2.0).abs() < 1e-9,
            "energy balance"
        );
        assert!(t.t[0] < 55.0 && t.t[19] == 55.0);
        // More than the tank holds: the rest is unmet, the cold part counted.
        let out = t.draw(20.0);
        assert!((out.unmet_kwh - (20.0 - (before - 2.0))).abs() < 1e-6);
        assert!(out.cold_kwh > 0.0);
        assert!(t.t.iter().all(|x| (*x - 10.0).abs() < 1e-9));
    }

    #[test]
    fn stratified_charging_builds_hot_water_from_the_top() {
        let mut t = tank(20.0);
        let got = t.heat(1.0, 55.0);
        assert!((got - 1.0).abs() < 1e-9);
        assert!((t.top() - 55.0).abs() < 1e-9 && t.t[0] == 20.0);
        assert!(!t.charged(55.0));
        let need = t.need_kwh(55.0);
        assert!(
            (t.heat(100.0, 55.0) - need).abs() < 1e-9,
            "never above the target"
        );
        assert!(t.charged(55.0));
    }

    #[test]
    fn coil_charging_heats_the_bottom_and_buoyancy_mixes() {
        let mut t = Tank::new(TankParams {
            t_init_c: 40.0,
            charging: Charging::Coil,
            ..TankParams::default()
        });
        t.heat(1.0, 55.0);
        // The bottom got warmer than the rest, so it merged upwards: still monotone.
        assert!(t.t.windows(2).all(|w| w[0] <= w[1] + 1e-12));
        assert!(t.t[0] > 40.0);
    }

    #[test]
    fn standby_loss_is_linear_in_the_mean_temperature() {
        let t = tank(55.0);
        let loss = t.standby_loss(24.0);
        let kwh: f64 = loss.iter().sum::<f64>() * C_W * 10.0;
        assert!((kwh - 1.6 * 37.0 * 24.0 / 1000.0).abs() < 1e-9);
    }
}
