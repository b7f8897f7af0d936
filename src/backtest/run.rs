//! One year, step by step: the controller decides from the past, the tank takes the
//! step's draw and the heat pump's heat, and the metrics of `MODEL.md` §4 add up.

use chrono::{DateTime, Datelike, TimeZone, Utc};
use serde::Serialize;

use super::year::{Dwelling, Row};
use crate::strategy::controller::{Controller, Decision, Observation, PriceForecast, SunForecast};
use crate::strategy::heat_pump::HeatPumpParams;
use crate::strategy::tank::Tank;

/// Step length, hours.
pub const STEP_H: f64 = 0.25;
/// Heating sub-steps per step.
const SUB_STEPS: usize = 3;
/// A draw step is a comfort violation above this much cold or missing heat, kWh.
const VIOLATION_KWH: f64 = 0.010;

/// Sums over a month or the year.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Metrics {
    pub dhw_electricity_kwh: f64,
    pub dhw_pv_covered_kwh: f64,
    pub dhw_grid_import_kwh: f64,
    pub comfort_violation_minutes: u32,
    /// Heat delivered below the minimum use temperature or not delivered, kWh.
    pub comfort_shortfall_kwh: f64,
    pub compressor_starts: u32,
    /// Whole-house self-consumption, %.
    pub self_consumption_pct: f64,
    pub dhw_heat_kwh: f64,
    pub dhw_draw_kwh: f64,
    pub standby_loss_kwh: f64,
    pub mean_dhw_cop: f64,
    pub pv_kwh: f64,
    pub grid_import_kwh: f64,
    pub grid_export_kwh: f64,
    /// With a tariff: what the hot water's grid import cost, all in, €.
    pub dhw_grid_cost_eur: f64,
    /// With a tariff: what the PV the hot water used would have earned fed in, €.
    pub dhw_pv_feed_in_eur: f64,
}

impl Metrics {
    fn finish(&mut self) {
        self.dhw_grid_import_kwh = self.dhw_electricity_kwh - self.dhw_pv_covered_kwh;
        self.self_consumption_pct = if self.pv_kwh > 0.0 {
            100.0 * (self.pv_kwh - self.grid_export_kwh) / self.pv_kwh
        } else {
            0.0
        };
        self.mean_dhw_cop = if self.dhw_electricity_kwh > 0.0 {
            self.dhw_heat_kwh / self.dhw_electricity_kwh
        } else {
            0.0
        };
    }

    fn add(&mut self, s: &StepResult) {
        self.dhw_electricity_kwh += s.dhw_kwh;
        self.dhw_pv_covered_kwh += s.pv_covered_kwh;
        self.dhw_heat_kwh += s.heat_kwh;
        self.dhw_draw_kwh += s.draw_kwh;
        self.standby_loss_kwh += s.loss_kwh;
        self.comfort_shortfall_kwh += s.shortfall_kwh;
        if s.shortfall_kwh > VIOLATION_KWH {
            self.comfort_violation_minutes += 15;
        }
        self.compressor_starts += u32::from(s.started);
        self.pv_kwh += s.pv_kwh;
        self.grid_import_kwh += s.import_kwh;
        self.grid_export_kwh += s.export_kwh;
        self.dhw_grid_cost_eur += s.grid_cost_eur;
        self.dhw_pv_feed_in_eur += s.pv_feed_in_eur;
    }
}

/// The year's result: one entry per month the file touches, and the year.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub strategy: String,
    pub dwelling: Option<String>,
    pub steps: usize,
    pub year: Metrics,
    pub months: Vec<MonthMetrics>,
    /// With `--rules`: how often each rule fired.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<super::RuleStat>,
    /// The plain thermostat's year on the same dwelling, when another strategy ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thermostat: Option<Reference>,
}

/// What the plain thermostat reached on the same dwelling: the comfort a strategy
/// must not fall below, and the import it is measured against.
#[derive(Debug, Clone, Serialize)]
pub struct Reference {
    pub comfort_violation_minutes: u32,
    pub dhw_grid_import_kwh: f64,
    pub dhw_grid_cost_eur: f64,
}

impl Reference {
    pub fn of(year: &Metrics) -> Self {
        Self {
            comfort_violation_minutes: year.comfort_violation_minutes,
            dhw_grid_import_kwh: year.dhw_grid_import_kwh,
            dhw_grid_cost_eur: year.dhw_grid_cost_eur,
        }
    }
}

