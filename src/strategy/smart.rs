// Why one file of ~1,000 lines: the controller is one state machine (its outlook, the
// charge decisions and what it learns share every field), and some 300 of the lines
// are the tests that pin its decisions down beside it.

//! The smart hot-water strategy (docs/strategy.md). At every step it looks a day
//! ahead with what it has learned, and charges the tank
//!
//! - with the sun late in the sunny hours, so the tank is full for the evening and
//!   the next morning, to the heat pump's maximum when the sun pays for (nearly) all
//!   of it; earlier in the day only when the tank would not last until then;
//! - at the sunniest moment the forecast offers before the tank would run low, when
//!   the sun alone does not fill it (winter);
//! - from the grid only at the last moment comfort allows, and only as much as is
//!   needed until the sun is expected back (less still when the bundle is tight);
//! - to the legionella temperature once a week, in a window and with the sun if it
//!   comes.
//!
//! It learns from the dwelling's own history: the PV surplus per quarter hour of the
//! day (from the grid meter and its own consumption), scaled by how today compares
//! so far, and the household's draw pattern (from the tank sensor, through
//! [`Observer`]).

use std::str::FromStr;

use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, Timelike, Utc};

use super::controller::{Controller, Decision, Observation, PriceForecast};
use super::heat_pump::HeatPumpParams;
use super::observer::{Observer, SLOTS, settling};
use super::sun::SunAhead;
use super::tank::TankParams;
use super::why::Why;
use crate::clock::TZ;

/// Steps per hour.
const SLOTS_PER_HOUR: f64 = 4.0;
/// How far ahead the strategy plans, slots.
const HORIZON: usize = SLOTS + SLOTS / 2;
/// Expected draws are multiplied by this when comfort is at stake …
const DRAW_SAFETY: f64 = 1.3;
/// … and this share of a full charge is kept for the thermocline (as MODEL.md's optimum).
const RESERVE_SHARE: f64 = 0.2;
/// A comfort charge started by the floor runs until the tank holds this many times
/// the household's large hourly draw …
const BURST_COVER: f64 = 1.3;
/// … and a sensor falling this much in a step means a draw is under way, K.
const FALLING_K: f64 = 2.0;
/// A sun charge starts when the surplus carries this share of the charge's power …
const SUN_SHARE: f64 = 0.7;
/// … and the tank has room for this share of a full charge.
const SUN_ROOM_SHARE: f64 = 0.25;
/// The late sun charge starts this many slots before the sun's usual hours would
/// just fill the tank.
const LATE_SLACK_SLOTS: f64 = 4.0;
/// … to the heat pump's maximum when the surplus carries this share of its power.
const LATE_TOP_SHARE: f64 = 0.8;
/// The late sun charge is left to do the day's charging when the tank lasts this
/// many slots beyond the day's last sunny slot.
const LATE_COVERS_SLOTS: usize = 2;
/// … and no sun charge for less room than this share of a full charge.
const LAST_ROOM_SHARE: f64 = 0.08;
/// A charge the tank needs anyway starts with the sun when now is at least this good
/// (share of the charge's power the surplus carries) …
const PLAN_MIN_SHARE: f64 = 0.1;
/// … and nearly as good as the best moment still ahead before the tank runs low.
const PLAN_BEST_SHARE: f64 = 0.9;
/// A charge stops taking from the grid once the tank holds what is needed until the
/// sun is back plus this share of a full charge.
const STOP_MARGIN_SHARE: f64 = 0.1;
/// When strict, a comfort charge from the grid aims this much lower than a sun charge.
const STRICT_COMFORT_DROP_K: f64 = 1.5;
/// The household outgrows the tank at the solar target when a day's draws (by the
/// energy balance) take more than this share of what the tank holds there above the
/// reserve …
const OUTGROWN_SHARE: f64 = 0.95;
/// The tank is roomy for the household when a day's draws (by the energy balance, as
/// a week of draws tells) take at most this share of what it holds at the solar target
/// above the reserve; the floor then keeps 1.3 times the large draw around the time of
/// day (the most drawn within an hour from an hour before to an hour after, as nine
/// days in ten stayed under) instead of the day's large draw …
const ROOMY_SHARE: f64 = 0.75;
/// … but never less than this share of the day's large draw.
const ROOMY_MIN_BURST: f64 = 0.5;
/// With more comfort: the usual draws of the next hour that count as draws due, a
/// share of the large draw.
const DRAWS_DUE_SHARE: f64 = 0.5;
/// … as a week of draws tells (a first day's balance also holds the tank's first fill) …
const OUTGROWN_AFTER_DAYS: u32 = 7;
/// … and then comfort charges aim this share of the way from the solar target to the
/// heat pump's maximum (all the way costs more grid heat than the thermostat's).
const OUTGROWN_RAISE: f64 = 0.5;
/// The planner's price of a compressor start, in kWh of grid electricity.
const PLAN_START_KWH: f64 = 0.6;
/// How fast the surplus profile follows the seasons (per day).
const SURPLUS_LEARN: f64 = 0.2;

#[derive(Debug, Clone)]
pub struct SmartParams {
    /// Charge target, °C.
    pub solar_target_c: f64,
    pub tank: TankParams,
    /// What turns the heat pump's electric power into heat in the estimate: a
    /// typical air/water heat pump unless the dwelling's is known.
    pub heat_pump: HeatPumpParams,
    /// Compressor starts for hot water, on average per day (comfort may exceed it).
    pub max_starts_per_day: f64,
    /// A charge is not stopped before it has run this long, minutes.
    pub min_run_minutes: f64,
    /// A sun charge does not start sooner than this after the last one, minutes.
    pub min_off_minutes: f64,
    /// Grid heat is costlier than usual (the building-bound use is above its expected
    /// position): grid charges stop as soon as the tank lasts until the sun is back,
    /// and comfort charges aim a little lower.
    pub strict: bool,
    /// The weekly run that heats the whole tank against legionella.
    pub legionella: Option<Legionella>,
    /// Every charge goes to this, whatever the strategy would ask (a heat pump driven
    /// through SG Ready heats to its own raised target in state 3).
    pub fixed_target_c: Option<f64>,
    /// More comfort than the thermostat's, for more grid heat: the floor also charges
    /// before the household's usual draws, not only while they run.
    pub more_comfort: bool,
    /// Leave the sun charges and when a charge stops to the planner (a dynamic
    /// programme over the tank's heat, by price when prices come) instead of the
    /// rules; the floor, the reserve and the legionella run stay. Measured and not the
    /// default: docs/strategy.md, "The planner".
    pub planner: bool,
}

/// A charge to `temperature_c` in the minutes `window` matches (cron, local time),
/// with the sun when it comes, at the window's last quarter hour when it does not.
#[derive(Debug, Clone, PartialEq)]
pub struct Legionella {
    pub window: cron::Schedule,
    pub temperature_c: f64,
}

