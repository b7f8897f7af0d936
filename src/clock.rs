//! The one place that reads the wall clock.

use std::time::SystemTime;

/// Now, as the system says.
pub fn now() -> SystemTime {
    SystemTime::now()
}
