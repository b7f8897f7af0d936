//! The resident's dashboard and REST API (docs/dashboard.md): warp on one address,
//! pages rendered here, every asset embedded, live values over Server-Sent Events.

pub mod api;
mod auth;
mod forms;
mod handlers;
pub mod ops;
pub mod pages;
mod reads;
pub mod session;
pub mod users;

use auth::{change_password, forbidden, login, login_page, logout};
use forms::change_strategy;
use handlers::{account, contact, dwelling, graphs, live_stream, manual, overview, switch_lang};
use reads::{Who, answer, which};

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use warp::http::StatusCode;
use warp::reply::Response;
use warp::{Filter, Reply};

use crate::config::{Auth, WebSetup};
use crate::ledger::{History, LedgerStatus, Period, PeriodKind, Position};
use crate::store::Store;
use crate::strategy::{Change, Setting, Settings};
use crate::views::Views;
use pages::Lang;
use session::{Session, Sessions};

const SESSION: &str = "nomhub_session";
const LOGIN_CSRF: &str = "nomhub_login";
const LANG: &str = "lang";
const CSS: &str = include_str!("assets/app.css");
const JS: &str = include_str!("assets/app.js");
/// The icon (a house under the sun), drawn for nomhub; the PNGs are this SVG rendered
/// by Chromium at 192 and 512 px, for phones' home screens.
const ICON_SVG: &str = include_str!("assets/icon.svg");
const ICON_192: &[u8] = include_bytes!("assets/icon-192.png");
const ICON_512: &[u8] = include_bytes!("assets/icon-512.png");
/// What a phone needs to put the dashboard on its home screen as an app.
const MANIFEST: &str = r##"{"name":"nomhub","short_name":"nomhub","start_url":"/","scope":"/","display":"standalone","background_color":"#f6f7f4","theme_color":"#1f4d2b","icons":[{"src":"/assets/icon.svg","sizes":"any","type":"image/svg+xml"},{"src":"/assets/icon-192.png","sizes":"192x192","type":"image/png"},{"src":"/assets/icon-512.png","sizes":"512x512","type":"image/png","purpose":"any maskable"}]}"##;
/// The Live stream sends at most this often.
const STREAM_EVERY: Duration = Duration::from_millis(500);

/// What the pages read.
#[derive(Clone)]
pub struct Feeds {
    /// The house: snapshot, ledger (with its queries), strategy, control, flows.
    pub views: Views,
    /// Address, manuals, guarantees and contacts.
    pub home: Arc<crate::config::Home>,
    /// The tasks and the MQTT link, for `/api/health` and `/metrics`.
    pub ops: ops::OpsFeeds,
}

struct Web {
    auth: Auth,
    /// Whether `/metrics` is served.
    metrics: bool,
    feeds: Feeds,
    store: Option<Store>,
    sessions: Sessions,
    /// Password checks run one at a time (each takes some 19 MiB and tens of ms).
    checks: tokio::sync::Semaphore,
    /// The forms' token when nobody logs in (`auth = "none"`).
    open_csrf: String,
    cancel: CancellationToken,
}

/// The dashboard's socket, bound before anything else starts so that a taken address
/// stops nomhub at once with a clear error. Call inside the runtime.
pub struct Listener {
    inner: tokio::net::TcpListener,
    addr: SocketAddr,
}

impl Listener {
    pub fn bind(listen: SocketAddr) -> anyhow::Result<Self> {
        let cannot = |e: std::io::Error| anyhow::anyhow!("web: cannot listen on {listen}: {e}");
        let std_listener = std::net::TcpListener::bind(listen).map_err(cannot)?;
        std_listener.set_nonblocking(true).map_err(cannot)?;
        let inner = tokio::net::TcpListener::from_std(std_listener).map_err(cannot)?;
        let addr = inner.local_addr()?;
        Ok(Self { inner, addr })
    }

