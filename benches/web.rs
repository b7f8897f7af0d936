//! `cargo bench --bench web`: the dashboard against nomhub on the demo dwelling
//! (every device polled every 2 s, the ledger running, simulated time at 60× from
//! 10:00).
//!
//! 1. Bytes of a usable overview (the page and its two assets) and the time to fetch
//!    them, logged in; and in Debian's headless Chromium (installed by ./test.sh) the
//!    time from navigation to the page's DOMContentLoaded and to its first Live update.
//! 2. The Live stream with 50 clients at once: events each client got, and what the
//!    daemon pays: CPU per second and the latency of `/api/v1/live` next to 0 and 50
//!    stream clients.
//!
//! `NOMHUB_BENCH_SECS` (default 20) sets the stream phases' length. Prints Markdown
//! for docs/performance.md.

#![allow(clippy::unwrap_used)] // a benchmark may panic

#[path = "../tests/support/mod.rs"]
mod support;

use std::io::{BufRead, BufReader};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use fantoccini::Locator;
use nomhub::config::Auth;
use support::web::PASSWORD;
use tokio_util::sync::CancellationToken;
use ureq::Agent;

fn agent() -> Agent {
    Agent::config_builder()
        .max_redirects(0)
        .http_status_as_error(false)
        .build()
        .into()
}

/// Logs `anna` in; the session cookie.
fn login(base: &str) -> String {
    let a = agent();
    let mut page = a.get(format!("{base}/login")).call().unwrap();
    let cookie = page.headers()["set-cookie"].to_str().unwrap();
    let cookie = cookie.split(';').next().unwrap().to_owned();
    let html = page.body_mut().read_to_string().unwrap();
    let at = html.find("name=\"csrf\" value=\"").unwrap() + 19;
    let csrf = html[at..at + 64].to_owned();
    let r = a
        .post(format!("{base}/login"))
        .header("cookie", cookie)
        .send_form([
            ("csrf", csrf.as_str()),
            ("user", "anna"),
            ("password", PASSWORD),
        ])
        .unwrap();
    let set = r.headers()["set-cookie"].to_str().unwrap();
    set.split(';').next().unwrap().to_owned()
}

fn cpu_secs() -> f64 {
    let mut u = std::mem::MaybeUninit::<libc::rusage>::uninit();
    // SAFETY: getrusage fills the struct it is given.
    #[allow(unsafe_code)]
    let u = unsafe {
        libc::getrusage(libc::RUSAGE_SELF, u.as_mut_ptr());
        u.assume_init()
    };
    let t = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    t(u.ru_utime) + t(u.ru_stime)
}

fn percentile(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v[((v.len() - 1) as f64 * p).round() as usize]
}

