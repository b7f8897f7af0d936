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
use support::browser::{browser, driver};
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
    c.find(Locator::Css("input[name=user]"))
        .await
        .unwrap()
        .send_keys("anna")
        .await
        .unwrap();
    c.find(Locator::Css("input[name=password]"))
        .await
        .unwrap()
        .send_keys(PASSWORD)
        .await
        .unwrap();
    c.find(Locator::Css("button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    c.wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css("section.bundles"))
        .await
        .unwrap();
    assert_eq!(c.current_url().await.unwrap().path(), "/");
    assert_eq!(text_of(&c, "h1").await, "Overzicht");

    // A bar per bundle, with the expected marker while the month runs.
    let bars = c.find_all(Locator::Css(".bundle .bar")).await.unwrap();
    assert!(bars.len() >= 3, "{} bars", bars.len());
    let markers = c
        .find_all(Locator::Css(".bundle .bar .expected"))
        .await
        .unwrap();
    assert!(!markers.is_empty());
    let width: f64 = c
        .execute(
            "return document.querySelector('.bundle[data-bundle=energy_used] .used').getBoundingClientRect().width",
            vec![],
        )
        .await
        .unwrap()
        .as_f64()
        .unwrap();
    assert!(width > 10.0, "the energy-used bar is drawn ({width} px)");

    // The Live block updates itself from the stream, without a reload.
    let before = text_of(&c, "#live-grid_w").await;
    c.wait()
        .at_most(Duration::from_secs(20))
        .for_element(Locator::Css("body[data-live-updates='2']"))
        .await
        .unwrap();
    screenshot(&c, "overview-month-nl").await;
    let after = text_of(&c, "#live-grid_w").await;
    assert!(after.ends_with(" W"), "{after}");
    tracing_free_log(&format!("grid {before} → {after}"));

    // "Meer" opens household and building-bound.
    c.find(Locator::Css("details.more summary"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let household = c
        .find(Locator::Css(".bundle[data-bundle=building_bound] h3"))
        .await
        .unwrap();
    assert!(household.is_displayed().await.unwrap());

    // The month before: over, so no expected marker; and back.
    let this_month = text_of(&c, "#period-name").await;
    c.find(Locator::Id("prev"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    c.wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Id("next"))
        .await
        .unwrap();
    let last_month = text_of(&c, "#period-name").await;
    assert_ne!(last_month, this_month);
    assert!(
        c.find_all(Locator::Css(".bar .expected"))
            .await
            .unwrap()
            .is_empty(),
        "no expected marker for a month that is over"
    );
    screenshot(&c, "overview-last-month-nl").await;
    c.find(Locator::Id("next"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    c.wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css(".bar .expected"))
        .await
        .unwrap();
    assert_eq!(text_of(&c, "#period-name").await, this_month);

    // Month → year.
    c.find(Locator::Id("period-year"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    c.wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css("#period-year[aria-current=page]"))
        .await
        .unwrap();
    assert_eq!(
        c.current_url().await.unwrap().query(),
        Some("period=year&offset=0")
    );

    // Dutch → English, on the same view.
    c.find(Locator::Id("lang"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    c.wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css("html[lang=en]"))
        .await
        .unwrap();
    assert_eq!(text_of(&c, "h1").await, "Overview");
    assert_eq!(
        c.current_url().await.unwrap().query(),
        Some("period=year&offset=0")
    );
    assert!(c.source().await.unwrap().contains("PV generated"));
    screenshot(&c, "overview-year-en").await;

    // Graphs: energy used per day this month, household and building-bound stacked
    // under the bundle line; then per month over the year.
    c.find(Locator::Id("nav-graphs"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    c.wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css("svg.chart"))
        .await
        .unwrap();
    let household = c
        .find_all(Locator::Css("svg.chart rect.household"))
        .await
        .unwrap();
    let building = c
        .find_all(Locator::Css("svg.chart rect.building"))
        .await
        .unwrap();
    assert!(
        (28..=31).contains(&household.len()),
        "{} days",
        household.len()
    );
    assert_eq!(household.len(), building.len());
    c.find(Locator::Css("svg.chart polyline.bundle-line"))
        .await
        .unwrap();
    let colour = c
        .execute(
            "return getComputedStyle(document.querySelector('rect.household')).fill",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(colour, "rgb(58, 143, 58)", "household in green");
    screenshot(&c, "graphs-month-en").await;
    c.find(Locator::Id("period-year"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    c.wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css("#period-year[aria-current=page]"))
        .await
        .unwrap();
    let months = c
        .find_all(Locator::Css("svg.chart rect.household"))
        .await
        .unwrap();
    assert_eq!(months.len(), 12);
    c.find(Locator::Id("graph-pv"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    c.wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css("svg.chart rect.pv"))
        .await
        .unwrap();
    assert_eq!(
        c.find_all(Locator::Css("svg.chart rect.pv"))
            .await
            .unwrap()
            .len(),
        12
    );
    screenshot(&c, "graphs-year-pv-en").await;
    c.close().await.unwrap();

    // On a phone.
    let phone = browser(&driver, 390, 844).await;
    phone.goto(&format!("{base}/login")).await.unwrap();
    screenshot(&phone, "login-phone").await;
    phone.close().await.unwrap();
    cancel.cancel();
}

/// Shown with `--nocapture`.
fn tracing_free_log(s: &str) {
    println!("{s}");
}