/// The market a year is played in: the tariff the hot water's grid heat is costed
/// with, at the year file's `price_eur_kwh` as day-ahead prices; with `tell`, the
/// strategy is also told each day's prices under the tariff at 13:00 the day before,
/// when the day-ahead market publishes them (docs/strategy.md, "Prices").
#[derive(Debug, Clone, Default)]
pub struct Market {
    pub tariff: Option<crate::tariff::Tariff>,
    pub tell: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct MonthMetrics {
    /// `YYYY-MM`, local time.
    pub month: String,
    #[serde(flatten)]
    pub metrics: Metrics,
}

#[derive(Debug, Default)]
struct StepResult {
    dhw_kwh: f64,
    pv_covered_kwh: f64,
    heat_kwh: f64,
    draw_kwh: f64,
    loss_kwh: f64,
    shortfall_kwh: f64,
    started: bool,
    pv_kwh: f64,
    /// PV surplus after every load but hot water, kW.
    surplus_kw: f64,
    import_kwh: f64,
    export_kwh: f64,
    grid_cost_eur: f64,
    pv_feed_in_eur: f64,
}

/// The simulated dwelling: tank, heat pump and the step's loads.
pub struct Simulation<'a> {
    hp: &'a HeatPumpParams,
    t_set_c: f64,
    pub tank: Tank,
    charging: Option<f64>,
    last: Observation,
    was_heating: bool,
}

impl<'a> Simulation<'a> {
    pub fn new(dwelling: &'a Dwelling, first: &Row) -> Self {
        let tank = Tank::new(dwelling.tank.clone());
        Self {
            hp: &dwelling.heat_pump,
            t_set_c: dwelling.tank.t_set_c,
            last: Observation {
                at: first.local.to_utc(),
                local: first.local.naive_local(),
                tank_c: tank.sensor(),
                outdoor_c: first.outdoor_c,
                grid_w: 0.0,
                pv_w: 0.0,
                dhw_w: 0.0,
                charging: None,
            },
            tank,
            charging: None,
            was_heating: false,
        }
    }

    /// What the controller may see before `row`'s step: this step's clock and
    /// outdoor temperature, the tank now, the meters over the last step.
    pub fn observe(&self, row: &Row) -> Observation {
        Observation {
            at: row.local.to_utc(),
            local: row.local.naive_local(),
            tank_c: self.tank.sensor(),
            outdoor_c: row.outdoor_c,
            charging: self.charging,
            ..self.last
        }
    }

    fn step(&mut self, row: &Row, decision: Decision) -> StepResult {
        match decision {
            Decision::Keep => {}
            Decision::Start { target_c } => self.charging = Some(target_c),
            Decision::Stop => self.charging = None,
        }
        let loss = self.tank.standby_loss(STEP_H);
        let draw_kwh = row.dhw_draw_w_th * STEP_H / 1000.0;
        let drawn = self.tank.draw(draw_kwh);
        let mut heat = 0.0;
        let mut cop_target = self.t_set_c;
        let sub_kwh = self.hp.dhw_power_kw(row.outdoor_c) * STEP_H / SUB_STEPS as f64;
        for _ in 0..SUB_STEPS {
            let Some(target) = self.charging else { break };
            if self.tank.charged(target) {
                self.charging = None;
                break;
            }
            cop_target = cop_target.max(target);
            heat += self.tank.heat(sub_kwh, target);
            if self.tank.charged(target) {
                self.charging = None;
            }
        }
        let loss_kwh = self.tank.apply_loss(&loss);
        let dhw_kwh = if heat > 0.0 {
            heat / self.hp.dhw_cop(cop_target, row.outdoor_c)
        } else {
            0.0
        };
        let base_kw = (row.household_w
            + row.ventilation_w
            + row.space_heating_w_th / self.hp.sh_cop(row.outdoor_c))
            / 1000.0;
        let pv_kw = row.pv_w / 1000.0;
        let surplus_kw = (pv_kw - base_kw).max(0.0);
        let dhw_kw = dhw_kwh / STEP_H;
        let net_kw = base_kw + dhw_kw - pv_kw;
        let started = heat > 0.0 && !self.was_heating;
        self.was_heating = heat > 0.0;
        self.last.grid_w = net_kw * 1000.0;
        self.last.pv_w = row.pv_w;
        self.last.dhw_w = dhw_kw * 1000.0;
        StepResult {
            dhw_kwh,
            pv_covered_kwh: dhw_kw.min(surplus_kw) * STEP_H,
            heat_kwh: heat,
            draw_kwh,
            loss_kwh,
            shortfall_kwh: drawn.cold_kwh + drawn.unmet_kwh,
            started,
            pv_kwh: pv_kw * STEP_H,
            surplus_kw,
            import_kwh: net_kw.max(0.0) * STEP_H,
            export_kwh: (-net_kw).max(0.0) * STEP_H,
            ..StepResult::default()
        }
    }
}

