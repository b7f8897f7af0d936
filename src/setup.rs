//! `nomhub.toml` as a whole: the config's own sections (`config`, which depends on
//! nothing above it), then the parts other modules check against it: the `[[rule]]`s
//! against the devices (`rules`) and Home Assistant discovery (`mqtt`). Every problem
//! of all three, in the order of the file. Use this to load a config someone wrote;
//! `config::parse` alone skips the rules and discovery.

use std::path::Path;

use crate::config::{self, Config};
use crate::report::Report;

/// Reads and checks the config file at `path`.
pub fn load(path: &Path) -> Result<Config, Report> {
    let (name, text) = config::read(path)?;
    parse(&name, &text)
}

/// Checks config `text`; `name` is used in messages.
pub fn parse(name: &str, text: &str) -> Result<Config, Report> {
    // The rules are checked even when other sections have problems: every problem at once.
    let (config, mut report) = config::parse_with_problems(name, text);
    report.issues.extend(crate::rules::from_config(&config).1);
    report.issues.extend(crate::mqtt::check(&config));
    report.issues.sort_by_key(|i| i.line);
    report.into_result(config)
}
