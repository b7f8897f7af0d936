//! Sessions, CSRF tokens and the slow-down after failed logins.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use argon2::password_hash::rand_core::{OsRng, RngCore};

/// A session ends after this long without a request.
const IDLE: Duration = Duration::from_secs(30 * 24 * 3600);
/// The first failed login costs this much on the next try; each one more doubles it …
const FIRST_DELAY: Duration = Duration::from_millis(500);
/// … up to this.
const MAX_DELAY: Duration = Duration::from_secs(16);
/// Failures older than this are forgotten.
const FAILURE_MEMORY: Duration = Duration::from_secs(15 * 60);

/// 32 random bytes from the operating system, hex.
pub fn token() -> String {
    let mut b = [0u8; 32];
    OsRng.fill_bytes(&mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[derive(Debug, Clone)]
pub struct Session {
    pub user: String,
    /// Every form and every API write carries this.
    pub csrf: String,
    /// The user's password hash when the session began.
    pub stamp: String,
    seen: Instant,
}

#[derive(Default)]
pub struct Sessions {
    by_token: Mutex<HashMap<String, Session>>,
    /// Failed logins per user name: how many, and the last.
    failures: Mutex<HashMap<String, (u32, Instant)>>,
}

impl Sessions {
    /// Starts a session; returns its token.
    pub fn start(&self, user: &str, stamp: String) -> String {
        let t = token();
        let s = Session {
            user: user.to_owned(),
            csrf: token(),
            stamp,
            seen: Instant::now(),
        };
        let mut map = self.by_token.lock().unwrap_or_else(|p| p.into_inner());
        map.retain(|_, s| s.seen.elapsed() < IDLE);
        map.insert(t.clone(), s);
        t
    }

    /// The session of `token`, if it is current.
    pub fn get(&self, token: &str) -> Option<Session> {
        let mut map = self.by_token.lock().unwrap_or_else(|p| p.into_inner());
        let s = map.get_mut(token)?;
        if s.seen.elapsed() >= IDLE {
            map.remove(token);
            return None;
        }
        s.seen = Instant::now();
        Some(s.clone())
    }

    pub fn end(&self, token: &str) {
        let mut map = self.by_token.lock().unwrap_or_else(|p| p.into_inner());
        map.remove(token);
    }

    /// How long a login for `user` must wait before it is checked.
    pub fn delay(&self, user: &str) -> Duration {
        let map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        match map.get(user) {
            Some((n, last)) if last.elapsed() < FAILURE_MEMORY => {
                let d = FIRST_DELAY.saturating_mul(1 << (n - 1).min(10));
                d.min(MAX_DELAY)
            }
            _ => Duration::ZERO,
        }
    }

    pub fn failed(&self, user: &str) {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let e = map.entry(user.to_owned()).or_insert((0, Instant::now()));
        if e.1.elapsed() >= FAILURE_MEMORY {
            e.0 = 0;
        }
        e.0 += 1;
        e.1 = Instant::now();
    }

    pub fn succeeded(&self, user: &str) {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        map.remove(user);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_and_differ() {
        let (a, b) = (token(), token());
        assert_eq!(a.len(), 64);
        assert_ne!(a, b);
    }

    #[test]
    fn failed_logins_double_the_wait_and_a_success_clears_it() {
        let s = Sessions::default();
        assert_eq!(s.delay("anna"), Duration::ZERO);
        s.failed("anna");
        assert_eq!(s.delay("anna"), FIRST_DELAY);
        s.failed("anna");
        s.failed("anna");
        assert_eq!(s.delay("anna"), FIRST_DELAY * 4);
        for _ in 0..20 {
            s.failed("anna");
        }
        assert_eq!(s.delay("anna"), MAX_DELAY);
        assert_eq!(s.delay("bob"), Duration::ZERO);
        s.succeeded("anna");
        assert_eq!(s.delay("anna"), Duration::ZERO);
    }

    #[test]
    fn a_session_is_found_by_its_token_until_it_ends() {
        let s = Sessions::default();
        let t = s.start("anna", "stamp".into());
        let got = s.get(&t).unwrap_or_else(|| panic!("no session"));
        assert_eq!(got.user, "anna");
        assert_eq!(got.csrf.len(), 64);
        assert!(s.get("nope").is_none());
        s.end(&t);
        assert!(s.get(&t).is_none());
    }
}