/// One step as it went, for `nomhub simulate --trace`: what the controller saw and
/// decided, and what the tank and the meters did in the step.
#[derive(Debug, Clone, Serialize)]
pub struct TraceRow {
    /// The step's start, local time.
    pub local: String,
    /// `keep`, `start` or `stop`.
    pub decision: &'static str,
    /// The charge target a `start` asks for, °C.
    pub target_c: Option<f64>,
    /// Why the controller started or stopped a charge (empty for a `keep`).
    pub reason: String,
    /// The tank sensor at the step's start, °C.
    pub tank_sensor_c: f64,
    /// Usable heat in the modelled tank at the step's start (water at or above the
    /// use minimum), kWh: what the controller cannot see.
    pub tank_usable_kwh: f64,
    pub pv_surplus_kw: f64,
    pub dhw_heat_kwh: f64,
    pub dhw_electricity_kwh: f64,
    pub dhw_pv_covered_kwh: f64,
    pub dhw_grid_import_kwh: f64,
    pub draw_kwh: f64,
    pub comfort_shortfall_kwh: f64,
}

/// The day-ahead forecasts in `rows` (their `pv_forecast_w`), each with the index of
/// the first step at or after its issue: 18:00 local on the day before the day it
/// covers (the first step for a day whose issue lies before the file). A day with a
/// row without a forecast has none.
pub fn forecasts(rows: &[Row]) -> Vec<(usize, SunForecast)> {
    per_day(rows, 18, |day, issued| {
        let pv_w: Option<Vec<f64>> = day.iter().map(|r| r.pv_forecast_w).collect();
        pv_w.map(|pv_w| SunForecast {
            issued,
            start: day[0].local.to_utc(),
            pv_w,
        })
    })
}

/// Each day's prices under `tariff`, as the strategy may know them: published at
/// 13:00 the day before, handed over at the first step at or after that (index into
/// `rows`). Days without day-ahead prices are not handed over.
pub fn price_forecasts(
    rows: &[Row],
    tariff: &crate::tariff::Tariff,
) -> Vec<(usize, PriceForecast)> {
    per_day(rows, 13, |day, issued| {
        let prices: Option<Vec<_>> = day
            .iter()
            .map(|r| {
                r.price_eur_kwh
                    .map(|p| tariff.price(r.local.to_utc(), Some(p)))
            })
            .collect();
        prices.map(|p| PriceForecast {
            issued,
            start: day[0].local.to_utc(),
            import_eur_kwh: p.iter().map(|q| q.import_eur_kwh).collect(),
            export_eur_kwh: p.iter().map(|q| q.export_eur_kwh).collect(),
        })
    })
}

/// What `make` builds from each local day's rows, issued at `hour`:00 on the day
/// before, with the index of the first row at or after its issue.
fn per_day<T>(
    rows: &[Row],
    hour: u32,
    make: impl Fn(&[Row], DateTime<Utc>) -> Option<T>,
) -> Vec<(usize, T)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < rows.len() {
        let day = rows[i].local.date_naive();
        let end = rows[i..]
            .iter()
            .position(|r| r.local.date_naive() != day)
            .map_or(rows.len(), |n| i + n);
        let issued = day
            .pred_opt()
            .and_then(|d| d.and_hms_opt(hour, 0, 0))
            .and_then(|t| crate::clock::TZ.from_local_datetime(&t).earliest())
            .map(|t| t.to_utc());
        if let Some(issued) = issued
            && let Some(item) = make(&rows[i..end], issued)
        {
            let at = rows.partition_point(|r| r.local.to_utc() < issued);
            out.push((at, item));
        }
        i = end;
    }
    out
}

/// Where a traced run hands each step; an error stops the run.
pub type Trace<'a, E> = &'a mut dyn FnMut(&TraceRow) -> Result<(), E>;

