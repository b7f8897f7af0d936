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

    // On a phone.
    let phone = browser(&driver, 390, 844).await;
    phone.goto(&format!("{base}/login")).await.unwrap();
    screenshot(&phone, "login-phone").await;
    phone.close().await.unwrap();
    cancel.cancel();
}