/// `/api/v1/live` latencies (ms, p50 and p95) and CPU per second over `secs`.
fn load(base: &str, session: &str, secs: u64) -> (f64, f64, f64) {
    let a = agent();
    let cpu0 = cpu_secs();
    let t0 = Instant::now();
    let mut ms = Vec::new();
    while t0.elapsed() < Duration::from_secs(secs) {
        let t = Instant::now();
        let mut r = a
            .get(format!("{base}/api/v1/live"))
            .header("cookie", session)
            .call()
            .unwrap();
        r.body_mut().read_to_string().unwrap();
        ms.push(t.elapsed().as_secs_f64() * 1000.0);
        std::thread::sleep(Duration::from_millis(200));
    }
    let cpu = (cpu_secs() - cpu0) / t0.elapsed().as_secs_f64();
    (percentile(&mut ms, 0.5), percentile(&mut ms, 0.95), cpu)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let secs: u64 = std::env::var("NOMHUB_BENCH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    let cancel = CancellationToken::new();
    // The dwelling from 10:00 today, as the demo: the sun is up and values move.
    let today = chrono::DateTime::<chrono::Utc>::from(nomhub::clock::now())
        .with_timezone(&nomhub::clock::TZ)
        .date_naive();
    let ten = today
        .and_hms_opt(10, 0, 0)
        .unwrap()
        .and_local_timezone(nomhub::clock::TZ)
        .unwrap()
        .to_utc();
    let d = support::web::start_polling("2s", ten, 60.0, Auth::Users, &cancel).await;
    let base = format!("http://{}", d.addr);
    tokio::time::sleep(Duration::from_secs(3)).await;

    // 1. The overview: bytes and fetch time.
    let b = base.clone();
    let (bytes, fetch) = tokio::task::spawn_blocking(move || {
        let session = login(&b);
        let a = agent();
        let mut times = Vec::new();
        let mut bytes = Vec::new();
        for _ in 0..30 {
            let t = Instant::now();
            let mut sizes = Vec::new();
            for path in ["/", "/assets/app.css", "/assets/app.js"] {
                let mut r = a
                    .get(format!("{b}{path}"))
                    .header("cookie", &session)
                    .call()
                    .unwrap();
                sizes.push(r.body_mut().read_to_string().unwrap().len());
            }
            times.push(t.elapsed().as_secs_f64() * 1000.0);
            bytes = sizes;
        }
        (bytes, percentile(&mut times, 0.5))
    })
    .await
    .unwrap();
    println!("## Dashboard\n");
    println!(
        "| overview page | app.css | app.js | total | fetch all three, logged in (median of 30) |"
    );
    println!("|---:|---:|---:|---:|---:|");
    println!(
        "| {} B | {} B | {} B | {} B | {fetch:.1} ms |\n",
        bytes[0],
        bytes[1],
        bytes[2],
        bytes.iter().sum::<usize>()
    );

    // ... and in Chromium.
    let driver = support::browser::driver();
    let c = support::browser::browser(&driver, 1280, 1000).await;
    support::browser::log_in(&c, &base, "anna", PASSWORD).await;
    let (mut dom, mut live) = (Vec::new(), Vec::new());
    for _ in 0..10 {
        let t = Instant::now();
        c.goto(&format!("{base}/")).await.unwrap();
        let ms = c
            .execute(
                "const n = performance.getEntriesByType('navigation')[0]; return n.domContentLoadedEventEnd - n.startTime;",
                vec![],
            )
            .await
            .unwrap()
            .as_f64()
            .unwrap();
        dom.push(ms);
        c.wait()
            .for_element(Locator::Css("body[data-live-updates]"))
            .await
            .unwrap();
        live.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    c.close().await.unwrap();
    println!("| in headless Chromium (median of 10) | ms |\n|---|---:|");
    println!(
        "| navigation to DOMContentLoaded | {:.1} |",
        percentile(&mut dom, 0.5)
    );
    println!(
        "| navigation to the first Live update (measured from the test) | {:.0} |\n",
        percentile(&mut live, 0.5)
    );

    // 2. The Live stream: 0 clients, then 50.
    let b = base.clone();
    let idle = tokio::task::spawn_blocking(move || {
        let s = login(&b);
        load(&b, &s, secs)
    })
    .await
    .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let events = Arc::new(AtomicU64::new(0));
    let mut clients = Vec::new();
    let session = {
        let b = base.clone();
        tokio::task::spawn_blocking(move || login(&b))
            .await
            .unwrap()
    };
    for _ in 0..50 {
        let (b, s, stop, events) = (base.clone(), session.clone(), stop.clone(), events.clone());
        clients.push(std::thread::spawn(move || {
            let r = agent()
                .get(format!("{b}/api/v1/live/stream"))
                .header("cookie", s)
                .call()
                .unwrap();
            let mut got = 0u64;
            for line in BufReader::new(r.into_body().into_reader()).lines() {
                let Ok(line) = line else { break };
                if line.starts_with("data:") {
                    got += 1;
                    events.fetch_add(1, Ordering::Relaxed);
                }
                if stop.load(Ordering::Relaxed) {
                    break;
                }
            }
            got
        }));
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let e0 = events.load(Ordering::Relaxed);
    let b = base.clone();
    let busy = tokio::task::spawn_blocking(move || {
        let s = login(&b);
        load(&b, &s, secs)
    })
    .await
    .unwrap();
    let per_client = (events.load(Ordering::Relaxed) - e0) as f64 / 50.0 / secs as f64;
    stop.store(true, Ordering::Relaxed);
    cancel.cancel();
    let got: Vec<u64> = clients.into_iter().map(|c| c.join().unwrap_or(0)).collect();
    let min = got.iter().min().copied().unwrap_or(0);
    println!(
        "| Live stream clients | events per client per s | fewest events a client got | `/api/v1/live` p50 | p95 | nomhub CPU (share of one core) |"
    );
    println!("|---:|---:|---:|---:|---:|---:|");
    println!(
        "| 0 | – | – | {:.2} ms | {:.2} ms | {:.1} % |",
        idle.0,
        idle.1,
        idle.2 * 100.0
    );
    println!(
        "| 50 | {per_client:.2} | {min} | {:.2} ms | {:.2} ms | {:.1} % |",
        busy.0,
        busy.1,
        busy.2 * 100.0
    );
    println!(
        "\n({secs} s per phase; the CPU figure is the whole process: the simulated dwelling, \
         nomhub, the clients and the benchmark's own requests.)"
    );
    d.tasks.close();
}