    /// The address bound (the port chosen, for port 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

/// The dashboard: its routes over the feeds, and its sessions, which outlive a restart
/// of the server task.
#[derive(Clone)]
pub struct Site {
    web: Arc<Web>,
}

impl Site {
    pub fn new(
        setup: &WebSetup,
        feeds: Feeds,
        store: Option<Store>,
        cancel: CancellationToken,
    ) -> Self {
        let web = Arc::new(Web {
            auth: setup.auth,
            metrics: setup.metrics,
            feeds,
            store,
            sessions: Sessions::default(),
            checks: tokio::sync::Semaphore::new(1),
            open_csrf: session::token(),
            cancel,
        });
        Self { web }
    }

    /// Serves on `listener` (bound by [`Listener::bind`]; bound again on `addr` when
    /// it is `None`, as after a restart) until `cancel`.
    pub async fn serve(
        &self,
        listener: Option<Listener>,
        addr: SocketAddr,
        cancel: CancellationToken,
    ) -> anyhow::Result<()> {
        let listener = match listener {
            Some(l) => l,
            None => Listener::bind(addr)?,
        };
        serve(listener.inner, routes(self.web.clone()), cancel).await;
        Ok(())
    }
}

/// warp's own loop, with one difference: a client that goes away in the middle of an
/// answer (a phone locked, a tab closed on the Live stream) is normal and logged at
/// debug, not as an error. Stops accepting at `cancel` and waits for the answers under
/// way (the Live stream ends at `cancel` too).
async fn serve(
    listener: tokio::net::TcpListener,
    routes: warp::filters::BoxedFilter<(Response,)>,
    cancel: CancellationToken,
) {
    use hyper_util::rt::{TokioExecutor, TokioIo};
    use hyper_util::server::conn::auto::Builder;
    use hyper_util::server::graceful::GracefulShutdown;
    use hyper_util::service::TowerToHyperService;
    let service = warp::service(routes);
    let graceful = GracefulShutdown::new();
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Out of file descriptors, say: wait a moment rather than spin.
                    tracing::warn!("web: cannot accept a connection: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = cancel.cancelled() => break,
        };
        let service = TowerToHyperService::new(service.clone());
        let connection = Builder::new(TokioExecutor::new())
            .serve_connection_with_upgrades(TokioIo::new(stream), service)
            .into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                if client_went_away(e.as_ref()) {
                    tracing::debug!("web: {peer} went away during an answer: {e}");
                } else {
                    tracing::warn!("web: connection from {peer}: {e}");
                }
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

/// Whether a connection's error is only the client closing it: mid-answer, or reset.
fn client_went_away(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(e);
    while let Some(c) = cause {
        if let Some(h) = c.downcast_ref::<hyper::Error>()
            && (h.is_incomplete_message() || h.is_canceled() || h.is_closed())
        {
            return true;
        }
        if let Some(io) = c.downcast_ref::<std::io::Error>()
            && matches!(
                io.kind(),
                std::io::ErrorKind::ConnectionReset
                    | std::io::ErrorKind::BrokenPipe
                    | std::io::ErrorKind::ConnectionAborted
            )
        {
            return true;
        }
        cause = c.source();
    }
    false
}

type Form = HashMap<String, String>;

fn routes(web: Arc<Web>) -> warp::filters::BoxedFilter<(Response,)> {
    let with = warp::any().map(move || web.clone());
    let session = warp::cookie::optional::<String>(SESSION);
    let lang = warp::cookie::optional::<String>(LANG)
        .map(|l: Option<String>| l.as_deref().and_then(Lang::parse).unwrap_or(Lang::Nl));
    let query = warp::query::<Form>();
    let form = warp::body::content_length_limit(8 * 1024).and(warp::body::form::<Form>());

    let css = warp::path!("assets" / "app.css").map(|| asset(CSS, "text/css; charset=utf-8"));
    let js = warp::path!("assets" / "app.js").map(|| asset(JS, "text/javascript; charset=utf-8"));
    let icons = warp::path!("assets" / "icon.svg")
        .map(|| asset(ICON_SVG, "image/svg+xml"))
        .or(warp::path!("assets" / "icon-192.png").map(|| asset(ICON_192, "image/png")))
        .unify()
        .or(warp::path!("assets" / "icon-512.png").map(|| asset(ICON_512, "image/png")))
        .unify()
        // Browsers ask for /favicon.ico whatever the page says.
        .or(warp::path!("favicon.ico").map(|| asset(ICON_192, "image/png")))
        .unify()
        .or(warp::path!("manifest.webmanifest")
            .map(|| asset(MANIFEST, "application/manifest+json")))
        .unify();
    // The path before the method, so a path nobody serves is a 404, not a 405.
    let login_page = warp::path!("login")
        .and(get_or_head())
        .and(query)
        .and(warp::cookie::optional::<String>(LOGIN_CSRF))
        .and(lang)
        .map(login_page);
    let login = warp::path!("login")
        .and(warp::post())
        .and(form)
        .and(warp::cookie::optional::<String>(LOGIN_CSRF))
        .and(with.clone())
        .then(login);
    let logout = warp::path!("logout")
        .and(warp::post())
        .and(form)
        .and(session)
        .and(with.clone())
        .map(logout);
    let switch = warp::path!("lang" / String)
        .and(get_or_head())
        .and(query)
        .map(switch_lang);
    let overview = warp::path::end()
        .and(get_or_head())
        .and(query)
        .and(session)
        .and(lang)
        .and(with.clone())
        .map(overview);
    let graphs = warp::path!("graphs")
        .and(get_or_head())
        .and(query)
        .and(session)
        .and(lang)
        .and(with.clone())
        .map(graphs);
    let account = warp::path!("account")
        .and(get_or_head())
        .and(query)
        .and(session)
        .and(lang)
        .and(with.clone())
        .map(account);
    let strategy_form = warp::path!("strategy")
        .and(warp::post())
        .and(form)
        .and(session)
        .and(with.clone())
        .then(change_strategy);
    let password = warp::path!("account" / "password")
        .and(warp::post())
        .and(form)
        .and(session)
        .and(with.clone())
        .then(change_password);
    let dwelling = warp::path!("dwelling")
        .and(get_or_head())
        .and(session)
        .and(lang)
        .and(with.clone())
        .map(dwelling);
    let contact = warp::path!("contact")
        .and(get_or_head())
        .and(session)
        .and(lang)
        .and(with.clone())
        .map(contact);
    let manual = warp::path!("manuals" / String)
        .and(get_or_head())
        .and(session)
        .and(with.clone())
        .then(manual);
    let api = warp::path!("api" / "v1" / ..)
        .and(get_or_head())
        .and(session)
        .and(with.clone())
        .and_then(|s: Option<String>, web: Arc<Web>| async move {
            match web.who(s.as_deref()) {
                Some(_) => Ok(web),
                None => Err(warp::reject::custom(NoSession)),
            }
        });
    let live = api
        .clone()
        .and(warp::path!("live"))
        .map(|web: Arc<Web>| json(web.live()));
    let stream = api
        .clone()
        .and(warp::path!("live" / "stream"))
        .map(live_stream);
    let bundles = api
        .clone()
        .and(warp::path!("bundles"))
        .and(query)
        .map(|web: Arc<Web>, q: Form| web.bundles_reply(&q));
    let history = api
        .clone()
        .and(warp::path!("history"))
        .and(query)
        .map(|web: Arc<Web>, q: Form| web.history_reply(&q));
    let strategy = api
        .clone()
        .and(warp::path!("strategy"))
        .map(|web: Arc<Web>| json(web.strategy()));
    let settlement = api
        .clone()
        .and(warp::path!("settlement"))
        .map(|web: Arc<Web>| answer(web.settlement(), json));
    let prices = api
        .clone()
        .and(warp::path!("prices"))
        .map(|web: Arc<Web>| match web.prices() {
            Some(p) => json(p),
            None => error(
                StatusCode::NOT_FOUND,
                "no [tariff] in the config, or the ledger has not reported yet",
            ),
        });
    let guarantees = api
        .clone()
        .and(warp::path!("guarantees"))
        .map(|web: Arc<Web>| json(web.guarantees()));
    let year_bundles = api
        .clone()
        .and(warp::path!("year-bundles"))
        .map(|web: Arc<Web>| answer(Ok(web.year_bundles()), json));
    let dwelling_api = api
        .and(warp::path!("dwelling"))
        .map(|web: Arc<Web>| json(api::dwelling(&web.feeds.home)));
    // For monitors and scrapers: no login (they say how nomhub runs; /metrics also the
    // energy totals, so `[web] metrics = false` turns it off).
    let health = warp::path!("api" / "health")
        .and(get_or_head())
        .and(with.clone())
        .map(|web: Arc<Web>| {
            let h = ops::health(&web.feeds);
            let code = match h.status {
                "failing" => StatusCode::SERVICE_UNAVAILABLE,
                _ => StatusCode::OK,
            };
            warp::reply::with_status(json(h), code).into_response()
        });
    let metrics = warp::path!("metrics")
        .and(get_or_head())
        .and(with.clone())
        .and_then(|web: Arc<Web>| async move {
            if !web.metrics {
                return Err(warp::reject::not_found());
            }
            let r = warp::reply::with_header(
                ops::metrics(&web.feeds),
                "content-type",
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            );
            Ok(r.into_response())
        });
    // Each route boxed on its own: one long `or` chain makes warp's types (and the
    // compile time) explode.
    let rest: Vec<warp::filters::BoxedFilter<(Response,)>> = vec![
        js.boxed(),
        icons.boxed(),
        login_page.boxed(),
        login.boxed(),
        logout.boxed(),
        switch.boxed(),
        overview.boxed(),
        graphs.boxed(),
        account.boxed(),
        dwelling.boxed(),
        contact.boxed(),
        manual.boxed(),
        password.boxed(),
        strategy_form.boxed(),
        live.boxed(),
        stream.boxed(),
        bundles.boxed(),
        history.boxed(),
        strategy.boxed(),
        settlement.boxed(),
        prices.boxed(),
        guarantees.boxed(),
        year_bundles.boxed(),
        dwelling_api.boxed(),
        health.boxed(),
        metrics.boxed(),
    ];
    let all = rest
        .into_iter()
        .fold(css.boxed(), |a, b| a.or(b).unify().boxed());
    all.recover(recover).unify().map(secure).boxed()
}

#[derive(Debug)]
struct NoSession;
impl warp::reject::Reject for NoSession {}

/// GET, and HEAD for the same answer without its body (hyper leaves the body out).
fn get_or_head() -> impl Filter<Extract = (), Error = warp::Rejection> + Clone {
    warp::get().or(warp::head()).unify()
}

/// The answer to a request no route took. What went wrong with the body comes before the
/// method: `/login` has a GET route beside its POST, whose 405 must not hide the 413.
async fn recover(r: warp::Rejection) -> Result<Response, Infallible> {
    let (status, msg) = if r.find::<NoSession>().is_some() {
        (StatusCode::UNAUTHORIZED, "log in first (POST /login)")
    } else if r.is_not_found() {
        (StatusCode::NOT_FOUND, "not found")
    } else if r.find::<warp::reject::PayloadTooLarge>().is_some() {
        (StatusCode::PAYLOAD_TOO_LARGE, "request too large")
    } else if r.find::<warp::reject::UnsupportedMediaType>().is_some() {
        (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "send the form as application/x-www-form-urlencoded",
        )
    } else if r.find::<warp::reject::LengthRequired>().is_some() {
        (StatusCode::LENGTH_REQUIRED, "the body needs a length")
    } else if r.find::<warp::reject::MethodNotAllowed>().is_some() {
        (StatusCode::METHOD_NOT_ALLOWED, "method not allowed")
    } else {
        (StatusCode::BAD_REQUEST, "bad request")
    };
    Ok(error(status, msg))
}

/// `{"error": msg}` with `status`.
fn error(status: StatusCode, msg: &str) -> Response {
    let body = warp::reply::json(&serde_json::json!({ "error": msg }));
    warp::reply::with_status(body, status).into_response()
}

/// Headers every answer carries.
fn secure(mut r: Response) -> Response {
    let h = r.headers_mut();
    let set = |h: &mut warp::http::HeaderMap, k: &'static str, v: &'static str| {
        h.insert(k, warp::http::HeaderValue::from_static(v));
    };
    set(h, "x-content-type-options", "nosniff");
    set(h, "x-frame-options", "DENY");
    set(h, "referrer-policy", "same-origin");
    set(
        h,
        "content-security-policy",
        "default-src 'self'; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'; form-action 'self'",
    );
    if !h.contains_key("cache-control") {
        set(h, "cache-control", "no-store");
    }
    r
}

fn json<T: serde::Serialize>(t: T) -> Response {
    warp::reply::json(&t).into_response()
}

fn asset(body: impl warp::Reply, kind: &'static str) -> Response {
    let r = warp::reply::with_header(body, "content-type", kind);
    warp::reply::with_header(r, "cache-control", "max-age=3600").into_response()
}

fn redirect(to: &str) -> Response {
    let uri: warp::http::Uri = to
        .parse()
        .unwrap_or_else(|_| warp::http::Uri::from_static("/"));
    warp::redirect::see_other(uri).into_response()
}

/// The cookie that carries a session.
fn session_cookie(token: &str) -> String {
    format!("{SESSION}={token}; HttpOnly; SameSite=Strict; Path=/")
}

fn with_cookie(r: Response, cookie: String) -> Response {
    warp::reply::with_header(r, "set-cookie", cookie).into_response()
}

/// The path a redirect may go to: on this site only.
fn local_path(to: Option<&String>) -> &str {
    match to {
        Some(p) if p.starts_with('/') && !p.starts_with("//") && !p.contains('\\') => p,
        _ => "/",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::sync::Mutex;
    use warp::Filter;

    /// Log lines written during a test, on this thread.
    #[derive(Clone, Default)]
    struct Lines(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Lines {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap_or_else(|p| p.into_inner()).extend(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_client_leaving_a_stream_is_not_an_error() {
        let lines = Lines::default();
        let writer = lines.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_max_level(tracing::Level::DEBUG)
            .finish();
        let _guard = tracing::subscriber::set_default(subscriber);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap_or_else(|e| panic!("{e}"));
        rt.block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            // An endless body, like the Live stream's.
            let cancel = CancellationToken::new();
            let stop = cancel.clone();
            let route = warp::path("stream")
                .map(move || {
                    use futures_util::StreamExt;
                    let ticks = futures_util::stream::repeat_with(|| {
                        Ok::<_, std::convert::Infallible>(warp::sse::Event::default().data("x"))
                    })
                    .take_until(stop.clone().cancelled_owned());
                    warp::sse::reply(ticks).into_response()
                })
                .boxed();
            let server = tokio::spawn(serve(listener, route, cancel.clone()));
            tokio::task::spawn_blocking(move || {
                let mut c = std::net::TcpStream::connect(addr).unwrap();
                c.write_all(b"GET /stream HTTP/1.1\r\nHost: x\r\n\r\n")
                    .unwrap();
                let mut first = [0u8; 64];
                c.read_exact(&mut first).unwrap();
                assert!(first.starts_with(b"HTTP/1.1 200"));
            })
            .await
            .unwrap();
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            cancel.cancel();
            server.await.unwrap();
        });
        let logged = String::from_utf8_lossy(&lines.0.lock().unwrap()).into_owned();
        assert!(logged.contains("went away"), "{logged}");
        assert!(
            !logged.contains("ERROR") && !logged.contains("WARN"),
            "{logged}"
        );
    }
}
