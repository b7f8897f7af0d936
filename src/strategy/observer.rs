//! What the smart strategy believes is in the tank, and what the household draws
//! when: a copy of the tank model kept in step with the one temperature sensor.
//!
//! The heat the heat pump puts in is known (its electric power times an estimated
//! COP); standby loss follows the model. A draw is seen only when the sensor drops:
//! the observer then finds the draw that explains the drop. While the sensor sits in
//! the hot zone, draws are invisible; they are carried as "unseen" (what the learned
//! pattern says was probably drawn) until the sensor or a finished charge tells.

use super::tank::{Tank, TankParams};

/// Slots per day in the learned draw pattern (15 minutes each).
pub const SLOTS: usize = 96;
/// How quickly the pattern follows a change in habits (per day, per slot).
const LEARN: f64 = 0.1;
/// A sensor this much below the estimate means water was drawn (smaller gaps are
/// the estimate's own drift, and a well-mixed zone hides draws anyway).
const DRAW_SEEN_K: f64 = 1.5;
/// Draws the sensor cannot see coming (it sits in cold water) count this many times.
const BLIND_SAFETY: f64 = 2.0;
/// A sensor this close to mains temperature sits in cold water.
const COLD_SATURATED_K: f64 = 8.0;

/// How much the `samples`-th sample weighs in an average that moves at `rate`: a
/// plain mean over the first samples (an average that starts from nothing would
/// take weeks to grow), then the moving one.
pub fn settling(rate: f64, samples: u32) -> f64 {
    rate.max(1.0 / f64::from(samples.max(1)))
}

#[derive(Debug, Clone)]
pub struct Observer {
    pub est: Tank,
    /// Mean heat drawn per slot of the day, kWh, over all days.
    pub pattern: [f64; SLOTS],
    /// The same for weekdays (0) and weekend days (1), and the days each learned from:
    /// a household showers later on Saturdays.
    kinds: [[f64; SLOTS]; 2],
    kind_days: [u32; 2],
    /// Whether today is a weekend day.
    weekend: bool,
    /// Draws since the last informative reading that the pattern expects, kWh.
    pub unseen_kwh: f64,
    /// The last sensor reading, °C.
    sensor_c: f64,
    /// Heat put in since the last finished charge that the estimate could not take.
    excess_kwh: f64,
    /// Draw inferred per slot today, before it is folded into the pattern.
    today: [f64; SLOTS],
    /// The part of it the sensor saw (not spread from a charge's end).
    today_seen: [f64; SLOTS],
    seen_slots: [bool; SLOTS],
    /// Days the pattern has learned from.
    days: u32,
    /// The heat drawn per day by the tank's energy balance (heat put in, less
    /// standby loss and the change in what is stored), averaged like the pattern, kWh.
    balance_kwh: f64,
    /// Days the balance has learned from.
    balance_days: u32,
    /// Today's heat in and standby loss so far, and what was stored at midnight, kWh.
    day_heat_kwh: f64,
    day_loss_kwh: f64,
    day_start_kwh: Option<f64>,
    /// The draws the sensor saw per slot on each recent day, kWh (newest last).
    recent: std::collections::VecDeque<[f64; SLOTS]>,
    /// The large hourly draw of `recent` (kept, as it changes once a day), kWh.
    burst_kwh: f64,
    /// The same around each slot of the day: the most drawn within an hour starting
    /// from an hour before the slot to an hour after it, as recent days stayed under
    /// it nine times in ten, kWh.
    burst_at_kwh: [f64; SLOTS],
}

/// A weekday's or weekend day's own pattern is used once it has learned from this many
/// such days (four weekends).
const KIND_MIN_DAYS: u32 = 8;
/// Days of seen draws kept …
pub const RECENT_DAYS: usize = 28;
/// … and the share of them the burst reserve covers.
const BURST_QUANTILE: f64 = 0.9;

/// What recent days stayed under nine times in ten (0 for none).
fn quantile(days: impl Iterator<Item = f64>) -> f64 {
    let mut b: Vec<f64> = days.collect();
    b.sort_by(f64::total_cmp);
    match b.len() {
        0 => 0.0,
        n => b[((n as f64 * BURST_QUANTILE) as usize).min(n - 1)],
    }
}

