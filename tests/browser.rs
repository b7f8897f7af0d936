//! The dashboard in a real headless Chromium (Debian's `chromium` and
//! `chromium-driver`; ./test.sh installs them): log in, the overview with its bars
//! and expected markers, Live values that move, the month before, the month/year
//! toggle, the language switch and the graphs. Screenshots go to `target/screenshots/`.
#![allow(clippy::unwrap_used)]

mod support;

use std::path::PathBuf;
use std::time::Duration;

use fantoccini::{Client, Locator};
use nomhub::config::Auth;
use support::browser::{browser, click, count, driver, log_in, wait_for};
use support::web::PASSWORD;
use tokio_util::sync::CancellationToken;

async fn screenshot(c: &Client, name: &str) {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .unwrap()
        .join("screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    let png = c.screenshot().await.unwrap();
    assert!(png.starts_with(b"\x89PNG"), "a PNG");
    std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
}

async fn text_of(c: &Client, css: &str) -> String {
    c.find(Locator::Css(css))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resident_logs_in_and_reads_the_overview() {
    let cancel = CancellationToken::new();
    // Simulated time at 60x, so the Live values move.
    let d = support::web::start_at(60.0, Auth::Users, &cancel).await;
    let base = format!("http://{}", d.addr);
    let driver = driver();
    let c = browser(&driver, 1280, 1000).await;

    // Not logged in: the overview sends us to the login page, in Dutch.
    c.goto(&format!("{base}/")).await.unwrap();
    assert_eq!(c.current_url().await.unwrap().path(), "/login");
    assert_eq!(text_of(&c, "h1").await, "Inloggen");
    screenshot(&c, "login-nl").await;
    log_in(&c, &base, "anna", PASSWORD).await;
    assert_eq!(c.current_url().await.unwrap().path(), "/");
    assert_eq!(text_of(&c, "h1").await, "Overzicht");

    // A bar per bundle, with the expected marker while the month runs.
    assert!(count(&c, ".bundle .bar").await >= 3);
    assert!(count(&c, ".bundle .bar .expected").await >= 3);
    let width = c
        .execute(
            "return document.querySelector('.bundle[data-bundle=energy_used] .used').getBoundingClientRect().width",
            vec![],
        )
        .await
        .unwrap();
    let width = width.as_f64().unwrap();
    assert!(width > 10.0, "the energy-used bar is drawn ({width} px)");

    // The Live block updates itself from the stream, without a reload.
    c.wait()
        .at_most(Duration::from_secs(20))
        .for_element(Locator::Css("body[data-live-updates='2']"))
        .await
        .unwrap();
    let grid = text_of(&c, "#live-grid_w").await;
    assert!(grid.ends_with(" W"), "{grid}");
    screenshot(&c, "overview-month-nl").await;

    // "Meer" opens household and building-bound.
    click(&c, "details.more summary").await;
    let building = c
        .find(Locator::Css(".bundle[data-bundle=building_bound] h3"))
        .await
        .unwrap();
    assert!(building.is_displayed().await.unwrap());

    // The month before: over, so no expected marker; and back.
    let this_month = text_of(&c, "#period-name").await;
    click(&c, "#prev").await;
    wait_for(&c, "#next").await;
    assert_ne!(text_of(&c, "#period-name").await, this_month);
    assert_eq!(count(&c, ".bar .expected").await, 0, "a month that is over");
    screenshot(&c, "overview-last-month-nl").await;
    click(&c, "#next").await;
    wait_for(&c, ".bar .expected").await;
    assert_eq!(text_of(&c, "#period-name").await, this_month);

    // The hot-water mode from the overview: "Uit" hands the heat pump back, then
    // "Slim" again; each press comes back to the same page.
    click(&c, "#mode-off").await;
    wait_for(&c, "#mode-off[aria-pressed=true]").await;
    assert_eq!(
        text_of(&c, "#strategy-mode").await,
        "uit (eigen regeling warmtepomp)"
    );
    assert_eq!(c.current_url().await.unwrap().path(), "/");
    click(&c, "#mode-smart").await;
    wait_for(&c, "#mode-smart[aria-pressed=true]").await;
    assert_eq!(text_of(&c, "#strategy-mode").await, "slim (zon eerst)");
    // The settings fold open; a new comfort temperature is saved and shown.
    click(&c, "details.strategy-settings summary").await;
    let comfort = c
        .find(Locator::Css("#set-comfort_temperature"))
        .await
        .unwrap();
    comfort.clear().await.unwrap();
    comfort.send_keys("48").await.unwrap();
    screenshot(&c, "overview-settings-nl").await;
    click(&c, "#settings-save").await;
    wait_for(&c, "#set-comfort_temperature[value='48']").await;

    // Month → year, then Dutch → English on the same view.
    click(&c, "#period-year").await;
    wait_for(&c, "#period-year[aria-current=page]").await;
    let year_query = Some("period=year&offset=0");
    assert_eq!(c.current_url().await.unwrap().query(), year_query);
    click(&c, "#lang").await;
    wait_for(&c, "html[lang=en]").await;
    assert_eq!(text_of(&c, "h1").await, "Overview");
    assert_eq!(c.current_url().await.unwrap().query(), year_query);
    assert!(c.source().await.unwrap().contains("PV generated"));
    screenshot(&c, "overview-year-en").await;

    // Graphs: energy used per day this month, household and building-bound stacked
    // under the bundle line; then per month over the year, and PV.
    click(&c, "#nav-graphs").await;
    wait_for(&c, "svg.chart").await;
    let days = count(&c, "svg.chart rect.household").await;
    assert!((28..=31).contains(&days), "{days} days");
    assert_eq!(count(&c, "svg.chart rect.building").await, days);
    assert_eq!(count(&c, "svg.chart polyline.bundle-line").await, 1);
    let colour = c
        .execute(
            "return getComputedStyle(document.querySelector('rect.household')).fill",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(colour, "rgb(58, 143, 58)", "household in green");
    screenshot(&c, "graphs-month-en").await;
    click(&c, "#period-year").await;
    wait_for(&c, "#period-year[aria-current=page]").await;
    assert_eq!(count(&c, "svg.chart rect.household").await, 12);
    click(&c, "#graph-pv").await;
    wait_for(&c, "svg.chart rect.pv").await;
    assert_eq!(count(&c, "svg.chart rect.pv").await, 12);
    screenshot(&c, "graphs-year-pv-en").await;

    // Dwelling, back in Dutch: the address, the manuals, the year bundles with
    // household and building-bound folded under "Meer".
    click(&c, "#lang").await;
    wait_for(&c, "html[lang=nl]").await;
    click(&c, "#nav-dwelling").await;
    wait_for(&c, "#year-bundles.folded").await;
    assert!(text_of(&c, "#address").await.contains("De Bilt"));
    assert_eq!(count(&c, "#manuals li").await, 2);
    let shown = "return [...document.querySelectorAll('#year-bundles tbody tr[data-bundle]')].filter(r => r.offsetParent !== null).map(r => r.dataset.bundle)";
    let rows = c.execute(shown, vec![]).await.unwrap();
    assert_eq!(rows, serde_json::json!(["pv", "energy_used", "hot_water"]));
    click(&c, "#year-more").await;
    wait_for(&c, "#year-more[aria-expanded=true]").await;
    let rows = c.execute(shown, vec![]).await.unwrap();
    assert_eq!(
        rows,
        serde_json::json!([
            "pv",
            "energy_used",
            "household",
            "building_bound",
            "hot_water"
        ])
    );
    // Every month of the PV bundle, January first (the demo's figures).
    let pv = c
        .execute(
            "return [...document.querySelectorAll('#year-bundles tr[data-bundle=pv] td')].map(t => t.textContent)",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(pv[0], "103");
    assert_eq!(pv[5], "808");
    assert_eq!(pv[12], "5272");
    screenshot(&c, "dwelling-nl").await;

    // Contact: who installed and who maintains the home.
    click(&c, "#nav-contact").await;
    wait_for(&c, "section.contact[data-role=maintainer]").await;
    assert_eq!(count(&c, "section.contact").await, 2);
    screenshot(&c, "contact-nl").await;
    c.close().await.unwrap();

    cancel.cancel();
}

/// Every visible element within the viewport's width, and (on a phone) every visible
/// link, button and fold at least 44 px high: what is wrong, as text.
const LAYOUT_FAULTS: &str = r##"
const w = document.documentElement.clientWidth, phone = w < 640, out = [];
const name = (e) => e.tagName.toLowerCase() + (e.id ? "#" + e.id : "") + (e.className && typeof e.className === "string" ? "." + e.className.trim().split(/\s+/).join(".") : "");
if (document.documentElement.scrollWidth > w) out.push("the page scrolls sideways: " + document.documentElement.scrollWidth + " > " + w);
for (const e of document.body.querySelectorAll("*")) {
  const r = e.getBoundingClientRect();
  if (r.width === 0 || r.height === 0 || e.closest("svg title")) continue;
  if (r.right > w + 0.5 || r.left < -0.5) out.push(name(e) + " is outside the width: " + r.left.toFixed(0) + ".." + r.right.toFixed(0) + " of " + w);
  if (phone && e.matches("a, button, summary, input, select") && r.height < 43.5) out.push(name(e) + " '" + e.textContent.trim().slice(0, 20) + "' is " + r.height.toFixed(0) + " px high");
}
return out;
"##;

/// The text a reader sees, one entry per text node.
const TEXTS: &str = r##"
const out = [], walk = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
for (let n; (n = walk.nextNode()); ) {
  const p = n.parentElement;
  if (!p || p.closest("script, style, svg") || p.getClientRects().length === 0) continue;
  const t = n.textContent.trim();
  if (t) out.push(t);
}
for (const e of document.querySelectorAll("[aria-label], [title]")) {
  for (const a of ["aria-label", "title"]) { const v = e.getAttribute(a); if (v) out.push(v); }
}
return out;
"##;

/// The dashboard's pages, each by its address and an element it must show.
const PAGES: [(&str, &str, &str); 9] = [
    ("overview-month", "/", "section.bundles"),
    ("overview-year", "/?period=year&offset=0", "section.bundles"),
    (
        "graphs-energy-month",
        "/graphs?bundle=energy_used&period=month&offset=0",
        "svg.chart",
    ),
    (
        "graphs-pv-year",
        "/graphs?bundle=pv&period=year&offset=0",
        "svg.chart",
    ),
    (
        "graphs-hot-water-month",
        "/graphs?bundle=hot_water&period=month&offset=0",
        "svg.chart",
    ),
    ("dwelling", "/dwelling", "#address"),
    ("contact", "/contact", "section.contact"),
    ("account", "/account", "form"),
    (
        "overview-last-month",
        "/?period=month&offset=-1",
        "section.bundles",
    ),
];

/// Text that is the same in Dutch and English and is not a translation left out: the
/// name, the language switch, words both languages share, and the demo's own data.
fn same_in_both(t: &str) -> bool {
    const SHARED: [&str; 9] = [
        "nomhub", "NL", "EN", "Live", "Contact", "Manuals", "kWh", "Account", "Website",
    ];
    let data = [
        "Zonnelaan",
        "Zonnebouw",
        "Warmtebouw",
        "example",
        "030 000",
        ".pdf",
        ".dwg",
        "anna",
    ];
    SHARED.contains(&t)
        || data.iter().any(|d| t.contains(d))
        // Figures, dates, times and units only.
        || !t.chars().any(|c| c.is_alphabetic()) || t.split_whitespace().all(|w| {
            w.chars().any(|c| c.is_ascii_digit()) || ["kWh", "W", "°C", "€", "kB", "–", "·", "%"].contains(&w)
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_on_a_phone_and_a_wide_screen() {
    let cancel = CancellationToken::new();
    let d = support::web::start_at(60.0, Auth::Users, &cancel).await;
    let base = format!("http://{}", d.addr);
    let driver = driver();
    let mut texts: std::collections::HashMap<(&str, &str), Vec<String>> = Default::default();
    for (width, height) in [(390, 844), (1280, 900)] {
        let c = browser(&driver, width, height).await;
        c.goto(&format!("{base}/login")).await.unwrap();
        let inner = c.execute("return window.innerWidth", vec![]).await.unwrap();
        assert_eq!(
            inner.as_u64(),
            Some(u64::from(width)),
            "the viewport's width"
        );
        screenshot(&c, &format!("login-{width}")).await;
        log_in(&c, &base, "anna", PASSWORD).await;
        for lang in ["nl", "en"] {
            if text_of(&c, "html").await.is_empty()
                || c.execute("return document.documentElement.lang", vec![])
                    .await
                    .unwrap()
                    != lang
            {
                click(&c, "#lang").await;
                wait_for(&c, &format!("html[lang={lang}]")).await;
            }
            for (name, path, shows) in PAGES {
                c.goto(&format!("{base}{path}")).await.unwrap();
                wait_for(&c, shows).await;
                let faults = c.execute(LAYOUT_FAULTS, vec![]).await.unwrap();
                assert_eq!(
                    faults,
                    serde_json::json!([]),
                    "{name} at {width} px, {lang}"
                );
                if width == 390 {
                    let seen = c.execute(TEXTS, vec![]).await.unwrap();
                    let seen: Vec<String> = serde_json::from_value(seen).unwrap();
                    texts.insert((name, lang), seen);
                }
                screenshot(&c, &format!("{name}-{width}-{lang}")).await;
            }
        }
        c.close().await.unwrap();
    }
    // No untranslated text: what the Dutch page says word for word, the English one
    // must not (data, figures and shared words aside), and the other way round.
    for (name, _, _) in PAGES {
        let (nl, en) = (&texts[&(name, "nl")], &texts[&(name, "en")]);
        let same: Vec<&String> = nl
            .iter()
            .filter(|t| en.contains(t) && !same_in_both(t))
            .collect();
        assert!(
            same.is_empty(),
            "{name}: the same on the Dutch and the English page: {same:?}"
        );
    }
    cancel.cancel();
}

/// Period changes swap the page in place (no reload, no jump to the top), each in
/// under a second; back and forward work; pages left are not kept with their Live
/// stream open; "bijgewerkt om" and "verbinding verbroken".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn period_changes_are_quick_and_the_live_block_says_how_fresh_it_is() {
    let cancel = CancellationToken::new();
    let d = support::web::start_at(60.0, Auth::Users, &cancel).await;
    let base = format!("http://{}", d.addr);
    let driver = driver();
    let c = browser(&driver, 390, 844).await;
    log_in(&c, &base, "anna", PASSWORD).await;
    wait_for(&c, "section.live[data-state=ok]").await;
    let state = text_of(&c, "#live-state").await;
    assert!(state.starts_with("bijgewerkt om "), "{state}");

    // Twelve period changes in a row from halfway down the page.
    c.execute("window.scrollTo(0, document.querySelector('nav.toggle').offsetTop - 10); window.kept = true", vec![])
        .await
        .unwrap();
    let scrolled = c
        .execute("return Math.round(window.scrollY)", vec![])
        .await
        .unwrap();
    assert!(
        scrolled.as_i64().unwrap() > 100,
        "scrolled down ({scrolled})"
    );
    let steps_top = c
        .execute(
            "return Math.round(document.querySelector('nav.steps').getBoundingClientRect().top)",
            vec![],
        )
        .await
        .unwrap();
    let mut back = 0;
    let mut names = vec![text_of(&c, "#period-name").await];
    for i in 0..12 {
        let target = match i % 4 {
            0 => "#period-year",
            1 => "#period-month",
            2 if count(&c, "a#prev").await == 1 => {
                back += 1;
                "#prev"
            }
            2 => "#period-year",
            _ if back > 0 => {
                back -= 1;
                "#next"
            }
            _ => "#period-month",
        };
        let started = std::time::Instant::now();
        click(&c, target).await;
        wait_for(&c, &format!("body[data-swaps='{}']", i + 1)).await;
        let took = started.elapsed();
        assert!(
            took < Duration::from_secs(1),
            "change {} ({target}) took {took:?}",
            i + 1
        );
        names.push(text_of(&c, "#period-name").await);
    }
    let kept = c
        .execute(
            "return window.kept === true && Math.round(document.querySelector('nav.steps').getBoundingClientRect().top)",
            vec![],
        )
        .await
        .unwrap();
    // The same page (no reload), the period bar where it was on the screen.
    assert_eq!(kept, steps_top, "no reload and no jump to the top");
    // The address followed: back gives the period before, forward again.
    assert_eq!(
        c.current_url().await.unwrap().query(),
        Some("period=month&offset=0")
    );
    c.back().await.unwrap();
    wait_for(&c, "body[data-swaps='13']").await;
    assert_eq!(text_of(&c, "#period-name").await, names[11]);
    c.forward().await.unwrap();
    wait_for(&c, "body[data-swaps='14']").await;
    assert_eq!(text_of(&c, "#period-name").await, names[12]);

    // Whole page loads to overview after overview: each left page closes its stream,
    // so the browser's six connections per host never run out.
    for offset in 1..=8 {
        let started = std::time::Instant::now();
        c.goto(&format!("{base}/?period=month&offset=-{}", offset % 3))
            .await
            .unwrap();
        wait_for(&c, "section.live[data-state=ok]").await;
        let took = started.elapsed();
        assert!(took < Duration::from_secs(5), "page {offset} took {took:?}");
    }
    // nomhub stops: the Live block says so instead of showing old values as current.
    cancel.cancel();
    c.wait()
        .at_most(Duration::from_secs(20))
        .for_element(Locator::Css("section.live[data-state=lost]"))
        .await
        .unwrap();
    let state = text_of(&c, "#live-state").await;
    assert!(state.starts_with("verbinding verbroken"), "{state}");
    screenshot(&c, "overview-connection-lost-390").await;
    c.close().await.unwrap();
}
