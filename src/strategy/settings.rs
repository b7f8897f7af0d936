//! The strategy's mode and settings, every setting with its bounds, and the parsing
//! that turns a command payload into a [`Change`] or a clear refusal.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tokio::sync::{Mutex, OwnedMutexGuard, mpsc, oneshot, watch};

/// Longer command payloads are refused unread.
pub const MAX_PAYLOAD: usize = 64;

pub use crate::model::Mode;

/// A number the resident may set, with its bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Setting {
    /// The tank must be at least this warm before every usual draw time.
    ComfortTemperature,
    /// What the tank is charged to with PV surplus.
    SolarTarget,
    /// Compressor starts for hot water, on average per day.
    MaxStartsPerDay,
    /// Shortest compressor run.
    MinRunMinutes,
    /// Shortest pause between two runs.
    MinOffMinutes,
}

/// How a setting is shown and bounded.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bounds {
    pub min: f64,
    pub max: f64,
    pub step: f64,
    pub default: f64,
}

impl Setting {
    pub const ALL: [Setting; 5] = [
        Setting::ComfortTemperature,
        Setting::SolarTarget,
        Setting::MaxStartsPerDay,
        Setting::MinRunMinutes,
        Setting::MinOffMinutes,
    ];

    pub fn key(self) -> &'static str {
        match self {
            Setting::ComfortTemperature => "comfort_temperature",
            Setting::SolarTarget => "solar_target",
            Setting::MaxStartsPerDay => "max_starts_per_day",
            Setting::MinRunMinutes => "min_run_minutes",
            Setting::MinOffMinutes => "min_off_minutes",
        }
    }

    pub fn parse(s: &str) -> Option<Setting> {
        Setting::ALL.into_iter().find(|x| x.key() == s)
    }

    pub fn label(self) -> &'static str {
        match self {
            Setting::ComfortTemperature => "Hot water comfort temperature",
            Setting::SolarTarget => "Hot water solar target",
            Setting::MaxStartsPerDay => "Hot water starts per day",
            Setting::MinRunMinutes => "Hot water minimum run",
            Setting::MinOffMinutes => "Hot water minimum pause",
        }
    }

    /// The unit as Home Assistant writes it.
    pub fn unit(self) -> Option<&'static str> {
        match self {
            Setting::ComfortTemperature | Setting::SolarTarget => Some("°C"),
            Setting::MaxStartsPerDay => None,
            Setting::MinRunMinutes | Setting::MinOffMinutes => Some("min"),
        }
    }

    pub fn bounds(self) -> Bounds {
        let b = |min, max, step, default| Bounds {
            min,
            max,
            step,
            default,
        };
        match self {
            // Below 40 °C water is not comfortable; above 55 °C the COP drops for little gain.
            Setting::ComfortTemperature => b(40.0, 55.0, 0.5, 45.0),
            // 60 °C is the most the model's boost mode gives (MODEL.md).
            Setting::SolarTarget => b(45.0, 60.0, 0.5, 55.0),
            Setting::MaxStartsPerDay => b(1.0, 10.0, 1.0, 2.0),
            Setting::MinRunMinutes => b(5.0, 120.0, 1.0, 20.0),
            Setting::MinOffMinutes => b(5.0, 240.0, 1.0, 60.0),
        }
    }
}

/// The strategy's current mode and settings. Button presses are not settings: they
/// are events handed to the strategy when they arrive, and nothing of them is saved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    pub mode: Mode,
    pub values: BTreeMap<Setting, f64>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            mode: Mode::Smart,
            values: Setting::ALL
                .into_iter()
                .map(|s| (s, s.bounds().default))
                .collect(),
        }
    }
}

impl Settings {
    pub fn get(&self, s: Setting) -> f64 {
        self.values.get(&s).copied().unwrap_or(s.bounds().default)
    }

    /// Applies a mode or a setting; false for a press or a forecast (events, not
    /// settings).
    pub fn apply(&mut self, change: Change) -> bool {
        match change {
            Change::Mode(m) => self.mode = m,
            Change::Set(s, v) => {
                self.values.insert(s, v);
            }
            Change::BoostNow | Change::ForgetHabits | Change::Forecast(_) => return false,
        }
        true
    }
}

