//! The dashboard and REST API over real HTTP against nomhub on the simulated
//! dwelling: sessions, CSRF, the slow-down, every endpoint, the Live stream.
#![allow(clippy::unwrap_used)]

mod support;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use nomhub::config::Auth;
use nomhub::web;
use support::web::PASSWORD;
use tokio_util::sync::CancellationToken;
use ureq::Agent;

async fn start(auth: Auth, cancel: &CancellationToken) -> support::web::Dashboard {
    support::web::start_at(0.0, auth, cancel).await
}

struct Got {
    status: u16,
    location: String,
    cookies: Vec<String>,
    /// `content-type` and `content-disposition`.
    kind: String,
    disposition: String,
    body: String,
}

fn got(mut r: ureq::http::Response<ureq::Body>) -> Got {
    let header = |k: &str| -> Vec<String> {
        r.headers()
            .get_all(k)
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect()
    };
    let (location, cookies) = (header("location").join(""), header("set-cookie"));
    let (kind, disposition) = (
        header("content-type").join(""),
        header("content-disposition").join(""),
    );
    Got {
        status: r.status().as_u16(),
        location,
        cookies,
        kind,
        disposition,
        body: r.body_mut().read_to_string().unwrap_or_default(),
    }
}

/// `name=value` of the cookie `name` among the `set-cookie` headers.
fn cookie(g: &Got, name: &str) -> Option<String> {
    g.cookies
        .iter()
        .find(|c| c.starts_with(&format!("{name}=")))
        .map(|c| c.split(';').next().unwrap().to_owned())
}

fn csrf_in(html: &str) -> String {
    let at = html.find("name=\"csrf\" value=\"").unwrap() + 19;
    html[at..at + 64].to_owned()
}

struct Client {
    base: String,
    agent: Agent,
}

impl Client {
    fn new(addr: SocketAddr) -> Self {
        Self {
            base: format!("http://{addr}"),
            agent: Agent::config_builder()
                .max_redirects(0)
                .http_status_as_error(false)
                .timeout_global(Some(Duration::from_secs(30)))
                .build()
                .into(),
        }
    }

    fn get(&self, path: &str, cookies: &[&str]) -> Got {
        let mut r = self.agent.get(format!("{}{path}", self.base));
        if !cookies.is_empty() {
            r = r.header("cookie", cookies.join("; "));
        }
        got(r.call().unwrap())
    }

    fn post(&self, path: &str, cookies: &[&str], form: &[(&str, &str)]) -> Got {
        let mut r = self.agent.post(format!("{}{path}", self.base));
        if !cookies.is_empty() {
            r = r.header("cookie", cookies.join("; "));
        }
        got(r.send_form(form.iter().copied()).unwrap())
    }

    /// Logs in; returns the session cookie (None: refused) and the answer.
    fn login(&self, user: &str, password: &str) -> (Option<String>, Got) {
        let page = self.get("/login", &[]);
        let login_cookie = cookie(&page, "nomhub_login").unwrap();
        let csrf = csrf_in(&page.body);
        let g = self.post(
            "/login",
            &[&login_cookie],
            &[("csrf", &csrf), ("user", user), ("password", password)],
        );
        (cookie(&g, "nomhub_session"), g)
    }
}

