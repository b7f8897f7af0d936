//! Running rules: each tick, every rule's trigger is checked against the time, the
//! facts and the events; a firing rule whose condition holds carries out its
//! actions. Values a rule sets become [`Claim`]s that last `for` a while (or, for a
//! `when` rule, while its condition stays true); [`resolve`] picks the claim that
//! wins each point and says why.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Datelike, Timelike, Utc};
use serde::{Deserialize, Serialize};

use super::expr::{Expr, Facts};
use crate::clock::TZ;
use crate::ledger::PeriodKind;
use crate::ledger::period::{Period, SettlementRule};
use crate::strategy::Mode;

/// Something that happened in nomhub that a rule can react to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// nomhub (or the backtest) started.
    Startup,
    DeviceOffline,
    DeviceOnline,
    /// The hot-water strategy's mode changed.
    ModeChanged,
    /// The heat pump started charging the tank.
    ChargeStarted,
    /// The heat pump finished or stopped charging the tank.
    ChargeFinished,
}

/// An event, with what it concerns (a device id, a mode) as `subject`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub kind: EventKind,
    pub subject: String,
}

#[derive(Debug, Clone)]
pub enum Trigger {
    Cron(Box<cron::Schedule>),
    When { expr: Expr, hold: Duration },
    Period(PeriodKind),
    Event(EventKind),
}

#[derive(Debug, Clone)]
pub enum SetValue {
    Fixed(f64),
    Computed(Expr),
}

#[derive(Debug, Clone)]
pub enum Action {
    Set {
        device: String,
        point: String,
        value: SetValue,
        /// The point's write bounds (a computed value outside them is refused).
        min: f64,
        max: f64,
        hold: Option<Duration>,
    },
    Mode(Mode),
    Notify(Expr),
}

#[derive(Debug, Clone)]
pub struct Rule {
    pub name: String,
    pub priority: i32,
    pub trigger: Trigger,
    pub condition: Option<Expr>,
    pub actions: Vec<Action>,
}

/// A wish for a point's value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Claim {
    pub device: String,
    pub point: String,
    pub value: f64,
    pub priority: i32,
    /// The rule's name, or `strategy`.
    pub by: String,
    /// Why, in a sentence.
    pub because: String,
    pub since: DateTime<Utc>,
    /// When the claim ends; `None` while a `when` rule's condition holds.
    pub until: Option<DateTime<Utc>>,
}

/// What a tick produced besides claims.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Outcome {
    /// Rules that fired, by name.
    pub fired: Vec<String>,
    /// Strategy modes asked for, with the rule that asked.
    pub modes: Vec<(Mode, String)>,
    /// Notifications: (rule, text).
    pub notes: Vec<(String, String)>,
    /// Problems evaluating rules (a value missing, a computed value out of bounds):
    /// (rule, message naming the rule).
    pub errors: Vec<(String, String)>,
}

impl Outcome {
    fn error(&mut self, rule: &str, message: String) {
        self.errors.push((rule.to_owned(), message));
    }
}

#[derive(Debug, Clone, Default)]
struct State {
    /// Cron: the next time the schedule fires.
    next: Option<DateTime<Utc>>,
    /// When: since when the condition has been true, and whether it fired.
    since: Option<DateTime<Utc>>,
    active: bool,
    /// Period: the period of the last tick.
    period: Option<Period>,
}

/// The rules and what each remembers between ticks.
#[derive(Debug, Clone, Default)]
pub struct RuleSet {
    rules: Vec<Rule>,
    state: Vec<State>,
    claims: Vec<Claim>,
    settlement: SettlementRule,
}

/// Time facts every expression can read, in local time.
pub fn time_facts(facts: &mut Facts, now: DateTime<Utc>) {
    let local = now.with_timezone(&TZ);
    facts.int("hour", i64::from(local.hour()));
    facts.int("minute", i64::from(local.minute()));
    facts.int("weekday", i64::from(local.weekday().number_from_monday()));
    facts.int("day", i64::from(local.day()));
    facts.int("month", i64::from(local.month()));
    facts.int("year", i64::from(local.year()));
}

