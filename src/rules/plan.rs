//! One round of deciding, the same in the daemon (`control`) and the backtest
//! (`backtest::ruled`): the rules read the facts, a mode a rule sets applies at once,
//! the strategy claims for the mode in force, and the highest priority wins each point
//! with its "why". Pure: no clock, no I/O; both callers build their facts with
//! [`flow_facts`] first, so the names rules read are the same in both.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::{Claim, Event, Facts, Outcome, RuleSet, Winner, base_names, resolve};
use crate::live::{Flow, Live};
use crate::strategy::Mode;

/// What a round decided.
#[derive(Debug)]
pub struct Plan {
    /// The mode in force after the rules (a rule's mode applies at once).
    pub mode: Mode,
    /// What the rules did: which fired, modes asked, notifications, problems.
    pub outcome: Outcome,
    /// The value each claimed point gets, and why.
    pub winners: BTreeMap<(String, String), Winner>,
}

/// The live flows, the strategy's mode and whether it is charging, under the names
/// every rule can read (`grid_power`, `tank_temperature`, `mode`, `charging`, …); the
/// caller adds what it has besides (device points, the ledger, `online`).
pub fn flow_facts(live: &Live, mode: Mode, charging: bool) -> Facts {
    let mut f = base_names();
    for flow in Flow::ALL {
        f.number(flow.as_str(), live.get(flow));
    }
    f.text("mode", mode.as_str());
    f.flag("charging", charging);
    f
}

/// One round at `now`: the rules over `facts` and `events`, then the strategy's claims
/// for the resulting mode (`strategy`, called once), then every claim under its one
/// point name (`name` renames a claim to the point's key, or drops it when the point
/// is unknown), then the winner of each point by priority.
pub fn plan(
    rules: &mut RuleSet,
    now: DateTime<Utc>,
    facts: &Facts,
    events: &[Event],
    mode: Mode,
    strategy: impl FnOnce(Mode) -> Vec<Claim>,
    mut name: impl FnMut(&mut Claim) -> bool,
) -> Plan {
    let outcome = rules.tick(now, facts, events);
    let mode = outcome.modes.last().map_or(mode, |(m, _)| *m);
    let mut claims = strategy(mode);
    claims.extend(rules.claims().iter().cloned());
    claims.retain_mut(|c| name(c));
    Plan {
        mode,
        outcome,
        winners: resolve(&claims),
    }
}
