//! Rules tinkerers write (docs/rules.md): a trigger (cron, a condition held for a
//! while, a period boundary, an event), an optional condition, and actions (set a
//! writable device point, set the hot-water mode, notify). Expressions are Rhai
//! ([`expr`]); [`config`] checks rules against the dwelling's devices and reports
//! problems with file, line and column; [`engine`] runs them and resolves the
//! points several rules want by priority, with a "why" for every value.

pub mod config;
pub mod engine;
pub mod expr;
pub mod plan;

use std::collections::BTreeMap;
use std::path::Path;

use rhai::Map;

pub use config::{Context, DEFAULT_PRIORITY, RuleConfig};
pub use engine::{Claim, Event, EventKind, Outcome, Rule, RuleSet, Winner, resolve};
pub use expr::{Expr, ExprError, Facts};
pub use plan::{Plan, flow_facts, plan};

use crate::config::DeviceConfig;
use crate::ledger::SettlementRule;
use crate::live::Flow;
use crate::profile::ProfileSet;
use crate::report::{Issue, Report};

/// Names every expression can read besides the devices: the live flows, the time,
/// the strategy, the bundle.
pub fn base_names() -> Facts {
    let mut f = Facts::default();
    for flow in Flow::ALL {
        f.number(flow.as_str(), None);
    }
    engine::time_facts(&mut f, chrono::DateTime::UNIX_EPOCH);
    f.text("mode", "smart");
    f.flag("charging", false);
    f.text("subject", "");
    f.map("bundle", Map::new());
    f.map("settlement", Map::new());
    f.map("online", Map::new());
    f
}

impl Context {
    /// What rules in a config may refer to: its devices' points.
    pub fn for_devices(
        devices: &[DeviceConfig],
        profiles: &ProfileSet,
        settlement: SettlementRule,
    ) -> Self {
        let mut names = base_names();
        let mut points = BTreeMap::new();
        for d in devices {
            let id = d.id.get_ref().as_str();
            names.map(id, Map::new());
            let Some(p) = profiles.get(d.profile.get_ref()) else {
                continue;
            };
            for pt in &p.file.points {
                let bounds = pt.write.map(|w| w.bounds(pt.ty));
                // A point answers to its role too (`heat_pump.dhw_setpoint`), as in the backtest.
                if let Some(r) = pt.role {
                    points
                        .entry(format!("{id}.{}", r.as_str()))
                        .or_insert(bounds);
                }
                points.insert(format!("{id}.{}", pt.key), bounds);
            }
        }
        Self {
            names,
            points,
            driven: BTreeMap::new(),
            settlement,
        }
    }
}

/// The `[[rule]]` tables of a file as written. The file's syntax errors go to `syntax`,
/// a table's own to `report`; another key is a problem only in a rules file of its own
/// (`only_rules`), not in the main config, whose other sections are `config`'s.
fn rule_tables(
    name: &str,
    text: &str,
    syntax: &mut Report,
    report: &mut Report,
    only_rules: bool,
) -> Vec<RuleConfig> {
    let mut configs = Vec::new();
    for (key, value) in crate::config::document(name, text, syntax) {
        if key.get_ref() == "rule" {
            configs = crate::config::items(name, text, "rule", key.span(), value, report);
        } else if only_rules {
            report.push(Issue::at(
                name,
                text,
                Some(key.span()),
                format!(
                    "unknown key `{}`, a rules file holds [[rule]] tables",
                    key.get_ref()
                ),
            ));
        }
    }
    configs
}

/// The `[[rule]]`s of a config, checked against its devices: the rules, and every
/// problem with file, line and column.
pub fn from_config(config: &crate::config::Config) -> (Vec<Rule>, Vec<Issue>) {
    let (name, text) = (config.path.as_str(), &*config.text);
    let mut report = Report::default();
    // The file's own syntax errors are the config's to report, not once more here.
    let configs = rule_tables(name, text, &mut Report::default(), &mut report, false);
    let settlement = config
        .ledger
        .as_ref()
        .map_or_else(SettlementRule::default, |l| l.rule);
    let mut ctx = Context::for_devices(&config.devices, &config.profiles, settlement);
    // With SG Ready, the heat pump's `sg_ready` is its state, 1 to 4, whatever wires it,
    // and the points that wire it are SG Ready's alone: a rule writing a contact would
    // fight its hold times and hand-back.
    if let Some(c) = &config.control
        && let (Some(hp), Some(sg)) = (&c.heat_pump, &c.sg_ready)
    {
        let state = format!("{hp}.{}", crate::control::sg_ready::POINT);
        ctx.points.insert(state.clone(), Some((1.0, 4.0)));
        let instead = format!(
            "driven by [control.sg_ready]; a rule sets `{state}` instead (1 lock, 2 normal, 3 recommend, 4 force)"
        );
        let device = sg.wiring.device();
        let points = crate::config::control::points_of(&config.devices, &config.profiles, device)
            .unwrap_or_default();
        for ((_, key), _) in sg.wiring.values(crate::model::SgState::Normal) {
            // By its key and by its role, as rules may name it either way.
            let role = points
                .iter()
                .find(|pt| pt.key.as_str() == key)
                .and_then(|pt| pt.role);
            for name in std::iter::once(key.clone()).chain(role.map(|r| r.as_str().to_owned())) {
                ctx.driven
                    .insert(format!("{device}.{name}"), instead.clone());
            }
        }
    }
    let (rules, issues) = config::compile(name, text, &configs, &ctx);
    report.issues.extend(issues);
    (rules, report.issues)
}

/// Reads a file of `[[rule]]` tables (the backtest's `--rules`).
pub fn load_file(path: &Path, ctx: &Context) -> Result<RuleSet, Report> {
    let (name, text) = crate::config::read(path)?;
    parse_file(&name, &text, ctx)
}

pub fn parse_file(name: &str, text: &str, ctx: &Context) -> Result<RuleSet, Report> {
    let mut report = Report::default();
    let mut syntax = Report::default();
    let configs = rule_tables(name, text, &mut syntax, &mut report, true);
    report.extend(syntax);
    let (rules, issues) = config::compile(name, text, &configs, ctx);
    for i in issues {
        report.push(i);
    }
    report.issues.sort_by_key(|i| i.line);
    report.into_result(RuleSet::new(rules, ctx.settlement))
}
