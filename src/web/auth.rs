//! Logging in and out (form tokens, the slow-down after wrong passwords) and changing
//! the password.

use super::*;

pub(super) fn login_page(q: Form, cookie: Option<String>, lang: Lang) -> Response {
    let token = cookie
        .filter(|c| c.len() == 64)
        .unwrap_or_else(session::token);
    let html = pages::login(lang, &token, q.contains_key("failed"));
    with_cookie(
        warp::reply::html(html).into_response(),
        format!("{LOGIN_CSRF}={token}; HttpOnly; SameSite=Strict; Path=/login"),
    )
}

pub(super) async fn login(form: Form, cookie: Option<String>, web: Arc<Web>) -> Response {
    let sent = form.get("csrf");
    if cookie.is_none() || sent != cookie.as_ref() {
        return forbidden("the form's token does not match; reload the login page");
    }
    let (Some(user), Some(password), Some(store)) =
        (form.get("user"), form.get("password"), web.store.as_ref())
    else {
        return redirect("/login?failed=1");
    };
    let (store, u, p) = (store.clone(), user.clone(), password.clone());
    let checked = match password_check(&web, user, move || users::verify(&store, &u, &p)).await {
        Ok(c) => c,
        Err(refused) => return refused,
    };
    match checked {
        Ok(Some(stamp)) => {
            web.sessions.succeeded(user);
            let token = web.sessions.start(user, stamp);
            tracing::info!(user = %user, "Logged in to the dashboard.");
            with_cookie(redirect("/"), session_cookie(&token))
        }
        Ok(None) => {
            web.sessions.failed(user);
            tracing::warn!(user = %user, "Failed dashboard login.");
            redirect("/login?failed=1")
        }
        Err(e) => {
            tracing::error!(error = %e, "Reading the users failed.");
            warp::reply::with_status("store problem", StatusCode::INTERNAL_SERVER_ERROR)
                .into_response()
        }
    }
}

/// Runs a password check for `user` (`check`, an argon2id verification of some 19 MiB):
/// after the name's slow-down, and one at a time whatever the number of requests, so a
/// flood of logins queues instead of taking the memory. `Err`: the answer to give
/// instead (too many tries for the name, or the check stopped).
async fn password_check<T: Send + 'static>(
    web: &Web,
    user: &str,
    check: impl FnOnce() -> T + Send + 'static,
) -> Result<T, Response> {
    let wait = web.sessions.reserve(user).map_err(|too_many| {
        tracing::warn!(user = %user, retry_in = ?too_many.retry_in, "Too many dashboard login tries; refused.");
        let text = format!(
            "too many tries; try again in {} s",
            too_many.retry_in.as_secs() + 1
        );
        warp::reply::with_status(text, StatusCode::TOO_MANY_REQUESTS).into_response()
    })?;
    tokio::time::sleep(wait).await;
    let Ok(_one_at_a_time) = web.checks.acquire().await else {
        return Err(
            warp::reply::with_status("stopping", StatusCode::SERVICE_UNAVAILABLE).into_response(),
        );
    };
    tokio::task::spawn_blocking(move || {
        let checked = check();
        users::give_back_memory();
        checked
    })
    .await
    .map_err(|e| {
        tracing::error!(error = %e, "The password check stopped.");
        warp::reply::with_status("internal error", StatusCode::INTERNAL_SERVER_ERROR)
            .into_response()
    })
}

pub(super) fn forbidden(why: &str) -> Response {
    warp::reply::with_status(why.to_owned(), StatusCode::FORBIDDEN).into_response()
}

pub(super) fn logout(form: Form, token: Option<String>, web: Arc<Web>) -> Response {
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

/// The account page's form: the current password, the new one twice. A new
/// password ends every session of the user; this one goes on in a new session.
pub(super) async fn change_password(form: Form, token: Option<String>, web: Arc<Web>) -> Response {
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
    let user = s.user.clone();
    let change = move || -> Result<Option<String>, String> {
        if users::verify(&store, &user, &current)
            .map_err(|e| e.to_string())?
            .is_none()
        {
            return Ok(None);
        }
        users::set_password(&store, &user, &new).map_err(|e| e.to_string())?;
        users::stamp(&store, &user).map_err(|e| e.to_string())
    };
    let changed = match password_check(&web, &s.user, change).await {
        Ok(c) => c,
        Err(refused) => return refused,
    };
    match changed {
        Ok(Some(stamp)) => {
            web.sessions.succeeded(&s.user);
            web.sessions.end(token);
            let fresh = web.sessions.start(&s.user, stamp);
            tracing::info!(user = %s.user, "Dashboard password changed.");
            with_cookie(back(Note::Changed), session_cookie(&fresh))
        }
        Ok(None) => {
            web.sessions.failed(&s.user);
            back(Note::Wrong)
        }
        Err(e) => {
            tracing::error!(error = %e, "Changing a password failed.");
            warp::reply::with_status("store problem", StatusCode::INTERNAL_SERVER_ERROR)
                .into_response()
        }
    }
}
