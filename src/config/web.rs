//! `[web]`: the resident's dashboard and REST API (docs/dashboard.md).

use std::net::SocketAddr;

use serde::Deserialize;
use toml::Spanned;

use super::ledger::Problem;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebConfig {
    /// Address and port to serve on.
    #[serde(default = "default_listen")]
    pub listen: Spanned<String>,
    /// `users` (log in with a user from `nomhub user add`) or `none` (loopback only).
    #[serde(default = "default_auth")]
    pub auth: Spanned<String>,
    /// Serve Prometheus metrics at `/metrics` (without login).
    #[serde(default = "yes")]
    pub metrics: bool,
}

fn yes() -> bool {
    true
}

fn default_listen() -> Spanned<String> {
    Spanned::new(0..0, "127.0.0.1:8080".to_owned())
}
fn default_auth() -> Spanned<String> {
    Spanned::new(0..0, "users".to_owned())
}

/// Who may see the dashboard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    /// A logged-in user (the users live in the ledger's store).
    Users,
    /// Anyone who can reach the address: only for loopback addresses.
    None,
}

#[derive(Debug, Clone, PartialEq)]
pub struct WebSetup {
    pub listen: SocketAddr,
    pub auth: Auth,
    /// Whether `/metrics` is served.
    pub metrics: bool,
}

pub fn resolve(c: &WebConfig, has_store: bool, problems: &mut Vec<Problem>) -> WebSetup {
    let listen = c
        .listen
        .get_ref()
        .parse::<SocketAddr>()
        .unwrap_or_else(|e| {
            problems.push((
            Some(c.listen.span()),
            format!(
                "web: listen `{}`: {e} (an address and port, e.g. 127.0.0.1:8080 or 0.0.0.0:8080)",
                c.listen.get_ref()
            ),
        ));
            ([127, 0, 0, 1], 8080).into()
        });
    let auth = match c.auth.get_ref().as_str() {
        "users" => Some(Auth::Users),
        "none" => Some(Auth::None),
        other => {
            problems.push((
                Some(c.auth.span()),
                format!("web: auth `{other}` is not `users` or `none`"),
            ));
            None
        }
    };
    if auth == Some(Auth::None) && !listen.ip().is_loopback() {
        problems.push((
            Some(c.auth.span()),
            format!(
                "web: auth = \"none\" serves anyone who reaches {listen}; it is only allowed on a loopback address (127.0.0.1, ::1)"
            ),
        ));
    }
    if auth == Some(Auth::Users) && !has_store {
        problems.push((
            Some(c.auth.span()),
            "web: users live in the ledger's store; add a [ledger] section (or auth = \"none\" on loopback)".to_owned(),
        ));
    }
    WebSetup {
        listen,
        auth: auth.unwrap_or(Auth::Users),
        metrics: c.metrics,
    }
}
