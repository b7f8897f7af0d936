//! The pages, rendered on the server in Dutch or English; `app.js` only keeps the
//! Live block current and folds the year bundles' "More".

use chrono::{DateTime, Utc};

use super::api::{
    BundleView, DwellingView, GuaranteesView, LiveView, SettlementView, StrategyView, YearBundle,
};
use crate::config::Contact;
use crate::strategy::{Mode, Setting};

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
        "graphs" => ("Grafieken", "Graphs"),
        "account" => ("Account", "Account"),
        "change_password" => ("Wachtwoord wijzigen", "Change password"),
        "current_password" => ("Huidig wachtwoord", "Current password"),
        "new_password" => ("Nieuw wachtwoord", "New password"),
        "again" => ("Nogmaals", "Again"),
        "pw_changed" => (
            "Het wachtwoord is gewijzigd; andere sessies zijn beëindigd.",
            "The password has been changed; other sessions have ended.",
        ),
        "pw_wrong" => (
            "Het huidige wachtwoord klopt niet.",
            "The current password is wrong.",
        ),
        "pw_differ" => (
            "De nieuwe wachtwoorden verschillen.",
            "The new passwords differ.",
        ),
        "pw_short" => (
            "Een wachtwoord heeft minstens 10 tekens.",
            "A password needs at least 10 characters.",
        ),
        "logged_in_as" => ("Ingelogd als", "Logged in as"),
        "kwh_per_day" => ("kWh per dag", "kWh per day"),
        "kwh_per_month" => ("kWh per maand", "kWh per month"),
        "no_history" => ("Nog geen gegevens.", "No data yet."),
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
        "set_mode" => ("Stand kiezen", "Choose the mode"),
        "b_off" => ("Uit", "Off"),
        "b_smart" => ("Slim", "Smart"),
        "b_boost" => ("Boost", "Boost"),
        "boost_now" => ("Nu één keer opwarmen", "Heat once now"),
        "settings" => ("Instellingen", "Settings"),
        "save" => ("Opslaan", "Save"),
        "forget" => (
            "Vergeet de gewoonten (nieuwe bewoners)",
            "Forget the habits (new residents)",
        ),
        "forget_what" => (
            "Het tapwaterpatroon en het zonprofiel worden opnieuw geleerd, zoals bij een nieuwe installatie: de eerste dag of twee houdt vooral de eigen thermostaat van de warmtepomp (de comforttemperatuur) het water warm.",
            "The hot-water pattern and the sun profile are learned afresh, as on a new installation: for the first day or two mostly the heat pump's own thermostat (the comfort temperature) keeps the water hot.",
        ),
        "set_comfort_temperature" => ("Comforttemperatuur (°C)", "Comfort temperature (°C)"),
        "set_solar_target" => ("Doel met zon (°C)", "Solar target (°C)"),
        "set_max_starts_per_day" => ("Starts per dag", "Starts per day"),
        "set_min_run_minutes" => ("Minimale looptijd (min)", "Minimum run (min)"),
        "set_min_off_minutes" => ("Minimale pauze (min)", "Minimum pause (min)"),
        "no_ledger" => (
            "Geen bundels: de configuratie heeft geen [ledger].",
            "No bundles: the configuration has no [ledger].",
        ),
        "no_value" => ("–", "–"),
        "dwelling" => ("Woning", "Dwelling"),
        "contact" => ("Contact", "Contact"),
        "address" => ("Adres", "Address"),
        "no_address" => (
            "Geen adres in de configuratie ([dwelling] address).",
            "No address in the configuration ([dwelling] address).",
        ),
        "manuals" => ("Handleidingen", "Manuals"),
        "no_manuals" => ("Geen handleidingen.", "No manuals."),
        "year_bundles" => ("Jaarbundels", "Year bundles"),
        "year_bundles_note" => (
            "Per maand, in kWh, uit de energieprestatieberekening van de woning.",
            "Per month, in kWh, from the dwelling's energy performance calculation.",
        ),
        "total" => ("Totaal", "Total"),
        "account_link" => ("Account en wachtwoord", "Account and password"),
        "no_contacts" => (
            "Geen contactgegevens in de configuratie ([[contact]]).",
            "No contacts in the configuration ([[contact]]).",
        ),
        "r_installer" => ("Installateur", "Installer"),
        "r_maintainer" => ("Onderhoud en storingen", "Maintenance and faults"),
        "r_landlord" => ("Verhuurder", "Landlord"),
        "r_supplier" => ("Energieleverancier", "Energy supplier"),
        "r_other" => ("Overig", "Other"),
        "phone" => ("Telefoon", "Phone"),
        "email" => ("E-mail", "Email"),
        "web" => ("Website", "Website"),
        "next_charge" => ("Volgende lading", "Next charge"),
        "charging_now" => ("nu bezig", "under way"),
        "none_needed" => (
            "niet nodig in de komende anderhalve dag",
            "none needed in the next day and a half",
        ),
        "learning" => (
            "nog onbekend: de regeling leert de eerste dag de zon en het warmwatergebruik van de woning",
            "not known yet: the first day the strategy learns the home's sun and hot-water use",
        ),
        "with_sun" => ("met de zon", "with the sun"),
        "from_grid" => (
            "van het net (de zon komt te laat)",
            "from the grid (the sun comes too late)",
        ),
        "today" => ("vandaag", "today"),
        "tomorrow" => ("morgen", "tomorrow"),
        "settlement_forecast" => ("Jaarafrekening (verwachting)", "Settlement forecast"),
        "pay" => ("bijbetalen", "to pay"),
        "back" => ("terug", "back"),
        "net_import" => ("netto afname", "net import"),
        "net_export" => ("netto teruglevering", "net export"),
        "so_far" => ("tot nu toe", "so far"),
        "for_the_year" => ("verwacht over het jaar", "expected for the year"),
        "with_nm" => ("met saldering", "with net metering"),
        "without_nm" => ("zonder saldering", "without net metering"),
        "split_note" => (
            "De saldering stopt binnen dit afrekenjaar.",
            "Net metering ends within this settlement year.",
        ),
        "no_prices" => (
            "Zonder prijzen in de configuratie ([settlement]) alleen in kWh.",
            "Without prices in the configuration ([settlement]) in kWh only.",
        ),
        "guarantees" => ("Garanties", "Guarantees"),
        "pv_guarantee" => ("Minimale opwek zonnepanelen", "Minimum PV yield"),
        "room_guarantee" => ("Binnentemperatuur", "Room temperature"),
        "agreed" => ("afgesproken", "agreed"),
        "measured" => ("gemeten", "measured"),
        "guaranteed_by_now" => ("gegarandeerd tot nu", "guaranteed by now"),
        "on_course" => ("op koers", "on course"),
        "behind" => ("achter", "behind"),
        "met" => ("gehaald", "met"),
        "not_met" => ("niet gehaald", "not met"),
        "no_guarantees" => (
            "Geen garanties in de configuratie ([dwelling] pv_guarantee_kwh) en geen gemeten binnentemperatuur.",
            "No guarantees in the configuration ([dwelling] pv_guarantee_kwh) and no measured room temperature.",
        ),
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
        r#"<!doctype html>