impl Observer {
    pub fn new(params: TankParams) -> Self {
        Self {
            est: Tank::new(params.clone()),
            pattern: [0.0; SLOTS],
            kinds: [[0.0; SLOTS]; 2],
            kind_days: [0; 2],
            weekend: false,
            unseen_kwh: 0.0,
            sensor_c: params.t_init_c,
            excess_kwh: 0.0,
            today: [0.0; SLOTS],
            today_seen: [0.0; SLOTS],
            seen_slots: [false; SLOTS],
            days: 0,
            balance_kwh: 0.0,
            balance_days: 0,
            day_heat_kwh: 0.0,
            day_loss_kwh: 0.0,
            day_start_kwh: None,
            recent: std::collections::VecDeque::with_capacity(RECENT_DAYS),
            burst_kwh: 0.0,
            burst_at_kwh: [0.0; SLOTS],
        }
    }

    /// Days the pattern has learned from.
    pub fn days(&self) -> u32 {
        self.days
    }

    /// Today is a weekend day (true) or a weekday: whose pattern the day's draws
    /// follow and are learned into.
    pub fn set_day(&mut self, weekend: bool) {
        self.weekend = weekend;
    }

    /// The draw pattern of a weekday or a weekend day: its own once it has learned
    /// from enough such days, else the one over all days.
    pub fn pattern_for(&self, weekend: bool) -> &[f64; SLOTS] {
        let k = usize::from(weekend);
        if self.kind_days[k] >= KIND_MIN_DAYS {
            &self.kinds[k]
        } else {
            &self.pattern
        }
    }

    /// The weekday and weekend patterns and the days each learned from, for saving.
    pub fn kinds(&self) -> ([[f64; SLOTS]; 2], [u32; 2]) {
        (self.kinds, self.kind_days)
    }

    /// Takes up weekday and weekend patterns learned before a restart.
    pub fn resume_kinds(&mut self, kinds: [[f64; SLOTS]; 2], days: [u32; 2]) {
        self.kinds = kinds;
        self.kind_days = days;
    }

    /// Forgets the draw pattern (new residents); the copy of the tank stays.
    pub fn forget(&mut self) {
        self.pattern = [0.0; SLOTS];
        self.kinds = [[0.0; SLOTS]; 2];
        self.kind_days = [0; 2];
        self.days = 0;
        self.balance_kwh = 0.0;
        self.balance_days = 0;
        self.recent.clear();
        self.burst_kwh = 0.0;
        self.burst_at_kwh = [0.0; SLOTS];
        self.unseen_kwh = 0.0;
        self.today = [0.0; SLOTS];
        self.today_seen = [0.0; SLOTS];
        self.seen_slots = [false; SLOTS];
    }

    /// Takes up a pattern learned before (a restart): `pattern` per slot, kWh, from
    /// `days` days, and the daily draw by the energy balance if it was saved.
    pub fn resume(&mut self, pattern: [f64; SLOTS], days: u32, balance_kwh: Option<f64>) {
        self.pattern = pattern;
        self.days = days;
        if let Some(b) = balance_kwh {
            self.balance_kwh = b;
            self.balance_days = days;
        }
    }

    /// Heat drawn a day, kWh: by the energy balance once it has a day to go on (the
    /// pattern alone misses what is drawn above the sensor and while the tank is
    /// cold), else what the pattern adds up to.
    pub fn daily_kwh(&self) -> f64 {
        if self.balance_days > 0 {
            self.balance_kwh
        } else {
            self.pattern.iter().sum()
        }
    }

    /// The daily draw by the energy balance, for saving (None before a day of it).
    pub fn balance(&self) -> Option<f64> {
        (self.balance_days > 0).then_some(self.balance_kwh)
    }

    /// The most heat the sensor saw drawn within one hour of a day, as recent days
    /// stayed under it nine times in ten, kWh (0 before a day has been seen).
    pub fn burst_kwh(&self) -> f64 {
        self.burst_kwh
    }

    /// The large draw around slot `slot` of the day: the most the sensor saw drawn
    /// within an hour starting from an hour before the slot to an hour after it, as
    /// recent days stayed under it nine times in ten, kWh (0 before a day was seen;
    /// within the day: the hour before midnight does not count for the hour after).
    pub fn burst_at_kwh(&self, slot: usize) -> f64 {
        self.burst_at_kwh[slot % SLOTS]
    }

