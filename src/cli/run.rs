//! `nomhub run`: the daemon's lifecycle: start, serve until asked to stop (telling
//! systemd), stop every task cleanly.

use std::process::ExitCode;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Runs a started nomhub until it is asked to stop (or a task is given up), telling
/// systemd, then stops every task: control hands the heat pump back, the ledger commits,
/// MQTT says `offline`. The exit code says whether it ended well.
pub(super) async fn serve(
    app: &crate::app::App,
    tasks: &TaskTracker,
    cancel: &CancellationToken,
    run_for: Option<Duration>,
) -> ExitCode {
    crate::service::ready(app, tasks, cancel);
    let stop = crate::service::wait(app, run_for).await;
    crate::service::stopping();
    cancel.cancel();
    tasks.close();
    if tokio::time::timeout(Duration::from_secs(10), tasks.wait())
        .await
        .is_err()
    {
        tracing::warn!("Some tasks did not stop within 10 s.");
    }
    match stop {
        crate::service::Stop::Asked => ExitCode::SUCCESS,
        crate::service::Stop::Failed(why) => {
            tracing::error!(error = %why, "nomhub stopped because a task failed.");
            eprintln!("error: {why}");
            ExitCode::FAILURE
        }
    }
}

pub(super) async fn run_config(path: &std::path::Path) -> anyhow::Result<ExitCode> {
    let Some(config) = super::load_or_report(path) else {
        return Ok(ExitCode::from(2));
    };
    let cancel = CancellationToken::new();
    let tasks = TaskTracker::new();
    for w in &config.warnings {
        tracing::warn!(warning = %w, "Configuration advice.");
    }
    let ledger = crate::app::open_ledger(&config)?;
    let app = crate::app::start(
        &config,
        ledger,
        &crate::clock::Clock::System,
        &tasks,
        &cancel,
    )?;
    if let Some(addr) = app.web {
        tracing::info!(%addr, "Dashboard at http://{addr}/");
        if let Some(store) = &app.store
            && config
                .web
                .as_ref()
                .is_some_and(|w| w.auth == crate::config::Auth::Users)
            && !crate::web::users::any(store).unwrap_or(true)
        {
            tracing::warn!(
                "No dashboard users yet: stop nomhub and add one with `nomhub user add NAME --config {}`.",
                path.display()
            );
        }
    }
    tracing::info!(devices = config.devices.len(), "nomhub running.");
    Ok(serve(&app, &tasks, &cancel, None).await)
}
