//! The hot-water planner (issue 24, docs/strategy.md "The planner"): a small dynamic
//! programme over the tank's usable heat that says whether the heat pump should heat
//! the tank now, so that the heat it takes over the horizon costs least and the tank
//! never goes below its reserve.
//!
//! Stages are quarter hours near now and whole hours further on (the far hours only
//! shape what is worth holding, so they need less detail); the heat pump heats at a
//! fixed power and a COP that is lower above the solar target. A stage's cost is the
//! grid share of its electricity at the grid's price plus the sun's share at what
//! exported PV would have earned; a start costs extra; heat left at the end is worth
//! what the grid would charge for it. Without prices the grid price is 1 and the sun's
//! 0: the cost is then grid kWh.

/// One quarter hour ahead.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Slot {
    /// Heat the tank gives up (draws with their safety margin, standby loss), kWh.
    pub need_kwh: f64,
    /// PV surplus expected after every load but hot water, W.
    pub surplus_w: f64,
    /// What a kWh from the grid costs, and what a kWh of the surplus would earn fed in.
    pub grid_price: f64,
    pub sun_price: f64,
}

/// What the planner is asked.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Problem {
    /// Heat the tank holds now, kWh.
    pub usable_kwh: f64,
    /// What it holds full at the solar target and at the heat pump's maximum, kWh.
    pub solar_kwh: f64,
    pub top_kwh: f64,
    /// Below this the household risks cold water, kWh.
    pub reserve_kwh: f64,
    /// Electric power while heating, W.
    pub charge_w: f64,
    /// Heat per quarter hour of heating up to the solar target and above it, kWh.
    pub heat_kwh: f64,
    pub heat_top_kwh: f64,
    /// The heat pump is heating the tank now (no new start).
    pub running: bool,
    /// What a compressor start costs, in the cost's unit.
    pub start_cost: f64,
}

/// Quarter hours planned one by one before the planner goes over to whole hours.
const FINE: usize = 16;
/// Grid step of the heat, kWh.
const DX: f64 = 0.3;
/// Going below the reserve costs this per kWh short (many times any price) …
const SHORT_COST: f64 = 20.0;
/// … plus this once.
const SHORT_FIXED: f64 = 5.0;

struct Stage {
    quarters: f64,
    need_kwh: f64,
    /// What of the surplus a charge can use, W.
    surplus_w: f64,
    grid_price: f64,
    sun_price: f64,
}

fn stages(slots: &[Slot], charge_w: f64) -> Vec<Stage> {
    let fine = slots.iter().take(FINE).map(|s| Stage {
        quarters: 1.0,
        need_kwh: s.need_kwh,
        surplus_w: s.surplus_w.min(charge_w),
        grid_price: s.grid_price,
        sun_price: s.sun_price,
    });
    let coarse = slots.get(FINE..).unwrap_or(&[]).chunks(4).map(|c| {
        let n = c.len() as f64;
        Stage {
            quarters: n,
            need_kwh: c.iter().map(|s| s.need_kwh).sum(),
            surplus_w: c.iter().map(|s| s.surplus_w.min(charge_w)).sum::<f64>() / n,
            grid_price: c.iter().map(|s| s.grid_price).sum::<f64>() / n,
            sun_price: c.iter().map(|s| s.sun_price).sum::<f64>() / n,
        }
    });
    fine.chain(coarse).collect()
}

/// Value of `v` (per grid level) at heat `x`, linearly between levels.
fn at(v: &[f64], x: f64) -> f64 {
    let f = (x * (1.0 / DX)).clamp(0.0, (v.len() - 1) as f64);
    let i = (f.floor() as usize).min(v.len() - 2);
    let w = f - i as f64;
    v[i] * (1.0 - w) + v[i + 1] * w
}