    /// Each recent day's draws within the hour from each slot on, kWh.
    fn hourly(&self) -> Vec<[f64; SLOTS]> {
        self.recent
            .iter()
            .map(|day| std::array::from_fn(|i| day[i..(i + 4).min(SLOTS)].iter().sum()))
            .collect()
    }

    /// The day's large draw and the one around each slot, from the recent days (once
    /// a day, and when saved days are taken up).
    fn refresh_bursts(&mut self) {
        let hourly = self.hourly();
        let most = |range: std::ops::Range<usize>| {
            quantile(
                hourly
                    .iter()
                    .map(|h| h[range.clone()].iter().copied().fold(0.0, f64::max)),
            )
        };
        self.burst_kwh = most(0..SLOTS);
        self.burst_at_kwh = std::array::from_fn(|s| most(s.saturating_sub(4)..(s + 5).min(SLOTS)));
    }

    /// The recent days' seen draws, for saving (oldest first).
    pub fn recent(&self) -> Vec<Vec<f64>> {
        self.recent.iter().map(|d| d.to_vec()).collect()
    }

    /// Takes up saved recent days (oldest first); a day without one value per slot
    /// is refused with what is wrong.
    pub fn resume_recent(&mut self, days: &[Vec<f64>]) -> Result<(), String> {
        let skip = days.len().saturating_sub(RECENT_DAYS);
        let mut recent = std::collections::VecDeque::with_capacity(RECENT_DAYS);
        for (i, d) in days[skip..].iter().enumerate() {
            let day: [f64; SLOTS] = d.as_slice().try_into().map_err(|_| {
                format!("`recent_draws` day {i} has {} values, not {SLOTS}", d.len())
            })?;
            if let Some(v) = day.iter().find(|v| !(0.0..=50.0).contains(*v)) {
                return Err(format!("`recent_draws` day {i} has {v}, outside 0..=50"));
            }
            recent.push_back(day);
        }
        self.recent = recent;
        self.refresh_bursts();
        Ok(())
    }

    /// What the pattern is multiplied by to add up to the daily draw.
    pub fn draw_scale(&self) -> f64 {
        self.scale_for(self.weekend)
    }

    /// What a weekday's or weekend day's pattern is multiplied by to add up to the
    /// daily draw.
    pub fn scale_for(&self, weekend: bool) -> f64 {
        let sum: f64 = self.pattern_for(weekend).iter().sum();
        if sum > 0.0 {
            self.daily_kwh() / sum
        } else {
            0.0
        }
    }

    /// The usual draw in `slot`: the pattern's shape, scaled to the daily draw.
    pub fn draw_at(&self, slot: usize) -> f64 {
        self.pattern_for(self.weekend)[slot % SLOTS] * self.draw_scale()
    }

    /// Usable heat (water at or above the use minimum) the tank probably holds, kWh.
    pub fn usable_kwh(&self) -> f64 {
        // Water is warmer above the sensor than at it: what the sensor sees is there.
        let p = &self.est.params;
        let floor = if self.sensor_c >= p.t_min_use_c {
            let above = (p.n_nodes - p.sensor_node) as f64 / p.n_nodes as f64;
            p.full_charge_kwh(self.sensor_c) * above
        } else {
            0.0
        };
        (self.est.usable_kwh() - self.unseen_kwh).max(floor)
    }