impl From<&crate::config::LegionellaSetup> for Legionella {
    fn from(s: &crate::config::LegionellaSetup) -> Self {
        Self {
            window: s.window.clone(),
            temperature_c: s.temperature_c,
        }
    }
}

impl Legionella {
    /// Saturdays 11:00–16:00 (the sunniest hours of the weekend), as configured by default.
    pub const DEFAULT_WINDOW: &str = crate::config::LegionellaSetup::DEFAULT_WINDOW;

    fn open(&self, at: DateTime<Utc>) -> bool {
        let minute = at
            .with_second(0)
            .and_then(|t| t.with_nanosecond(0))
            .unwrap_or(at);
        self.window.includes(minute.with_timezone(&TZ))
    }
}

impl Default for Legionella {
    fn default() -> Self {
        Self {
            window: cron::Schedule::from_str(Self::DEFAULT_WINDOW)
                .unwrap_or_else(|e| unreachable!("the default window parses: {e}")),
            temperature_c: 60.0,
        }
    }
}

impl Default for SmartParams {
    fn default() -> Self {
        Self {
            solar_target_c: 55.0,
            tank: TankParams::default(),
            heat_pump: HeatPumpParams::default(),
            max_starts_per_day: 2.0,
            min_run_minutes: 20.0,
            min_off_minutes: 60.0,
            strict: false,
            legionella: Some(Legionella::default()),
            fixed_target_c: None,
            more_comfort: false,
            planner: false,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    /// Started with the sun.
    Sun,
    /// Started because the tank would otherwise run low.
    Comfort,
    /// The legionella run: not stopped before it is done.
    Legionella,
    /// The comfort floor (the sensor below the use minimum, where the plain
    /// thermostat starts, or a large draw under way): not stopped before the tank
    /// holds [`BURST_COVER`] large draws again.
    Floor,
}

#[derive(Debug, Clone, Copy)]
struct Running {
    kind: Kind,
    since: NaiveDateTime,
}

/// The last step as the strategy left it: when, the charge target, whether it stopped it.
#[derive(Debug, Clone, Copy)]
struct Last {
    at: NaiveDateTime,
    at_utc: DateTime<Utc>,
    target: Option<f64>,
    stopped: bool,
}

/// Where the heat for a charge is expected to come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    Sun,
    /// A comfort charge: the tank runs low before the sun comes.
    Grid,
}

/// The charge the strategy expects to start next, as far as it can see now.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct NextCharge {
    /// The start of the quarter hour it is expected in.
    pub at: DateTime<Utc>,
    pub source: Source,
}

/// How the hot water stands against the household's large draws, as the strategy
/// sees it: for Home Assistant and the dashboard.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Comfort {
    /// Hot water the tank probably holds (at or above the use minimum), kWh, to a
    /// tenth.
    pub usable_kwh: f64,
    /// What the household's large draws take within an hour (nine days in ten stay
    /// under it), kWh to a tenth; 0 before a day has been seen.
    pub large_draw_kwh: f64,
    /// A large draw now would run the tank cold: the strategy is heating or about to.
    pub at_risk: bool,
}

/// What the strategy has learned about the dwelling: saved by the daemon (store
/// record `v1/state/strategy`) so a restart picks up where it left off.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Habits {
    /// Mean heat drawn per quarter hour of the local day from 00:00, kWh (96 values).
    pub draw_kwh: Vec<f64>,
    /// Days the draw pattern has learned from.
    pub draw_days: u32,
    /// Heat drawn a day by the tank's energy balance, kWh (absent in records saved
    /// before it was learned).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub daily_draw_kwh: Option<f64>,
    /// The draw patterns of weekdays and of weekend days (96 values each, kWh), and
    /// the days each learned from (absent in records saved before they were learned).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub draw_weekday_kwh: Vec<f64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub draw_weekend_kwh: Vec<f64>,
    #[serde(default)]
    pub weekday_days: u32,
    #[serde(default)]
    pub weekend_days: u32,
    /// The draws the tank sensor saw per quarter hour on each recent day, kWh
    /// (oldest first, up to four weeks): where the large hourly draws come from.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub recent_draws: Vec<Vec<f64>>,
    /// Mean PV surplus per quarter hour of the local day, W (96 values).
    pub surplus_w: Vec<f64>,
    /// Days each quarter hour of the surplus profile has learned from (96 values).
    pub surplus_days: Vec<u32>,
    /// The heat pump's electric power while it heats hot water, W.
    pub charge_w: f64,
    /// When a charge last brought the whole tank to the legionella temperature
    /// (local time).
    pub last_hot: Option<NaiveDateTime>,
}

/// Saturday and Sunday, when households keep other hours.
fn weekend(date: NaiveDate) -> bool {
    use chrono::Datelike;
    matches!(date.weekday(), chrono::Weekday::Sat | chrono::Weekday::Sun)
}

/// One value per quarter hour of the day, or what is wrong with `list`.
fn per_slot<T: Copy>(name: &str, list: &[T]) -> Result<[T; SLOTS], String> {
    list.try_into().map_err(|_| {
        format!(
            "`{name}` has {} values, not one per quarter hour ({SLOTS})",
            list.len()
        )
    })
}

/// `list` if every value is within 0..=`max`, else which one is not.
fn within<'a>(name: &str, list: &'a [f64], max: f64) -> Result<&'a [f64], String> {
    match list.iter().position(|v| !(0.0..=max).contains(v)) {
        Some(i) => Err(format!(
            "`{name}` at quarter hour {i} is {}, outside 0..={max}",
            list[i]
        )),
        None => Ok(list),
    }
}

/// Saved habits beyond these are damaged: a quarter hour's draw, kWh …
const MAX_DRAW_KWH: f64 = 50.0;
/// … and a surplus or heat pump power, W.
const MAX_SURPLUS_W: f64 = 100_000.0;

#[derive(Debug, Clone)]
pub struct Smart {
    pub params: SmartParams,
    observer: Observer,
    day: Option<NaiveDate>,
    running: Option<Running>,
    last: Option<Last>,
    last_end: Option<NaiveDateTime>,
    /// When a charge last brought the whole tank to the legionella temperature.
    last_hot: Option<NaiveDateTime>,
    /// Starts still allowed (the daily allowance accumulates a little).
    starts: f64,
    /// Surplus per slot, averaged over recent days, W.
    surplus: [f64; SLOTS],
    /// Days each slot of the surplus profile has learned from.
    learned: [u32; SLOTS],
    /// Today's surplus so far and what the profile expected for the same slots, W·slots.
    today_seen: f64,
    today_usual: f64,
    /// Heat pump electric power while charging, W (learned).
    charge_w: f64,
    reason: Why,
    next: Option<NextCharge>,
    /// The first step the strategy saw.
    first: Option<NaiveDateTime>,
    /// It took up habits learned over at least a day before a restart.
    resumed: bool,
    /// The last step's local time.
    now: Option<NaiveDateTime>,
    /// The tank sensor at the last step and when, °C.
    prev_tank_c: Option<(NaiveDateTime, f64)>,
    comfort: Option<Comfort>,
    /// The sun ahead from a forecast, when one came.
    sun: SunAhead,
    /// The last few days' prices, when they came (oldest first).
    prices: Vec<PriceForecast>,
}