/// Runs `controller` through every row; it sees only what came before each step.
pub fn run(
    name: &str,
    dwelling: &Dwelling,
    rows: &[Row],
    controller: &mut dyn Controller,
) -> Outcome {
    run_traced::<std::convert::Infallible>(name, dwelling, rows, controller, None)
        .unwrap_or_else(|e| match e {})
}

/// [`run`], handing every step to `trace` if there is one (it may stop the run
/// with an error).
pub fn run_traced<E>(
    name: &str,
    dwelling: &Dwelling,
    rows: &[Row],
    controller: &mut dyn Controller,
    trace: Option<Trace<'_, E>>,
) -> Result<Outcome, E> {
    run_in_market(name, dwelling, rows, controller, &Market::default(), trace)
}

/// [`run_traced`] in `market`: the hot water's grid import costed with its tariff.
pub fn run_in_market<E>(
    name: &str,
    dwelling: &Dwelling,
    rows: &[Row],
    controller: &mut dyn Controller,
    market: &Market,
    mut trace: Option<Trace<'_, E>>,
) -> Result<Outcome, E> {
    let mut year = Metrics::default();
    let mut months: Vec<MonthMetrics> = Vec::new();
    if let Some(first) = rows.first() {
        let mut sim = Simulation::new(dwelling, first);
        let forecasts = forecasts(rows);
        let mut next = forecasts.iter().peekable();
        let prices = match &market.tariff {
            Some(t) if market.tell => price_forecasts(rows, t),
            _ => Vec::new(),
        };
        let mut next_prices = prices.iter().peekable();
        for (i, row) in rows.iter().enumerate() {
            while let Some((_, f)) = next.next_if(|(at, _)| *at <= i) {
                controller.forecast(f);
            }
            while let Some((_, p)) = next_prices.next_if(|(at, _)| *at <= i) {
                controller.prices(p);
            }
            let obs = sim.observe(row);
            let usable = sim.tank.usable_kwh();
            let decision = controller.decide(&obs);
            let mut r = sim.step(row, decision);
            if let Some(t) = &market.tariff {
                let p = t.price(row.local.to_utc(), row.price_eur_kwh);
                r.grid_cost_eur = (r.dhw_kwh - r.pv_covered_kwh) * p.import_eur_kwh;
                r.pv_feed_in_eur = r.pv_covered_kwh * p.export_eur_kwh;
            }
            if let Some(trace) = &mut trace {
                // Three decimals are plenty for a reader (and keep the file small).
                let r3 = |x: f64| (x * 1000.0).round() / 1000.0;
                trace(&TraceRow {
                    local: row.local.format("%Y-%m-%d %H:%M").to_string(),
                    decision: match decision {
                        Decision::Keep => "keep",
                        Decision::Start { .. } => "start",
                        Decision::Stop => "stop",
                    },
                    target_c: match decision {
                        Decision::Start { target_c } => Some(target_c),
                        _ => None,
                    },
                    reason: if decision == Decision::Keep {
                        String::new()
                    } else {
                        controller.reason()
                    },
                    tank_sensor_c: r3(obs.tank_c),
                    tank_usable_kwh: r3(usable),
                    pv_surplus_kw: r3(r.surplus_kw),
                    dhw_heat_kwh: r3(r.heat_kwh),
                    dhw_electricity_kwh: r3(r.dhw_kwh),
                    dhw_pv_covered_kwh: r3(r.pv_covered_kwh),
                    dhw_grid_import_kwh: r3(r.dhw_kwh - r.pv_covered_kwh),
                    draw_kwh: r3(r.draw_kwh),
                    comfort_shortfall_kwh: r3(r.shortfall_kwh),
                })?;
            }
            let key = format!("{:04}-{:02}", row.local.year(), row.local.month());
            if months.last().is_none_or(|m| m.month != key) {
                months.push(MonthMetrics {
                    month: key,
                    metrics: Metrics::default(),
                });
            }
            if let Some(m) = months.last_mut() {
                m.metrics.add(&r);
            }
            year.add(&r);
        }
    }
    year.finish();
    for m in &mut months {
        m.metrics.finish();
    }
    Ok(Outcome {
        strategy: name.to_owned(),
        dwelling: dwelling.name.clone(),
        steps: rows.len(),
        year,
        months,
        rules: Vec::new(),
        thermostat: None,
    })
}
