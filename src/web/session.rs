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
/// A login that would have to wait longer than this is refused at once: guesses cannot
/// push a name's next check further away, so nobody locks the resident out for long.
const MAX_WAIT: Duration = Duration::from_secs(32);
/// User names whose tries are remembered; beyond it the oldest is forgotten (a flood of
/// made-up names costs no memory).
const MAX_TRACKED: usize = 1024;

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
    /// Login tries per user name.
    tries: Mutex<HashMap<String, Tries>>,
}

/// A name's login tries that failed or are under way, and when the next may be checked.
#[derive(Debug, Clone, Copy)]
struct Tries {
    n: u32,
    next: Instant,
    last: Instant,
}

/// The wait after `n` tries: none after none, then doubling from [`FIRST_DELAY`] up to
/// [`MAX_DELAY`].
fn delay_after(n: u32) -> Duration {
    if n == 0 {
        return Duration::ZERO;
    }
    FIRST_DELAY
        .saturating_mul(1 << (n - 1).min(10))
        .min(MAX_DELAY)
}

/// Too many tries for a name: the next check is further away than [`MAX_WAIT`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooMany {
    pub retry_in: Duration,
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

    /// Books a login try for `user`: how long it must wait before its password is
    /// checked. Each try, also one still under way, pushes the name's next check back by
    /// the doubling delay, so guesses sent in parallel wait as long as guesses sent one
    /// after another; a try that would wait longer than [`MAX_WAIT`] is refused.
    pub fn reserve(&self, user: &str) -> Result<Duration, TooMany> {
        let now = Instant::now();
        let mut map = self.tries.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= MAX_TRACKED && !map.contains_key(user) {
            map.retain(|_, t| t.last.elapsed() < FAILURE_MEMORY);
            if map.len() >= MAX_TRACKED
                && let Some(oldest) = map
                    .iter()
                    .min_by_key(|(_, t)| t.last)
                    .map(|(k, _)| k.clone())
            {
                map.remove(&oldest);
            }
        }
        let fresh = Tries {
            n: 0,
            next: now,
            last: now,
        };
        let t = map.entry(user.to_owned()).or_insert(fresh);
        if t.last.elapsed() >= FAILURE_MEMORY {
            *t = fresh;
        }
        let at = t.next.max(now);
        let wait = at - now;
        if wait > MAX_WAIT {
            return Err(TooMany { retry_in: wait });
        }
        t.n += 1;
        t.next = at + delay_after(t.n);
        t.last = now;
        Ok(wait)
    }

    /// A wrong password: the name's next check waits the delay from now, not only from
    /// when this try was booked (a check takes its time too).
    pub fn failed(&self, user: &str) {
        let now = Instant::now();
        let mut map = self.tries.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(t) = map.get_mut(user) {
            t.next = t.next.max(now + delay_after(t.n));
            t.last = now;
        }
    }

    /// A right password: the name's tries are forgotten.
    pub fn succeeded(&self, user: &str) {
        let mut map = self.tries.lock().unwrap_or_else(|p| p.into_inner());
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
    fn tries_double_the_wait_even_in_parallel_and_a_success_clears_it() {
        let s = Sessions::default();
        // Five tries at once: each waits for the ones before it.
        let waits: Vec<Duration> = (0..5)
            .map(|_| s.reserve("anna").unwrap_or_else(|e| panic!("{e:?}")))
            .collect();
        let ms: Vec<u128> = waits.iter().map(Duration::as_millis).collect();
        // 0, then 0.5 s, +1 s, +2 s, +4 s (within the time the test itself took).
        for (got, want) in ms.iter().zip([0u128, 500, 1500, 3500, 7500]) {
            assert!(got.abs_diff(want) < 50, "{ms:?}");
        }
        assert_eq!(s.reserve("bob"), Ok(Duration::ZERO), "per name");
        // One after another: a wrong password makes the next try wait from its end.
        s.failed("bob");
        let w = s.reserve("bob").unwrap_or_else(|e| panic!("{e:?}"));
        assert!(w.as_millis().abs_diff(500) < 50, "{w:?}");
        // More than MAX_WAIT ahead: refused at once, and booking nothing.
        let mut refused = None;
        for _ in 0..20 {
            if let Err(e) = s.reserve("anna") {
                refused = Some(e);
                break;
            }
        }
        let refused = refused.unwrap_or_else(|| panic!("never refused"));
        assert!(refused.retry_in > MAX_WAIT && refused.retry_in <= MAX_WAIT + MAX_DELAY);
        assert_eq!(
            s.reserve("anna").map_err(|e| e.retry_in > MAX_WAIT),
            Err(true)
        );
        s.succeeded("anna");
        assert_eq!(s.reserve("anna"), Ok(Duration::ZERO));
    }

    #[test]
    fn a_flood_of_made_up_names_is_not_remembered_without_bound() {
        let s = Sessions::default();
        for i in 0..(MAX_TRACKED + 500) {
            s.reserve(&format!("user{i}"))
                .unwrap_or_else(|e| panic!("{e:?}"));
        }
        let map = s.tries.lock().unwrap_or_else(|p| p.into_inner());
        assert!(map.len() <= MAX_TRACKED, "{}", map.len());
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