/// Runs blocking HTTP off the runtime's threads.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_session_pages_go_to_the_login_and_the_api_says_401() {
    let cancel = CancellationToken::new();
    let d = start(Auth::Users, &cancel).await;
    let addr = d.addr;
    blocking(move || {
        let c = Client::new(addr);
        let page = c.get("/", &[]);
        assert_eq!((page.status, page.location.as_str()), (303, "/login"));
        for path in [
            "/api/v1/live",
            "/api/v1/bundles?period=month",
            "/api/v1/history?period=month",
            "/api/v1/strategy",
            "/api/v1/settlement",
            "/api/v1/prices",
            "/api/v1/guarantees",
            "/api/v1/year-bundles",
            "/api/v1/dwelling",
            "/api/v1/live/stream",
        ] {
            let g = c.get(path, &[]);
            assert_eq!(g.status, 401, "{path}: {}", g.body);
            assert!(g.body.contains("log in first"), "{path}: {}", g.body);
        }
        // A made-up session is no session.
        let fake = format!("nomhub_session={}", "ab".repeat(32));
        assert_eq!(c.get("/api/v1/live", &[&fake]).status, 401);
        // Health and metrics are for monitors: no login, and they say how nomhub runs.
        let health = c.get("/api/health", &[]);
        assert_eq!(health.status, 200, "{}", health.body);
        let h: serde_json::Value = serde_json::from_str(&health.body).unwrap();
        assert_eq!(h["status"], "ok", "{h}");
        assert_eq!(h["tasks"]["ledger"]["running"], true, "{h}");
        let metrics = c.get("/metrics", &[]);
        assert_eq!(metrics.status, 200);
        assert!(metrics.kind.starts_with("application/openmetrics-text"));
        assert!(metrics.body.ends_with("# EOF\n"), "{}", metrics.body);
        assert!(
            metrics
                .body
                .contains("nomhub_device_up{device=\"heat_pump\"} 1")
        );
    })
    .await;
    cancel.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_needs_its_form_token_and_wrong_passwords_slow_it_down() {
    let cancel = CancellationToken::new();
    let d = start(Auth::Users, &cancel).await;
    let addr = d.addr;
    blocking(move || {
        let c = Client::new(addr);
        // The form's token missing, or not the cookie's: refused before the password is read.
        let page = c.get("/login", &[]);
        let login_cookie = cookie(&page, "nomhub_login").unwrap();
        assert!(page.cookies[0].contains("HttpOnly"));
        assert!(page.cookies[0].contains("SameSite=Strict"));
        let g = c.post(
            "/login",
            &[&login_cookie],
            &[("user", "anna"), ("password", PASSWORD)],
        );
        assert_eq!(g.status, 403, "{}", g.body);
        let csrf = csrf_in(&page.body);
        let g = c.post(
            "/login",
            &[],
            &[("csrf", &csrf), ("user", "anna"), ("password", PASSWORD)],
        );
        assert_eq!(g.status, 403, "{}", g.body);

        // Wrong passwords: back to the form, and each next try waits longer.
        for _ in 0..3 {
            let (session, g) = c.login("anna", "wrong-password-here");
            assert!(session.is_none());
            assert_eq!((g.status, g.location.as_str()), (303, "/login?failed=1"));
        }
        let t = Instant::now();
        let (session, _) = c.login("anna", "wrong-password-here");
        assert!(session.is_none());
        assert!(
            t.elapsed() >= Duration::from_millis(1900),
            "the fourth try took only {:?}",
            t.elapsed()
        );
        let failed = c.get("/login?failed=1", &[]);
        assert!(failed.body.contains("Gebruikersnaam of wachtwoord onjuist"));
        // The right password still works (after the wait) and clears it.
        let (session, g) = c.login("anna", PASSWORD);
        assert_eq!((g.status, g.location.as_str()), (303, "/"));
        let session = session.unwrap();
        let set = g
            .cookies
            .iter()
            .find(|c| c.starts_with("nomhub_session="))
            .unwrap();
        assert!(
            set.contains("HttpOnly") && set.contains("SameSite=Strict"),
            "{set}"
        );
        let t = Instant::now();
        let (again, _) = c.login("anna", PASSWORD);
        assert!(again.is_some());
        assert!(
            t.elapsed() < Duration::from_millis(1900),
            "{:?}",
            t.elapsed()
        );
        assert_eq!(c.get("/api/v1/live", &[&session]).status, 200);
    })
    .await;
    cancel.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_endpoint_answers_json_for_a_session() {
    let cancel = CancellationToken::new();
    let d = start(Auth::Users, &cancel).await;
    let addr = d.addr;
    let session = blocking(move || Client::new(addr).login("anna", PASSWORD).0.unwrap()).await;
    // Let the pollers report once.
    let s = session.clone();
    support::eventually(20, "live values", || {
        let s = s.clone();
        async move {
            let live = blocking(move || Client::new(addr).get("/api/v1/live", &[&s])).await;
            let v: serde_json::Value = serde_json::from_str(&live.body).ok()?;
            (v["pv_w"].is_number() && v["tank_c"].is_number()).then_some(())
        }
    })
    .await;
    blocking(move || {
        let c = Client::new(addr);
        let s = [session.as_str()];
        let live: serde_json::Value =
            serde_json::from_str(&c.get("/api/v1/live", &s).body).unwrap();
        for k in [
            "pv_w",
            "grid_w",
            "home_w",
            "heat_pump_w",
            "tank_c",
            "outdoor_c",
        ] {
            assert!(live[k].is_number(), "{k} in {live}");
        }
        let home = live["home_w"].as_f64().unwrap();
        let sum = live["grid_w"].as_f64().unwrap() + live["pv_w"].as_f64().unwrap();
        assert!((home - sum).abs() <= 2.0, "home = grid + pv: {live}");

        for period in ["month", "year", "settlement"] {
            let g = c.get(&format!("/api/v1/bundles?period={period}"), &s);
            assert_eq!(g.status, 200, "{}", g.body);
            let b: serde_json::Value = serde_json::from_str(&g.body).unwrap();
            let b = b.as_array().unwrap();
            let names: Vec<_> = b.iter().map(|x| x["bundle"].as_str().unwrap()).collect();
            assert!(
                names.contains(&"pv") && names.contains(&"energy_used"),
                "{period}: {names:?}"
            );
            for x in b {
                assert_eq!(x["period"], period);
                assert!(x["used_kwh"].as_f64().unwrap() >= 0.0);
                let (exp, bundle) = (x["expected_kwh"].as_f64(), x["bundle_kwh"].as_f64());
                assert!(exp.unwrap() <= bundle.unwrap() + 0.05, "{x}");
                assert_eq!(x["running"], true);
            }
        }
        let bad = c.get("/api/v1/bundles?period=fortnight", &s);
        assert_eq!(bad.status, 400);
        assert!(bad.body.contains("fortnight"), "{}", bad.body);
        let future = c.get("/api/v1/bundles?period=month&offset=1", &s);
        assert_eq!(future.status, 400, "{}", future.body);
        assert!(future.body.contains("offset `1`"), "{}", future.body);

        // Last month, from the store: over, so expected is the whole bundle.
        let g = c.get("/api/v1/bundles?period=month&offset=-1", &s);
        assert_eq!(g.status, 200, "{}", g.body);
        let last: serde_json::Value = serde_json::from_str(&g.body).unwrap();
        let pv = last
            .as_array()
            .unwrap()
            .iter()
            .find(|b| b["bundle"] == "pv")
            .unwrap();
        assert_eq!(pv["running"], false);
        assert_eq!(pv["expected_kwh"], pv["bundle_kwh"]);
        assert!(
            pv["used_kwh"].as_f64().unwrap() > 0.0,
            "simulated history: {pv}"
        );
        let this: serde_json::Value =
            serde_json::from_str(&c.get("/api/v1/bundles?period=month", &s).body).unwrap();
        assert!(
            last[0]["end"] == this[0]["start"],
            "{} / {}",
            last[0],
            this[0]
        );

        // History: a bucket per day of the month, per month of the year.
        let h: serde_json::Value =
            serde_json::from_str(&c.get("/api/v1/history?period=month&offset=-1", &s).body)
                .unwrap();
        let days = h["buckets"].as_array().unwrap();
        assert!((28..=31).contains(&days.len()), "{h}");
        assert_eq!(h["resolution"], "day");
        let household: i64 = days
            .iter()
            .map(|d| d["wh"]["household"].as_i64().unwrap())
            .sum();
        assert!(household > 0);
        assert!(days[0]["bundle_wh"]["energy_used"].as_i64().unwrap() > 0);
        let y: serde_json::Value =
            serde_json::from_str(&c.get("/api/v1/history?period=year", &s).body).unwrap();
        assert_eq!(y["buckets"].as_array().unwrap().len(), 12);
        assert_eq!(y["resolution"], "month");

        let st: serde_json::Value =
            serde_json::from_str(&c.get("/api/v1/strategy", &s).body).unwrap();
        assert_eq!(st["mode"], "smart");
        assert_eq!(st["settings"]["solar_target"], 55.0);
        assert!(st["points"].is_array());

        assert_eq!(c.get("/api/v1/nothing", &s).status, 404);
    })
    .await;
    cancel.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_live_stream_sends_live_events_as_the_dwelling_changes() {
    let cancel = CancellationToken::new();
    // Simulated time at 60x: the values move.
    let d = support::web::start_at(60.0, Auth::Users, &cancel).await;
    let addr = d.addr;
    let events = blocking(move || {
        let c = Client::new(addr);
        let session = c.login("anna", PASSWORD).0.unwrap();
        let r = c
            .agent
            .get(format!("{}/api/v1/live/stream", c.base))
            .header("cookie", session)
            .call()
            .unwrap();
        assert_eq!(r.status(), 200);
        let kind = r.headers()["content-type"].to_str().unwrap().to_owned();
        assert!(kind.starts_with("text/event-stream"), "{kind}");
        let mut lines = BufReader::new(r.into_body().into_reader()).lines();
        let mut events = Vec::new();
        while events.len() < 2 {
            let line = lines.next().unwrap().unwrap();
            if let Some(data) = line.strip_prefix("data:") {
                events.push(serde_json::from_str::<serde_json::Value>(data).unwrap());
            } else {
                let known = line.is_empty() || line == "event:live" || line.starts_with(':');
                assert!(known, "{line}");
            }
        }
        events
    })
    .await;
    assert!(
        events.iter().all(|e| e.get("grid_w").is_some()),
        "{events:?}"
    );
    assert_ne!(
        events[0], events[1],
        "an event is sent when something changed"
    );
    cancel.cancel();
}

/// The guarantees day by day, on a dwelling whose simulated time runs (60x).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_guarantees_count_the_days_as_they_go() {
    let cancel = CancellationToken::new();
    let d = support::web::start_at(60.0, Auth::Users, &cancel).await;
    let addr = d.addr;
    let session = blocking(move || Client::new(addr).login("anna", PASSWORD).0.unwrap()).await;
    // Day by day: today counts as a day with the tank measured (the simulated tank
    // stays warm, so no day short of hot water), on the page and in the API.
    let days = support::eventually(30, "today's hot water in the guarantees", || {
        let s = session.clone();
        async move {
            let g = blocking(move || Client::new(addr).get("/api/v1/guarantees", &[&s])).await;
            let g: serde_json::Value = serde_json::from_str(&g.body).ok()?;
            (g["days"]["hot_water_days"] == 1).then(|| g["days"].clone())
        }
    })
    .await;
    assert_eq!(days["hot_water_short_days"], 0, "{days}");
    assert_eq!(days["room_days"], 0, "no room sensor in the demo: {days}");
    let s = session.clone();
    let page = blocking(move || Client::new(addr).get("/", &[&s]).body).await;
    assert!(page.contains(r#"id="guarantee-hot-water""#), "{page}");
    assert!(page.contains("0 van 1"), "{page}");
    cancel.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_password_ends_older_sessions_and_logout_needs_the_token() {
    let cancel = CancellationToken::new();
    let d = start(Auth::Users, &cancel).await;
    let (addr, store) = (d.addr, d.app.store.clone().unwrap());
    blocking(move || {
        let c = Client::new(addr);
        let session = c.login("anna", PASSWORD).0.unwrap();
        let page = c.get("/", &[&session]);
        assert_eq!(page.status, 200);
        let csrf = csrf_in(&page.body);
        // Logout without the page's token: refused, the session lives on.
        assert_eq!(c.post("/logout", &[&session], &[]).status, 403);
        assert_eq!(c.get("/api/v1/live", &[&session]).status, 200);
        let out = c.post("/logout", &[&session], &[("csrf", &csrf)]);
        assert_eq!((out.status, out.location.as_str()), (303, "/login"));
        assert_eq!(c.get("/api/v1/live", &[&session]).status, 401);

        let old = c.login("anna", PASSWORD).0.unwrap();
        web::users::set_password(&store, "anna", "een-nieuw-wachtwoord").unwrap();
        assert_eq!(c.get("/api/v1/live", &[&old]).status, 401);
        assert_eq!(c.get("/", &[&old]).status, 303);
        assert!(c.login("anna", PASSWORD).0.is_none());
        assert!(c.login("anna", "een-nieuw-wachtwoord").0.is_some());
    })
    .await;
    cancel.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_overview_shows_bars_with_the_expected_marker_in_either_language() {
    let cancel = CancellationToken::new();
    let d = start(Auth::None, &cancel).await;
    let addr = d.addr;
    blocking(move || {
        let c = Client::new(addr);
        // auth = "none": no login.
        let nl = c.get("/", &[]);
        assert_eq!(nl.status, 200);
        for text in [
            "<html lang=\"nl\"",
            "Opwek zonnepanelen",
            "Energieverbruik",
            "class=\"expected\"",
            "class=\"bar\"",
            "Meer",
            "id=\"period-year\"",
        ] {
            assert!(nl.body.contains(text), "missing {text:?}");
        }
        let switch = c.get("/lang/en?to=/%3Fperiod%3Dyear", &[]);
        assert_eq!(switch.status, 303);
        let lang = cookie(&switch, "lang").unwrap();
        assert_eq!(lang, "lang=en");
        let en = c.get("/?period=year", &[&lang]);
        for text in [
            "<html lang=\"en\"",
            "PV generated",
            "Energy used",
            "Building-bound",
            "aria-current=\"page\">Year",
        ] {
            assert!(en.body.contains(text), "missing {text:?}");
        }
        // A switch never sends anyone off the site.
        let away = c.get("/lang/nl?to=//evil.example/", &[]);
        assert_eq!(away.location, "/");
        let css = c.get("/assets/app.css", &[]);
        assert_eq!(css.status, 200);
        assert!(css.body.contains(".bar"));
        // For a phone's home screen, without logging in: the manifest and each icon
        // it names, and the favicon every browser asks for.
        let manifest = c.get("/manifest.webmanifest", &[]);
        assert_eq!(manifest.kind, "application/manifest+json");
        let manifest: serde_json::Value = serde_json::from_str(&manifest.body).unwrap();
        assert_eq!(manifest["start_url"], "/");
        assert_eq!(manifest["display"], "standalone");
        let icons = manifest["icons"].as_array().unwrap();
        assert!(icons.iter().any(|i| i["sizes"] == "512x512"));
        for icon in icons {
            let got = c.get(icon["src"].as_str().unwrap(), &[]);
            assert_eq!(
                (got.status, got.kind.as_str()),
                (200, icon["type"].as_str().unwrap())
            );
        }
        let favicon = c.get("/favicon.ico", &[]);
        assert_eq!((favicon.status, favicon.kind.as_str()), (200, "image/png"));
        let login = c.get("/login", &[]);
        assert!(
            login
                .body
                .contains(r#"<link rel="manifest" href="/manifest.webmanifest">"#)
        );
    })
    .await;
    cancel.cancel();
}

/// `nomhub ARGS` with `input` on standard input.
fn nomhub_stdin(args: &[&str], input: &str) -> std::process::Output {
    use std::io::Write;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_nomhub"))
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_added_with_the_cli_log_in_to_nomhub_run() {
    let cancel = CancellationToken::new();
    let now = chrono::DateTime::<chrono::Utc>::from(nomhub::clock::now());
    let sim = support::dwelling_at(0.0, now, &cancel).await;
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = dir.path().join("nomhub.toml");
    let text = nomhub::config::demo_text(sim.addr.port(), &dir.path().join("store"));
    std::fs::write(
        &config,
        format!("{text}\n[web]\nlisten = \"127.0.0.1:{port}\"\n"),
    )
    .unwrap();
    let c = config.to_str().unwrap().to_owned();

    let short = nomhub_stdin(&["user", "add", "anna", "--config", &c], "kort\n");
    assert!(!short.status.success());
    assert!(String::from_utf8_lossy(&short.stderr).contains("at least 10 characters"));
    let added = nomhub_stdin(
        &["user", "add", "anna", "--config", &c],
        &format!("{PASSWORD}\n"),
    );
    assert!(
        added.status.success(),
        "{}",
        String::from_utf8_lossy(&added.stderr)
    );
    let twice = nomhub_stdin(
        &["user", "add", "anna", "--config", &c],
        &format!("{PASSWORD}\n"),
    );
    assert!(String::from_utf8_lossy(&twice.stderr).contains("already exists"));

    let daemon = support::daemon(&config);
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    support::eventually(20, "the dashboard", || async move {
        blocking(move || {
            let c = Client::new(addr);
            c.agent
                .get(format!("{}/login", c.base))
                .call()
                .ok()
                .map(|_| ())
        })
        .await
    })
    .await;
    let session = blocking(move || Client::new(addr).login("anna", PASSWORD).0).await;
    assert!(session.is_some(), "anna could not log in");
    let log = support::sigterm(daemon);
    assert!(log.contains("Dashboard at http://127.0.0.1:"), "{log}");

    let changed = nomhub_stdin(
        &["user", "passwd", "anna", "--config", &c],
        "een-nieuw-wachtwoord\n",
    );
    assert!(
        changed.status.success(),
        "{}",
        String::from_utf8_lossy(&changed.stderr)
    );
    let nobody = nomhub_stdin(
        &["user", "passwd", "bob", "--config", &c],
        "een-nieuw-wachtwoord\n",
    );
    assert!(String::from_utf8_lossy(&nobody.stderr).contains("no user `bob`"));
    cancel.cancel();
}

#[test]
fn the_openapi_file_describes_every_api_path() {
    let spec = std::fs::read_to_string(support::root().join("docs/openapi.yaml")).unwrap();
    let served = [
        "/login",
        "/api/v1/live",
        "/api/v1/live/stream",
        "/api/v1/bundles",
        "/api/v1/history",
        "/api/v1/strategy",
        "/api/v1/settlement",
        "/api/v1/prices",
        "/api/v1/guarantees",
        "/api/v1/year-bundles",
        "/api/v1/dwelling",
        "/api/health",
        "/metrics",
    ];
    for path in served {
        assert!(spec.contains(&format!("\n  {path}:\n")), "{path} missing");
    }
    let paths = spec.matches("\n  /").count();
    assert_eq!(
        paths,
        served.len(),
        "a path in docs/openapi.yaml that nomhub does not serve?"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_account_page_changes_the_password_and_ends_the_other_sessions() {
    let cancel = CancellationToken::new();
    let d = start(Auth::Users, &cancel).await;
    let addr = d.addr;
    blocking(move || {
        let c = Client::new(addr);
        let here = c.login("anna", PASSWORD).0.unwrap();
        let elsewhere = c.login("anna", PASSWORD).0.unwrap();
        let page = c.get("/account", &[&here]);
        assert_eq!(page.status, 200);
        assert!(page.body.contains("<strong id=\"user\">anna</strong>"));
        let csrf = csrf_in(&page.body);
        let change = |current: &str, new: &str, again: &str, token: &str| {
            c.post(
                "/account/password",
                &[&here],
                &[
                    ("csrf", token),
                    ("current", current),
                    ("new", new),
                    ("again", again),
                ],
            )
        };
        let new = "een-nieuw-wachtwoord";
        assert_eq!(change(PASSWORD, new, new, "").status, 403);
        let wrong = change("not-the-password", new, new, &csrf);
        assert_eq!(wrong.location, "/account?note=wrong");
        assert_eq!(
            change(PASSWORD, new, "another-one-here", &csrf).location,
            "/account?note=differ"
        );
        assert_eq!(
            change(PASSWORD, "kort", "kort", &csrf).location,
            "/account?note=short"
        );
        let note = c.get("/account?note=short", &[&here]);
        assert!(note.body.contains("minstens 10 tekens"), "{}", note.body);

        let done = change(PASSWORD, new, new, &csrf);
        assert_eq!(done.location, "/account?note=changed");
        let fresh = cookie(&done, "nomhub_session").unwrap();
        assert_eq!(c.get("/api/v1/live", &[&fresh]).status, 200);
        assert_eq!(c.get("/api/v1/live", &[&here]).status, 401);
        assert_eq!(c.get("/api/v1/live", &[&elsewhere]).status, 401);
        assert!(c.login("anna", new).0.is_some());
    })
    .await;
    cancel.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_auth_none_there_is_no_account() {
    let cancel = CancellationToken::new();
    let d = start(Auth::None, &cancel).await;
    let addr = d.addr;
    blocking(move || {
        let page = Client::new(addr).get("/account", &[]);
        assert_eq!((page.status, page.location.as_str()), (303, "/"));
    })
    .await;
    cancel.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dwelling_its_manuals_and_the_contacts() {
    let cancel = CancellationToken::new();
    let d = start(Auth::Users, &cancel).await;
    let addr = d.addr;
    blocking(move || {
        let c = Client::new(addr);
        // Without a session: no manual, no dwelling.
        let href = "/manuals/Warmtepomp%20handleiding.pdf";
        assert_eq!(c.get(href, &[]).location, "/login");
        assert_eq!(c.get("/dwelling", &[]).location, "/login");
        assert_eq!(c.get("/api/v1/dwelling", &[]).status, 401);

        let session = c.login("anna", PASSWORD).0.unwrap();
        let s = [session.as_str()];
        let v: serde_json::Value =
            serde_json::from_str(&c.get("/api/v1/dwelling", &s).body).unwrap();
        assert_eq!(v["address"], "Zonnelaan 1, 3731 AB De Bilt");
        assert_eq!(v["pv_guarantee_kwh"], 4750.0);
        assert_eq!(v["room_temperature_c"], 20.0);
        let names: Vec<_> = v["manuals"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            names,
            [support::web::MANUAL, "schema.dwg"],
            "no hidden files"
        );
        assert_eq!(v["manuals"][0]["href"], href);
        let roles: Vec<_> = v["contacts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["role"].as_str().unwrap())
            .collect();
        assert_eq!(roles, ["installer", "maintainer"]);

        // A manual: a PDF shows in the browser, anything else downloads.
        let pdf = c.get(href, &s);
        assert_eq!(pdf.status, 200);
        assert_eq!(pdf.kind, "application/pdf");
        assert_eq!(pdf.body.as_bytes(), support::web::MANUAL_BYTES);
        let dwg = c.get("/manuals/schema.dwg", &s);
        assert_eq!((dwg.status, dwg.disposition.as_str()), (200, "attachment"));
        // Nothing outside the folder, nothing it does not list.
        for path in [
            "/manuals/.hidden",
            "/manuals/..%2Fmanuals%2Fschema.dwg",
            "/manuals/%2E%2E%2F%2E%2E%2Fetc%2Fpasswd",
            "/manuals/nothing.pdf",
        ] {
            assert_eq!(c.get(path, &s).status, 404, "{path}");
        }

        // The page: address, manuals, the year bundles (every month), the account.
        let page = c.get("/dwelling", &s).body;
        assert!(page.contains("Zonnelaan 1, 3731 AB De Bilt"), "{page}");
        assert!(page.contains(&format!(r#"href="{href}""#)), "{page}");
        assert!(page.contains(r#"id="year-bundles""#) && page.contains("Jaarbundels"));
        assert!(page.contains(r#"href="/account""#));

        // The year bundles: twelve months each, energy used = household + building-bound.
        let y: serde_json::Value =
            serde_json::from_str(&c.get("/api/v1/year-bundles", &s).body).unwrap();
        let find = |id: &str| {
            y.as_array()
                .unwrap()
                .iter()
                .find(|b| b["bundle"] == id)
                .unwrap_or_else(|| panic!("{id} in {y}"))
                .clone()
        };
        let month = |b: &serde_json::Value, m: usize| b["monthly_kwh"][m].as_f64().unwrap();
        let (used, hh, bb) = (
            find("energy_used"),
            find("household"),
            find("building_bound"),
        );
        for m in 0..12 {
            assert!((month(&used, m) - month(&hh, m) - month(&bb, m)).abs() < 0.01);
        }
        assert_eq!(month(&find("pv"), 0), 103.0);
        assert_eq!(find("pv")["yearly_kwh"], 5272.0);
        assert_eq!(find("pv")["more_is_better"], true);

        // Contact: both, the phone as a link that dials.
        let page = c.get("/contact", &s).body;
        assert!(page.contains("Warmtebouw Service (demo)"), "{page}");
        assert!(page.contains(r#"href="tel:0300000001""#), "{page}");
        assert!(page.contains("Onderhoud en storingen"), "{page}");
    })
    .await;
    cancel.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_overview_shows_the_settlement_forecast_the_guarantees_and_the_next_charge() {
    let cancel = CancellationToken::new();
    let d = start(Auth::Users, &cancel).await;
    let addr = d.addr;
    let session = blocking(move || Client::new(addr).login("anna", PASSWORD).0.unwrap()).await;
    let s = session.clone();
    support::eventually(20, "the ledger's first report", || {
        let s = s.clone();
        async move {
            let g = blocking(move || Client::new(addr).get("/api/v1/settlement", &[&s])).await;
            (g.status == 200).then_some(())
        }
    })
    .await;
    let first = session.clone();
    blocking(move || {
        let c = Client::new(addr);
        let s = [first.as_str()];
        let f: serde_json::Value =
            serde_json::from_str(&c.get("/api/v1/settlement", &s).body).unwrap();
        // The demo settles from 1 April, with prices.
        assert!(f["start"].as_str().unwrap().ends_with("-04-01"), "{f}");
        assert!(f["eur"].is_number(), "{f}");
        let (import, export) = (
            f["import_projected_kwh"].as_f64().unwrap(),
            f["export_projected_kwh"].as_f64().unwrap(),
        );
        assert!(
            (f["net_kwh"].as_f64().unwrap() - (import - export)).abs() < 0.2,
            "{f}"
        );
        assert!(import >= f["import_so_far_kwh"].as_f64().unwrap(), "{f}");

        let g: serde_json::Value =
            serde_json::from_str(&c.get("/api/v1/guarantees", &s).body).unwrap();
        let pv = &g["pv"];
        assert_eq!(pv["yearly_kwh"], 4750.0, "{g}");
        assert_eq!(pv["start"], f["start"], "the settlement year");
        let (by_now, guaranteed, generated) = (
            pv["guaranteed_by_now_kwh"].as_f64().unwrap(),
            pv["guaranteed_kwh"].as_f64().unwrap(),
            pv["generated_kwh"].as_f64().unwrap(),
        );
        assert!(
            0.0 < by_now && by_now < guaranteed && guaranteed <= 4750.0,
            "{g}"
        );
        assert_eq!(pv["on_course"], generated >= by_now, "{g}");
        // The calendar year's view counts from the first booked day (the demo's history
        // starts with the settlement year): where both cover the same days, it says of
        // the PV what the guarantee says.
        let year: serde_json::Value =
            serde_json::from_str(&c.get("/api/v1/bundles?period=year", &s).body).unwrap();
        let pv_year = year
            .as_array()
            .unwrap()
            .iter()
            .find(|b| b["bundle"] == "pv")
            .unwrap();
        let year_began_before = pv_year["start"].as_str() < f["start"].as_str();
        if year_began_before {
            assert_eq!(pv_year["data_from"], f["start"], "{pv_year}");
            assert_eq!(pv_year["used_kwh"], pv["generated_kwh"], "{pv_year} {g}");
            let ahead =
                pv_year["used_kwh"].as_f64().unwrap() >= pv_year["expected_kwh"].as_f64().unwrap();
            if ahead {
                assert_eq!(pv["on_course"], true, "{pv_year} {g}");
            }
        } else {
            assert_eq!(pv_year["data_from"], serde_json::Value::Null, "{pv_year}");
        }

        let st: serde_json::Value =
            serde_json::from_str(&c.get("/api/v1/strategy", &s).body).unwrap();
        let page = c.get("/", &s).body;
        for id in [
            r#"id="settlement-eur""#,
            r#"id="settlement-net""#,
            r#"id="guarantee-pv""#,
        ] {
            assert!(page.contains(id), "{id} in {page}");
        }
        // The next charge shows while smart mode plans (the frozen dwelling may
        // leave it handed back: no fresh tank reading).
        let planning = st["planning"] == true || st["charging"] == true;
        assert_eq!(page.contains(r#"id="strategy-next""#), planning, "{st}");
        assert!(page.contains("Jaarafrekening"), "{page}");
        // The strategy's reason in Dutch on the Dutch page.
        if let Some(i) = page.find(r#"id="strategy-reason">"#) {
            let reason = &page[i..page[i..].find("</span>").map_or(page.len(), |e| i + e)];
            for english in ["the tank", "waiting", "handed back", "charge to"] {
                assert!(!reason.contains(english), "{reason}");
            }
        }
    })
    .await;
    cancel.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_overview_switches_the_strategy_mode_and_refuses_bad_forms() {
    let cancel = CancellationToken::new();
    let d = start(Auth::Users, &cancel).await;
    let addr = d.addr;
    blocking(move || {
        let c = Client::new(addr);
        let session = c.login("anna", PASSWORD).0.unwrap();
        let s = [session.as_str()];
        let mode = |c: &Client| {
            let st: serde_json::Value =
                serde_json::from_str(&c.get("/api/v1/strategy", &s).body).unwrap();
            st["mode"].as_str().unwrap().to_owned()
        };
        let page = c.get("/", &s).body;
        assert!(
            page.contains(r#"id="mode-smart" aria-pressed="true""#),
            "{page}"
        );
        let csrf = csrf_in(&page);

        // A button press: the mode changes, and the page it came from shows it.
        let to = "/?period=year&offset=0";
        let g = c.post(
            "/strategy",
            &s,
            &[("csrf", &csrf), ("to", to), ("mode", "boost")],
        );
        assert_eq!((g.status, g.location.as_str()), (303, to));
        assert_eq!(mode(&c), "boost");
        let page = c.get(to, &s).body;
        assert!(
            page.contains(r#"id="mode-boost" aria-pressed="true""#),
            "{page}"
        );
        assert!(page.contains(r#"id="strategy-mode">extra warm<"#), "{page}");

        // Refused, and nothing changes: no token, an unknown mode, two asks at once.
        let g = c.post("/strategy", &s, &[("mode", "off")]);
        assert_eq!(g.status, 403);
        let g = c.post("/strategy", &s, &[("csrf", &csrf), ("mode", "turbo")]);
        assert_eq!(g.status, 400);
        assert!(
            g.body
                .contains("mode: `turbo` is not one of off, smart, boost"),
            "{}",
            g.body
        );
        let g = c.post(
            "/strategy",
            &s,
            &[("csrf", &csrf), ("mode", "off"), ("boost", "PRESS")],
        );
        assert_eq!(g.status, 400);
        assert!(
            g.body.contains("neither `mode`, `boost`, `forget` nor the settings"),
            "{}",
            g.body
        );
        assert_eq!(mode(&c), "boost");

        // The settings form: all of it checked first, so one bad field changes nothing.
        let setting = |c: &Client, key: &str| {
            let st: serde_json::Value =
                serde_json::from_str(&c.get("/api/v1/strategy", &s).body).unwrap();
            st["settings"][key].as_f64().unwrap()
        };
        let page = c.get("/", &s).body;
        assert!(page.contains(r#"name="solar_target" id="set-solar_target" min="45" max="60" step="0.5" value="55""#), "{page}");
        let g = c.post(
            "/strategy",
            &s,
            &[("csrf", &csrf), ("comfort_temperature", "50"), ("solar_target", "70")],
        );
        assert_eq!(g.status, 400);
        assert!(g.body.contains("solar_target: 70 is outside 45..=60"), "{}", g.body);
        assert_eq!(setting(&c, "comfort_temperature"), 45.0);
        let g = c.post(
            "/strategy",
            &s,
            &[("csrf", &csrf), ("comfort_temperature", "50"), ("solar_target", "52.5")],
        );
        assert_eq!((g.status, g.location.as_str()), (303, "/"));
        assert_eq!(setting(&c, "comfort_temperature"), 50.0);
        assert_eq!(setting(&c, "solar_target"), 52.5);
        assert!(c.get("/", &s).body.contains(r#"id="set-comfort_temperature" min="40" max="55" step="0.5" value="50""#));

        // "Forget the habits" is a press like "boost now".
        let g = c.post("/strategy", &s, &[("csrf", &csrf), ("forget", "yes")]);
        assert_eq!(g.status, 400);
        assert!(g.body.contains("forget: `yes` is not PRESS"), "{}", g.body);
        let g = c.post("/strategy", &s, &[("csrf", &csrf), ("forget", "PRESS")]);
        assert_eq!((g.status, g.location.as_str()), (303, "/"));

        // "Boost now" is taken; a return path off this site goes home instead.
        let g = c.post(
            "/strategy",
            &s,
            &[
                ("csrf", &csrf),
                ("to", "//example.org/"),
                ("boost", "PRESS"),
            ],
        );
        assert_eq!((g.status, g.location.as_str()), (303, "/"));
        let g = c.post("/strategy", &[], &[("csrf", &csrf), ("mode", "off")]);
        assert_eq!((g.status, g.location.as_str()), (303, "/login"));
        assert_eq!(mode(&c), "boost");
    })
    .await;
    cancel.cancel();

    // Without logins (loopback only) the page's own token still guards the form.
    let cancel = CancellationToken::new();
    let d = start(Auth::None, &cancel).await;
    let addr = d.addr;
    blocking(move || {
        let c = Client::new(addr);
        let csrf = csrf_in(&c.get("/", &[]).body);
        let g = c.post(
            "/strategy",
            &[],
            &[("csrf", "0".repeat(64).as_str()), ("mode", "off")],
        );
        assert_eq!(g.status, 403);
        let g = c.post("/strategy", &[], &[("csrf", &csrf), ("mode", "off")]);
        assert_eq!((g.status, g.location.as_str()), (303, "/"));
        let st: serde_json::Value =
            serde_json::from_str(&c.get("/api/v1/strategy", &[]).body).unwrap();
        assert_eq!(st["mode"], "off");
    })
    .await;
    cancel.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_web_server_is_restarted_on_its_address_and_sessions_stay() {
    let cancel = CancellationToken::new();
    let d = start(Auth::Users, &cancel).await;
    let addr = d.addr;
    let session = blocking(move || {
        let (session, _) = Client::new(addr).login("anna", support::web::PASSWORD);
        session.unwrap()
    })
    .await;
    assert!(d.app.supervisor.kill("web"));
    // Down for the supervisor's first backoff (1 s), then back on the same address.
    support::eventually(10, "the web task restarted", || {
        let h = d.app.supervisor.health()["web"].clone();
        async move { (h.running && h.restarts == 1).then_some(()) }
    })
    .await;
    blocking(move || {
        let c = Client::new(addr);
        let health = c.get("/api/health", &[]);
        assert_eq!(health.status, 200, "{}", health.body);
        // The session made before the restart still opens the overview.
        let page = c.get("/", &[&session]);
        assert_eq!(page.status, 200, "{}", page.location);
    })
    .await;
    cancel.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guesses_in_parallel_wait_as_long_as_guesses_one_after_another() {
    let cancel = CancellationToken::new();
    let d = start(Auth::Users, &cancel).await;
    let addr = d.addr;
    let began = Instant::now();
    let guesses: Vec<_> = (0..5)
        .map(|i| {
            blocking(move || {
                let (session, g) = Client::new(addr).login("anna", &format!("guess-number-{i}"));
                assert!(session.is_none());
                (g.status, Instant::now())
            })
        })
        .collect();
    let mut done = Vec::new();
    for g in guesses {
        done.push(g.await);
    }
    assert!(done.iter().all(|(status, _)| *status == 303), "{done:?}");
    // Booked one after another: 0, 0.5, 1.5, 3.5 and 7.5 s before their checks.
    let last = done.iter().map(|(_, at)| *at - began).max().unwrap();
    assert!(last >= Duration::from_millis(7400), "{last:?}");
    cancel.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_login_form_answers_bad_bodies_as_every_form_does_and_head_works() {
    let cancel = CancellationToken::new();
    let d = start(Auth::Users, &cancel).await;
    let addr = d.addr;
    blocking(move || {
        let c = Client::new(addr);
        let big = "x".repeat(20 * 1024);
        for path in ["/login", "/strategy"] {
            let g = c.post(path, &[], &[("user", &big)]);
            assert_eq!(g.status, 413, "{path}: {}", g.body);
            let r = c
                .agent
                .post(format!("{}{path}", c.base))
                .header("content-type", "application/json")
                .send("{\"user\": \"anna\"}")
                .unwrap();
            assert_eq!(got(r).status, 415, "{path}");
        }
        for path in ["/login", "/api/health", "/assets/app.css"] {
            let r = c.agent.head(format!("{}{path}", c.base)).call().unwrap();
            let g = got(r);
            assert_eq!(g.status, 200, "HEAD {path}");
            assert!(g.body.is_empty(), "HEAD {path}: {}", g.body);
        }
    })
    .await;
    cancel.cancel();
}

/// With the demo's dynamic tariff and the simulator's day-ahead prices (fetched like
/// EnergyZero's): the overview shows the price now and next hour, a bar per quarter hour
/// for today and tomorrow (once published), and what the grid came to today and this
/// month; `/api/v1/prices` has the same.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_overview_shows_the_price_now_today_and_tomorrow_and_the_days_cost() {
    let cancel = CancellationToken::new();
    let d = start(Auth::Users, &cancel).await;
    let addr = d.addr;
    let session = blocking(move || Client::new(addr).login("anna", PASSWORD).0.unwrap()).await;
    // Tomorrow's prices are published at 13:00: before it, put them in as Home
    // Assistant would, so both days show.
    let now = chrono::DateTime::<chrono::Utc>::from(nomhub::clock::now());
    let today = nomhub::ledger::period::local_date(now);
    let book = d.app.views.prices.clone().unwrap();
    let mut rx = book.subscribe();
    tokio::time::timeout(Duration::from_secs(10), rx.wait_for(|p| p.has_day(today)))
        .await
        .expect("today's prices not fetched")
        .unwrap();
    let mut prices = nomhub::tariff::DayAhead::default();
    let (from, to) = (
        nomhub::ledger::period::local_midnight(today + chrono::Days::new(1)),
        nomhub::ledger::period::local_midnight(today + chrono::Days::new(2)),
    );
    let mut t = from;
    while t < to {
        let q = t + chrono::TimeDelta::minutes(15);
        prices.insert(t, q, nomhub::sim::prices::price(t));
        t = q;
    }
    book.merge(&prices, "test", now);
    let s = session.clone();
    blocking(move || {
        let c = Client::new(addr);
        let s = [s.as_str()];
        let p: serde_json::Value = serde_json::from_str(&c.get("/api/v1/prices", &s).body).unwrap();
        assert_eq!(p["fallback"], false, "{p}");
        let day_ahead = p["day_ahead_now"].as_f64().unwrap();
        let want = ((day_ahead + 0.02 + 0.0916) * 1.21 * 10_000.0).round() / 10_000.0;
        assert!(
            (p["import_now"].as_f64().unwrap() - want).abs() < 0.0002,
            "{p}"
        );
        let quarters = p["today"].as_array().unwrap();
        assert!((92..=100).contains(&quarters.len()), "{p}");
        assert!(quarters.iter().all(serde_json::Value::is_number), "{p}");
        assert!(
            p["tomorrow"]
                .as_array()
                .unwrap()
                .iter()
                .all(serde_json::Value::is_number)
        );
        assert!(p["cost_month"]["import_eur"].as_f64().unwrap() > 0.0, "{p}");
        let page = c.get("/", &s).body;
        for id in [
            r#"id="price-now""#,
            r#"id="price-next""#,
            r#"id="cost-today""#,
            r#"id="cost-month""#,
        ] {
            assert!(page.contains(id), "{id} in {page}");
        }
        assert!(!page.contains(r#"id="price-fallback""#));
        assert_eq!(page.matches(r#"<svg class="strip""#).count(), 2, "{page}");
        assert!(page.contains("goedkoopst"), "{page}");
        assert_eq!(
            page.matches(r#"class="now""#).count(),
            1,
            "one bar is now: {page}"
        );
        // In English too.
        let en = c.get("/", &[s[0], "lang=en"]).body;
        assert!(
            en.contains("Electricity price") && en.contains("cheapest"),
            "{en}"
        );
    })
    .await;
    cancel.cancel();
}

/// ‹ goes back to the first booked month and no further (the demo's history starts
/// with its settlement year, on 1 April).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_previous_period_stops_at_the_first_booked_month() {
    let cancel = CancellationToken::new();
    let d = start(Auth::Users, &cancel).await;
    let addr = d.addr;
    let first = d.app.views.ledger.as_ref().unwrap().first_day().unwrap();
    let now = chrono::DateTime::<chrono::Utc>::from(nomhub::clock::now());
    let today = nomhub::ledger::period::local_date(now);
    use chrono::Datelike;
    let back = (today.year() - first.year()) * 12 + today.month() as i32 - first.month() as i32;
    assert!(back >= 0, "{first} {today}");
    blocking(move || {
        let c = Client::new(addr);
        let s = c.login("anna", PASSWORD).0.unwrap();
        for path in ["/", "/graphs"] {
            let at = |offset: i32| {
                c.get(&format!("{path}?period=month&offset={offset}"), &[&s])
                    .body
            };
            let first_month = at(-back);
            assert!(
                !first_month.contains(r#"id="prev""#),
                "{path} at the first month: {first_month}"
            );
            if back > 0 {
                assert!(
                    at(1 - back).contains(r#"id="prev""#),
                    "{path} a month later"
                );
            }
        }
    })
    .await;
    cancel.cancel();
}
