//! The pages, rendered on the server in Dutch or English; `app.js` only keeps the
//! Live block current.

use super::api::{BundleView, LiveView, StrategyView};

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

/// Every text a page shows, in both languages.
fn t(lang: Lang, key: &str) -> &'static str {
    let (nl, en) = match key {
        "title" => ("Overzicht", "Overview"),
        "login" => ("Inloggen", "Log in"),
        "logout" => ("Uitloggen", "Log out"),
        "user" => ("Gebruikersnaam", "User name"),
        "password" => ("Wachtwoord", "Password"),
        "bad_login" => (
            "Gebruikersnaam of wachtwoord onjuist.",
            "Wrong user name or password.",
        ),
        "live" => ("Live", "Live"),
        "pv" => ("Opwek zonnepanelen", "PV generation"),
        "home" => ("Verbruik woning", "Home consumption"),
        "grid" => ("Net", "Grid"),
        "tank" => ("Boiler", "Hot-water tank"),
        "room" => ("Binnentemperatuur", "Room temperature"),
        "import" => ("afname", "import"),
        "export" => ("teruglevering", "export"),
        "bundle" => ("Bundel", "Bundle"),
        "month" => ("Maand", "Month"),
        "year" => ("Jaar", "Year"),
        "settlement" => ("Afrekenjaar", "Settlement year"),
        "used" => ("verbruikt", "used"),
        "generated" => ("opgewekt", "generated"),
        "of" => ("van", "of"),
        "expected" => ("verwacht", "expected"),
        "more" => ("Meer", "More"),
        "previous" => ("Vorige", "Previous"),
        "next" => ("Volgende", "Next"),
        "b_pv" => ("Opwek zonnepanelen", "PV generated"),
        "b_energy_used" => ("Energieverbruik", "Energy used"),
        "b_household" => ("Huishoudelijk", "Household"),
        "b_building_bound" => ("Gebouwgebonden", "Building-bound"),
        "b_hot_water" => ("Warm water", "Hot water"),
        "s_on_track" => ("op koers", "on track"),
        "s_above" => ("boven verwachting", "above expected"),
        "s_below" => ("onder verwachting", "below expected"),
        "strategy" => ("Boilerregeling", "Hot-water control"),
        "mode" => ("Stand", "Mode"),
        "why" => ("Waarom", "Why"),
        "m_off" => (
            "uit (eigen regeling warmtepomp)",
            "off (heat pump's own settings)",
        ),
        "m_smart" => ("slim (zon eerst)", "smart (sun first)"),
        "m_boost" => ("boost", "boost"),
        "no_ledger" => (
            "Geen bundels: de configuratie heeft geen [ledger].",
            "No bundles: the configuration has no [ledger].",
        ),
        "no_value" => ("–", "–"),
        _ => ("?", "?"),
    };
    match lang {
        Lang::Nl => nl,
        Lang::En => en,
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
        PeriodKind::Day | PeriodKind::Settlement => {
            let last = p.end.pred_opt().unwrap_or(p.end);
            format!("{} – {}", p.start, last)
        }
    }
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
    let logout = csrf.map_or(String::new(), |c| {
        format!(
            r#"<form method="post" action="/logout" class="logout"><input type="hidden" name="csrf" value="{}"><button>{}</button></form>"#,
            esc(c),
            t(lang, "logout")
        )
    });
    format!(
        r#"<!doctype html>
<html lang="{l}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · nomhub</title><link rel="stylesheet" href="/assets/app.css"></head>
<body><header><strong>nomhub</strong><nav>
<a href="/lang/{o}?to={path}" id="lang" hreflang="{o}">{O}</a>{logout}</nav></header>
<main>{body}</main><script src="/assets/app.js" defer></script></body></html>"#,
        l = lang.as_str(),
        o = other.as_str(),
        O = other.as_str().to_uppercase(),
        title = esc(title),
        path = esc(path),
    )
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
        r#"<section class="live" aria-live="polite"><h2>{title}</h2><dl>
<div><dt>{pv}</dt><dd id="live-pv_w">{pv_v}</dd></div>
<div><dt>{home}</dt><dd id="live-home_w">{home_v}</dd></div>
<div><dt>{grid} <span id="live-grid_dir">{grid_dir}</span></dt><dd id="live-grid_w">{grid_v}</dd></div>
<div><dt>{tank}</dt><dd id="live-tank_c">{tank_v}</dd></div>{room}
</dl></section>"#,
        title = t(lang, "live"),
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
            r#"<span class="expected" style="left:{:.1}%" title="{} {} kWh"></span>"#,
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
    format!(
        r#"<div class="bundle {cls}" data-bundle="{id}"><h3>{name}</h3>
<div class="bar" role="img" aria-label="{used} kWh {verb} {of} {bundle} kWh"><span class="used" style="width:{w:.1}%"></span><span class="line" style="left:{line:.1}%"></span>{expected}</div>
<p><strong>{used} kWh</strong> {verb} {of} {bundle} kWh · <span class="status">{status}</span>{exp_text}</p></div>"#,
        cls = if b.good { "good" } else { "bad" },
        id = b.bundle,
        name = t(lang, &format!("b_{}", b.bundle)),
        used = num(lang, b.used_kwh, 0),
        bundle = num(lang, b.bundle_kwh, 0),
        verb = t(lang, verb),
        of = t(lang, "of"),
        w = pct(b.used_kwh),
        line = pct(b.bundle_kwh),
        status = t(lang, &format!("s_{}", b.status)),
        exp_text = if b.running {
            format!(
                " · {} {} kWh",
                t(lang, "expected"),
                num(lang, b.expected_kwh, 0)
            )
        } else {
            String::new()
        },
    )
}