    /// Brings the estimate up to the start of this step: `hours` since the last one,
    /// `heat_kwh` put in towards `target` meanwhile, `finished` when the heat pump
    /// ended a charge by reaching its target, then the sensor reading `sensor_c`.
    /// `slot` is the slot the last step belonged to.
    pub fn update(
        &mut self,
        slot: usize,
        hours: f64,
        heat_kwh: f64,
        target: Option<f64>,
        finished: bool,
        sensor_c: f64,
    ) {
        self.day_start_kwh.get_or_insert(self.est.stored_kwh());
        let loss = self.est.standby_loss(hours);
        self.day_loss_kwh += self.est.apply_loss(&loss);
        self.day_heat_kwh += heat_kwh;
        if let Some(t) = target {
            let took = self.est.heat(heat_kwh, t);
            self.excess_kwh += heat_kwh - took;
            if finished {
                // The real tank is full: what went in beyond the estimate's room was
                // drawn unseen, at the times the pattern says draws happen.
                self.spread_unseen(self.excess_kwh);
                for x in &mut self.est.t {
                    *x = x.max(t - 0.5);
                }
                self.excess_kwh = 0.0;
                self.unseen_kwh = 0.0;
            }
        }
        self.sensor_c = sensor_c;
        if sensor_c < self.est.params.t_cold_c + COLD_SATURATED_K
            && self.est.sensor() > sensor_c + DRAW_SEEN_K
        {
            // A sensor in cold water cannot tell how far the cold has risen above it:
            // assume it reached the top. A charge then builds the estimate up from
            // nothing, as it builds the real hot water up from the top.
            for x in &mut self.est.t {
                *x = x.min(sensor_c);
            }
        }
        let cold = sensor_c < self.est.params.t_cold_c + COLD_SATURATED_K;
        let informative = sensor_c < self.est.top() - 2.0 && !cold;
        let mut drawn = 0.0;
        if self.est.sensor() > sensor_c + DRAW_SEEN_K {
            drawn = self.infer_draw(sensor_c);
            self.est.draw(drawn);
        } else if self.est.sensor() < sensor_c - 0.3 {
            // The estimate is colder than the tank: trust the sensor from it upwards.
            let s = self.est.params.sensor_node;
            for x in &mut self.est.t[s..] {
                *x = x.max(sensor_c);
            }
        }
        if informative || drawn > 0.0 {
            self.unseen_kwh = 0.0;
        } else {
            // A sensor in cold water will not see the hot water run out: count the
            // usual draws twice over.
            let blind = if cold { BLIND_SAFETY } else { 1.0 };
            self.unseen_kwh += self.draw_at(slot) * blind;
        }
        self.today[slot] += drawn;
        self.today_seen[slot] += drawn;
        self.seen_slots[slot] = true;
        if slot == SLOTS - 1 {
            self.fold_day();
        }
    }