<html lang="{l}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · nomhub</title><link rel="stylesheet" href="/assets/app.css"></head>
<body><header><strong>nomhub</strong>{site}<nav>
<a href="/lang/{o}?to={to}" id="lang" hreflang="{o}">{O}</a>{logout}</nav></header>
<main>{body}</main><script src="/assets/app.js" defer></script></body></html>"#,
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

/// Where a page with periods stands: its path with the query it keeps (e.g. the
/// bundle of a graph), the Month/Year toggle, and which period.
struct Steps<'a> {
    path: &'a str,
    keep: &'a str,
    kind: &'a str,
    offset: i32,
    period: Option<crate::ledger::Period>,
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
    let prev = format!(
        r#"<a href="{}" id="prev" rel="prev" aria-label="{}">‹</a>"#,
        href(s.kind, s.offset - 1),
        t(lang, "previous")
    );
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

fn bundles_block(lang: Lang, o: &Overview) -> String {
    let Some(bundles) = o.bundles else {
        return format!(
            r#"<section class="bundles"><p>{}</p></section>"#,
            t(lang, "no_ledger")
        );
    };
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
    let nav = period_nav(
        lang,
        &Steps {
            path: "/",
            keep: "",
            kind: o.kind,
            offset: o.offset,
            period: o.period,
        },
    );
    format!(
        r#"<section class="bundles"><h2>{title}</h2>{nav}{out}</section>"#,
        title = t(lang, "bundle"),
    )
}

