//! The supervisor: runs nomhub's long-lived tasks, restarts one that stops (with backoff),
//! ends the process loudly when one cannot be restarted, and says how each is doing.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// The first wait before a restart; it doubles up to [`MAX_BACKOFF`].
pub const MIN_BACKOFF: Duration = Duration::from_secs(1);
pub const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// A task that ran this long before stopping counts as having worked: its backoff starts over.
pub const STABLE: Duration = Duration::from_secs(300);
/// Quick stops in a row after which a task is given up and nomhub ends.
pub const MAX_QUICK_FAILURES: u32 = 8;

/// What becomes of a task that stops while nomhub runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// Start it again after a backoff; give up after [`MAX_QUICK_FAILURES`] quick stops.
    Restart,
    /// It cannot be restarted (it owns state nobody else has): nomhub ends.
    Critical,
}

/// How one task is doing.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct TaskHealth {
    pub running: bool,
    pub restarts: u64,
    pub last_error: Option<String>,
}

#[derive(Debug, Default)]
struct Shared {
    tasks: BTreeMap<String, TaskHealth>,
    /// The run under way of each task, to end it from outside ([`Supervisor::kill`]).
    runs: BTreeMap<String, tokio::task::AbortHandle>,
    failed: Option<String>,
}

/// Spawns supervised tasks on a [`TaskTracker`]; clones share the same record.
#[derive(Clone)]
pub struct Supervisor {
    tasks: TaskTracker,
    cancel: CancellationToken,
    failed: CancellationToken,
    shared: Arc<Mutex<Shared>>,
    started: Instant,
}

impl Supervisor {
    /// Tasks stop when `cancel` fires; a task given up fires [`Supervisor::failed`].
    pub fn new(tasks: &TaskTracker, cancel: &CancellationToken) -> Self {
        Self {
            tasks: tasks.clone(),
            cancel: cancel.clone(),
            failed: CancellationToken::new(),
            shared: Arc::default(),
            started: Instant::now(),
        }
    }

    fn with<R>(&self, f: impl FnOnce(&mut Shared) -> R) -> R {
        f(&mut self.shared.lock().unwrap_or_else(PoisonError::into_inner))
    }

    fn set(&self, name: &str, f: impl FnOnce(&mut TaskHealth)) {
        self.with(|s| f(s.tasks.entry(name.to_owned()).or_default()));
    }

    /// Every task's health, by name.
    pub fn health(&self) -> BTreeMap<String, TaskHealth> {
        self.with(|s| s.tasks.clone())
    }

    /// Why nomhub gave up, once it has.
    pub fn failure(&self) -> Option<String> {
        self.with(|s| s.failed.clone())
    }

    /// Fires when a task has been given up.
    pub fn failed(&self) -> CancellationToken {
        self.failed.clone()
    }

    /// Ends the run under way of task `name` as if it had died (it is restarted by its
    /// policy, as after a panic); false when no such task runs. For fault-injection
    /// tests, and the way to show that a task's death costs nomhub nothing.
    pub fn kill(&self, name: &str) -> bool {
        self.with(|s| s.runs.get(name).map(tokio::task::AbortHandle::abort))
            .is_some()
    }

    pub fn uptime(&self) -> Duration {
        self.started.elapsed()
    }

    /// Runs the future `make` builds under `name`, building a new one when it stops
    /// (returns, fails or panics) before `cancel` fires. The handle ends when the task has
    /// stopped for good.
    pub fn spawn<F, Fut>(&self, name: &str, policy: Policy, mut make: F) -> JoinHandle<()>
    where
        F: FnMut() -> Fut + Send + 'static,
        Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
    {
        let me = self.clone();
        let name = name.to_owned();
        self.set(&name, |h| h.running = true);
        self.tasks.spawn(async move {
            let mut backoff = MIN_BACKOFF;
            let mut quick = 0;
            loop {
                me.set(&name, |h| h.running = true);
                let began = tokio::time::Instant::now();
                let run = tokio::spawn(make());
                me.with(|s| s.runs.insert(name.clone(), run.abort_handle()));
                let outcome = run.await;
                me.with(|s| s.runs.remove(&name));
                let why = match outcome {
                    Ok(Ok(())) if me.cancel.is_cancelled() => None,
                    Ok(Ok(())) => Some("it ended".to_owned()),
                    Ok(Err(e)) => Some(format!("{e:#}")),
                    Err(e) if e.is_cancelled() => Some("it was killed".to_owned()),
                    Err(e) => Some(panic_text(e)),
                };
                me.set(&name, |h| {
                    h.running = false;
                    if why.is_some() {
                        h.last_error.clone_from(&why);
                    }
                });
                let Some(why) = why else { return };
                if me.cancel.is_cancelled() {
                    tracing::error!(task = %name, error = %why, "Task failed while stopping.");
                    return;
                }
                if began.elapsed() >= STABLE {
                    (backoff, quick) = (MIN_BACKOFF, 0);
                }
                quick += 1;
                if policy == Policy::Critical || quick > MAX_QUICK_FAILURES {
                    let give_up = format!("task `{name}` stopped ({why}) and cannot be restarted");
                    tracing::error!(task = %name, error = %why, "Task cannot be restarted; nomhub stops.");
                    me.with(|s| s.failed.get_or_insert(give_up.clone()).clone());
                    me.failed.cancel();
                    return;
                }
                tracing::error!(task = %name, error = %why, retry_in = ?backoff, "Task stopped; restarting it.");
                tokio::select! {
                    () = tokio::time::sleep(backoff) => {}
                    () = me.cancel.cancelled() => return,
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
                me.set(&name, |h| h.restarts += 1);
            }
        })
    }
}

/// A task that cannot fail (only panic) as the supervisor runs it.
pub async fn infallible(task: impl Future<Output = ()>) -> anyhow::Result<()> {
    task.await;
    Ok(())
}

fn panic_text(e: tokio::task::JoinError) -> String {
    if !e.is_panic() {
        return e.to_string();
    }
    let payload = e.into_panic();
    let text = payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "no message".to_owned());
    format!("panicked: {text}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    fn setup() -> (Supervisor, TaskTracker, CancellationToken) {
        let (tasks, cancel) = (TaskTracker::new(), CancellationToken::new());
        (Supervisor::new(&tasks, &cancel), tasks, cancel)
    }