fn slot_of(t: NaiveDateTime) -> usize {
    let t = t.time();
    ((t.hour() * 60 + t.minute()) / 15) as usize % SLOTS
}

fn minutes(from: NaiveDateTime, to: NaiveDateTime) -> f64 {
    (to - from).num_seconds() as f64 / 60.0
}

/// What the strategy expects for the hours ahead, computed once per step.
struct Outlook {
    /// Surplus per slot from now, W.
    surplus: Vec<f64>,
    /// Heat the tank gives up per slot from now (draws with safety, standby loss), kWh.
    need: Vec<f64>,
}

impl Outlook {
    /// Heat needed over the first `slots` slots, kWh.
    fn need_over(&self, slots: usize) -> f64 {
        self.need.iter().take(slots).sum()
    }

    /// Slots until `usable` kWh is down to `reserve` (None: not within the horizon).
    fn runs_low_in(&self, usable: f64, reserve: f64) -> Option<usize> {
        let mut left = usable - reserve;
        for (i, n) in self.need.iter().enumerate() {
            left -= n;
            if left < 0.0 {
                return Some(i);
            }
        }
        None
    }

    /// The first slot after now at which the sun is expected to be about as good as
    /// it gets in the next day, and worth a charge of `charge_w` (None: no such sun
    /// within the horizon).
    fn sun_back(&self, charge_w: f64) -> Option<usize> {
        let best = self.surplus[1..SLOTS]
            .iter()
            .fold(0.0_f64, |a, b| a.max(*b));
        let good = (PLAN_BEST_SHARE * best).min(SUN_SHARE * charge_w);
        (1..self.surplus.len())
            .find(|i| self.surplus[*i] >= good && self.surplus[*i] >= PLAN_MIN_SHARE * charge_w)
    }
}

impl Smart {
    pub fn new(params: SmartParams) -> Self {
        Self {
            observer: Observer::new(params.tank.clone()),
            starts: params.max_starts_per_day,
            params,
            day: None,
            running: None,
            last: None,
            last_end: None,
            last_hot: None,
            surplus: [0.0; SLOTS],
            learned: [0; SLOTS],
            today_seen: 0.0,
            today_usual: 0.0,
            charge_w: 1300.0,
            reason: Why::Nothing,
            next: None,
            first: None,
            resumed: false,
            now: None,
            prev_tank_c: None,
            comfort: None,
            sun: SunAhead::default(),
            prices: Vec::new(),
        }
    }

    /// What the strategy has learned so far.
    pub fn habits(&self) -> Habits {
        let (kinds, kind_days) = self.observer.kinds();
        Habits {
            draw_kwh: self.observer.pattern.to_vec(),
            draw_days: self.observer.days(),
            draw_weekday_kwh: kinds[0].to_vec(),
            draw_weekend_kwh: kinds[1].to_vec(),
            weekday_days: kind_days[0],
            weekend_days: kind_days[1],
            daily_draw_kwh: self.observer.balance(),
            recent_draws: self.observer.recent(),
            surplus_w: self.surplus.to_vec(),
            surplus_days: self.learned.to_vec(),
            charge_w: self.charge_w,
            last_hot: self.last_hot,
        }
    }

    /// Forgets the household's habits (new residents): the draw pattern and the sun
    /// profile (what is left of the sun after the household's use) are learned afresh,
    /// as on a first day. The heat pump's charging power and the last legionella run
    /// stay: they belong to the dwelling.
    pub fn forget(&mut self) {
        self.observer.forget();
        self.surplus = [0.0; SLOTS];
        self.learned = [0; SLOTS];
        self.today_seen = 0.0;
        self.today_usual = 0.0;
        self.resumed = false;
        self.first = self.now;
    }

    /// Takes up habits learned before a restart; damaged ones are refused whole,
    /// with what is wrong, and the strategy learns afresh.
    pub fn resume(&mut self, habits: &Habits) -> Result<(), String> {
        let draws = per_slot(
            "draw_kwh",
            within("draw_kwh", &habits.draw_kwh, MAX_DRAW_KWH)?,
        )?;
        let surplus = per_slot(
            "surplus_w",
            within("surplus_w", &habits.surplus_w, MAX_SURPLUS_W)?,
        )?;
        let days = per_slot("surplus_days", &habits.surplus_days)?;
        if !(0.0..=MAX_SURPLUS_W).contains(&habits.charge_w) {
            return Err(format!(
                "`charge_w` is {}, outside 0..={MAX_SURPLUS_W}",
                habits.charge_w
            ));
        }
        if let Some(d) = habits
            .daily_draw_kwh
            .filter(|d| !(0.0..=MAX_DRAW_KWH * 96.0).contains(d))
        {
            return Err(format!(
                "`daily_draw_kwh` is {d}, outside 0..={}",
                MAX_DRAW_KWH * 96.0
            ));
        }
        // Records from before the weekday and weekend patterns have neither.
        let kinds = if habits.draw_weekday_kwh.is_empty() && habits.draw_weekend_kwh.is_empty() {
            None
        } else {
            Some([
                per_slot(
                    "draw_weekday_kwh",
                    within("draw_weekday_kwh", &habits.draw_weekday_kwh, MAX_DRAW_KWH)?,
                )?,
                per_slot(
                    "draw_weekend_kwh",
                    within("draw_weekend_kwh", &habits.draw_weekend_kwh, MAX_DRAW_KWH)?,
                )?,
            ])
        };
        self.observer.resume_recent(&habits.recent_draws)?;
        if let Some(kinds) = kinds {
            self.observer
                .resume_kinds(kinds, [habits.weekday_days, habits.weekend_days]);
        }
        self.observer
            .resume(draws, habits.draw_days, habits.daily_draw_kwh);
        self.surplus = surplus;
        self.learned = days;
        if habits.charge_w > 0.0 {
            self.charge_w = habits.charge_w;
        }
        self.last_hot = habits.last_hot;
        self.resumed = habits.draw_days > 0;
        Ok(())
    }

    fn full_kwh(&self) -> f64 {
        self.params.tank.full_charge_kwh(self.params.solar_target_c)
    }