fn bundles_block(lang: Lang, o: &Overview) -> String {
    let (kind, offset) = (o.kind, o.offset);
    let Some(bundles) = o.bundles else {
        return format!(
            r#"<section class="bundles"><p>{}</p></section>"#,
            t(lang, "no_ledger")
        );
    };
    let toggle = ["month", "year"]
        .iter()
        .map(|k| {
            let current = if *k == kind {
                r#" aria-current="page""#
            } else {
                ""
            };
            format!(
                r#"<a href="/?period={k}" id="period-{k}"{current}>{}</a>"#,
                t(lang, k)
            )
        })
        .collect::<String>();
    let find = |id: &str| bundles.iter().find(|b| b.bundle == id);
    let mut out = String::new();
    for id in ["pv", "energy_used", "hot_water"] {
        if let Some(b) = find(id) {
            out.push_str(&bar(lang, b));
        }
        if id == "energy_used" {
            let parts: String = ["household", "building_bound"]
                .iter()
                .filter_map(|p| find(p))
                .map(|b| bar(lang, b))
                .collect();
            if !parts.is_empty() {
                out.push_str(&format!(
                    r#"<details class="more"><summary>{}</summary>{parts}</details>"#,
                    t(lang, "more")
                ));
            }
        }
    }
    let dates = o.period.map(|p| period_name(lang, &p)).unwrap_or_default();
    let prev = format!(
        r#"<a href="/?period={kind}&amp;offset={}" id="prev" rel="prev" aria-label="{}">‹</a>"#,
        offset - 1,
        t(lang, "previous")
    );
    let next = if offset < 0 {
        format!(
            r#"<a href="/?period={kind}&amp;offset={}" id="next" rel="next" aria-label="{}">›</a>"#,
            offset + 1,
            t(lang, "next")
        )
    } else {
        r#"<span class="disabled" aria-hidden="true">›</span>"#.to_owned()
    };
    format!(
        r#"<section class="bundles"><h2>{title}</h2><nav class="toggle">{toggle}</nav><nav class="steps">{prev}<span id="period-name">{dates}</span>{next}</nav>{out}</section>"#,
        title = t(lang, "bundle"),
    )
}

fn strategy_block(lang: Lang, s: &StrategyView) -> String {
    let why = if s.reason.is_empty() {
        String::new()
    } else {
        format!(
            r#"<p><span>{}:</span> <span id="strategy-reason">{}</span></p>"#,
            t(lang, "why"),
            esc(&s.reason)
        )
    };
    format!(
        r#"<section class="strategy"><h2>{title}</h2><p><span>{mode}:</span> <strong id="strategy-mode">{m}</strong></p>{why}</section>"#,
        title = t(lang, "strategy"),
        mode = t(lang, "mode"),
        m = t(lang, &format!("m_{}", s.mode)),
    )
}

pub struct Overview<'a> {
    pub live: &'a LiveView,
    /// `month` or `year` (the toggle), and how many periods back.
    pub kind: &'a str,
    pub offset: i32,
    /// The period shown (None: no ledger, or it has not reported yet).
    pub period: Option<crate::ledger::Period>,
    pub bundles: Option<&'a [BundleView]>,
    pub strategy: &'a StrategyView,
    pub csrf: Option<&'a str>,
}

pub fn overview(lang: Lang, o: &Overview) -> String {
    let body = format!(
        "<h1>{}</h1>{}{}{}",
        t(lang, "title"),
        live_block(lang, o.live),
        bundles_block(lang, o),
        strategy_block(lang, o.strategy)
    );
    page(
        lang,
        &format!("/?period={}&offset={}", o.kind, o.offset),
        t(lang, "title"),
        &body,
        o.csrf,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_text_is_there_in_both_languages() {
        for key in [
            "title",
            "login",
            "live",
            "pv",
            "bundle",
            "month",
            "year",
            "expected",
            "more",
            "b_pv",
            "b_energy_used",
            "b_household",
            "b_building_bound",
            "b_hot_water",
            "s_on_track",
            "s_above",
            "s_below",
            "m_off",
            "m_smart",
            "m_boost",
        ] {
            assert_ne!(t(Lang::Nl, key), "?", "{key}");
            assert_ne!(t(Lang::En, key), "?", "{key}");
        }
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
