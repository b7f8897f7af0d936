//! The pages, rendered on the server in Dutch or English; `app.js` only keeps the
//! Live block current and folds the year bundles' "More".

use chrono::{DateTime, Utc};

use super::api::{
    BundleView, DwellingView, GuaranteesView, LiveView, PricesView, SettlementView, StrategyView,
    YearBundle,
};
use crate::config::Contact;
use crate::strategy::{Mode, Setting};

mod graphs;
mod home;
mod overview;
mod words;

pub use graphs::{Graphs, graphs};
pub use home::{PasswordNote, account, contact, dwelling};
pub use overview::{Overview, overview};
use words::t;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Nl,
    En,
}

impl Lang {
    pub fn parse(s: &str) -> Option<Lang> {
        match s {
            "nl" => Some(Lang::Nl),
            "en" => Some(Lang::En),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Lang::Nl => "nl",
            Lang::En => "en",
        }
    }
}

/// Text for HTML: `&`, `<`, `>`, `"` and `'` escaped.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const MONTHS: [(&str, &str); 12] = [
    ("januari", "January"),
    ("februari", "February"),
    ("maart", "March"),
    ("april", "April"),
    ("mei", "May"),
    ("juni", "June"),
    ("juli", "July"),
    ("augustus", "August"),
    ("september", "September"),
    ("oktober", "October"),
    ("november", "November"),
    ("december", "December"),
];

/// "november 2026", "2026", or the settlement year's first and last day.
fn period_name(lang: Lang, p: &crate::ledger::Period) -> String {
    use crate::ledger::PeriodKind;
    use chrono::Datelike;
    match p.kind {
        PeriodKind::Month => {
            let (nl, en) = MONTHS[p.start.month0() as usize];
            let m = if lang == Lang::Nl { nl } else { en };
            format!("{m} {}", p.start.year())
        }
        PeriodKind::Year => p.start.year().to_string(),
        PeriodKind::Day | PeriodKind::Settlement => through(p.start, p.end),
    }
}

/// "2026-04-01 – 2027-03-31": the first and the last day of `start..end`.
fn through(start: chrono::NaiveDate, end: chrono::NaiveDate) -> String {
    format!("{start} – {}", end.pred_opt().unwrap_or(end))
}

/// A number the Dutch or English way.
fn num(lang: Lang, x: f64, decimals: usize) -> String {
    let s = format!("{x:.decimals$}");
    match lang {
        Lang::Nl => s.replace('.', ","),
        Lang::En => s,
    }
}

