//! Config cases as folders: `tests/cases/config/<name>/config.toml` and `expected.err`,
//! the exact lines `nomhub check-config` prints (or `ok`): the whole file's checks
//! (`setup::parse`: the config, its rules, Home Assistant discovery).

#![allow(clippy::unwrap_used)] // test helpers may panic

mod support;

#[test]
fn config_cases_report_every_problem_with_its_place() {
    support::folder_cases("tests/cases/config", 4, |name, case| {
        let text = std::fs::read_to_string(case.join("config.toml")).unwrap();
        match nomhub::setup::parse(&format!("{name}/config.toml"), &text) {
            Ok(_) => "ok\n".to_owned(),
            Err(report) => report.issues.iter().map(|i| format!("{i}\n")).collect(),
        }
    });
}