fn strategy_block(lang: Lang, o: &Overview) -> String {
    let s = o.strategy;
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
        r#"<section class="strategy"><h2>{title}</h2><p><span>{mode}:</span> <strong id="strategy-mode">{m}</strong></p>{next}{why}{form}</section>"#,
        title = t(lang, "strategy"),
        mode = t(lang, "mode"),
        m = t(lang, &format!("m_{}", s.mode)),
        next = next_charge(lang, s, o.now),
        form = strategy_form(lang, o),
    )
}

/// The hot-water control's forms, each back to this page (`POST /strategy`): the
/// mode buttons and "boost now", then folded away the settings and "forget the habits".
fn strategy_form(lang: Lang, o: &Overview) -> String {
    let hidden = format!(
        r#"<input type="hidden" name="csrf" value="{}"><input type="hidden" name="to" value="{}">"#,
        esc(o.form_csrf),
        esc(&format!("/?period={}&offset={}", o.kind, o.offset)),
    );
    let buttons: String = Mode::ALL
        .into_iter()
        .map(|m| {
            let m = m.as_str();
            format!(
                r#"<button name="mode" value="{m}" id="mode-{m}" aria-pressed="{}">{}</button>"#,
                m == o.strategy.mode,
                t(lang, &format!("b_{m}"))
            )
        })
        .collect();
    let inputs: String = Setting::ALL
        .into_iter()
        .map(|s| {
            let b = s.bounds();
            let value = o.strategy.settings.get(s.key()).copied().unwrap_or(b.default);
            format!(
                r#"<label>{label} <input type="number" name="{key}" id="set-{key}" min="{min}" max="{max}" step="{step}" value="{value}" required></label>"#,
                label = t(lang, &format!("set_{}", s.key())),
                key = s.key(),
                min = b.min,
                max = b.max,
                step = b.step,
            )
        })
        .collect();
    format!(
        r#"<form method="post" action="/strategy" class="strategy-control">{hidden}<span role="group" aria-label="{label}">{buttons}</span> <button name="boost" value="PRESS" id="boost-now">{boost}</button></form><details class="strategy-settings"><summary>{settings}</summary><form method="post" action="/strategy">{hidden}{inputs}<button id="settings-save">{save}</button></form><form method="post" action="/strategy" class="forget">{hidden}<p>{forget_what}</p><button name="forget" value="PRESS" id="forget-habits">{forget}</button></form></details>"#,
        forget = t(lang, "forget"),
        forget_what = t(lang, "forget_what"),
        label = t(lang, "set_mode"),
        boost = t(lang, "boost_now"),
        settings = t(lang, "settings"),
        save = t(lang, "save"),
    )
}

/// Smart mode's next charge: "today 13:15, with the sun".
fn next_charge(lang: Lang, s: &StrategyView, now: Option<DateTime<Utc>>) -> String {
    use super::api::HeatSource;
    if !s.planning && !s.charging {
        return String::new();
    }
    let text = match s.next_charge {
        Some(n) => {
            let at = n.at.with_timezone(&crate::clock::TZ);
            let today = now.map(|t| t.with_timezone(&crate::clock::TZ).date_naive());
            let day = match today {
                Some(d) if d == at.date_naive() => t(lang, "today").to_owned(),
                Some(d) if d.succ_opt() == Some(at.date_naive()) => t(lang, "tomorrow").to_owned(),
                _ => at.format("%d-%m").to_string(),
            };
            let source = match n.source {
                HeatSource::Sun => t(lang, "with_sun"),
                HeatSource::Grid => t(lang, "from_grid"),
            };
            format!("{day} {}, {source}", at.format("%H:%M"))
        }
        None if s.charging => t(lang, "charging_now").to_owned(),
        None if s.learning => t(lang, "learning").to_owned(),
        None => t(lang, "none_needed").to_owned(),
    };
    format!(
        r#"<p><span>{}:</span> <span id="strategy-next">{}</span></p>"#,
        t(lang, "next_charge"),
        esc(&text)
    )
}