/// A checked change to the strategy.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    Mode(Mode),
    Set(Setting, f64),
    BoostNow,
    /// Forget the learned draw pattern and sun profile and learn afresh.
    ForgetHabits,
    /// A new sun forecast (from Home Assistant over MQTT).
    Forecast(std::sync::Arc<super::sun::ForecastMessage>),
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Change::Mode(m) => write!(f, "mode {}", m.as_str()),
            Change::Set(s, v) => write!(f, "{} {v}", s.key()),
            Change::BoostNow => f.write_str("boost now"),
            Change::ForgetHabits => f.write_str("forget the learned habits"),
            Change::Forecast(s) => write!(
                f,
                "sun forecast for {} quarter hours from {}",
                s.pv_w.len(),
                s.start.format("%Y-%m-%d %H:%M UTC")
            ),
        }
    }
}

/// Why a command payload was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CommandError {
    #[error("payload of {len} bytes is longer than {MAX_PAYLOAD}")]
    TooLong { len: usize },
    #[error("payload is not UTF-8 text")]
    NotText,
    #[error("`{text}` is not a number")]
    NotANumber { text: String },
    #[error("{value} is outside {min}..={max}")]
    OutOfRange { value: f64, min: f64, max: f64 },
    #[error("{value} is not a multiple of {step}")]
    OffStep { value: f64, step: f64 },
    #[error("`{text}` is not one of {options}")]
    UnknownOption { text: String, options: String },
    #[error("`{text}` is not PRESS")]
    NotAPress { text: String },
}

fn text(payload: &[u8]) -> Result<&str, CommandError> {
    if payload.len() > MAX_PAYLOAD {
        return Err(CommandError::TooLong { len: payload.len() });
    }
    std::str::from_utf8(payload)
        .map(str::trim)
        .map_err(|_| CommandError::NotText)
}

impl Change {
    /// A mode: the option's name, bare or as a JSON string.
    pub fn mode(payload: &[u8]) -> Result<Change, CommandError> {
        let t = text(payload)?;
        let name = serde_json::from_str::<String>(t).unwrap_or_else(|_| t.to_owned());
        Mode::parse(&name)
            .map(Change::Mode)
            .ok_or_else(|| CommandError::UnknownOption {
                text: name,
                options: Mode::ALL.map(Mode::as_str).join(", "),
            })
    }

    /// A setting: a JSON number within the setting's bounds, on its step.
    pub fn setting(s: Setting, payload: &[u8]) -> Result<Change, CommandError> {
        let t = text(payload)?;
        let value = serde_json::from_str::<f64>(t)
            .map_err(|_| CommandError::NotANumber { text: t.to_owned() })?;
        let b = s.bounds();
        if !(b.min..=b.max).contains(&value) {
            return Err(CommandError::OutOfRange {
                value,
                min: b.min,
                max: b.max,
            });
        }
        let steps = (value - b.min) / b.step;
        if (steps - steps.round()).abs() > 1e-6 {
            return Err(CommandError::OffStep {
                value,
                step: b.step,
            });
        }
        Ok(Change::Set(s, value))
    }

    /// The "boost now" button: Home Assistant sends `PRESS`.
    pub fn press(payload: &[u8]) -> Result<Change, CommandError> {
        pressed(payload, Change::BoostNow)
    }

    /// The "forget the learned habits" button (`PRESS`).
    pub fn forget(payload: &[u8]) -> Result<Change, CommandError> {
        pressed(payload, Change::ForgetHabits)
    }
}

/// `change` when `payload` is a button's `PRESS`.
fn pressed(payload: &[u8], change: Change) -> Result<Change, CommandError> {
    let t = text(payload)?;
    if t == "PRESS" {
        Ok(change)
    } else {
        Err(CommandError::NotAPress { text: t.to_owned() })
    }
}

/// A checked change on its way to the strategy's owner (control), with who asked.
#[derive(Debug)]
pub struct Command {
    pub change: Change,
    /// "mqtt", "web", …
    pub from: &'static str,
    /// Told when the change has been applied and acted on.
    pub done: Option<oneshot::Sender<()>>,
}

/// Where changes go and settings come from; MQTT and the web hold one.
#[derive(Debug, Clone)]
pub struct StrategyHandle {
    commands: mpsc::Sender<Command>,
    pub settings: watch::Receiver<Settings>,
}

/// How long [`StrategyHandle::apply`] waits for the change to be acted on.
const APPLY_WAIT: Duration = Duration::from_secs(2);

impl StrategyHandle {
    /// Hands a checked change to the strategy's owner; `from` says who asked
    /// ("mqtt", "web"). False when nobody takes commands any more (nomhub stops).
    pub async fn change(&self, change: Change, from: &'static str) -> bool {
        let command = Command {
            change,
            from,
            done: None,
        };
        self.commands.send(command).await.is_ok()
    }