fn page(lang: Lang, path: &str, title: &str, body: &str, csrf: Option<&str>) -> String {
    let other = match lang {
        Lang::Nl => Lang::En,
        Lang::En => Lang::Nl,
    };
    // The site's pages, for a logged-in (or open) visitor: the login page has none.
    let site = if body.contains("action=\"/login\"") {
        String::new()
    } else {
        let links: String = [
            ("/", "overview", "title"),
            ("/graphs", "graphs", "graphs"),
            ("/dwelling", "dwelling", "dwelling"),
            ("/contact", "contact", "contact"),
        ]
        .iter()
        .map(|(href, id, key)| {
            let here = if path.split('?').next() == Some(*href) {
                r#" aria-current="page""#
            } else {
                ""
            };
            format!(
                r#"<a href="{href}" id="nav-{id}"{here}>{}</a>"#,
                t(lang, key)
            )
        })
        .collect();
        format!(r#"<nav class="site">{links}</nav>"#)
    };
    let logout = csrf.map_or(String::new(), |c| {
        format!(
            r#"<form method="post" action="/logout" class="logout"><input type="hidden" name="csrf" value="{}"><button>{}</button></form>"#,
            esc(c),
            t(lang, "logout")
        )
    });
    format!(
        r##"<!doctype html>
<html lang="{l}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · nomhub</title><link rel="stylesheet" href="/assets/app.css">
<link rel="icon" href="/assets/icon.svg" type="image/svg+xml"><link rel="apple-touch-icon" href="/assets/icon-192.png">
<link rel="manifest" href="/manifest.webmanifest"><meta name="theme-color" content="#1f4d2b"></head>
<body><header><strong>nomhub</strong>{site}<nav>
<a href="/lang/{o}?to={to}" id="lang" hreflang="{o}">{O}</a>{logout}</nav></header>
<main>{body}</main><script src="/assets/app.js" defer></script></body></html>"##,
        l = lang.as_str(),
        o = other.as_str(),
        O = other.as_str().to_uppercase(),
        title = esc(title),
        to = esc(&query_value(path)),
    )
}

/// `s` as a query-string value: every byte but unreserved ones percent-encoded.
fn query_value(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

pub fn login(lang: Lang, csrf: &str, failed: bool) -> String {
    let error = if failed {
        format!(
            r#"<p class="error" role="alert">{}</p>"#,
            t(lang, "bad_login")
        )
    } else {
        String::new()
    };
    let body = format!(
        r#"<h1>{login}</h1>{error}<form method="post" action="/login" class="login">
<input type="hidden" name="csrf" value="{csrf}">
<label>{user}<input name="user" autocomplete="username" required></label>
<label>{password}<input name="password" type="password" autocomplete="current-password" required></label>
<button type="submit">{login}</button></form>"#,
        login = t(lang, "login"),
        user = t(lang, "user"),
        password = t(lang, "password"),
        csrf = esc(csrf),
    );
    page(lang, "/", t(lang, "login"), &body, None)
}

fn live_block(lang: Lang, live: &LiveView) -> String {
    let w = |x: Option<f64>| {
        x.map_or(t(lang, "no_value").to_owned(), |v| {
            format!("{} W", num(lang, v, 0))
        })
    };
    let c = |x: Option<f64>| {
        x.map_or(t(lang, "no_value").to_owned(), |v| {
            format!("{} °C", num(lang, v, 1))
        })
    };
    let grid_dir = match live.grid_w {
        Some(g) if g < 0.0 => t(lang, "export"),
        Some(_) => t(lang, "import"),
        None => "",
    };
    let room = if live.room_c.is_some() {
        format!(
            r#"<div><dt>{}</dt><dd id="live-room_c">{}</dd></div>"#,
            t(lang, "room"),
            c(live.room_c)
        )
    } else {
        String::new()
    };
    format!(
        r#"<section class="live" data-updated="{updated}" data-lost="{lost}" data-import="{import}" data-export="{export}"><h2>{title}</h2><dl>
<div><dt>{pv}</dt><dd id="live-pv_w">{pv_v}</dd></div>
<div><dt>{home}</dt><dd id="live-home_w">{home_v}</dd></div>
<div><dt>{grid} <span id="live-grid_dir">{grid_dir}</span></dt><dd id="live-grid_w">{grid_v}</dd></div>
<div><dt>{tank}</dt><dd id="live-tank_c">{tank_v}</dd></div>{room}
</dl><p class="small" id="live-state" role="status"></p></section>"#,
        title = t(lang, "live"),
        updated = t(lang, "updated_at"),
        lost = t(lang, "connection_lost"),
        import = t(lang, "import"),
        export = t(lang, "export"),
        pv = t(lang, "pv"),
        pv_v = w(live.pv_w),
        home = t(lang, "home"),
        home_v = w(live.home_w),
        grid = t(lang, "grid"),
        grid_v = w(live.grid_w.map(f64::abs)),
        tank = t(lang, "tank"),
        tank_v = c(live.tank_c),
    )
}

fn bar(lang: Lang, b: &BundleView) -> String {
    let scale = b.bundle_kwh.max(b.used_kwh).max(0.001);
    let pct = |x: f64| (100.0 * x / scale).clamp(0.0, 100.0);
    let expected = if b.running {
        format!(
            r#"<span class="expected" style="left:{:.1}%" title="{} {} kWh"></span>"#,
            pct(b.expected_kwh),
            t(lang, "expected"),
            num(lang, b.expected_kwh, 0)
        )
    } else {
        String::new()
    };
    let verb = if b.more_is_better {
        "generated"
    } else {
        "used"
    };
    if b.no_data {
        return format!(
            r#"<div class="bundle none" data-bundle="{id}"><h3>{name}</h3><p class="note">{none}</p></div>"#,
            id = b.bundle,
            name = t(lang, &format!("b_{}", b.bundle)),
            none = t(lang, "no_data"),
        );
    }
    // A closed period: plainly over or under its bundle, by how much.
    let status = if b.running {
        t(lang, &format!("s_{}", b.status)).to_owned()
    } else {
        // Against the bundle of the days measured (all of them, unless nomhub
        // started inside the period).
        let diff = b.used_kwh - b.expected_kwh;
        format!(
            "{} kWh {}",
            num(lang, diff.abs(), 0),
            t(
                lang,
                if diff > 0.0 {
                    "over_bundle"
                } else {
                    "under_bundle"
                }
            )
        )
    };
    format!(
        r#"<div class="bundle {cls}" data-bundle="{id}"><h3>{name}</h3>
<div class="bar" role="img" aria-label="{used} kWh {verb} {of} {bundle} kWh"><span class="used" style="width:{w:.1}%"></span><span class="line" style="left:{line:.1}%"></span>{expected}</div>
<p><strong>{used} kWh</strong> {verb} {of} {bundle} kWh · <span class="status">{status}</span>{exp_text}</p></div>"#,
        cls = if b.good { "good" } else { "bad" },
        id = b.bundle,
        name = t(lang, &format!("b_{}", b.bundle)),
        used = num(lang, b.used_kwh, 0),
        bundle = num(lang, b.bundle_kwh, 0),
        verb = t(lang, verb),
        of = t(lang, "of"),
        w = pct(b.used_kwh),
        line = pct(b.bundle_kwh),
        status = status,
        exp_text = if b.running {
            format!(
                " · {} {}\u{a0}kWh · {} {}\u{a0}kWh{}",
                t(lang, "expected"),
                num(lang, b.expected_kwh, 0),
                t(lang, "heading_for"),
                num(lang, b.projected_kwh, 0),
                data_from(lang, b)
            )
        } else {
            data_from(lang, b)
        },
    )
}

/// " · gemeten vanaf 1 april 2026" for a period that began before the first booked day.
fn data_from(lang: Lang, b: &BundleView) -> String {
    use chrono::Datelike;
    let Some(d) = b
        .data_from
        .as_deref()
        .and_then(|d| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
    else {
        return String::new();
    };
    let (nl, en) = MONTHS[d.month0() as usize];
    let day = match lang {
        Lang::Nl => format!("{} {nl} {}", d.day(), d.year()),
        Lang::En => format!("{} {en} {}", d.day(), d.year()),
    };
    format!(" · {} {day}", t(lang, "measured_from"))
}

/// Where a page with periods stands: its path with the query it keeps (e.g. the
/// bundle of a graph), the Month/Year toggle, and which period.
struct Steps<'a> {
    path: &'a str,
    keep: &'a str,
    kind: &'a str,
    offset: i32,
    period: Option<crate::ledger::Period>,
    /// The first day anything was booked: no step back past it.
    first: Option<chrono::NaiveDate>,
}

/// The Month/Year toggle and the ‹ period › steps.
fn period_nav(lang: Lang, s: &Steps) -> String {
    let href =
        |kind: &str, offset: i32| format!("{}?{}period={kind}&amp;offset={offset}", s.path, s.keep);
    let toggle: String = ["month", "year"]
        .iter()
        .map(|k| {
            let current = if *k == s.kind {
                r#" aria-current="page""#
            } else {
                ""
            };
            format!(
                r#"<a href="{}" id="period-{k}"{current}>{}</a>"#,
                href(k, 0),
                t(lang, k)
            )
        })
        .collect();
    let name = s.period.map(|p| period_name(lang, &p)).unwrap_or_default();
    let earlier = s
        .period
        .is_some_and(|p| s.first.is_some_and(|f| f < p.start));
    let prev = if earlier {
        format!(
            r#"<a href="{}" id="prev" rel="prev" aria-label="{}">‹</a>"#,
            href(s.kind, s.offset - 1),
            t(lang, "previous")
        )
    } else {
        r#"<span class="disabled" aria-hidden="true">‹</span>"#.to_owned()
    };
    let next = if s.offset < 0 {
        format!(
            r#"<a href="{}" id="next" rel="next" aria-label="{}">›</a>"#,
            href(s.kind, s.offset + 1),
            t(lang, "next")
        )
    } else {
        r#"<span class="disabled" aria-hidden="true">›</span>"#.to_owned()
    };
    format!(
        r#"<nav class="toggle">{toggle}</nav><nav class="steps">{prev}<span id="period-name">{name}</span>{next}</nav>"#
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every key a page asks for in so many words (`t` with a literal) in this folder's
    /// sources, and every key made from data (a bundle, a status, a mode, a setting, a
    /// contact's role), has both languages: a page never shows "?".
    #[test]
    fn every_text_the_pages_ask_for_is_in_both_languages() {
        use crate::config::Role;
        use crate::ledger::BundleId;
        let sources = [
            include_str!("mod.rs"),
            include_str!("overview.rs"),
            include_str!("home.rs"),
            include_str!("graphs.rs"),
        ];
        let mut keys: Vec<String> = Vec::new();
        for src in sources {
            for (at, _) in src.match_indices("t(") {
                let before = src[..at].chars().next_back();
                if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                    continue;
                }
                let rest = src[at + 2..].trim_start();
                let Some(rest) = rest.strip_prefix("lang,") else {
                    continue;
                };
                if let Some(rest) = rest.trim_start().strip_prefix('"') {
                    keys.push(rest[..rest.find('"').unwrap_or(0)].to_owned());
                }
            }
        }
        assert!(keys.len() > 100, "found only {} keys", keys.len());
        keys.extend(BundleId::ALL.iter().map(|b| format!("b_{}", b.as_str())));
        keys.extend(["on_track", "above", "below"].map(|s| format!("s_{s}")));
        for m in Mode::ALL {
            keys.extend([format!("m_{}", m.as_str()), format!("b_{}", m.as_str())]);
        }
        keys.extend(Setting::ALL.iter().map(|s| format!("set_{}", s.key())));
        keys.extend(Role::ALL.iter().map(|r| format!("r_{}", r.as_str())));
        keys.extend(
            crate::model::SgState::ALL
                .iter()
                .map(|s| format!("sg_{}", s.as_str())),
        );
        for key in &keys {
            assert_ne!(t(Lang::Nl, key), "?", "{key} in Dutch");
            assert_ne!(t(Lang::En, key), "?", "{key} in English");
        }
    }

    #[test]
    fn a_path_goes_into_a_query_value_whole() {
        assert_eq!(
            query_value("/?period=year&offset=-1"),
            "/%3Fperiod%3Dyear%26offset%3D-1"
        );
    }

    #[test]
    fn text_is_escaped_and_numbers_follow_the_language() {
        assert_eq!(
            esc(r#"<a href="x">&'"#),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
        assert_eq!(num(Lang::Nl, 12.34, 1), "12,3");
        assert_eq!(num(Lang::En, 12.34, 1), "12.3");
    }
}