impl RuleSet {
    pub fn new(rules: Vec<Rule>, settlement: SettlementRule) -> Self {
        Self {
            state: vec![State::default(); rules.len()],
            rules,
            claims: Vec::new(),
            settlement,
        }
    }

    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// The claims in force after the last tick.
    pub fn claims(&self) -> &[Claim] {
        &self.claims
    }

    /// Takes back timed claims saved before a restart: those of rules that still
    /// exist, with the same priority, that have not run out at `now`. A `when`
    /// rule's claims are not taken back: its condition decides again.
    pub fn resume(&mut self, saved: Vec<Claim>, now: DateTime<Utc>) {
        for c in saved {
            let known = self
                .rules
                .iter()
                .any(|r| r.name == c.by && r.priority == c.priority);
            if known && c.until.is_some_and(|u| u > now) {
                self.claims.push(c);
            }
        }
    }

    /// Checks every rule at `now`.
    pub fn tick(&mut self, now: DateTime<Utc>, facts: &Facts, events: &[Event]) -> Outcome {
        let mut facts = facts.clone();
        time_facts(&mut facts, now);
        let mut out = Outcome::default();
        self.claims.retain(|c| c.until.is_none_or(|u| u > now));
        for i in 0..self.rules.len() {
            let (rule, state) = (&self.rules[i], &mut self.state[i]);
            let fires = match &rule.trigger {
                Trigger::Cron(schedule) => {
                    let next = *state
                        .next
                        .get_or_insert_with(|| next_after(schedule, now).unwrap_or(now));
                    if next <= now {
                        state.next = next_after(schedule, now);
                        true
                    } else {
                        false
                    }
                }
                Trigger::Period(kind) => {
                    let p = Period::at(*kind, now, &self.settlement);
                    let changed = state.period.is_some_and(|old| old != p);
                    state.period = Some(p);
                    changed
                }
                Trigger::Event(kind) => events.iter().any(|e| e.kind == *kind),
                Trigger::When { expr, hold } => {
                    let truth = match expr.truth(&facts) {
                        Ok(t) => t,
                        Err(e) => {
                            out.error(
                                &rule.name,
                                format!("rule `{}`: `when` {}: {e}", rule.name, expr.source),
                            );
                            false
                        }
                    };
                    if truth {
                        let since = *state.since.get_or_insert(now);
                        let held = (now - since).to_std().unwrap_or_default() >= *hold;
                        let fire = held && !state.active;
                        state.active |= held;
                        fire
                    } else {
                        state.since = None;
                        if state.active {
                            state.active = false;
                            // The condition's claims end with it.
                            let name = rule.name.clone();
                            self.claims.retain(|c| c.by != name);
                        }
                        false
                    }
                }
            };
            if !fires {
                continue;
            }
            let rule = &self.rules[i];
            let mut facts = facts.clone();
            if let Some(e) = events
                .iter()
                .find(|e| matches!(rule.trigger, Trigger::Event(k) if k == e.kind))
            {
                facts.text("subject", &e.subject);
            }
            if let Some(cond) = &rule.condition {
                match cond.truth(&facts) {
                    Ok(true) => {}
                    Ok(false) => continue,
                    Err(e) => {
                        out.error(
                            &rule.name,
                            format!("rule `{}`: `if` {}: {e}", rule.name, cond.source),
                        );
                        continue;
                    }
                }
            }
            out.fired.push(rule.name.clone());
            let because = describe(rule, now);
            for action in &rule.actions {
                match action {
                    Action::Mode(m) => out.modes.push((*m, rule.name.clone())),
                    Action::Notify(t) => match t.eval(&facts) {
                        Ok(v) => out.notes.push((rule.name.clone(), v.to_string())),
                        Err(e) => {
                            out.error(&rule.name, format!("rule `{}`: `notify`: {e}", rule.name))
                        }
                    },
                    Action::Set {
                        device,
                        point,
                        value,
                        min,
                        max,
                        hold,
                    } => {
                        let v = match value {
                            SetValue::Fixed(v) => Ok(*v),
                            SetValue::Computed(e) => e.number(&facts).map_err(|e| e.to_string()),
                        };
                        let v = match v {
                            Ok(v) if (*min..=*max).contains(&v) => v,
                            Ok(v) => {
                                out.error(&rule.name, format!(
                                    "rule `{}`: {v} for `{device}.{point}` is outside {min}..={max}; not written",
                                    rule.name
                                ));
                                continue;
                            }
                            Err(e) => {
                                out.error(
                                    &rule.name,
                                    format!(
                                        "rule `{}`: value for `{device}.{point}`: {e}",
                                        rule.name
                                    ),
                                );
                                continue;
                            }
                        };
                        let until =
                            hold.map(|h| now + chrono::Duration::from_std(h).unwrap_or_default());
                        self.claims.retain(|c| {
                            !(c.by == rule.name && &c.device == device && &c.point == point)
                        });
                        self.claims.push(Claim {
                            device: device.clone(),
                            point: point.clone(),
                            value: v,
                            priority: rule.priority,
                            by: rule.name.clone(),
                            because: because.clone(),
                            since: now,
                            until,
                        });
                    }
                }
            }
        }
        out
    }
}

