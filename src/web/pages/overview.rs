//! The overview: where the bundles stand, the hot-water strategy and its forms, the
//! settlement forecast and the contract's guarantees.

use super::*;

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
        r#"<section class="strategy"><h2>{title}</h2><p><span>{mode}:</span> <strong id="strategy-mode">{m}</strong></p>{comfort}{sun}{next}{why}{form}</section>"#,
        title = t(lang, "strategy"),
        mode = t(lang, "mode"),
        m = t(lang, &format!("m_{}", s.mode)),
        comfort = comfort(lang, s),
        sun = sun_forecast(lang, s),
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

/// The hot water left against a large draw: "enough for a large draw (6.1 kWh; a large
/// draw takes 5.0 kWh)", or low (the strategy heats). Nothing before a day is learned.
fn comfort(lang: Lang, s: &StrategyView) -> String {
    let Some(c) = s.comfort.filter(|c| c.large_draw_kwh > 0.0) else {
        return String::new();
    };
    let (class, word) = if c.at_risk {
        ("low", t(lang, "comfort_low"))
    } else {
        ("ok", t(lang, "comfort_ok"))
    };
    format!(
        r#"<p><span>{}:</span> <span id="strategy-comfort" class="{class}">{} ({} kWh; {} {} kWh)</span></p>"#,
        t(lang, "comfort"),
        esc(word),
        num(lang, c.usable_kwh, 1),
        t(lang, "large_draw"),
        num(lang, c.large_draw_kwh, 1),
    )
}

/// The sun forecast the strategy plans with: "today 12.3 kWh, tomorrow 4.5 kWh", or
/// that it has none current and plans with the sun it learned. Nothing before a
/// forecast ever came.
fn sun_forecast(lang: Lang, s: &StrategyView) -> String {
    let Some(f) = s.forecast else {
        return String::new();
    };
    let kwh =
        |k: Option<f64>| k.map_or_else(|| "–".to_owned(), |k| format!("{} kWh", num(lang, k, 1)));
    let text = if f.current {
        let error = f
            .day_error
            .map(|e| {
                format!(
                    " ({} {} %)",
                    t(lang, "forecast_error"),
                    num(lang, e * 100.0, 0)
                )
            })
            .unwrap_or_default();
        format!(
            "{} {}, {} {}{error}",
            t(lang, "today"),
            kwh(f.today_kwh),
            t(lang, "tomorrow"),
            kwh(f.tomorrow_kwh)
        )
    } else {
        t(lang, "forecast_stale").to_owned()
    };
    format!(
        r#"<p><span>{}:</span> <span id="strategy-forecast">{}</span></p>"#,
        t(lang, "sun_forecast"),
        esc(&text)
    )
}

/// Smart mode's next charge: "today 13:15, with the sun".
fn next_charge(lang: Lang, s: &StrategyView, now: Option<DateTime<Utc>>) -> String {
    use crate::web::api::HeatSource;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::ControlStatus;
    use crate::strategy::Settings;
    use crate::strategy::smart::Comfort;

    fn view(comfort: Option<Comfort>) -> StrategyView {
        let status = ControlStatus {
            comfort,
            ..ControlStatus::default()
        };
        crate::web::api::strategy(&Settings::default(), Some(&status))
    }

    #[test]
    fn the_hot_water_comfort_line_says_whether_a_large_draw_fits() {
        let low = Comfort {
            usable_kwh: 2.14,
            large_draw_kwh: 4.96,
            at_risk: true,
        };
        let html = comfort(Lang::Nl, &view(Some(low)));
        assert!(html.contains(r#"class="low""#), "{html}");
        assert!(
            html.contains("krap") && html.contains("2,1 kWh") && html.contains("5,0 kWh"),
            "{html}"
        );
        let ok = Comfort {
            usable_kwh: 7.0,
            at_risk: false,
            ..low
        };
        let html = comfort(Lang::En, &view(Some(ok)));
        assert!(html.contains("enough for a large draw (7.0 kWh"), "{html}");
        // Nothing to say before the strategy has a day of draws, or without control.
        let learning = Comfort {
            large_draw_kwh: 0.0,
            ..ok
        };
        assert_eq!(comfort(Lang::En, &view(Some(learning))), "");
        assert_eq!(comfort(Lang::En, &view(None)), "");
    }

    #[test]
    fn the_sun_forecast_line_says_today_and_tomorrow_or_that_none_is_current() {
        use crate::strategy::sun::ForecastSummary;
        let mut v = view(None);
        assert_eq!(sun_forecast(Lang::Nl, &v), "", "none ever came");
        let f = ForecastSummary {
            issued: chrono::DateTime::UNIX_EPOCH,
            today_kwh: Some(12.34),
            tomorrow_kwh: None,
            current: true,
            day_error: Some(0.28),
        };
        v.forecast = Some(f);
        let html = sun_forecast(Lang::Nl, &v);
        assert!(html.contains("vandaag 12,3 kWh, morgen –"), "{html}");
        assert!(html.contains("28 %"), "{html}");
        v.forecast = Some(ForecastSummary {
            current: false,
            ..f
        });
        let html = sun_forecast(Lang::En, &v);
        assert!(html.contains("none current"), "{html}");
    }
}