    /// A task that fails `n` times (by error, then by panic), then runs until cancelled.
    fn flaky(
        n: u32,
        runs: Arc<AtomicU32>,
        cancel: CancellationToken,
    ) -> impl FnMut() -> std::pin::Pin<Box<dyn Future<Output = anyhow::Result<()>> + Send>> {
        move || {
            let (runs, cancel) = (runs.clone(), cancel.clone());
            Box::pin(async move {
                let run = runs.fetch_add(1, Ordering::SeqCst);
                match run {
                    r if r < n && r % 2 == 0 => anyhow::bail!("store unreadable"),
                    r if r < n => panic!("bug number {r}"),
                    _ => {
                        cancel.cancelled().await;
                        Ok(())
                    }
                }
            })
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_failing_task_is_restarted_with_doubling_backoff() {
        let (sup, tasks, cancel) = setup();
        let runs = Arc::new(AtomicU32::new(0));
        let began = tokio::time::Instant::now();
        sup.spawn(
            "ledger",
            Policy::Restart,
            flaky(3, runs.clone(), cancel.clone()),
        );
        while runs.load(Ordering::SeqCst) < 4 {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // 1 s + 2 s + 4 s of backoff before the fourth start.
        let waited = began.elapsed();
        assert!(
            waited >= Duration::from_secs(7) && waited < Duration::from_secs(8),
            "{waited:?}"
        );
        let h = &sup.health()["ledger"];
        assert!(h.running);
        assert_eq!(h.restarts, 3);
        assert_eq!(h.last_error.as_deref(), Some("store unreadable"));
        assert!(!sup.failed().is_cancelled());
        cancel.cancel();
        tasks.close();
        tasks.wait().await;
        let h = &sup.health()["ledger"];
        assert!(!h.running);
        assert_eq!(sup.failure(), None);
    }

    #[tokio::test(start_paused = true)]
    async fn a_panic_is_reported_with_its_message() {
        let (sup, _tasks, cancel) = setup();
        let runs = Arc::new(AtomicU32::new(1));
        sup.spawn(
            "mqtt",
            Policy::Restart,
            flaky(2, runs.clone(), cancel.clone()),
        );
        while runs.load(Ordering::SeqCst) < 3 {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(
            sup.health()["mqtt"].last_error.as_deref(),
            Some("panicked: bug number 1")
        );
        cancel.cancel();
    }

    #[tokio::test(start_paused = true)]
    async fn a_task_that_keeps_failing_is_given_up_and_nomhub_ends() {
        let (sup, _tasks, cancel) = setup();
        let runs = Arc::new(AtomicU32::new(0));
        sup.spawn(
            "ledger",
            Policy::Restart,
            flaky(u32::MAX, runs.clone(), cancel.clone()),
        );
        sup.failed().cancelled().await;
        assert_eq!(runs.load(Ordering::SeqCst), MAX_QUICK_FAILURES + 1);
        let why = sup.failure().unwrap_or_default();
        assert!(why.contains("task `ledger` stopped"), "{why}");
        assert!(!sup.health()["ledger"].running);
    }

    #[tokio::test(start_paused = true)]
    async fn a_killed_task_is_restarted() {
        let (sup, _tasks, cancel) = setup();
        let runs = Arc::new(AtomicU32::new(0));
        sup.spawn(
            "bus",
            Policy::Restart,
            flaky(0, runs.clone(), cancel.clone()),
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(sup.kill("bus"));
        assert!(!sup.kill("no such task"));
        while runs.load(Ordering::SeqCst) < 2 {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let h = &sup.health()["bus"];
        assert!(h.running);
        assert_eq!(h.restarts, 1);
        assert_eq!(h.last_error.as_deref(), Some("it was killed"));
        cancel.cancel();
    }

    #[tokio::test(start_paused = true)]
    async fn a_critical_task_ends_nomhub_at_its_first_stop() {
        let (sup, _tasks, cancel) = setup();
        let runs = Arc::new(AtomicU32::new(0));
        sup.spawn(
            "state",
            Policy::Critical,
            flaky(1, runs.clone(), cancel.clone()),
        );
        sup.failed().cancelled().await;
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        assert_eq!(sup.health()["state"].restarts, 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_task_that_ends_on_cancel_is_not_restarted() {
        let (sup, tasks, cancel) = setup();
        let runs = Arc::new(AtomicU32::new(0));
        sup.spawn(
            "poller",
            Policy::Restart,
            flaky(0, runs.clone(), cancel.clone()),
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
        cancel.cancel();
        tasks.close();
        tasks.wait().await;
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        assert_eq!(sup.health()["poller"].last_error, None);
        assert!(!sup.failed().is_cancelled());
    }
}