    /// The draw that takes the estimate's sensor down to `sensor_c`, by bisection.
    fn infer_draw(&self, sensor_c: f64) -> f64 {
        let (mut lo, mut hi) = (0.0, self.est.stored_kwh().max(0.0));
        for _ in 0..30 {
            let mid = 0.5 * (lo + hi);
            let mut t = self.est.clone();
            t.draw(mid);
            if t.sensor() > sensor_c {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        0.5 * (lo + hi)
    }

    /// Attributes heat drawn unseen to today's slots in proportion to the pattern.
    fn spread_unseen(&mut self, kwh: f64) {
        if kwh <= 0.0 {
            return;
        }
        let slots: Vec<usize> = (0..SLOTS).filter(|i| self.seen_slots[*i]).collect();
        let weight: f64 = slots.iter().map(|i| self.pattern[*i]).sum();
        for &i in &slots {
            let w = if weight > 0.0 {
                self.pattern[i] / weight
            } else {
                1.0 / slots.len() as f64
            };
            self.today[i] += kwh * w;
        }
    }

    fn fold_day(&mut self) {
        let seen: f64 = self.today.iter().sum();
        let usual: f64 = self.pattern.iter().sum();
        let stored = self.est.stored_kwh();
        let balance =
            self.day_heat_kwh - self.day_loss_kwh - (stored - self.day_start_kwh.unwrap_or(stored));
        self.day_heat_kwh = 0.0;
        self.day_loss_kwh = 0.0;
        self.day_start_kwh = Some(stored);
        // A day without draws is a day away: it says nothing about the habits.
        if seen >= 0.1 * usual {
            if self.recent.len() == RECENT_DAYS {
                self.recent.pop_front();
            }
            self.recent.push_back(self.today_seen);
            self.refresh_bursts();
            if balance > 0.0 {
                self.balance_days = self.balance_days.saturating_add(1);
                let learn = settling(LEARN, self.balance_days);
                self.balance_kwh = (1.0 - learn) * self.balance_kwh + learn * balance.max(seen);
            }
            self.days = self.days.saturating_add(1);
            let learn = settling(LEARN, self.days);
            for i in 0..SLOTS {
                self.pattern[i] = (1.0 - learn) * self.pattern[i] + learn * self.today[i];
            }
            let k = usize::from(self.weekend);
            self.kind_days[k] = self.kind_days[k].saturating_add(1);
            let learn = settling(LEARN, self.kind_days[k]);
            for i in 0..SLOTS {
                self.kinds[k][i] = (1.0 - learn) * self.kinds[k][i] + learn * self.today[i];
            }
        }
        self.today = [0.0; SLOTS];
        self.today_seen = [0.0; SLOTS];
        self.seen_slots = [false; SLOTS];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full() -> (Tank, Observer) {
        let p = TankParams {
            t_init_c: 55.0,
            ..TankParams::default()
        };
        (Tank::new(p.clone()), Observer::new(p))
    }

    #[test]
    fn a_draw_the_sensor_sees_is_inferred() {
        let (mut tank, mut obs) = full();
        tank.draw(5.0); // the thermocline reaches the sensor
        obs.update(28, 0.0, 0.0, None, false, tank.sensor());
        let err = (obs.est.stored_kwh() - tank.stored_kwh()).abs();
        assert!(
            err < 0.3,
            "estimate off by {err:.2} kWh, sensor {:.1}",
            tank.sensor()
        );
        assert!((obs.usable_kwh() - tank.usable_kwh()).abs() < 0.6);
    }

    #[test]
    fn a_draw_hidden_above_the_sensor_is_learned_when_the_charge_ends() {
        let (mut tank, mut obs) = full();
        tank.draw(2.0); // the sensor stays in hot water
        obs.update(28, 0.0, 0.0, None, false, tank.sensor());
        assert!(
            obs.est.stored_kwh() > tank.stored_kwh() + 1.5,
            "not seen yet"
        );
        // A charge puts the 2 kWh back; the estimate had no room for it.
        let heat = tank.heat(5.0, 55.0);
        assert!(tank.charged(55.0));
        obs.update(29, 0.0, heat, Some(55.0), true, tank.sensor());
        // Folded at the end of the day: the first day is all the pattern knows, so it
        // now expects about 2 kWh a day.
        for slot in 30..SLOTS {
            obs.update(slot, 0.0, 0.0, None, false, tank.sensor());
        }
        let learned: f64 = obs.pattern.iter().sum();
        assert!((learned - 2.0).abs() < 0.2, "learned {learned:.2} kWh of 2");
    }

    #[test]
    fn the_first_days_are_averaged_then_habits_move_slowly() {
        let (_, mut obs) = full();
        let day = |obs: &mut Observer, kwh: f64| {
            obs.today[28] = kwh;
            obs.seen_slots[28] = true;
            obs.fold_day();
            obs.pattern[28]
        };
        assert!((day(&mut obs, 2.0) - 2.0).abs() < 1e-9);
        // The second day counts as much as the first: the mean of 2 and 4.
        assert!((day(&mut obs, 4.0) - 3.0).abs() < 1e-9);
        for _ in 0..20 {
            day(&mut obs, 3.0);
        }
        // Settled: a single odd day moves the pattern by a tenth of the difference.
        let before = obs.pattern[28];
        let after = day(&mut obs, before + 1.0);
        assert!((after - before - LEARN).abs() < 1e-9, "{before} → {after}");
    }

    #[test]
    fn weekdays_and_weekends_learn_patterns_of_their_own() {
        let (_, mut obs) = full();
        // Two weeks: showers at 07:00 on weekdays, at 09:00 at the weekend.
        for d in 0..14 {
            let weekend = d % 7 >= 5;
            obs.set_day(weekend);
            let slot = if weekend { 36 } else { 28 };
            obs.today[slot] = 2.0;
            obs.seen_slots[slot] = true;
            obs.fold_day();
            if d == 5 {
                // One weekend day is too few: the pattern over all days stands in.
                assert_eq!(obs.pattern_for(true), &obs.pattern);
            }
        }
        let (weekday, weekend) = (obs.pattern_for(false), obs.pattern_for(true));
        assert!(
            (weekday[28] - 2.0).abs() < 1e-9 && weekday[36] == 0.0,
            "{weekday:?}"
        );
        assert_eq!(
            obs.pattern_for(true),
            &obs.pattern,
            "4 weekend days: not yet"
        );
        assert!(weekend[28] > 1.0, "the mix of both");
        // Two more weekends: the weekend has its own.
        for _ in 0..4 {
            obs.set_day(true);
            obs.today[36] = 2.0;
            obs.seen_slots[36] = true;
            obs.fold_day();
        }
        let weekend = obs.pattern_for(true);
        assert!(
            (weekend[36] - 2.0).abs() < 1e-9 && weekend[28] == 0.0,
            "{weekend:?}"
        );
        // The day's own pattern says what is drawn when.
        obs.set_day(true);
        assert!(obs.draw_at(36) > 0.0 && obs.draw_at(28) == 0.0);
    }

    #[test]
    fn the_large_hourly_draw_is_what_nine_days_in_ten_stayed_under() {
        let (_, mut obs) = full();
        assert_eq!(obs.burst_kwh(), 0.0, "nothing seen yet");
        // Twenty days: the morning shower (two quarter hours) takes 1 to 4.8 kWh.
        let days: Vec<Vec<f64>> = (0..20)
            .map(|i| {
                let mut d = vec![0.0; SLOTS];
                let kwh = 1.0 + 0.2 * f64::from(i);
                (d[28], d[29]) = (kwh / 2.0, kwh / 2.0);
                d[80] = 0.3;
                d
            })
            .collect();
        assert_eq!(obs.resume_recent(&days), Ok(()));
        // The 19th smallest of 20 (4.6 kWh): not the mean (2.9), not the largest (4.8).
        assert!((obs.burst_kwh() - 4.6).abs() < 1e-9, "{}", obs.burst_kwh());
        // Around the time of day: the shower from an hour before 07:00 (slot 28) to an
        // hour after it, the 0.3 kWh of 20:00 around 20:00, nothing in the afternoon.
        let at = |slot: usize| obs.burst_at_kwh(slot);
        assert!((at(24) - 4.6).abs() < 1e-9 && (at(32) - 4.6).abs() < 1e-9);
        // 08:15: only the shower's second quarter hour starts within an hour before.
        assert!((at(33) - 2.3).abs() < 1e-9, "{}", at(33));
        assert!(at(20) == 0.0 && at(34) == 0.0);
        assert!((at(80) - 0.3).abs() < 1e-9 && at(60) == 0.0);
        assert!(obs.resume_recent(&[vec![0.0; 3]]).is_err());
        assert!(obs.resume_recent(&[vec![-1.0; SLOTS]]).is_err());
    }

    #[test]
    fn the_daily_draw_by_the_energy_balance_leaves_standby_loss_out() {
        let (mut tank, mut obs) = full();
        // Three days: 3 kWh drawn above the sensor each morning (never seen by it),
        // a charge puts it back, with the standby loss meanwhile.
        for _ in 0..3 {
            for slot in 0..SLOTS {
                let (mut heat, mut target, mut finished) = (0.0, None, false);
                let loss = tank.standby_loss(0.25);
                tank.apply_loss(&loss);
                if slot == 28 {
                    tank.draw(3.0);
                }
                if slot == 40 {
                    heat = tank.heat(10.0, 55.0);
                    (target, finished) = (Some(55.0), true);
                }
                obs.update(slot, 0.25, heat, target, finished, tank.sensor());
            }
        }
        let daily = obs.daily_kwh();
        // Standby loss is part of the heat put in, not a draw.
        assert!(
            (daily - 3.0).abs() < 0.4,
            "learned {daily:.2} kWh a day of 3"
        );
    }

    #[test]
    fn a_sensor_in_cold_water_means_nothing_usable_is_assumed() {
        let (mut tank, mut obs) = full();
        tank.draw(9.0);
        obs.update(28, 0.0, 0.0, None, false, tank.sensor());
        assert!(tank.sensor() < 18.0);
        assert_eq!(obs.usable_kwh(), 0.0);
    }

    #[test]
    fn a_day_without_draws_is_not_learned() {
        let (tank, mut obs) = full();
        obs.pattern = [0.1; SLOTS];
        for slot in 0..SLOTS {
            obs.update(slot, 0.0, 0.0, None, false, tank.sensor());
        }
        assert_eq!(obs.pattern, [0.1; SLOTS]);
    }
}
