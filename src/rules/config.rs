//! `[[rule]]` tables: how they are written, and the checks that turn them into
//! [`Rule`]s or issues with file, line and column (inside an expression too).

use std::collections::BTreeMap;
use std::ops::Range;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::engine::{Action, EventKind, Rule, SetValue, Trigger};
use super::expr::{Expr, ExprError, Facts};
use crate::ledger::PeriodKind;
use crate::ledger::period::SettlementRule;
use crate::model::Dur;
use crate::report::Issue;
use crate::strategy::Mode;

/// A rule's priority unless it says otherwise; the strategy's own wishes have 0.
pub const DEFAULT_PRIORITY: i32 = 10;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    pub name: Spanned<String>,
    #[serde(default)]
    pub priority: Option<i32>,
    /// Fires on a cron schedule (seconds first, Europe/Amsterdam).
    #[serde(default)]
    pub cron: Option<Spanned<String>>,
    /// Fires when this expression has been true for `hold`, and holds its claims
    /// while it stays true.
    #[serde(default)]
    pub when: Option<Spanned<String>>,
    #[serde(default)]
    pub hold: Option<Dur>,
    /// Fires when a new day, month, year or settlement year begins.
    #[serde(default)]
    pub period: Option<Spanned<PeriodKind>>,
    /// Fires on a nomhub event.
    #[serde(default)]
    pub event: Option<Spanned<EventKind>>,
    /// Only fires when this expression is true at that moment.
    #[serde(default, rename = "if")]
    pub condition: Option<Spanned<String>>,
    pub then: Spanned<Vec<ActionConfig>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionConfig {
    /// `device.point` to write.
    #[serde(default)]
    pub set: Option<Spanned<String>>,
    #[serde(default)]
    pub value: Option<Spanned<ValueConfig>>,
    /// How long a written value holds.
    #[serde(default, rename = "for")]
    pub hold: Option<Dur>,
    #[serde(default)]
    pub mode: Option<Spanned<String>>,
    #[serde(default)]
    pub notify: Option<Spanned<String>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum ValueConfig {
    Number(f64),
    Expression(String),
}

/// What rules may refer to.
#[derive(Debug, Clone)]
pub struct Context {
    /// Every name an expression may read.
    pub names: Facts,
    /// Every `device.point`, with its write bounds when it is writable.
    pub points: BTreeMap<String, Option<(f64, f64)>>,
    /// Points something else drives (SG Ready's contacts), with what a rule does instead.
    pub driven: BTreeMap<String, String>,
    pub settlement: SettlementRule,
}

struct Checker<'a> {
    file: &'a str,
    text: &'a str,
    ctx: &'a Context,
    issues: Vec<Issue>,
}

