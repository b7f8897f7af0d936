//! The one place that reads the wall clock, and the time zone nomhub lives in.

use std::time::SystemTime;

/// Now, as the system says.
pub fn now() -> SystemTime {
    SystemTime::now()
}
