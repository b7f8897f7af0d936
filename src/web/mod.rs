//! The resident's dashboard and REST API (docs/dashboard.md): warp on one address,
//! pages rendered here, every asset embedded, live values over Server-Sent Events.

pub mod api;
pub mod ops;
pub mod pages;
pub mod session;
pub mod users;

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
        warp::serve(routes(self.web.clone()))
            .incoming(listener.inner)
            .graceful(async move { cancel.cancelled().await })
            .run()
            .await;
        Ok(())
    }
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
    // The path before the method, so a path nobody serves is a 404, not a 405.
    let login_page = warp::path!("login")
        .and(warp::get())
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
        .and(warp::get())
        .and(query)
        .map(switch_lang);
    let overview = warp::path::end()
        .and(warp::get())
        .and(query)
        .and(session)
        .and(lang)
        .and(with.clone())
        .map(overview);
    let graphs = warp::path!("graphs")
        .and(warp::get())
        .and(query)
        .and(session)
        .and(lang)
        .and(with.clone())
        .map(graphs);
    let account = warp::path!("account")
        .and(warp::get())
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
        .and(warp::get())
        .and(session)
        .and(lang)
        .and(with.clone())
        .map(dwelling);
    let contact = warp::path!("contact")
        .and(warp::get())
        .and(session)
        .and(lang)
        .and(with.clone())
        .map(contact);
    let manual = warp::path!("manuals" / String)
        .and(warp::get())
        .and(session)
        .and(with.clone())
        .then(manual);
    let api = warp::path!("api" / "v1" / ..)
        .and(warp::get())
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
        .and(warp::get())
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
        .and(warp::get())
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