impl Checker<'_> {
    fn issue(&mut self, span: Range<usize>, msg: String) {
        self.issues
            .push(Issue::at(self.file, self.text, Some(span), msg));
    }

    /// Compiles the expression in a TOML string; an error points into the string.
    fn expr(&mut self, rule: &str, key: &str, s: &Spanned<String>) -> Option<Expr> {
        match Expr::compile(s.get_ref(), &self.ctx.names) {
            Ok(e) => Some(e),
            Err(ExprError { message, offset }) => {
                let span = s.span();
                let quote = ["\"\"\"", "'''"]
                    .iter()
                    .find(|q| {
                        self.text
                            .get(span.start..)
                            .is_some_and(|t| t.starts_with(**q))
                    })
                    .map_or(1, |q| q.len());
                let at = offset.map_or(span.start, |o| span.start + quote + o);
                self.issue(at..at, format!("rule `{rule}`: `{key}`: {message}"));
                None
            }
        }
    }

    fn rule(&mut self, c: &RuleConfig) -> Option<Rule> {
        let name = c.name.get_ref().clone();
        let before = self.issues.len();
        let triggers = [
            c.cron.is_some(),
            c.when.is_some(),
            c.period.is_some(),
            c.event.is_some(),
        ];
        let count = triggers.iter().filter(|t| **t).count();
        if count != 1 {
            self.issue(
                c.name.span(),
                format!(
                    "rule `{name}`: needs exactly one trigger of `cron`, `when`, `period`, `event` (it has {count})"
                ),
            );
        }
        if c.hold.is_some() && c.when.is_none() {
            self.issue(
                c.name.span(),
                format!("rule `{name}`: `hold` belongs with `when`"),
            );
        }
        let trigger = if let Some(s) = &c.cron {
            match crate::config::schedule(s.get_ref()) {
                Ok(schedule) => Some(Trigger::Cron(Box::new(schedule))),
                Err(e) => {
                    self.issue(
                        s.span(),
                        format!("rule `{name}`: cron `{}`: {e}", s.get_ref()),
                    );
                    None
                }
            }
        } else if let Some(w) = &c.when {
            self.expr(&name, "when", w).map(|expr| Trigger::When {
                expr,
                hold: c.hold.map_or(Duration::ZERO, |h| h.0),
            })
        } else if let Some(p) = &c.period {
            Some(Trigger::Period(*p.get_ref()))
        } else {
            c.event.as_ref().map(|e| Trigger::Event(*e.get_ref()))
        };
        let condition = c.condition.as_ref().and_then(|s| self.expr(&name, "if", s));
        let holds_while_true = c.when.is_some();
        if c.then.get_ref().is_empty() {
            self.issue(
                c.then.span(),
                format!("rule `{name}`: `then` has no actions"),
            );
        }
        let actions: Vec<Action> = c
            .then
            .get_ref()
            .iter()
            .filter_map(|a| self.action(&name, a, c.then.span(), holds_while_true))
            .collect();
        if self.issues.len() > before {
            return None;
        }
        Some(Rule {
            name,
            priority: c.priority.unwrap_or(DEFAULT_PRIORITY),
            trigger: trigger?,
            condition,
            actions,
        })
    }

    fn action(
        &mut self,
        rule: &str,
        a: &ActionConfig,
        then: Range<usize>,
        holds_while_true: bool,
    ) -> Option<Action> {
        let kinds = [a.set.is_some(), a.mode.is_some(), a.notify.is_some()];
        if kinds.iter().filter(|k| **k).count() != 1 {
            self.issue(
                then,
                format!("rule `{rule}`: each action is one of `set`, `mode`, `notify`"),
            );
            return None;
        }
        if let Some(m) = &a.mode {
            return match Mode::parse(m.get_ref()) {
                Some(mode) => Some(Action::Mode(mode)),
                None => {
                    self.issue(
                        m.span(),
                        format!(
                            "rule `{rule}`: mode `{}` is not one of {}",
                            m.get_ref(),
                            Mode::ALL.map(Mode::as_str).join(", ")
                        ),
                    );
                    None
                }
            };
        }
        if let Some(n) = &a.notify {
            // The text is a Rhai template: `${tank_temperature}` puts a value in.
            let template = Spanned::new(n.span(), format!("`{}`", n.get_ref().replace('`', "'")));
            return self.expr(rule, "notify", &template).map(Action::Notify);
        }
        let target = a.set.as_ref()?;
        let key = target.get_ref();
        if let Some(instead) = self.ctx.driven.get(key) {
            self.issue(
                target.span(),
                format!("rule `{rule}`: point `{key}` is {instead}"),
            );
            return None;
        }
        let Some(bounds) = self.ctx.points.get(key) else {
            let known: Vec<&str> = self
                .ctx
                .points
                .iter()
                .filter(|(_, b)| b.is_some())
                .map(|(k, _)| k.as_str())
                .collect();
            self.issue(
                target.span(),
                format!(
                    "rule `{rule}`: no point `{key}` (writable points: {})",
                    if known.is_empty() {
                        "none".to_owned()
                    } else {
                        known.join(", ")
                    }
                ),
            );
            return None;
        };
        let Some((min, max)) = *bounds else {
            self.issue(
                target.span(),
                format!("rule `{rule}`: point `{key}` is not writable (its profile says so)"),
            );
            return None;
        };
        let Some(value) = &a.value else {
            self.issue(
                target.span(),
                format!("rule `{rule}`: `set` needs a `value`"),
            );
            return None;
        };
        let value = match value.get_ref() {
            ValueConfig::Number(v) if !(min..=max).contains(v) => {
                self.issue(
                    value.span(),
                    format!("rule `{rule}`: {v} is outside `{key}`'s bounds {min}..={max}"),
                );
                return None;
            }
            ValueConfig::Number(v) => SetValue::Fixed(*v),
            ValueConfig::Expression(s) => {
                let s = Spanned::new(value.span(), s.clone());
                SetValue::Computed(self.expr(rule, "value", &s)?)
            }
        };
        if a.hold.is_none() && !holds_while_true {
            self.issue(
                target.span(),
                format!(
                    "rule `{rule}`: `set` needs `for` (how long the value holds); only a `when` rule holds its values while its condition stays true"
                ),
            );
            return None;
        }
        let (device, point) = key.split_once('.').unwrap_or((key, ""));
        Some(Action::Set {
            device: device.to_owned(),
            point: point.to_owned(),
            value,
            min,
            max,
            hold: a.hold.map(|h| h.0),
        })
    }
}

/// Checks every rule; each problem is an issue at its place in `text`.
pub fn compile(
    file: &str,
    text: &str,
    configs: &[RuleConfig],
    ctx: &Context,
) -> (Vec<Rule>, Vec<Issue>) {
    let mut checker = Checker {
        file,
        text,
        ctx,
        issues: Vec::new(),
    };
    let mut names = std::collections::HashSet::new();
    let mut rules = Vec::new();
    for c in configs {
        if !names.insert(c.name.get_ref().clone()) {
            checker.issue(
                c.name.span(),
                format!("rule `{}` is defined twice", c.name.get_ref()),
            );
        }
        if let Some(r) = checker.rule(c) {
            rules.push(r);
        }
    }
    (rules, checker.issues)
}