fn next_after(schedule: &cron::Schedule, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    schedule
        .after(&now.with_timezone(&TZ))
        .next()
        .map(|t| t.with_timezone(&Utc))
}

/// Why a rule fired, in words.
fn describe(rule: &Rule, now: DateTime<Utc>) -> String {
    let at = now.with_timezone(&TZ).format("%Y-%m-%d %H:%M");
    let trigger = match &rule.trigger {
        Trigger::Cron(s) => format!("its schedule `{}` came round", s.source()),
        Trigger::When { expr, hold } => format!(
            "`{}` held for {}",
            expr.source,
            humantime::format_duration(*hold)
        ),
        Trigger::Period(k) => format!("a new {} began", k.as_str()),
        Trigger::Event(k) => format!("event {k:?}"),
    };
    match &rule.condition {
        Some(c) => format!(
            "rule `{}` fired at {at}: {trigger}, and `{}`",
            rule.name, c.source
        ),
        None => format!("rule `{}` fired at {at}: {trigger}", rule.name),
    }
}

/// The claim that sets a point, and the ones it beat.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Winner {
    pub claim: Claim,
    pub overruled: Vec<Claim>,
}

impl Winner {
    /// "Why does this point have its value?"
    pub fn why(&self) -> String {
        let c = &self.claim;
        let mut s = format!(
            "{}.{} = {} by {} (priority {}): {}",
            c.device, c.point, c.value, c.by, c.priority, c.because
        );
        if let Some(u) = c.until {
            s.push_str(&format!(
                "; until {}",
                u.with_timezone(&TZ).format("%Y-%m-%d %H:%M")
            ));
        }
        for o in &self.overruled {
            s.push_str(&format!(
                "; overrules {} (priority {}) who wanted {}",
                o.by, o.priority, o.value
            ));
        }
        s
    }
}

/// The winning claim per point: the highest priority; on a tie the earliest claim
/// (the one that was there first keeps the point).
pub fn resolve<'a>(
    claims: impl IntoIterator<Item = &'a Claim>,
) -> BTreeMap<(String, String), Winner> {
    let mut by_point: BTreeMap<(String, String), Vec<&Claim>> = BTreeMap::new();
    for c in claims {
        by_point
            .entry((c.device.clone(), c.point.clone()))
            .or_default()
            .push(c);
    }
    by_point
        .into_iter()
        .filter_map(|(k, mut cs)| {
            cs.sort_by(|a, b| b.priority.cmp(&a.priority).then(a.since.cmp(&b.since)));
            let (first, rest) = cs.split_first()?;
            Some((
                k,
                Winner {
                    claim: (*first).clone(),
                    overruled: rest.iter().map(|c| (*c).clone()).collect(),
                },
            ))
        })
        .collect()
}
