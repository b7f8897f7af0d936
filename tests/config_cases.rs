//! Config cases as folders: `tests/cases/config/<name>/config.toml` and `expected.err`,
//! the exact lines `nomhub check-config` prints (or `ok`): the whole file's checks
//! (`setup::parse`: the config, its rules, Home Assistant discovery).

#![allow(clippy::unwrap_used)] // test helpers may panic

mod support;

#[test]
fn config_cases_report_every_problem_with_its_place() {
    let dir = support::root().join("tests/cases/config");
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert!(names.len() >= 4);
    let bless = std::env::var_os("NOMHUB_BLESS").is_some();
    for name in names {
        let case = dir.join(&name);
        let text = std::fs::read_to_string(case.join("config.toml")).unwrap();
        let got = match nomhub::setup::parse(&format!("{name}/config.toml"), &text) {
            Ok(_) => "ok\n".to_owned(),
            Err(report) => report.issues.iter().map(|i| format!("{i}\n")).collect(),
        };
        let expected_path = case.join("expected.err");
        if bless {
            std::fs::write(&expected_path, &got).unwrap();
        }
        let want = std::fs::read_to_string(&expected_path).unwrap();
        assert_eq!(
            got, want,
            "case {name} (NOMHUB_BLESS=1 rewrites expected.err; review the diff)"
        );
    }
}