async fn recover(r: warp::Rejection) -> Result<Response, Infallible> {
    let (status, msg) = if r.find::<NoSession>().is_some() {
        (StatusCode::UNAUTHORIZED, "log in first (POST /login)")
    } else if r.is_not_found() {
        (StatusCode::NOT_FOUND, "not found")
    } else if r.find::<warp::reject::MethodNotAllowed>().is_some() {
        (StatusCode::METHOD_NOT_ALLOWED, "method not allowed")
    } else if r.find::<warp::reject::PayloadTooLarge>().is_some() {
        (StatusCode::PAYLOAD_TOO_LARGE, "request too large")
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

fn asset(body: &'static str, kind: &'static str) -> Response {
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

/// Which period a request asks for.
#[derive(Debug, Clone, Copy)]
struct Which {
    kind: PeriodKind,
    /// 0: the running period; −1: the one before, and so on.
    offset: i32,
}

/// A page asked for nothing (or something it cannot show): the running month.
impl Default for Which {
    fn default() -> Self {
        Self {
            kind: PeriodKind::Month,
            offset: 0,
        }
    }
}

/// `period` (month, year or settlement; month by default) and `offset` (0 or less).
fn which(q: &Form) -> Result<Which, String> {
    let p = q.get("period").map_or("month", String::as_str);
    let kind = api::period_kind(p)
        .ok_or_else(|| format!("period `{p}` is not month, year or settlement"))?;
    let offset = match q.get("offset") {
        None => 0,
        Some(o) => o
            .parse::<i32>()
            .ok()
            .filter(|o| (-120..=0).contains(o))
            .ok_or_else(|| format!("offset `{o}` is not a whole number from -120 to 0"))?,
    };
    Ok(Which { kind, offset })
}

/// JSON for `Ok(Some)`, 400 for a bad request, 404 without a ledger.
fn answer<T>(r: Result<Option<T>, String>, ok: impl FnOnce(T) -> Response) -> Response {
    match r {
        Ok(Some(t)) => ok(t),
        Ok(None) => error(StatusCode::NOT_FOUND, "no [ledger] in the config"),
        Err(e) => error(StatusCode::BAD_REQUEST, &e),
    }
}

/// Who is asking.
enum Who {
    User(Session),
    /// `auth = "none"`: anyone on loopback.
    Open,
}

impl Web {
    fn who(&self, token: Option<&str>) -> Option<Who> {
        if self.auth == Auth::None {
            return Some(Who::Open);
        }
        let (token, store) = (token?, self.store.as_ref()?);
        let s = self.sessions.get(token)?;
        // A new password (or a removed user) ends every older session.
        match users::stamp(store, &s.user) {
            Ok(Some(stamp)) if stamp == s.stamp => Some(Who::User(s)),
            _ => {
                self.sessions.end(token);
                None
            }
        }
    }

    fn csrf<'a>(&'a self, who: &'a Who) -> &'a str {
        match who {
            Who::User(s) => &s.csrf,
            Who::Open => &self.open_csrf,
        }
    }

    /// The token a page's forms carry; None when nobody logs in (no logout form).
    fn page_csrf<'a>(&'a self, who: &'a Who) -> Option<&'a str> {
        match who {
            Who::User(_) => Some(self.csrf(who)),
            Who::Open => None,
        }
    }

    fn live(&self) -> api::LiveView {
        api::LiveView::from(&self.feeds.views.live())
    }

    /// The period a request asks for, and its bundles (the ledger's queries: the
    /// running period from its status, earlier ones from the store). `Ok(None)`: the
    /// config has no ledger.
    fn positions(&self, w: Which) -> Result<Option<(Period, Vec<Position>)>, String> {
        let Some(l) = &self.feeds.views.ledger else {
            return Ok(None);
        };
        l.positions(w.kind, w.offset)
            .map(Some)
            .map_err(|e| e.to_string())
    }

    fn history(&self, w: Which) -> Result<Option<History>, String> {
        let Some(l) = &self.feeds.views.ledger else {
            return Ok(None);
        };
        l.history(w.kind, w.offset)
            .map(Some)
            .map_err(|e| e.to_string())
    }

    fn bundles_reply(&self, q: &Form) -> Response {
        answer(which(q).and_then(|w| self.positions(w)), |(_, p)| {
            json(api::bundles(&p))
        })
    }

    fn history_reply(&self, q: &Form) -> Response {
        answer(which(q).and_then(|w| self.history(w)), json)
    }

    /// The ledger's last status; `Ok(None)` without a ledger.
    fn ledger_status(&self) -> Result<Option<Arc<LedgerStatus>>, String> {
        let Some(l) = self.feeds.views.ledger.as_ref() else {
            return Ok(None);
        };
        l.current().map(Some).map_err(|e| e.to_string())
    }

    fn settlement(&self) -> Result<Option<api::SettlementView>, String> {
        Ok(self.ledger_status()?.and_then(|s| api::settlement(&s)))
    }

    fn guarantees(&self) -> api::GuaranteesView {
        let status = self.ledger_status().ok().flatten();
        api::guarantees(
            &self.feeds.home,
            status.as_deref(),
            self.feeds
                .views
                .ledger
                .as_ref()
                .and_then(|l| l.setup().budgets.get(&crate::ledger::BundleId::Pv))
                .map(crate::ledger::Budget::yearly),
            &self.live(),
        )
    }

    fn year_bundles(&self) -> Option<Vec<api::YearBundle>> {
        self.feeds
            .views
            .ledger
            .as_ref()
            .map(|l| api::year_bundles(l.setup()))
    }

    fn strategy(&self) -> api::StrategyView {
        let settings = self.feeds.views.strategy.settings.borrow().clone();
        let control = self
            .feeds
            .views
            .control
            .as_ref()
            .map(|c| c.borrow().clone());
        api::strategy(&settings, control.as_ref())
    }
}

fn login_page(q: Form, cookie: Option<String>, lang: Lang) -> Response {
    let token = cookie
        .filter(|c| c.len() == 64)
        .unwrap_or_else(session::token);
    let html = pages::login(lang, &token, q.contains_key("failed"));
    with_cookie(
        warp::reply::html(html).into_response(),
        format!("{LOGIN_CSRF}={token}; HttpOnly; SameSite=Strict; Path=/login"),
    )
}

async fn login(form: Form, cookie: Option<String>, web: Arc<Web>) -> Response {
    let sent = form.get("csrf");
    if cookie.is_none() || sent != cookie.as_ref() {
        return forbidden("the form's token does not match; reload the login page");
    }
    let (Some(user), Some(password), Some(store)) =
        (form.get("user"), form.get("password"), web.store.as_ref())
    else {
        return redirect("/login?failed=1");
    };
    tokio::time::sleep(web.sessions.delay(user)).await;
    let (store, u, p) = (store.clone(), user.clone(), password.clone());
    let checked = tokio::task::spawn_blocking(move || users::verify(&store, &u, &p)).await;
    match checked {
        Ok(Ok(Some(stamp))) => {
            web.sessions.succeeded(user);
            let token = web.sessions.start(user, stamp);
            tracing::info!(user = %user, "Logged in to the dashboard.");
            with_cookie(redirect("/"), session_cookie(&token))
        }
        Ok(Ok(None)) => {
            web.sessions.failed(user);
            tracing::warn!(user = %user, "Failed dashboard login.");
            redirect("/login?failed=1")
        }
        Ok(Err(e)) => {
            tracing::error!(error = %e, "Reading the users failed.");
            warp::reply::with_status("store problem", StatusCode::INTERNAL_SERVER_ERROR)
                .into_response()
        }
        Err(e) => {
            tracing::error!(error = %e, "The password check stopped.");
            warp::reply::with_status("internal error", StatusCode::INTERNAL_SERVER_ERROR)
                .into_response()
        }
    }
}

fn forbidden(why: &str) -> Response {
    warp::reply::with_status(why.to_owned(), StatusCode::FORBIDDEN).into_response()
}

fn logout(form: Form, token: Option<String>, web: Arc<Web>) -> Response {
    let Some(who) = web.who(token.as_deref()) else {
        return redirect("/login");
    };
    if form.get("csrf").map(String::as_str) != Some(web.csrf(&who)) {
        return forbidden("the form's token does not match; reload the page");
    }
    if let Some(t) = token {
        web.sessions.end(&t);
    }
    with_cookie(
        redirect("/login"),
        format!("{SESSION}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0"),
    )
}

fn switch_lang(code: String, q: Form) -> Response {
    let lang = Lang::parse(&code).unwrap_or(Lang::Nl);
    with_cookie(
        redirect(local_path(q.get("to"))),
        format!(
            "{LANG}={}; SameSite=Strict; Path=/; Max-Age=31536000",
            lang.as_str()
        ),
    )
}

fn overview(q: Form, token: Option<String>, lang: Lang, web: Arc<Web>) -> Response {
    let Some(who) = web.who(token.as_deref()) else {
        return redirect("/login");
    };
    let w = which(&q).unwrap_or_default();
    let live = web.live();
    let (period, bundles) = match web.positions(w) {
        Ok(Some((period, positions))) => (Some(period), Some(api::bundles(&positions))),
        Ok(None) => (None, None),
        Err(_) => (None, Some(Vec::new())),
    };
    let strategy = web.strategy();
    let settlement = web.settlement().ok().flatten();
    let guarantees = web.guarantees();
    let now = web.ledger_status().ok().flatten().and_then(|s| s.at);
    let csrf = web.page_csrf(&who);
    let html = pages::overview(
        lang,
        &pages::Overview {
            live: &live,
            kind: w.kind.as_str(),
            offset: w.offset,
            period,
            bundles: bundles.as_deref(),
            strategy: &strategy,
            settlement: settlement.as_ref(),
            guarantees: &guarantees,
            now,
            csrf,
            form_csrf: web.csrf(&who),
        },
    );
    warp::reply::html(html).into_response()
}

fn dwelling(token: Option<String>, lang: Lang, web: Arc<Web>) -> Response {
    let Some(who) = web.who(token.as_deref()) else {
        return redirect("/login");
    };
    let view = api::dwelling(&web.feeds.home);
    let year = web.year_bundles();
    let html = pages::dwelling(lang, &view, year.as_deref(), web.page_csrf(&who));
    warp::reply::html(html).into_response()
}

fn contact(token: Option<String>, lang: Lang, web: Arc<Web>) -> Response {
    let Some(who) = web.who(token.as_deref()) else {
        return redirect("/login");
    };
    let html = pages::contact(lang, &web.feeds.home.contacts, web.page_csrf(&who));
    warp::reply::html(html).into_response()
}

/// A document from the manuals folder: only a name the folder lists, so no path
/// leaves it. PDFs, images and text show in the browser; anything else downloads.
async fn manual(name: String, token: Option<String>, web: Arc<Web>) -> Response {
    if web.who(token.as_deref()).is_none() {
        return redirect("/login");
    }
    let not_found = || error(StatusCode::NOT_FOUND, "no such manual");
    let Ok(name) = percent_encoding::percent_decode_str(&name).decode_utf8() else {
        return not_found();
    };
    let Some(dir) = web.feeds.home.manuals.as_deref() else {
        return not_found();
    };
    if !api::manuals(Some(dir)).iter().any(|m| m.name == name) {
        return not_found();
    }
    let Ok(bytes) = tokio::fs::read(dir.join(name.as_ref())).await else {
        return not_found();
    };
    let ext = name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase());
    let kind = match ext.as_deref() {
        Some("pdf") => Some("application/pdf"),
        Some("png") => Some("image/png"),
        Some("jpg" | "jpeg") => Some("image/jpeg"),
        Some("txt" | "md") => Some("text/plain; charset=utf-8"),
        _ => None,
    };
    let r = warp::reply::with_header(
        bytes,
        "content-type",
        kind.unwrap_or("application/octet-stream"),
    );
    match kind {
        Some(_) => r.into_response(),
        None => warp::reply::with_header(r, "content-disposition", "attachment").into_response(),
    }
}

fn live_stream(web: Arc<Web>) -> Response {
    let state = (web.feeds.views.snapshot.clone(), None::<api::LiveView>);
    let cancel = web.cancel.clone();
    let flows = web.feeds.views.flows.clone();
    let events = futures_util::stream::unfold(state, move |(mut rx, last)| {
        let (cancel, flows) = (cancel.clone(), flows.clone());
        async move {
            loop {
                if last.is_some() {
                    tokio::select! {
                        _ = cancel.cancelled() => return None,
                        r = rx.changed() => r.ok()?,
                    }
                }
                let snap = rx.borrow_and_update().clone();
                let now = api::LiveView::from(&flows.read(&snap));
                if last.as_ref() != Some(&now) {
                    let event = warp::sse::Event::default()
                        .event("live")
                        .json_data(&now)
                        .ok()?;
                    if last.is_some() {
                        tokio::time::sleep(STREAM_EVERY).await;
                    }
                    return Some((Ok::<_, Infallible>(event), (rx, Some(now))));
                }
            }
        }
    });
    warp::sse::reply(warp::sse::keep_alive().stream(events)).into_response()
}

fn graphs(q: Form, token: Option<String>, lang: Lang, web: Arc<Web>) -> Response {
    let Some(who) = web.who(token.as_deref()) else {
        return redirect("/login");
    };
    let w = which(&q).unwrap_or_default();
    let asked = q.get("bundle").map(String::as_str);
    let bundle = ["pv", "energy_used", "hot_water"]
        .into_iter()
        .find(|b| asked == Some(*b))
        .unwrap_or("energy_used");
    let history = web.history(w).ok().flatten();
    let html = pages::graphs(
        lang,
        &pages::Graphs {
            bundle,
            kind: w.kind.as_str(),
            offset: w.offset,
            history: history.as_ref(),
            csrf: web.page_csrf(&who),
        },
    );
    warp::reply::html(html).into_response()
}

fn account(q: Form, token: Option<String>, lang: Lang, web: Arc<Web>) -> Response {
    // Only a logged-in user has an account (not `auth = "none"`).
    let s = match web.who(token.as_deref()) {
        Some(Who::User(s)) => s,
        Some(Who::Open) => return redirect("/"),
        None => return redirect("/login"),
    };
    let note = q.get("note").and_then(|n| pages::PasswordNote::parse(n));
    warp::reply::html(pages::account(lang, &s.user, &s.csrf, note)).into_response()
}

/// The overview's hot-water forms (mode buttons, "boost now", the settings, "forget
/// the habits"): checked as Home Assistant's commands are, handed to the strategy,
/// then back to the page they came from.
async fn change_strategy(form: Form, token: Option<String>, web: Arc<Web>) -> Response {
    let Some(who) = web.who(token.as_deref()) else {
        return redirect("/login");
    };
    if form.get("csrf").map(String::as_str) != Some(web.csrf(&who)) {
        return forbidden("the form's token does not match; reload the page");
    }
    let changes = match strategy_changes(&form, &web.feeds.views.strategy.settings.borrow()) {
        Ok(c) => c,
        Err(why) => {
            tracing::warn!(problem = %why, "Dashboard strategy change refused.");
            return error(StatusCode::BAD_REQUEST, &why);
        }
    };
    let user = match &who {
        Who::User(s) => s.user.as_str(),
        Who::Open => "-",
    };
    for change in changes {
        tracing::info!(user, change = %change, "Strategy change from the dashboard.");
        if !web.feeds.views.strategy.apply(change, "web").await {
            return error(
                StatusCode::SERVICE_UNAVAILABLE,
                "the hot-water strategy has stopped; the change was not applied",
            );
        }
    }
    redirect(local_path(form.get("to")))
}

/// What a strategy form asks, checked whole: a `mode`, a `boost` or `forget` press,
/// or the settings (those that differ from `current`); a bad field refuses all of it.
fn strategy_changes(form: &Form, current: &Settings) -> Result<Vec<Change>, String> {
    let settings: Vec<(Setting, &String)> = Setting::ALL
        .into_iter()
        .filter_map(|s| Some((s, form.get(s.key())?)))
        .collect();
    let asks = [form.get("mode"), form.get("boost"), form.get("forget")];
    match (asks, settings.is_empty()) {
        ([Some(m), None, None], true) => Ok(vec![
            Change::mode(m.as_bytes()).map_err(|e| format!("mode: {e}"))?,
        ]),
        ([None, Some(b), None], true) => Ok(vec![
            Change::press(b.as_bytes()).map_err(|e| format!("boost: {e}"))?,
        ]),
        ([None, None, Some(f)], true) => Ok(vec![
            Change::forget(f.as_bytes()).map_err(|e| format!("forget: {e}"))?,
        ]),
        ([None, None, None], false) => {
            let mut changes = Vec::new();
            for (s, v) in settings {
                let change = Change::setting(s, v.as_bytes()).map_err(|e| format!("{}: {e}", s.key()))?;
                if change != Change::Set(s, current.get(s)) {
                    changes.push(change);
                }
            }
            Ok(changes)
        }
        _ => Err("the form asks for neither `mode`, `boost`, `forget` nor the settings (exactly one of them)".to_owned()),
    }
}

/// The account page's form: the current password, the new one twice. A new
/// password ends every session of the user; this one goes on in a new session.
async fn change_password(form: Form, token: Option<String>, web: Arc<Web>) -> Response {
    use pages::PasswordNote as Note;
    let (Some(Who::User(s)), Some(token), Some(store)) = (
        web.who(token.as_deref()),
        token.as_deref(),
        web.store.clone(),
    ) else {
        return redirect("/login");
    };
    if form.get("csrf") != Some(&s.csrf) {
        return forbidden("the form's token does not match; reload the page");
    }
    let field = |k: &str| form.get(k).cloned().unwrap_or_default();
    let (current, new, again) = (field("current"), field("new"), field("again"));
    let back = |n: Note| redirect(&format!("/account?note={}", n.as_str()));
    if new != again {
        return back(Note::Differ);
    }
    if new.chars().count() < users::MIN_PASSWORD {
        return back(Note::Short);
    }
    tokio::time::sleep(web.sessions.delay(&s.user)).await;
    let user = s.user.clone();
    let changed = tokio::task::spawn_blocking(move || -> Result<Option<String>, String> {
        if users::verify(&store, &user, &current)
            .map_err(|e| e.to_string())?
            .is_none()
        {
            return Ok(None);
        }
        users::set_password(&store, &user, &new).map_err(|e| e.to_string())?;
        users::stamp(&store, &user).map_err(|e| e.to_string())
    })
    .await;
    match changed {
        Ok(Ok(Some(stamp))) => {
            web.sessions.end(token);
            let fresh = web.sessions.start(&s.user, stamp);
            tracing::info!(user = %s.user, "Dashboard password changed.");
            with_cookie(back(Note::Changed), session_cookie(&fresh))
        }
        Ok(Ok(None)) => {
            web.sessions.failed(&s.user);
            back(Note::Wrong)
        }
        Ok(Err(e)) => {
            tracing::error!(error = %e, "Changing a password failed.");
            warp::reply::with_status("store problem", StatusCode::INTERNAL_SERVER_ERROR)
                .into_response()
        }
        Err(e) => {
            tracing::error!(error = %e, "The password change stopped.");
            warp::reply::with_status("internal error", StatusCode::INTERNAL_SERVER_ERROR)
                .into_response()
        }
    }
}
