//! The overview's hot-water forms, checked whole and handed to the strategy.

use super::*;

/// The overview's hot-water forms (mode buttons, "boost now", the settings, "forget
/// the habits"): checked as Home Assistant's commands are, handed to the strategy,
/// then back to the page they came from.
pub(super) async fn change_strategy(form: Form, token: Option<String>, web: Arc<Web>) -> Response {
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
pub(super) fn strategy_changes(form: &Form, current: &Settings) -> Result<Vec<Change>, String> {
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