    fn outlook(&self, slot: usize, at: DateTime<Utc>) -> Outlook {
        // Today so far against the usual: a dull morning makes a dull afternoon likelier.
        let today = if self.today_usual > 200.0 {
            (self.today_seen / self.today_usual).clamp(0.3, 1.5)
        } else {
            1.0
        };
        let tank = &self.params.tank;
        let loss = tank.ua_w_per_k * (self.params.solar_target_c - tank.t_ambient_c)
            / 1000.0
            / SLOTS_PER_HOUR;
        // Today's and tomorrow's own draw patterns (weekday or weekend) and their
        // scales, looked up once.
        let draws = |weekend: bool| {
            (
                self.observer.pattern_for(weekend),
                self.observer.scale_for(weekend),
            )
        };
        let draws_today = draws(self.day.is_some_and(weekend));
        let draws_tomorrow = draws(self.day.and_then(|d| d.succ_opt()).is_some_and(weekend));
        let (mut surplus, mut need) = (Vec::with_capacity(HORIZON), Vec::with_capacity(HORIZON));
        let quarter = super::sun::quarter_start(at);
        for i in 0..HORIZON {
            let s = (slot + i) % SLOTS;
            let is_today = slot + i < SLOTS;
            let scale = if is_today { today } else { 1.0 };
            let t = quarter + Duration::minutes(15 * i as i64);
            let learned = self.surplus[s] * scale;
            surplus.push(self.sun.surplus_w(t, s, is_today).unwrap_or(learned));
            let (pattern, draw_scale) = if is_today {
                draws_today
            } else {
                draws_tomorrow
            };
            need.push(pattern[s] * draw_scale * DRAW_SAFETY + loss);
        }
        Outlook { surplus, need }
    }

    /// Whether the planner heats the tank now, with the outlook, the surplus measured
    /// over the last step (fading into the outlook over the next hour) and the prices
    /// known (grid kWh without them).
    fn planned(
        &self,
        o: &Outlook,
        usable: f64,
        reserve: f64,
        surplus_w: f64,
        obs: &Observation,
    ) -> bool {
        let solar = self.params.solar_target_c;
        let top = self.params.tank.t_max_hp_c.max(solar);
        let per_slot =
            |c: f64| self.charge_w / 4000.0 * self.params.heat_pump.dhw_cop(c, obs.outdoor_c);
        let quarter = super::sun::quarter_start(obs.at);
        let known = self.prices_from(quarter, o.need.len());
        // Beyond the prices known, their average; without any, grid kWh.
        let n = known.iter().flatten().count();
        let mean = if n == 0 {
            (1.0, 0.0)
        } else {
            let (g, s) = known
                .iter()
                .flatten()
                .fold((0.0, 0.0), |(g, s), (a, b)| (g + a, s + b));
            (g / n as f64, s / n as f64)
        };
        let slots: Vec<super::planner::Slot> = o
            .need
            .iter()
            .zip(&o.surplus)
            .zip(&known)
            .enumerate()
            .map(|(i, ((n, s), p))| {
                // The measured surplus now, fading into the outlook over the next hour.
                let w = 0.5_f64.powi(i as i32 * 2);
                let (grid_price, sun_price) = p.unwrap_or(mean);
                super::planner::Slot {
                    need_kwh: *n,
                    surplus_w: w * surplus_w + (1.0 - w) * s,
                    grid_price,
                    sun_price,
                }
            })
            .collect();
        super::planner::heat_now(
            &super::planner::Problem {
                usable_kwh: usable,
                solar_kwh: self.params.tank.full_charge_kwh(solar),
                top_kwh: self.params.tank.full_charge_kwh(top),
                reserve_kwh: reserve,
                charge_w: self.charge_w,
                heat_kwh: per_slot(solar),
                heat_top_kwh: per_slot(top),
                running: self.running.is_some(),
                start_cost: PLAN_START_KWH * mean.0,
            },
            &slots,
        )
    }

    /// The import and export price of `n` quarter hours from `from` on, where known
    /// (where two price sets overlap, the newer).
    fn prices_from(&self, from: DateTime<Utc>, n: usize) -> Vec<Option<(f64, f64)>> {
        let mut out = vec![None; n];
        for p in &self.prices {
            // Quarter hours from `from` to the prices' start (negative: they began before).
            let offset = (p.start - from).num_minutes().div_euclid(15);
            for (k, (i, e)) in p.import_eur_kwh.iter().zip(&p.export_eur_kwh).enumerate() {
                if let Ok(at) = usize::try_from(offset + k as i64)
                    && at < n
                {
                    out[at] = Some((*i, *e));
                }
            }
        }
        out
    }

    /// The next charge the outlook shows: with the sun when it comes before the tank
    /// runs low and the tank has room for a sun charge by then, else from the grid
    /// when it runs low (None: no charge needed within the horizon).
    fn plan(
        &self,
        o: &Outlook,
        usable: f64,
        reserve: f64,
        at: DateTime<Utc>,
    ) -> Option<NextCharge> {
        let full = self.full_kwh();
        let low = o.runs_low_in(usable, reserve);
        // Room in the tank by slot i: what there is now plus what is drawn until then.
        let mut room = full - usable;
        let sunny = (1..o.surplus.len()).find(|i| {
            room += o.need[*i - 1];
            o.surplus[*i] >= SUN_SHARE * self.charge_w && room >= SUN_ROOM_SHARE * full
        });
        let (slot, source) = match (sunny, low) {
            (Some(s), l) if l.is_none_or(|l| s <= l) => (s, Source::Sun),
            (_, Some(l)) => (l.max(1), Source::Grid),
            _ => return None,
        };
        Some(NextCharge {
            at: super::sun::quarter_start(at) + Duration::minutes(15 * slot as i64),
            source,
        })
    }

    /// The sun forecast the strategy holds, as of `now` (None before one came).
    pub fn forecast_summary(&self, now: DateTime<Utc>) -> Option<super::sun::ForecastSummary> {
        self.sun.summary(now)
    }

    /// How the hot water stands against a large draw, as of the last step (None
    /// before the first).
    pub fn comfort(&self) -> Option<Comfort> {
        self.comfort
    }

    /// Why it decided what it did last.
    pub fn why(&self) -> Why {
        self.reason
    }

    /// The charge expected next; None while one runs or none is needed soon.
    pub fn next_charge(&self) -> Option<NextCharge> {
        self.next
    }

    /// Whether the strategy has seen less than a day (and took up no habits from
    /// before a restart): its outlook is still mostly empty.
    pub fn learning(&self) -> bool {
        if self.resumed {
            return false;
        }
        match (self.first, self.now) {
            (Some(first), Some(now)) => now - first < Duration::hours(24),
            _ => true,
        }
    }

