//! nomhub as a service: tells systemd when it is ready and how it is doing, feeds the
//! watchdog while its tasks are healthy, waits for a stop, and writes logs journald reads.

use std::time::Duration;

use sd_notify::NotifyState;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::app::App;

/// Why nomhub stops.
#[derive(Debug, PartialEq)]
pub enum Stop {
    /// SIGTERM, Ctrl-C (SIGINT), or the time asked for ran out.
    Asked,
    /// A task could not be restarted: the process ends with a failure (systemd restarts it).
    Failed(String),
}

fn notify(state: &[NotifyState]) {
    if let Err(e) = sd_notify::notify(state) {
        tracing::warn!(error = %e, "Cannot notify systemd.");
    }
}

/// One line on how nomhub is doing, for `systemctl status`.
pub fn status_line(app: &App) -> String {
    let snap = app.views.snapshot.borrow().clone();
    let online = snap.devices.values().filter(|d| d.online).count();
    let mut parts = vec![format!("{online}/{} devices online", snap.devices.len())];
    if let Some(l) = app.views.ledger_status() {
        parts.push(match (&l.store_error, l.clock_trusted) {
            (Some(_), _) => "ledger cannot write its store".to_owned(),
            (None, false) if l.at.is_some() => "ledger waits for a synchronised clock".to_owned(),
            _ => "ledger booking".to_owned(),
        });
    }
    if let Some(m) = &app.mqtt {
        parts.push(if m.borrow().connected {
            "MQTT connected".to_owned()
        } else {
            "MQTT not connected".to_owned()
        });
    }
    if let Some(c) = &app.views.control {
        let held = c.borrow().held.len();
        parts.push(format!("{held} points held"));
    }
    parts.join("; ")
}

/// Tells systemd nomhub is ready (`Type=notify`), then keeps its status line current and,
/// when the unit has `WatchdogSec=`, feeds the watchdog at half the interval for as long
/// as no task has been given up. Without systemd (no `NOTIFY_SOCKET`) this does nothing.
pub fn ready(app: &App, tasks: &TaskTracker, cancel: &CancellationToken) {
    if std::env::var_os("NOTIFY_SOCKET").is_none() {
        return;
    }
    let status = status_line(app);
    notify(&[NotifyState::Ready, NotifyState::Status(&status)]);
    let every = sd_notify::watchdog_enabled().map(|d| d / 2);
    let (app, cancel, failed) = (app.clone(), cancel.clone(), app.supervisor.failed());
    tasks.spawn(async move {
        let mut tick = tokio::time::interval(every.unwrap_or(Duration::from_secs(10)));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = cancel.cancelled() => return,
                () = failed.cancelled() => return,
                _ = tick.tick() => {}
            }
            let status = status_line(&app);
            match every {
                Some(_) => notify(&[NotifyState::Watchdog, NotifyState::Status(&status)]),
                None => notify(&[NotifyState::Status(&status)]),
            }
        }
    });
}

/// Tells systemd nomhub is stopping.
pub fn stopping() {
    if std::env::var_os("NOTIFY_SOCKET").is_some() {
        notify(&[NotifyState::Stopping]);
    }
}

/// Waits for SIGTERM or Ctrl-C (SIGINT), `run_for` when given, or a task given up.
pub async fn wait(app: &App, run_for: Option<Duration>) -> Stop {
    let failed = app.supervisor.failed();
    tokio::select! {
        () = wait_for_signal(run_for) => Stop::Asked,
        () = failed.cancelled() => Stop::Failed(app.supervisor.failure().unwrap_or_default()),
    }
}

/// Waits for `run_for`, or else for Ctrl-C (SIGINT) or SIGTERM.
pub async fn wait_for_signal(run_for: Option<Duration>) {
    use tokio::signal::unix::{SignalKind, signal};
    if let Some(d) = run_for {
        return tokio::time::sleep(d).await;
    }
    let mut term = match signal(SignalKind::terminate()) {
        Ok(t) => t,
        Err(e) => {
            tracing::error!(error = %e, "Cannot listen for SIGTERM.");
            if let Err(e) = tokio::signal::ctrl_c().await {
                tracing::error!(error = %e, "Cannot listen for Ctrl-C.");
            }
            return;
        }
    };
    tokio::select! {
        r = tokio::signal::ctrl_c() => if let Err(e) = r {
            tracing::error!(error = %e, "Cannot listen for Ctrl-C.");
        },
        _ = term.recv() => tracing::info!("SIGTERM received; stopping."),
    }
}

/// Whether stderr is connected to the journal: systemd sets `JOURNAL_STREAM` to the
/// device and inode of the stream it gave the service (a child that inherited the
/// variable but writes elsewhere does not match).
pub fn stderr_is_journal() -> bool {
    use std::os::unix::fs::MetadataExt;
    let Some(var) = std::env::var_os("JOURNAL_STREAM") else {
        return false;
    };
    let Some((dev, ino)) = var.to_str().and_then(|v| v.split_once(':')) else {
        return false;
    };
    match std::fs::metadata("/proc/self/fd/2") {
        Ok(m) => dev.parse() == Ok(m.dev()) && ino.parse() == Ok(m.ino()),
        Err(_) => false,
    }
}

/// Log lines for the journal: each starts with its syslog priority (`<3>` error, `<4>`
/// warning, `<6>` info, `<7>` debug), which journald strips and keeps as the entry's
/// priority (`journalctl -p warning`); no time stamp (journald adds its own) and no
/// colours; fields stay `key=value`.
pub struct JournalFormat<F>(pub F);

impl<S, N, F> tracing_subscriber::fmt::FormatEvent<S, N> for JournalFormat<F>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    N: for<'a> tracing_subscriber::fmt::FormatFields<'a> + 'static,
    F: tracing_subscriber::fmt::FormatEvent<S, N>,
{
    fn format_event(
        &self,
        ctx: &tracing_subscriber::fmt::FmtContext<'_, S, N>,
        mut writer: tracing_subscriber::fmt::format::Writer<'_>,
        event: &tracing::Event<'_>,
    ) -> std::fmt::Result {
        let priority = match *event.metadata().level() {
            tracing::Level::ERROR => 3,
            tracing::Level::WARN => 4,
            tracing::Level::INFO => 6,
            _ => 7,
        };
        write!(writer, "<{priority}>")?;
        self.0.format_event(ctx, writer, event)
    }
}