    /// As [`change`](Self::change), and waits (up to two seconds) until the owner
    /// has applied the change and acted on it, so a page loaded right after shows it.
    pub async fn apply(&self, change: Change, from: &'static str) -> bool {
        let (done, acted) = oneshot::channel();
        let command = Command {
            change,
            from,
            done: Some(done),
        };
        if self.commands.send(command).await.is_err() {
            return false;
        }
        // Late, or lost to a stopping owner: the change was handed over either way.
        if !matches!(tokio::time::timeout(APPLY_WAIT, acted).await, Ok(Ok(()))) {
            tracing::debug!(from, "The strategy did not confirm the change in time.");
        }
        true
    }
}

/// The owner's side of the commands: the queue (which outlives a restart of its
/// owner: commands sent meanwhile wait) and the settings it publishes.
#[derive(Debug, Clone)]
pub struct Commands {
    queue: Arc<Mutex<mpsc::Receiver<Command>>>,
    pub settings: watch::Sender<Settings>,
}

impl Commands {
    /// The queue, for one owner at a time (a second waits until the first lets go).
    pub async fn take(&self) -> OwnedMutexGuard<mpsc::Receiver<Command>> {
        self.queue.clone().lock_owned().await
    }
}

/// A new command queue with `initial` settings.
pub fn channel(initial: Settings) -> (StrategyHandle, Commands) {
    let (tx, rx) = mpsc::channel(16);
    let (settings_tx, settings) = watch::channel(initial);
    (
        StrategyHandle {
            commands: tx,
            settings,
        },
        Commands {
            queue: Arc::new(Mutex::new(rx)),
            settings: settings_tx,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_accept_bare_or_json_names_only() {
        assert_eq!(Change::mode(b"smart"), Ok(Change::Mode(Mode::Smart)));
        assert_eq!(Change::mode(b"\"boost\""), Ok(Change::Mode(Mode::Boost)));
        assert!(matches!(
            Change::mode(b"turbo"),
            Err(CommandError::UnknownOption { .. })
        ));
        assert!(matches!(
            Change::mode(&[b'a'; 65]),
            Err(CommandError::TooLong { len: 65 })
        ));
        assert_eq!(Change::mode(&[0xff, 0xfe]), Err(CommandError::NotText));
    }

    #[test]
    fn settings_are_numbers_within_bounds_on_their_step() {
        let s = Setting::ComfortTemperature;
        assert_eq!(Change::setting(s, b"47.5"), Ok(Change::Set(s, 47.5)));
        for (payload, ok) in [
            (&b"55"[..], true),
            (b"40", true),
            (b"39.5", false),
            (b"61", false),
            (b"47.2", false),
            (b"{\"value\": 50", false),
            (b"\"50\"", false),
            (b"NaN", false),
            (b"1e400", false),
        ] {
            assert_eq!(
                Change::setting(s, payload).is_ok(),
                ok,
                "{}",
                String::from_utf8_lossy(payload)
            );
        }
        assert!(Change::setting(Setting::MaxStartsPerDay, b"2.5").is_err());
    }

    #[test]
    fn the_button_wants_press() {
        assert_eq!(Change::press(b"PRESS"), Ok(Change::BoostNow));
        assert_eq!(Change::forget(b" PRESS "), Ok(Change::ForgetHabits));
        assert_eq!(
            Change::forget(b"press"),
            Err(CommandError::NotAPress {
                text: "press".to_owned()
            })
        );
        assert!(Change::press(b"press me").is_err());
    }

    #[test]
    fn presses_are_not_settings() {
        let mut s = Settings::default();
        assert!(!s.apply(Change::BoostNow));
        assert!(!s.apply(Change::ForgetHabits));
        assert_eq!(s, Settings::default());
        assert!(s.apply(Change::Mode(Mode::Off)));
        assert_eq!(s.mode, Mode::Off);
    }

    #[test]
    fn settings_saved_with_a_press_by_an_older_nomhub_still_load() {
        let old = r#"{"mode":"boost","values":{},"boost_requested":"2026-11-01T10:00:00Z","forget_requested":null}"#;
        let s: Settings = serde_json::from_str(old).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(s.mode, Mode::Boost);
    }

    #[test]
    fn defaults_lie_within_their_bounds_on_their_step() {
        for s in Setting::ALL {
            let b = s.bounds();
            let text = b.default.to_string();
            assert_eq!(
                Change::setting(s, text.as_bytes()),
                Ok(Change::Set(s, b.default))
            );
        }
    }
}
