//! The pages and the Live stream: each checks who asks, reads, and renders.

use super::*;

pub(super) fn switch_lang(code: String, q: Form) -> Response {
    let lang = Lang::parse(&code).unwrap_or(Lang::Nl);
    with_cookie(
        redirect(local_path(q.get("to"))),
        format!(
            "{LANG}={}; SameSite=Strict; Path=/; Max-Age=31536000",
            lang.as_str()
        ),
    )
}

pub(super) fn overview(q: Form, token: Option<String>, lang: Lang, web: Arc<Web>) -> Response {
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
    let prices = web.prices();
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
            first: web.first_day(),
            bundles: bundles.as_deref(),
            strategy: &strategy,
            settlement: settlement.as_ref(),
            prices: prices.as_ref(),
            guarantees: &guarantees,
            now,
            csrf,
            form_csrf: web.csrf(&who),
        },
    );
    warp::reply::html(html).into_response()
}

pub(super) fn dwelling(token: Option<String>, lang: Lang, web: Arc<Web>) -> Response {
    let Some(who) = web.who(token.as_deref()) else {
        return redirect("/login");
    };
    let view = api::dwelling(&web.feeds.home);
    let year = web.year_bundles();
    let html = pages::dwelling(lang, &view, year.as_deref(), web.page_csrf(&who));
    warp::reply::html(html).into_response()
}

pub(super) fn contact(token: Option<String>, lang: Lang, web: Arc<Web>) -> Response {
    let Some(who) = web.who(token.as_deref()) else {
        return redirect("/login");
    };
    let html = pages::contact(lang, &web.feeds.home.contacts, web.page_csrf(&who));
    warp::reply::html(html).into_response()
}

/// A document from the manuals folder: only a name the folder lists, so no path
/// leaves it. PDFs, images and text show in the browser; anything else downloads.
pub(super) async fn manual(name: String, token: Option<String>, web: Arc<Web>) -> Response {
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

pub(super) fn live_stream(web: Arc<Web>) -> Response {
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

pub(super) fn graphs(q: Form, token: Option<String>, lang: Lang, web: Arc<Web>) -> Response {
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
            first: web.first_day(),
            csrf: web.page_csrf(&who),
        },
    );
    warp::reply::html(html).into_response()
}

pub(super) fn account(q: Form, token: Option<String>, lang: Lang, web: Arc<Web>) -> Response {
    // Only a logged-in user has an account (not `auth = "none"`).
    let s = match web.who(token.as_deref()) {
        Some(Who::User(s)) => s,
        Some(Who::Open) => return redirect("/"),
        None => return redirect("/login"),
    };
    let note = q.get("note").and_then(|n| pages::PasswordNote::parse(n));
    warp::reply::html(pages::account(lang, &s.user, &s.csrf, note)).into_response()
}