/// The plan's answer for now: heat the tank (true) or not.
pub fn heat_now(p: &Problem, slots: &[Slot]) -> bool {
    let stages = stages(slots, p.charge_w);
    if stages.is_empty() {
        return false;
    }
    let levels = (p.top_kwh / DX).ceil() as usize + 1;
    // The heat still to come is worth what the grid charges for it, on average.
    let mean_grid = slots.iter().map(|s| s.grid_price).sum::<f64>() / slots.len() as f64;
    let left_value = mean_grid * p.charge_w / 4000.0 / p.heat_kwh;
    // next[s][j]: the cost from the next stage on, with the heat pump on (s = 1) or
    // off in this one and the tank at level j.
    let mut next: [Vec<f64>; 2] =
        std::array::from_fn(|_| (0..levels).map(|j| -left_value * j as f64 * DX).collect());
    let mut cur: [Vec<f64>; 2] = [vec![0.0; levels], vec![0.0; levels]];
    for (k, st) in stages.iter().enumerate().rev() {
        // Heating for the whole stage: grid and sun shares of its electricity.
        let kwh_e = p.charge_w / 4000.0 * st.quarters;
        let sun = st.surplus_w / 4000.0 * st.quarters;
        let energy_cost = (kwh_e - sun) * st.grid_price + sun * st.sun_price;
        let (per_heat, per_top, per_quarter) = (
            1.0 / p.heat_kwh,
            1.0 / p.heat_top_kwh,
            energy_cost / st.quarters,
        );
        let outcome = |x: f64, on: bool| -> (f64, f64) {
            let (mut x, mut cost) = (x, 0.0);
            if on {
                // Up to the solar target at one COP, above it at the lower one.
                let mut q = st.quarters;
                let below = ((p.solar_kwh - x) * per_heat).clamp(0.0, q);
                x += below * p.heat_kwh;
                q -= below;
                let above = ((p.top_kwh - x) * per_top).clamp(0.0, q);
                x += above * p.heat_top_kwh;
                cost += per_quarter * (below + above);
            }
            x -= st.need_kwh;
            if x < p.reserve_kwh {
                cost += SHORT_FIXED + SHORT_COST * (p.reserve_kwh - x);
            }
            (x.max(0.0), cost)
        };
        // The cost from this stage on, heat pump off and on, from heat `x`.
        let both = |x: f64| {
            let (x_off, c_off) = outcome(x, false);
            let (x_on, c_on) = outcome(x, true);
            (c_off + at(&next[0], x_off), c_on + at(&next[1], x_on))
        };
        if k == 0 {
            let (off, on) = both(p.usable_kwh);
            return on + if p.running { 0.0 } else { p.start_cost } < off;
        }
        let [was_off, was_on] = &mut cur;
        for (j, (o, r)) in was_off.iter_mut().zip(was_on.iter_mut()).enumerate() {
            let (off, on) = both(j as f64 * DX);
            *o = off.min(on + p.start_cost);
            *r = off.min(on);
        }
        std::mem::swap(&mut cur, &mut next);
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problem(usable: f64) -> Problem {
        Problem {
            usable_kwh: usable,
            solar_kwh: 10.5,
            top_kwh: 11.6,
            reserve_kwh: 2.1,
            charge_w: 1300.0,
            heat_kwh: 0.9,
            heat_top_kwh: 0.75,
            running: false,
            start_cost: 0.1,
        }
    }

    fn day(sun_from: usize, sun_to: usize, need: f64) -> Vec<Slot> {
        (0..144)
            .map(|i| Slot {
                need_kwh: need,
                surplus_w: if (sun_from..sun_to).contains(&(i % 96)) {
                    2500.0
                } else {
                    0.0
                },
                grid_price: 1.0,
                sun_price: 0.0,
            })
            .collect()
    }

    #[test]
    fn a_full_tank_waits_and_an_empty_one_heats() {
        assert!(!heat_now(&problem(10.0), &day(20, 40, 0.05)));
        assert!(heat_now(&problem(2.12), &day(20, 40, 0.05)));
    }

    #[test]
    fn it_waits_for_the_sun_when_the_tank_lasts_and_takes_it_when_it_is_here() {
        // Enough for four hours of draws; the sun comes in two.
        assert!(!heat_now(&problem(5.0), &day(8, 40, 0.1)));
        // The sun is here for an hour and a half, the last until tomorrow.
        assert!(heat_now(&problem(5.0), &day(0, 6, 0.1)));
        // Here for ten hours: free now and later, it fills late, for the evening.
        assert!(!heat_now(&problem(5.0), &day(0, 40, 0.1)));
    }

    #[test]
    fn grid_heat_goes_to_the_cheapest_hour_that_keeps_the_reserve() {
        let mut slots = day(200, 200, 0.1);
        // Dear now, cheap in an hour; the tank lasts three hours.
        for (i, s) in slots.iter_mut().enumerate() {
            s.grid_price = if (4..8).contains(&i) { 0.2 } else { 0.4 };
        }
        assert!(!heat_now(&problem(3.5), &slots));
        // Cheap now: heat now.
        for (i, s) in slots.iter_mut().enumerate() {
            s.grid_price = if i < 4 { 0.2 } else { 0.4 };
        }
        assert!(heat_now(&problem(3.5), &slots));
    }
}