    fn start(&mut self, kind: Kind, target_c: f64, now: NaiveDateTime, reason: Why) -> Decision {
        let target_c = self.params.fixed_target_c.unwrap_or(target_c);
        self.running = Some(Running { kind, since: now });
        self.starts -= 1.0;
        self.reason = reason;
        Decision::Start { target_c }
    }

    /// Folds the last step into what the strategy has learned.
    fn learn(&mut self, obs: &Observation) {
        let Some(last) = self.last else { return };
        let hours = ((obs.local - last.at).num_seconds() as f64 / 3600.0).clamp(0.0, 1.0);
        // Charges to 55 °C or less run the condenser in normal mode (MODEL.md §3).
        let normal_c = self.params.tank.t_set_c;
        let cop = self
            .params
            .heat_pump
            .dhw_cop(last.target.unwrap_or(normal_c).max(normal_c), obs.outdoor_c);
        let heat = obs.dhw_w / 1000.0 * hours * cop;
        let finished = last.target.is_some() && obs.charging.is_none() && !last.stopped;
        if let (Some(l), Some(t)) = (&self.params.legionella, last.target)
            && finished
            && t >= l.temperature_c - 0.5
        {
            self.last_hot = Some(obs.local);
        }
        let slot = slot_of(last.at);
        self.observer
            .update(slot, hours, heat, last.target, finished, obs.tank_c);
        let surplus = obs.surplus_w();
        self.sun.learn(
            last.at_utc,
            slot,
            obs.pv_w,
            obs.pv_w + obs.grid_w - obs.dhw_w,
        );
        self.today_seen += surplus;
        self.today_usual += self.surplus[slot];
        self.learned[slot] = self.learned[slot].saturating_add(1);
        let learn = settling(SURPLUS_LEARN, self.learned[slot]);
        self.surplus[slot] = (1.0 - learn) * self.surplus[slot] + learn * surplus;
        if obs.charging.is_some() && obs.dhw_w > 100.0 {
            self.charge_w = 0.9 * self.charge_w + 0.1 * obs.dhw_w;
        }
    }

    fn new_day(&mut self, date: NaiveDate) {
        if self.day.is_some() {
            let max = self.params.max_starts_per_day;
            self.starts = (self.starts + max).min(1.5 * max);
        }
        self.day = Some(date);
        self.observer.set_day(weekend(date));
        self.sun.new_day();
        self.today_seen = 0.0;
        self.today_usual = 0.0;
    }

    /// The legionella run, when one is due and its window is open: with the sun, or
    /// at the window's last quarter hour without it. A charge that brought the whole
    /// tank to the temperature in the last day (a sun charge to 60 °C) counts.
    fn legionella_due(&mut self, obs: &Observation, share: f64) -> Option<Decision> {
        let l = self.params.legionella.as_ref()?;
        let now = obs.local;
        let done = self.last_hot.is_some_and(|t| now - t < Duration::hours(24));
        let running = self.running.is_some_and(|r| r.kind == Kind::Legionella);
        if done || running || !l.open(obs.at) {
            return None;
        }
        let temperature = l.temperature_c;
        let with_sun = if share >= SUN_SHARE {
            true
        } else if !l.open(obs.at + Duration::minutes(15)) {
            false
        } else {
            return None;
        };
        Some(self.start(
            Kind::Legionella,
            temperature,
            now,
            Why::Legionella {
                target_c: temperature,
                with_sun,
            },
        ))
    }

