//! `cargo bench --bench footprint`: what `nomhub run` costs a Raspberry Pi, measured.
//!
//! The simulated dwelling (`nomhub sim`, its own process, real time from noon) with four
//! devices polled every 2 s, the ledger, control with the smart strategy, MQTT to a real
//! mosquitto (installed by ./test.sh) and the dashboard; a scraper reads `/metrics` and
//! `/api/health` every 15 s as Prometheus and a monitor would. Every 5 s the daemon's
//! resident memory (VmRSS) and CPU time (utime + stime) are read from /proc. nomhub runs
//! with the environment the systemd unit gives it (`MALLOC_ARENA_MAX=2`).
//!
//! `NOMHUB_FOOTPRINT_SECS` (default 600) sets the length. Prints Markdown for
//! docs/performance.md.

#![allow(clippy::unwrap_used)] // a benchmark may panic

#[path = "../tests/support/mod.rs"]
mod support;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Seconds of CPU the process `pid` has used, from /proc/PID/stat (utime + stime).
fn cpu_seconds(pid: u32, ticks_per_second: f64) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // The command name may hold spaces; the fields after it are plain.
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of stat, 12 and 13 after the name.
    let (utime, stime): (f64, f64) = (fields[11].parse().unwrap(), fields[12].parse().unwrap());
    (utime + stime) / ticks_per_second
}

/// (VmRSS, VmHWM, RssAnon, RssFile) of `pid` in kB.
fn memory_kb(pid: u32) -> (u64, u64, u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| -> u64 {
        let line = status.lines().find(|l| l.starts_with(name)).unwrap();
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    };
    (
        field("VmRSS:"),
        field("VmHWM:"),
        field("RssAnon:"),
        field("RssFile:"),
    )
}

fn ticks_per_second() -> f64 {
    let out = Command::new("getconf").arg("CLK_TCK").output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

fn get(url: &str) -> (u16, String) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into();
    match agent.get(url).call() {
        Ok(mut r) => (
            r.status().as_u16(),
            r.body_mut().read_to_string().unwrap_or_default(),
        ),
        Err(_) => (0, String::new()),
    }
}

/// The sum of a metric's samples in a Prometheus text.
fn metric_sum(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with(['{', ' ']))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

struct Killed(Child);
impl Drop for Killed {
    fn drop(&mut self) {
        // Already gone is fine.
        if self.0.kill().is_ok() {
            self.0.wait().ok();
        }
    }
}

fn main() {
    let secs: u64 = std::env::var("NOMHUB_FOOTPRINT_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(600);
    let bin = env!("CARGO_BIN_EXE_nomhub");
    let hz = ticks_per_second();
    let dir = tempfile::tempdir().unwrap();
    let broker = support::mqtt::Broker::start();

    let sim_port = support::free_port();
    let _sim = Killed(
        Command::new(bin)
            .args(["sim", "--port", &sim_port.to_string(), "--speed", "1"])
            .args(["--start-hour", "12"])
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let web = format!("127.0.0.1:{}", support::free_port());
    let text = nomhub::config::demo_text(sim_port, &dir.path().join("store"));
    assert!(
        text.matches("poll = \"2s\"").count() == 4,
        "four devices every 2 s"
    );
    let config = dir.path().join("nomhub.toml");
    std::fs::write(
        &config,
        format!(
            "{text}\n[web]\nlisten = \"{web}\"\nauth = \"none\"\n\n[mqtt]\nhost = \"127.0.0.1\"\nport = {}\n",
            broker.port
        ),
    )
    .unwrap();
    let daemon = Command::new(bin)
        .args(["run", "--config"])
        .arg(&config)
        // As the systemd unit runs it (config/nomhub.service).
        .env("MALLOC_ARENA_MAX", "2")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = daemon.id();
    let daemon = Killed(daemon);

    // Ready: every device answers and MQTT is connected.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (code, body) = get(&format!("http://{web}/api/health"));
        if code == 200 && body.contains("\"status\":\"ok\"") {
            break;
        }
        assert!(Instant::now() < deadline, "nomhub not healthy: {body}");
        std::thread::sleep(Duration::from_millis(500));
    }
    let (_, first) = get(&format!("http://{web}/metrics"));
    let polls_before = metric_sum(&first, "nomhub_device_polls_total");

    eprintln!("footprint: measuring for {secs} s");
    let began = Instant::now();
    let cpu_before = cpu_seconds(pid, hz);
    let mut rss = Vec::new();
    let mut next_scrape = Instant::now();
    while began.elapsed() < Duration::from_secs(secs) {
        if Instant::now() >= next_scrape {
            let (code, _) = get(&format!("http://{web}/metrics"));
            assert_eq!(code, 200);
            let (code, _) = get(&format!("http://{web}/api/health"));
            assert_eq!(code, 200);
            next_scrape += Duration::from_secs(15);
        }
        rss.push(memory_kb(pid).0);
        std::thread::sleep(Duration::from_secs(5));
    }
    let elapsed = began.elapsed().as_secs_f64();
    let cpu = cpu_seconds(pid, hz) - cpu_before;
    let (_, peak, anon, file) = memory_kb(pid);
    let (_, last) = get(&format!("http://{web}/metrics"));
    let polls = metric_sum(&last, "nomhub_device_polls_total") - polls_before;
    let errors = metric_sum(&last, "nomhub_device_poll_errors_total");
    let published = metric_sum(&last, "nomhub_mqtt_published_total");
    let latency_sum = metric_sum(&last, "nomhub_device_poll_duration_seconds_sum");
    let latency_count = metric_sum(&last, "nomhub_device_poll_duration_seconds_count");
    drop(daemon);

    let size = std::fs::metadata(bin).unwrap().len();
    let stripped = dir.path().join("nomhub-stripped");
    let strip = Command::new("strip")
        .arg("-o")
        .arg(&stripped)
        .arg(bin)
        .status();
    let stripped_size = match strip {
        Ok(s) if s.success() => std::fs::metadata(&stripped).unwrap().len(),
        _ => panic!("strip (binutils) is needed: `sudo apt-get install -y binutils`"),
    };

    let mean_rss = rss.iter().sum::<u64>() as f64 / rss.len() as f64;
    let max_rss = *rss.iter().max().unwrap();
    let mib = |kb: f64| kb / 1024.0;
    let cpu_pct = 100.0 * cpu / elapsed;
    println!("| measure | value | goal |");
    println!("|---|---|---|");
    println!(
        "| measured for | {elapsed:.0} s, {} samples | ≥ 600 s |",
        rss.len()
    );
    println!(
        "| polls (4 devices, every 2 s) | {polls:.0} ({:.2}/s), {errors:.0} failed, mean {:.1} ms on the wire | |",
        polls / elapsed,
        1000.0 * latency_sum / latency_count.max(1.0)
    );
    println!("| MQTT messages published | {published:.0} | |");
    println!(
        "| resident memory (VmRSS) | mean {:.1} MiB, max {:.1} MiB; peak (VmHWM) {:.1} MiB; at the end {:.1} MiB heap and stacks (RssAnon) + {:.1} MiB of the mapped program (RssFile) | < 15 MiB |",
        mib(mean_rss),
        mib(max_rss as f64),
        mib(peak as f64),
        mib(anon as f64),
        mib(file as f64)
    );
    println!("| CPU | {cpu:.2} s in {elapsed:.0} s = {cpu_pct:.2} % of one core | < 1 % |");
    println!(
        "| binary (release) | {:.1} MiB, stripped {:.1} MiB | |",
        size as f64 / 1048576.0,
        stripped_size as f64 / 1048576.0
    );
}
