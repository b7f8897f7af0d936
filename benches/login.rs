//! `cargo bench --bench login`: a login flood against `nomhub run`, as a browser-less
//! attacker on the home network would send it.
//!
//! The simulated dwelling (`nomhub sim`) and `nomhub run` with the demo's devices and the
//! dashboard (`auth = "users"`, one user) as their own processes; `NOMHUB_LOGIN_FLOOD`
//! (default 200) logins with made-up user names are sent at once, each with its form's
//! token as a browser would. The daemon's resident memory (VmRSS) is read before, every
//! 20 ms during, and 2 s after, with the environment the systemd unit gives nomhub
//! (`MALLOC_ARENA_MAX=2`). Prints Markdown for docs/performance.md.

#![allow(clippy::unwrap_used)] // a benchmark may panic

#[path = "../tests/support/mod.rs"]
mod support;

use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

struct Killed(Child);
impl Drop for Killed {
    fn drop(&mut self) {
        if self.0.kill().is_ok() {
            self.0.wait().ok();
        }
    }
}

fn rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    let kb: f64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kb / 1024.0
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .timeout_global(Some(Duration::from_secs(300)))
        .build()
        .into()
}

/// One login as a browser sends it: the form (its cookie and token), then the post.
fn login(base: &str, user: &str, password: &str) -> u16 {
    let a = agent();
    let Ok(mut page) = a.get(format!("{base}/login")).call() else {
        return 0;
    };
    let cookie = page
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("nomhub_login="))
        .map(|c| c.split(';').next().unwrap_or_default().to_owned())
        .unwrap_or_default();
    let body = page.body_mut().read_to_string().unwrap_or_default();
    let Some(at) = body.find("name=\"csrf\" value=\"") else {
        return 0;
    };
    let csrf = &body[at + 19..at + 19 + 64];
    a.post(format!("{base}/login"))
        .header("cookie", &cookie)
        .send_form([("csrf", csrf), ("user", user), ("password", password)])
        .map_or(0, |r| r.status().as_u16())
}

struct Flood {
    before: f64,
    peak: f64,
    after: f64,
    took: Duration,
    answers: std::collections::BTreeMap<u16, usize>,
}

fn flood(env: &[(&str, &str)], n: usize) -> Flood {
    let bin = env!("CARGO_BIN_EXE_nomhub");
    let dir = tempfile::tempdir().unwrap();
    let sim_port = support::free_port();
    let _sim = Killed(
        Command::new(bin)
            .args(["sim", "--port", &sim_port.to_string()])
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let web = format!("127.0.0.1:{}", support::free_port());
    let text = nomhub::config::demo_text(sim_port, &dir.path().join("store"));
    let config = dir.path().join("nomhub.toml");
    std::fs::write(&config, format!("{text}\n[web]\nlisten = \"{web}\"\n")).unwrap();
    let mut add = Command::new(bin)
        .args(["user", "add", "anna", "--config"])
        .arg(&config)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut stdin = add.stdin.take().unwrap();
        writeln!(stdin, "zonnepanelen-op-het-dak").unwrap();
    }
    assert!(add.wait().unwrap().success());
    let mut cmd = Command::new(bin);
    cmd.args(["run", "--config"]).arg(&config);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let daemon = Killed(
        cmd.stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let pid = daemon.0.id();
    let base = format!("http://{web}");
    let began = Instant::now();
    while agent()
        .get(format!("{base}/api/health"))
        .call()
        .map_or(true, |r| r.status() != 200)
    {
        assert!(
            began.elapsed() < Duration::from_secs(30),
            "nomhub did not start"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    std::thread::sleep(Duration::from_secs(3));
    let before = rss_mib(pid);
    let done = Arc::new(AtomicBool::new(false));
    let peak = Arc::new(Mutex::new(before));
    let watcher = {
        let (done, peak) = (done.clone(), peak.clone());
        std::thread::spawn(move || {
            while !done.load(Ordering::SeqCst) {
                let now = rss_mib(pid);
                let mut p = peak.lock().unwrap();
                *p = p.max(now);
                drop(p);
                std::thread::sleep(Duration::from_millis(20));
            }
        })
    };
    let start = Instant::now();
    let logins: Vec<_> = (0..n)
        .map(|i| {
            let base = base.clone();
            std::thread::spawn(move || login(&base, &format!("nobody{i}"), "a-guess-1234"))
        })
        .collect();
    let mut answers = std::collections::BTreeMap::new();
    for l in logins {
        *answers.entry(l.join().unwrap()).or_insert(0) += 1;
    }
    let took = start.elapsed();
    std::thread::sleep(Duration::from_secs(2));
    done.store(true, Ordering::SeqCst);
    watcher.join().unwrap();
    let after = rss_mib(pid);
    let peak = *peak.lock().unwrap();
    Flood {
        before,
        peak,
        after,
        took,
        answers,
    }
}

fn main() {
    let n: usize = std::env::var("NOMHUB_LOGIN_FLOOD")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(200);
    let runs = [(
        "as the systemd unit runs it",
        vec![("MALLOC_ARENA_MAX", "2")],
    )];
    println!("## A login flood: {n} logins at once\n");
    println!(
        "| environment | answers | all answered in | VmRSS before | peak | 2 s after | after − before |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|");
    for (what, env) in runs {
        let f = flood(&env, n);
        let answers: Vec<String> = f
            .answers
            .iter()
            .map(|(code, count)| format!("{count}× {code}"))
            .collect();
        println!(
            "| {what} | {} | {:.1} s | {:.1} MiB | {:.1} MiB | {:.1} MiB | {:+.1} MiB |",
            answers.join(", "),
            f.took.as_secs_f64(),
            f.before,
            f.peak,
            f.after,
            f.after - f.before
        );
    }
}