    fn choose(&mut self, obs: &Observation) -> Decision {
        let now = obs.local;
        if self.day != Some(now.date()) {
            self.new_day(now.date());
        }
        if obs.charging.is_none() && self.running.take().is_some() {
            self.last_end = Some(now);
        }
        let full = self.full_kwh();
        let reserve = RESERVE_SHARE * full;
        // The hot water the household's large draws take within an hour.
        let large = self.observer.burst_kwh();
        // A day's draws by the energy balance, once a week of them tells.
        let daily = self
            .observer
            .balance()
            .filter(|_| self.observer.days() >= OUTGROWN_AFTER_DAYS);
        let outgrown = daily.is_some_and(|day| day > OUTGROWN_SHARE * (full - reserve));
        // Where the tank is roomy for the household, the floor keeps what is drawn
        // around this time of day rather than the day's largest draw.
        let roomy = daily.is_some_and(|day| day <= ROOMY_SHARE * (full - reserve));
        let burst = BURST_COVER
            * if roomy {
                large.min(
                    self.observer
                        .burst_at_kwh(slot_of(now))
                        .max(ROOMY_MIN_BURST * large),
                )
            } else {
                large
            };
        let usable = self.observer.usable_kwh();
        // To a tenth of a kWh, as every reader shows it.
        let tenth = |k: f64| (k * 10.0).round() / 10.0;
        self.comfort = Some(Comfort {
            usable_kwh: tenth(usable),
            large_draw_kwh: tenth(large),
            at_risk: usable < large.max(reserve) || obs.tank_c < self.params.tank.t_min_use_c,
        });
        let outlook = self.outlook(slot_of(now), obs.at);
        let surplus = obs.surplus_w();
        let share = surplus / self.charge_w;
        // Until the sun is expected back (or the horizon), with the reserve.
        let back = outlook.sun_back(self.charge_w).unwrap_or(HORIZON);
        let need_until_sun = outlook.need_over(back) + reserve;
        self.next = self.plan(&outlook, usable, reserve, obs.at);

        if let Some(d) = self.legionella_due(obs, share) {
            return d;
        }
        if let Some(run) = self.running {
            if matches!(run.kind, Kind::Legionella)
                || minutes(run.since, now) < self.params.min_run_minutes
            {
                return Decision::Keep;
            }
            // A floor charge runs on until the tank holds a large draw again.
            if run.kind == Kind::Floor && usable < burst {
                return Decision::Keep;
            }
            if self.params.planner {
                if self.planned(&outlook, usable, reserve, surplus, obs) {
                    return Decision::Keep;
                }
                self.running = None;
                self.last_end = Some(now);
                self.reason = Why::PlanHolds { usable_kwh: usable };
                return Decision::Stop;
            }
            // Mostly grid now: stop once the tank lasts until the sun is back.
            let margin = if self.params.strict {
                0.0
            } else {
                STOP_MARGIN_SHARE * full
            };
            if share < 0.5 * PLAN_MIN_SHARE.max(SUN_SHARE) && usable >= need_until_sun + margin {
                self.running = None;
                self.last_end = Some(now);
                self.reason = Why::Lasts {
                    usable_kwh: usable,
                    need_kwh: need_until_sun,
                };
                return Decision::Stop;
            }
            return Decision::Keep;
        }

        let solar = self.params.solar_target_c;
        // The comfort floor: never later than the plain thermostat (the sensor below
        // the use minimum), and at once when a draw is under way and the tank would
        // not hold a large one.
        let floor = self.params.tank.t_min_use_c;
        // (Between two consecutive steps: after a gap a lower reading says nothing
        // about now.)
        let falling = self
            .prev_tank_c
            .is_some_and(|(at, c)| minutes(at, now) <= 20.0 && c - obs.tank_c > FALLING_K);
        let why = if obs.tank_c < floor {
            Some(Why::Cold {
                tank_c: obs.tank_c,
                floor_c: floor,
            })
        } else if falling && usable < burst {
            Some(Why::Drawing {
                usable_kwh: usable,
                burst_kwh: burst,
            })
        } else if self.params.more_comfort
            && usable < burst
            && outlook.need_over(SLOTS_PER_HOUR as usize) >= DRAWS_DUE_SHARE * large
        {
            Some(Why::BeforeDraws {
                usable_kwh: usable,
                burst_kwh: burst,
            })
        } else {
            None
        };
        // A household that outgrows the tank at the solar target gets its comfort
        // charges hotter, before the large draws, rather than run out.
        let top = self.params.tank.t_max_hp_c.max(solar);
        let comfort_c = if outgrown {
            solar + OUTGROWN_RAISE * (top - solar)
        } else {
            solar
        };
        if let Some(why) = why {
            return self.start(
                Kind::Floor,
                comfort_c.max(self.params.tank.t_set_c),
                now,
                why,
            );
        }
        // Comfort first: the tank would run low before the next step's heat arrives.
        let low_in = outlook.runs_low_in(usable, reserve);
        if low_in.is_some_and(|i| i <= 1) {
            return self.start(
                Kind::Comfort,
                if self.params.strict && !outgrown {
                    solar - STRICT_COMFORT_DROP_K
                } else {
                    comfort_c
                },
                now,
                Why::Reserve {
                    usable_kwh: usable,
                    reserve_kwh: reserve,
                },
            );
        }
        let rested = self
            .last_end
            .is_none_or(|t| minutes(t, now) >= self.params.min_off_minutes);
        if self.params.planner {
            if rested && self.starts >= 1.0 && self.planned(&outlook, usable, reserve, surplus, obs)
            {
                let target = if share >= LATE_TOP_SHARE { top } else { solar };
                let kind = if share >= SUN_SHARE {
                    Kind::Sun
                } else {
                    Kind::Comfort
                };
                let why = Why::Planned {
                    target_c: target,
                    surplus_w: surplus,
                };
                return self.start(kind, target, now, why);
            }
            return Decision::Keep;
        }
        // Late in the sunny hours: fill the tank for the evening and the night, while
        // the sun still carries the charge and has just enough hours left to fill it.
        let target = if share >= LATE_TOP_SHARE { top } else { solar };
        let room = self.params.tank.full_charge_kwh(target) - usable;
        let per_slot = self.charge_w / 1000.0 / SLOTS_PER_HOUR
            * self.params.heat_pump.dhw_cop(target, obs.outdoor_c);
        let fill_slots = room / per_slot.max(0.1);
        // Today's quarter hours (from now) whose usual sun carries most of a charge.
        let sunny_today: Vec<usize> = (0..SLOTS - slot_of(now))
            .filter(|i| outlook.surplus[*i] >= SUN_SHARE * self.charge_w)
            .collect();
        if share >= SUN_SHARE
            && room >= LAST_ROOM_SHARE * full
            && sunny_today.len() as f64 <= fill_slots + LATE_SLACK_SLOTS
            && rested
            && self.starts >= 1.0
        {
            return self.start(
                Kind::Sun,
                target,
                now,
                Why::SunForEvening {
                    target_c: target,
                    surplus_w: surplus,
                    room_kwh: room,
                },
            );
        }
        // The tank will need a charge before long: take the best sun on the way.
        // … unless the tank lasts until the late sun charge can fill it: a tank filled
        // late holds more for the evening and the next morning.
        let late_covers = sunny_today
            .last()
            .is_some_and(|e| low_in.is_none_or(|l| l > e + LATE_COVERS_SLOTS));
        if let Some(low) =
            low_in.filter(|_| room >= SUN_ROOM_SHARE * full && rested && !late_covers)
        {
            let best = outlook.surplus[1..low]
                .iter()
                .fold(0.0_f64, |a, b| a.max(*b))
                / self.charge_w;
            if share >= PLAN_MIN_SHARE && share >= PLAN_BEST_SHARE * best.min(SUN_SHARE) {
                return self.start(
                    Kind::Sun,
                    solar,
                    now,
                    Why::BestSun {
                        target_c: solar,
                        surplus_w: surplus,
                    },
                );
            }
        }
        Decision::Keep
    }
}

impl Controller for Smart {
    fn decide(&mut self, obs: &Observation) -> Decision {
        self.first.get_or_insert(obs.local);
        self.now = Some(obs.local);
        self.learn(obs);
        let decision = self.choose(obs);
        self.prev_tank_c = Some((obs.local, obs.tank_c));
        if matches!(decision, Decision::Start { .. }) || self.running.is_some() {
            self.next = None;
        }
        self.last = Some(Last {
            at: obs.local,
            at_utc: obs.at,
            target: match decision {
                Decision::Start { target_c } => Some(target_c),
                Decision::Stop => None,
                Decision::Keep => obs.charging,
            },
            stopped: decision == Decision::Stop,
        });
        decision
    }

    fn reason(&self) -> String {
        self.reason.to_string()
    }

    fn forecast(&mut self, forecast: &super::controller::SunForecast) {
        self.sun.take(forecast);
    }

    fn prices(&mut self, prices: &PriceForecast) {
        // Today's and tomorrow's are what a plan reaches; a third covers a late day.
        if self.prices.len() == 3 {
            self.prices.remove(0);
        }
        self.prices.push(prices.clone());
    }
}

#[cfg(test)]
mod tests {
    use chrono::{NaiveDate, TimeZone};

    use super::*;

    /// A step at local `day` `hh:mm`, with `surplus_w` exported and the tank at `tank_c`.
    fn obs(day: NaiveDate, hh: u32, mm: u32, surplus_w: f64, tank_c: f64) -> Observation {
        let local = day.and_hms_opt(hh, mm, 0).unwrap_or_default();
        let at = TZ
            .from_local_datetime(&local)
            .single()
            .map(|t| t.to_utc())
            .unwrap_or_default();
        Observation {
            at,
            local,
            tank_c,
            outdoor_c: 10.0,
            grid_w: -surplus_w,
            pv_w: surplus_w + 300.0,
            dhw_w: 0.0,
            charging: None,
        }
    }