/// Euros the Dutch or English way: "€ 123,45".
fn eur(lang: Lang, x: f64) -> String {
    format!("€ {}", num(lang, x.abs(), 2))
}

fn settlement_block(lang: Lang, s: Option<&SettlementView>) -> String {
    let Some(s) = s else {
        return String::new();
    };
    let kwh = |x: f64| format!("{} kWh", num(lang, x, 0));
    let net = |x: f64| {
        if x >= 0.0 {
            format!("{} {}", kwh(x), t(lang, "net_import"))
        } else {
            format!("{} {}", kwh(-x), t(lang, "net_export"))
        }
    };
    let money = |x: f64| {
        let class = if x > 0.0 { "bad" } else { "good" };
        format!(
            r#"<strong class="{class}">{}</strong>"#,
            eur_signed(lang, x)
        )
    };
    let headline = match s.eur {
        Some(e) => format!(
            r#"<p class="headline" id="settlement-eur">{}</p>"#,
            money(e)
        ),
        None => format!(r#"<p class="note">{}</p>"#, t(lang, "no_prices")),
    };
    let split = match (
        s.regime,
        s.eur_with_net_metering,
        s.eur_without_net_metering,
    ) {
        (crate::ledger::forecast::Regime::Split, Some(with), Some(without)) => format!(
            r#"<p class="note">{} {}: {} · {}: {}</p>"#,
            t(lang, "split_note"),
            t(lang, "with_nm"),
            eur_signed(lang, with),
            t(lang, "without_nm"),
            eur_signed(lang, without)
        ),
        _ => String::new(),
    };
    format!(
        r#"<section class="settlement"><h2>{title}</h2><p class="period">{days}</p>{headline}
<dl><div><dt>{so_far}</dt><dd>{a} {import} · {b} {export}</dd></div>
<div><dt>{year}</dt><dd id="settlement-net">{n}</dd></div></dl>{split}</section>"#,
        title = t(lang, "settlement_forecast"),
        days = through(s.start, s.end),
        so_far = t(lang, "so_far"),
        a = kwh(s.import_so_far_kwh),
        import = t(lang, "import"),
        b = kwh(s.export_so_far_kwh),
        export = t(lang, "export"),
        year = t(lang, "for_the_year"),
        n = net(s.net_kwh),
    )
}

/// "€ 12,34 to pay" or "€ 5,00 back".
fn eur_signed(lang: Lang, x: f64) -> String {
    let word = if x > 0.0 { "pay" } else { "back" };
    format!("{} {}", eur(lang, x), t(lang, word))
}

fn guarantees_block(lang: Lang, g: &GuaranteesView) -> String {
    let mut rows = String::new();
    if let Some(pv) = &g.pv {
        let (class, word) = if pv.on_course {
            ("good", "on_course")
        } else {
            ("bad", "behind")
        };
        rows.push_str(&format!(
            r#"<div id="guarantee-pv"><dt>{name}</dt><dd><strong>{gen} kWh</strong> {generated} · {by_now_t} {by_now} kWh · <span class="{class}">{status}</span><br><small>{year}: {proj} kWh {of} {min} kWh ({days})</small></dd></div>"#,
            name = t(lang, "pv_guarantee"),
            gen = num(lang, pv.generated_kwh, 0),
            generated = t(lang, "generated"),
            by_now_t = t(lang, "guaranteed_by_now"),
            by_now = num(lang, pv.guaranteed_by_now_kwh, 0),
            status = t(lang, word),
            year = t(lang, "for_the_year"),
            proj = num(lang, pv.projected_kwh, 0),
            of = t(lang, "of"),
            min = num(lang, pv.guaranteed_kwh, 0),
            days = through(pv.start, pv.end),
        ));
    }
    if let Some(room) = &g.room {
        let (class, word) = if room.met {
            ("good", "met")
        } else {
            ("bad", "not_met")
        };
        rows.push_str(&format!(
            r#"<div id="guarantee-room"><dt>{name}</dt><dd><strong>{m} °C</strong> {measured} · {agreed} {a} °C · <span class="{class}">{status}</span></dd></div>"#,
            name = t(lang, "room_guarantee"),
            m = num(lang, room.measured_c, 1),
            measured = t(lang, "measured"),
            agreed = t(lang, "agreed"),
            a = num(lang, room.agreed_c, 1),
            status = t(lang, word),
        ));
    }
    let body = if rows.is_empty() {
        format!(r#"<p class="note">{}</p>"#, t(lang, "no_guarantees"))
    } else {
        format!("<dl>{rows}</dl>")
    };
    format!(
        r#"<section class="guarantees"><h2>{}</h2>{body}</section>"#,
        t(lang, "guarantees")
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
    pub settlement: Option<&'a SettlementView>,
    pub guarantees: &'a GuaranteesView,
    /// The ledger's time, for "today" and "tomorrow".
    pub now: Option<DateTime<Utc>>,
    /// The logout form's token (None: nobody logs in).
    pub csrf: Option<&'a str>,
    /// The token of the page's own forms (the hot-water control), also without logins.
    pub form_csrf: &'a str,
}

pub fn overview(lang: Lang, o: &Overview) -> String {
    let body = format!(
        "<h1>{}</h1>{}{}{}{}{}",
        t(lang, "title"),
        live_block(lang, o.live),
        bundles_block(lang, o),
        strategy_block(lang, o),
        settlement_block(lang, o.settlement),
        guarantees_block(lang, o.guarantees),
    );
    page(
        lang,
        &format!("/?period={}&offset={}", o.kind, o.offset),
        t(lang, "title"),
        &body,
        o.csrf,
    )
}

/// The graphs page: one bundle, a period, its history.
pub struct Graphs<'a> {
    /// `pv`, `energy_used` or `hot_water`.
    pub bundle: &'a str,
    pub kind: &'a str,
    pub offset: i32,
    pub history: Option<&'a crate::ledger::History>,
    pub csrf: Option<&'a str>,
}

/// The graphed bundles and the series stacked in each (colour class, series).
const GRAPHED: [(&str, &[(&str, &str)]); 3] = [
    ("pv", &[("pv", "pv")]),
    (
        "energy_used",
        &[("household", "household"), ("building", "building_bound")],
    ),
    ("hot_water", &[("hot-water", "hot_water")]),
];

/// Stacked bars per bucket with the bundle as a line, as SVG.
fn chart(lang: Lang, bundle: &str, h: &crate::ledger::History) -> String {
    use chrono::Datelike;
    let stack = GRAPHED
        .iter()
        .find(|(b, _)| *b == bundle)
        .map_or(&[][..], |(_, s)| *s);
    let kwh = |wh: i64| wh as f64 / 1000.0;
    let id = crate::ledger::BundleId::parse(bundle);
    let rows: Vec<(Vec<f64>, Option<f64>)> = h
        .buckets
        .iter()
        .map(|b| {
            let parts = stack
                .iter()
                .map(|(_, series)| {
                    crate::ledger::Series::parse(series)
                        .and_then(|s| b.wh.get(&s))
                        .map_or(0.0, |wh| kwh(*wh))
                })
                .collect();
            (
                parts,
                id.and_then(|i| b.bundle_wh.get(&i)).map(|wh| kwh(*wh)),
            )
        })
        .collect();
    let top = rows
        .iter()
        .map(|(p, b)| p.iter().sum::<f64>().max(b.unwrap_or(0.0)))
        .fold(0.0, f64::max)
        .max(0.1)
        * 1.1;
    let (w, hgt, left, bottom) = (800.0, 300.0, 48.0, 24.0);
    let n = rows.len().max(1) as f64;
    let slot = (w - left) / n;
    let y = |v: f64| (hgt - bottom) * (1.0 - v / top);
    let mut svg = format!(
        r#"<svg class="chart" viewBox="0 0 {w} {hgt}" role="img" aria-label="{}">"#,
        t(lang, &format!("b_{bundle}"))
    );
    for frac in [0.0, 0.5, 1.0] {
        let v = top / 1.1 * frac;
        svg.push_str(&format!(
            r#"<line class="grid" x1="{left}" x2="{w}" y1="{y:.1}" y2="{y:.1}"/><text class="axis" x="{x}" y="{ty:.1}" text-anchor="end">{label}</text>"#,
            y = y(v),
            x = left - 6.0,
            ty = y(v) + 4.0,
            label = num(lang, v, if top < 10.0 { 1 } else { 0 }),
        ));
    }
    let mut line = Vec::new();
    for (i, ((parts, bundle_kwh), b)) in rows.iter().zip(&h.buckets).enumerate() {
        let x = left + slot * i as f64;
        let mut base = 0.0;
        for ((class, _), v) in stack.iter().zip(parts) {
            svg.push_str(&format!(
                r#"<rect class="{class}" x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}"><title>{} {} kWh</title></rect>"#,
                x + slot * 0.15,
                y(base + v),
                slot * 0.7,
                y(base) - y(base + v),
                b.start,
                num(lang, *v, 1),
            ));
            base += v;
        }
        if let Some(bk) = bundle_kwh {
            line.push(format!(
                "{:.1},{:.1} {:.1},{:.1}",
                x,
                y(*bk),
                x + slot,
                y(*bk)
            ));
        }
        let label = if h.resolution == crate::ledger::PeriodKind::Day {
            b.start.day().to_string()
        } else {
            let (nl, en) = MONTHS[b.start.month0() as usize];
            let m = if lang == Lang::Nl { nl } else { en };
            m.chars().take(3).collect()
        };
        if h.resolution != crate::ledger::PeriodKind::Day || b.start.day() % 5 == 1 {
            svg.push_str(&format!(
                r#"<text class="axis" x="{:.1}" y="{}" text-anchor="middle">{label}</text>"#,
                x + slot / 2.0,
                hgt - 6.0
            ));
        }
    }
    if !line.is_empty() {
        svg.push_str(&format!(
            r#"<polyline class="bundle-line" points="{}"/>"#,
            line.join(" ")
        ));
    }
    svg.push_str("</svg>");
    svg
}

pub fn graphs(lang: Lang, g: &Graphs) -> String {
    let tabs: String = GRAPHED
        .iter()
        .map(|(b, _)| {
            let current = if *b == g.bundle {
                r#" aria-current="page""#
            } else {
                ""
            };
            format!(
                r#"<a href="/graphs?bundle={b}&amp;period={}&amp;offset={}" id="graph-{b}"{current}>{}</a>"#,
                g.kind,
                g.offset,
                t(lang, &format!("b_{b}"))
            )
        })
        .collect();
    let keep = format!("bundle={}&amp;", g.bundle);
    let nav = period_nav(
        lang,
        &Steps {
            path: "/graphs",
            keep: &keep,
            kind: g.kind,
            offset: g.offset,
            period: g.history.map(|h| h.period),
        },
    );
    let chart = match g.history {
        Some(h) if !h.buckets.is_empty() => chart(lang, g.bundle, h),
        _ => format!("<p>{}</p>", t(lang, "no_history")),
    };
    let unit = match g.history.map(|h| h.resolution) {
        Some(crate::ledger::PeriodKind::Day) => t(lang, "kwh_per_day"),
        _ => t(lang, "kwh_per_month"),
    };
    let legend: String = GRAPHED
        .iter()
        .find(|(b, _)| *b == g.bundle)
        .map_or(&[][..], |(_, s)| *s)
        .iter()
        .map(|(class, series)| {
            format!(
                r#"<span><i class="{class}"></i>{}</span>"#,
                t(lang, &format!("b_{series}"))
            )
        })
        .collect();
    let body = format!(
        r#"<h1>{title}</h1><section class="graphs"><nav class="toggle tabs">{tabs}</nav>{nav}<p class="unit">{unit}</p>{chart}<p class="legend">{legend}<span><i class="bundle-line"></i>{bundle}</span></p></section>"#,
        title = t(lang, "graphs"),
        bundle = t(lang, "bundle"),
    );
    page(
        lang,
        &format!(
            "/graphs?bundle={}&period={}&offset={}",
            g.bundle, g.kind, g.offset
        ),
        t(lang, "graphs"),
        &body,
        g.csrf,
    )
}

/// The year bundles table: a row per bundle, a column per month; "More" opens
/// household and building-bound under energy used.
fn year_table(lang: Lang, year: &[YearBundle]) -> String {
    let head: String = MONTHS
        .iter()
        .map(|(nl, en)| {
            let m = if lang == Lang::Nl { nl } else { en };
            format!(
                "<th scope=\"col\">{}</th>",
                m.chars().take(3).collect::<String>()
            )
        })
        .collect();
    let row = |b: &YearBundle, class: &str| {
        let cells: String = b
            .monthly_kwh
            .iter()
            .map(|v| format!("<td>{}</td>", num(lang, *v, 0)))
            .collect();
        format!(
            r#"<tr class="{class}" data-bundle="{id}"><th scope="row">{name}</th>{cells}<td class="total">{total}</td></tr>"#,
            id = b.bundle,
            name = t(lang, &format!("b_{}", b.bundle)),
            total = num(lang, b.yearly_kwh, 0),
        )
    };
    let find = |id: &str| year.iter().find(|b| b.bundle == id);
    let mut rows = String::new();
    for id in ["pv", "energy_used", "hot_water"] {
        if let Some(b) = find(id) {
            rows.push_str(&row(b, "main"));
        }
        if id == "energy_used" {
            let parts: Vec<&YearBundle> = ["household", "building_bound"]
                .iter()
                .filter_map(|p| find(p))
                .collect();
            if !parts.is_empty() {
                rows.push_str(&format!(
                    r#"<tr class="more-row"><td colspan="14"><button type="button" id="year-more" aria-expanded="false" aria-controls="year-parts">{}</button></td></tr>"#,
                    t(lang, "more")
                ));
                for b in parts {
                    rows.push_str(&row(b, "part"));
                }
            }
        }
    }
    format!(
        r#"<div class="table"><table id="year-bundles"><thead><tr><th></th>{head}<th scope="col">{total}</th></tr></thead><tbody>{rows}</tbody></table></div>"#,
        total = t(lang, "total"),
    )
}

/// The dwelling page: address, account, manuals, the year bundles.
pub fn dwelling(
    lang: Lang,
    d: &DwellingView,
    year: Option<&[YearBundle]>,
    csrf: Option<&str>,
) -> String {
    let address = match &d.address {
        Some(a) => format!(r#"<p id="address">{}</p>"#, esc(a)),
        None => format!(r#"<p class="note">{}</p>"#, t(lang, "no_address")),
    };
    let account = if csrf.is_some() {
        format!(
            r#"<section><h2>{}</h2><p><a href="/account" id="account-link">{}</a></p></section>"#,
            t(lang, "account"),
            t(lang, "account_link")
        )
    } else {
        String::new()
    };
    let manuals = if d.manuals.is_empty() {
        format!(r#"<p class="note">{}</p>"#, t(lang, "no_manuals"))
    } else {
        let items: String = d
            .manuals
            .iter()
            .map(|m| {
                format!(
                    r#"<li><a href="{}">{}</a> <small>{} kB</small></li>"#,
                    esc(&m.href),
                    esc(&m.name),
                    num(lang, (m.bytes as f64 / 1024.0).ceil(), 0)
                )
            })
            .collect();
        format!(r#"<ul id="manuals">{items}</ul>"#)
    };
    let year = match year {
        Some(y) => format!(
            r#"<p class="note">{}</p>{}"#,
            t(lang, "year_bundles_note"),
            year_table(lang, y)
        ),
        None => format!(r#"<p class="note">{}</p>"#, t(lang, "no_ledger")),
    };
    let body = format!(
        r#"<h1>{title}</h1><section><h2>{addr_t}</h2>{address}</section>{account}<section><h2>{man_t}</h2>{manuals}</section><section class="year"><h2>{year_t}</h2>{year}</section>"#,
        title = t(lang, "dwelling"),
        addr_t = t(lang, "address"),
        man_t = t(lang, "manuals"),
        year_t = t(lang, "year_bundles"),
    );
    page(lang, "/dwelling", t(lang, "dwelling"), &body, csrf)
}

/// The contact page: who installed, maintains and lets the home.
pub fn contact(lang: Lang, contacts: &[Contact], csrf: Option<&str>) -> String {
    let cards: String = contacts
        .iter()
        .map(|c| {
            let mut lines = String::new();
            if let Some(p) = &c.phone {
                let tel: String = p.chars().filter(|c| c.is_ascii_digit() || *c == '+').collect();
                lines.push_str(&format!(
                    r#"<div><dt>{}</dt><dd><a href="tel:{}">{}</a></dd></div>"#,
                    t(lang, "phone"),
                    esc(&tel),
                    esc(p)
                ));
            }
            if let Some(e) = &c.email {
                lines.push_str(&format!(
                    r#"<div><dt>{}</dt><dd><a href="mailto:{e}">{e}</a></dd></div>"#,
                    t(lang, "email"),
                    e = esc(e)
                ));
            }
            if let Some(w) = &c.web {
                lines.push_str(&format!(
                    r#"<div><dt>{}</dt><dd><a href="{w}" rel="noopener noreferrer">{w}</a></dd></div>"#,
                    t(lang, "web"),
                    w = esc(w)
                ));
            }
            let note = c
                .note
                .as_ref()
                .map_or(String::new(), |n| format!("<p>{}</p>", esc(n)));
            format!(
                r#"<section class="contact" data-role="{role}"><h2>{title}</h2><p><strong>{name}</strong></p><dl>{lines}</dl>{note}</section>"#,
                role = c.role.as_str(),
                title = t(lang, &format!("r_{}", c.role.as_str())),
                name = esc(&c.name),
            )
        })
        .collect();
    let body = if cards.is_empty() {
        format!(r#"<p class="note">{}</p>"#, t(lang, "no_contacts"))
    } else {
        cards
    };
    page(
        lang,
        "/contact",
        t(lang, "contact"),
        &format!("<h1>{}</h1>{body}", t(lang, "contact")),
        csrf,
    )
}

/// What the last password change did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasswordNote {
    Changed,
    Wrong,
    Differ,
    Short,
}

impl PasswordNote {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "changed" => Some(Self::Changed),
            "wrong" => Some(Self::Wrong),
            "differ" => Some(Self::Differ),
            "short" => Some(Self::Short),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Changed => "changed",
            Self::Wrong => "wrong",
            Self::Differ => "differ",
            Self::Short => "short",
        }
    }
}

/// The account page: who is logged in, and the password form.
pub fn account(lang: Lang, user: &str, csrf: &str, note: Option<PasswordNote>) -> String {
    let note = note.map_or(String::new(), |n| {
        let (class, key) = match n {
            PasswordNote::Changed => ("ok", "pw_changed"),
            PasswordNote::Wrong => ("error", "pw_wrong"),
            PasswordNote::Differ => ("error", "pw_differ"),
            PasswordNote::Short => ("error", "pw_short"),
        };
        format!(
            r#"<p class="{class}" role="status" id="password-note">{}</p>"#,
            t(lang, key)
        )
    });
    let body = format!(
        r#"<h1>{account}</h1><section><p>{who} <strong id="user">{user}</strong></p>
<h2>{change}</h2>{note}<form method="post" action="/account/password" class="login">
<input type="hidden" name="csrf" value="{csrf}">
<label>{current}<input name="current" type="password" autocomplete="current-password" required></label>
<label>{new}<input name="new" type="password" autocomplete="new-password" minlength="10" required></label>
<label>{again}<input name="again" type="password" autocomplete="new-password" minlength="10" required></label>
<button type="submit">{change}</button></form></section>"#,
        account = t(lang, "account"),
        who = t(lang, "logged_in_as"),
        user = esc(user),
        change = t(lang, "change_password"),
        current = t(lang, "current_password"),
        new = t(lang, "new_password"),
        again = t(lang, "again"),
        csrf = esc(csrf),
    );
    page(lang, "/account", t(lang, "account"), &body, Some(csrf))
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
            "set_mode",
            "b_off",
            "b_smart",
            "b_boost",
            "boost_now",
            "settings",
            "save",
            "forget",
            "forget_what",
            "set_comfort_temperature",
            "set_solar_target",
            "set_max_starts_per_day",
            "set_min_run_minutes",
            "set_min_off_minutes",
            "dwelling",
            "contact",
            "manuals",
            "year_bundles",
            "r_installer",
            "r_maintainer",
            "r_landlord",
            "r_supplier",
            "r_other",
            "next_charge",
            "learning",
            "none_needed",
            "with_sun",
            "from_grid",
            "settlement_forecast",
            "pay",
            "back",
            "guarantees",
            "pv_guarantee",
            "room_guarantee",
            "on_course",
            "behind",
            "met",
            "not_met",
        ] {
            assert_ne!(t(Lang::Nl, key), "?", "{key}");
            assert_ne!(t(Lang::En, key), "?", "{key}");
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