    fn saturday() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 6, 6).unwrap_or_default()
    }

    /// Quarter-hourly steps through `day` from `from` to `to` (hours), no sun.
    fn steps(s: &mut Smart, day: NaiveDate, from: u32, to: u32) -> Vec<(String, Decision)> {
        let mut out = Vec::new();
        for q in from * 4..to * 4 {
            let d = s.decide(&obs(day, q / 4, (q % 4) * 15, 0.0, 55.0));
            out.push((format!("{:02}:{:02}", q / 4, (q % 4) * 15), d));
        }
        out
    }

    #[test]
    fn below_the_use_minimum_it_charges_as_soon_as_the_thermostat_would_and_runs_on() {
        let mut s = Smart::new(SmartParams {
            legionella: None,
            ..SmartParams::default()
        });
        // A household whose large draw takes 4 kWh within the hour.
        let mut day = vec![0.0; SLOTS];
        day[28] = 2.5;
        day[29] = 1.5;
        assert_eq!(s.observer.resume_recent(&vec![day; 10]), Ok(()));
        steps(&mut s, saturday(), 0, 20);
        let comfort = s.comfort().unwrap_or_else(|| unreachable!("decided"));
        assert!(!comfort.at_risk, "a full tank: {comfort:?}");
        assert!((comfort.large_draw_kwh - 4.0).abs() < 1e-9, "{comfort:?}");
        // 20:00, the sun gone hours ago and back tomorrow: the sensor at 44 °C.
        let mut o = obs(saturday(), 20, 0, 0.0, 44.0);
        assert_eq!(s.decide(&o), Decision::Start { target_c: 55.0 });
        assert!(s.reason().contains("below 45 °C"), "{}", s.reason());
        assert!(s.comfort().is_some_and(|c| c.at_risk), "{:?}", s.comfort());
        // Half an hour on, the hot water the household needs tonight is long there,
        // but the charge runs on until the tank holds a large draw again.
        o.charging = Some(55.0);
        o.dhw_w = 1200.0;
        o.grid_w = 1500.0;
        for mm in [15, 30, 45] {
            o.local = saturday().and_hms_opt(20, mm, 0).unwrap_or_default();
            o.at += Duration::minutes(15);
            assert_eq!(s.decide(&o), Decision::Keep, "20:{mm}: {}", s.reason());
        }
    }

    #[test]
    fn the_legionella_run_takes_the_sun_in_its_window() {
        let mut s = Smart::new(SmartParams::default());
        let d = s.decide(&obs(saturday(), 12, 0, 2000.0, 55.0));
        assert_eq!(d, Decision::Start { target_c: 60.0 });
        assert!(s.reason().contains("with the sun"), "{}", s.reason());
    }

    #[test]
    fn without_sun_the_legionella_run_waits_for_the_windows_last_quarter() {
        let mut s = Smart::new(SmartParams::default());
        let hot: Vec<_> = steps(&mut s, saturday(), 10, 17)
            .into_iter()
            .filter(|(_, d)| *d == Decision::Start { target_c: 60.0 })
            .collect();
        assert_eq!(hot.len(), 1, "{hot:?}");
        assert_eq!(hot[0].0, "15:45");
        assert!(s.reason().contains("closes without sun"), "{}", s.reason());
    }

    #[test]
    fn no_legionella_run_outside_its_window_or_when_switched_off() {
        let friday = saturday().pred_opt().unwrap_or_default();
        let mut s = Smart::new(SmartParams::default());
        let d = s.decide(&obs(friday, 12, 0, 2000.0, 55.0));
        assert!(!s.reason().contains("legionella"), "{d:?}: {}", s.reason());
        let mut off = Smart::new(SmartParams {
            legionella: None,
            ..SmartParams::default()
        });
        let starts = steps(&mut off, saturday(), 10, 17);
        assert!(
            starts
                .iter()
                .all(|(_, d)| *d != Decision::Start { target_c: 60.0 }),
            "{starts:?}"
        );
    }

    #[test]
    fn a_charge_to_the_legionella_temperature_the_day_before_counts() {
        let mut s = Smart::new(SmartParams::default());
        let friday = saturday().pred_opt().unwrap_or_default();
        // A sun charge to 60 °C that the heat pump finishes on Friday afternoon.
        s.decide(&obs(friday, 14, 0, 2000.0, 55.0));
        let mut running = obs(friday, 14, 15, 2000.0, 58.0);
        running.charging = Some(60.0);
        running.dhw_w = 1300.0;
        s.decide(&running);
        s.decide(&obs(friday, 14, 30, 2000.0, 60.0));
        assert!(s.last_hot.is_some(), "the finished charge is remembered");
        let d = s.decide(&obs(saturday(), 12, 0, 2000.0, 59.0));
        assert!(!s.reason().contains("legionella"), "{d:?}: {}", s.reason());
    }

    #[test]
    fn the_legionella_run_is_not_stopped_when_the_sun_goes() {
        let mut s = Smart::new(SmartParams::default());
        assert_eq!(
            s.decide(&obs(saturday(), 12, 0, 2000.0, 50.0)),
            Decision::Start { target_c: 60.0 }
        );
        for q in 1..8 {
            let mut o = obs(saturday(), 12 + q / 4, (q % 4) * 15, 0.0, 52.0);
            o.charging = Some(60.0);
            o.dhw_w = 1300.0;
            o.grid_w = 1300.0;
            assert_eq!(s.decide(&o), Decision::Keep, "step {q}");
        }
    }

    /// An outlook with `sun_from..sun_to` sunny (2 kW) and `need` kWh drawn per slot.
    fn outlook(sun_from: usize, sun_to: usize, need: f64) -> Outlook {
        Outlook {
            surplus: (0..HORIZON)
                .map(|i| {
                    if (sun_from..sun_to).contains(&i) {
                        2000.0
                    } else {
                        0.0
                    }
                })
                .collect(),
            need: vec![need; HORIZON],
        }
    }

    #[test]
    fn the_next_charge_is_the_sun_when_it_comes_before_the_tank_runs_low() {
        let s = Smart::new(SmartParams::default());
        let at = chrono::Utc
            .with_ymd_and_hms(2026, 6, 6, 4, 7, 0)
            .single()
            .unwrap_or_default();
        let quarter = |n: i64| {
            chrono::Utc
                .with_ymd_and_hms(2026, 6, 6, 4, 0, 0)
                .single()
                .unwrap_or_default()
                + Duration::minutes(15 * n)
        };
        let full = s.full_kwh();
        let (usable, reserve) = (0.6 * full, RESERVE_SHARE * full);
        // Sun in 20 slots; the tank lasts 40 (the sun, at its first quarter) or runs
        // low in 10 (the grid, then).
        for (lasts, slot, source) in [(40.0, 20, Source::Sun), (9.5, 9, Source::Grid)] {
            let o = outlook(20, 40, (usable - reserve) / lasts);
            assert_eq!(
                s.plan(&o, usable, reserve, at),
                Some(NextCharge {
                    at: quarter(slot),
                    source
                }),
                "the tank lasts {lasts} slots"
            );
        }
        // A full tank that nothing draws from: no charge to plan.
        assert_eq!(s.plan(&outlook(20, 40, 0.0), full, reserve, at), None);
    }

    #[test]
    fn a_tank_that_lasts_until_the_late_sun_waits_for_it_and_fills_to_the_top() {
        let mut s = Smart::new(SmartParams {
            legionella: None,
            ..SmartParams::default()
        });
        let sunny = |q: u32| if (32..72).contains(&q) { 1500.0 } else { 0.0 };
        let monday = NaiveDate::from_ymd_opt(2026, 6, 1).unwrap_or_default();
        // Three sunny days (08:00–18:00) with a full tank that nobody uses.
        for day in monday.iter_days().take(3) {
            for q in 0..96 {
                s.decide(&obs(day, q / 4, (q % 4) * 15, sunny(q), 55.0));
            }
        }
        // Thursday morning a long shower leaves the sensor at 47 °C: room for a
        // charge, but hot water enough for the day.
        let thursday = monday + Duration::days(3);
        let mut starts = Vec::new();
        for q in 40..76 {
            let mut o = obs(thursday, q / 4, (q % 4) * 15, sunny(q), 47.0);
            o.charging = starts.last().map(|(_, t)| *t);
            if let Decision::Start { target_c } = s.decide(&o) {
                starts.push((format!("{:02}:{:02}", q / 4, (q % 4) * 15), target_c));
            }
        }
        assert_eq!(starts.len(), 1, "{starts:?}");
        let (at, target) = &starts[0];
        assert!(
            at.as_str() >= "14:00",
            "started at {at}, before the late sun: {}",
            s.reason()
        );
        assert_eq!(
            *target,
            60.0,
            "the sun carries it to the top: {}",
            s.reason()
        );
        assert!(s.reason().contains("for the evening"), "{}", s.reason());
    }

    /// Three sunny days (08:00–18:00, 1.5 kW) with a 5 kWh bath at 07:00 each, and
    /// the tank full again (unseen) at midnight.
    fn three_days_learned() -> Smart {
        let mut s = Smart::new(SmartParams {
            legionella: None,
            ..SmartParams::default()
        });
        let monday = NaiveDate::from_ymd_opt(2026, 6, 1).unwrap_or_default();
        for day in monday.iter_days().take(3) {
            let mut tank = super::super::tank::Tank::new(TankParams {
                t_init_c: 55.0,
                ..TankParams::default()
            });
            for q in 0..96 {
                let sun = if (32..72).contains(&q) { 1500.0 } else { 0.0 };
                s.decide(&obs(day, q / 4, (q % 4) * 15, sun, tank.sensor()));
                if q == 28 {
                    tank.draw(5.0);
                }
            }
        }
        s
    }

    #[test]
    fn habits_survive_a_restart_through_their_saved_form() {
        let before = three_days_learned();
        let habits = before.habits();
        assert!(habits.draw_days >= 2, "{habits:?}");
        assert!(habits.draw_kwh.iter().sum::<f64>() > 1.0, "{habits:?}");
        let saved = serde_json::to_string(&habits).unwrap_or_default();
        let back: Habits = serde_json::from_str(&saved).unwrap_or_else(|e| panic!("{e}"));

        let mut after = Smart::new(before.params.clone());
        assert!(after.learning());
        assert_eq!(after.resume(&back), Ok(()));
        assert_eq!(after.habits(), back);
        assert!(!after.learning(), "habits from before the restart count");
        // The same outlook for the day ahead: sun and draws where they were.
        let (a, b) = (
            before.outlook(0, DateTime::UNIX_EPOCH),
            after.outlook(0, DateTime::UNIX_EPOCH),
        );
        let apart = |x: &[f64], y: &[f64]| {
            x.iter()
                .zip(y)
                .map(|(x, y)| (x - y).abs())
                .fold(0.0, f64::max)
        };
        assert!(apart(&a.surplus, &b.surplus) < 1e-9 && apart(&a.need, &b.need) < 1e-9);
        assert!(b.surplus[48] > 1000.0 && b.need[28] > b.need[20]);
    }

    #[test]
    fn forgotten_habits_are_learned_afresh() {
        let mut s = Smart::new(SmartParams::default());
        let day = saturday();
        for d in 0..3 {
            let date = day + Duration::days(d);
            for q in 0..96 {
                let sun = if (40..64).contains(&q) { 2500.0 } else { 0.0 };
                s.decide(&obs(date, q / 4, (q % 4) * 15, sun, 55.0));
            }
        }
        assert!(!s.learning());
        assert!(s.habits().surplus_w[48] > 1000.0);
        let hot = s.habits().last_hot;
        s.forget();
        let h = s.habits();
        assert!(s.learning(), "a first day again");
        assert_eq!(
            (h.draw_days, h.surplus_w[48], h.surplus_days[48]),
            (0, 0.0, 0)
        );
        assert_eq!(h.last_hot, hot, "the legionella run is not forgotten");
    }

    #[test]
    fn damaged_habits_are_refused_whole_with_what_is_wrong() {
        let good = three_days_learned().habits();
        let mut short = good.clone();
        short.draw_kwh.pop();
        let mut negative = good.clone();
        negative.surplus_w[50] = -3.0;
        let mut weekend = good.clone();
        weekend.draw_weekend_kwh.truncate(10);
        for (habits, wanted) in [
            (short, "`draw_kwh` has 95 values"),
            (negative, "`surplus_w` at quarter hour 50 is -3"),
            (weekend, "`draw_weekend_kwh` has 10 values"),
        ] {
            let mut s = Smart::new(SmartParams::default());
            let err = s.resume(&habits).err().unwrap_or_default();
            assert!(err.contains(wanted), "{err}");
            assert_eq!(s.habits().draw_days, 0, "nothing taken up");
            assert!(s.learning());
        }
    }

    #[test]
    fn the_strategy_is_learning_for_its_first_day() {
        let mut s = Smart::new(SmartParams::default());
        assert!(s.learning());
        let friday = saturday().pred_opt().unwrap_or_default();
        s.decide(&obs(friday, 12, 0, 0.0, 55.0));
        s.decide(&obs(saturday(), 11, 45, 0.0, 55.0));
        assert!(s.learning(), "23 h 45 min");
        s.decide(&obs(saturday(), 12, 0, 0.0, 55.0));
        assert!(!s.learning(), "a day");
    }
}
