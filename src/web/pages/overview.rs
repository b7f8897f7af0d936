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
            first: o.first,
        },
    );
    format!(
        r#"<section class="bundles"><h2>{title}</h2>{nav}{out}<p class="small legend">{legend}</p></section>"#,
        title = t(lang, "bundle"),
        legend = t(lang, "legend"),
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
            esc(&super::words::why(lang, &s.why))
        )
    };
    format!(
        r#"<section class="strategy"><h2>{title}</h2><p><span>{mode}:</span> <strong id="strategy-mode">{m}</strong></p>{comfort}{sun}{next}{sg}{why}{form}</section>"#,
        title = t(lang, "strategy"),
        mode = t(lang, "mode"),
        m = t(lang, &format!("m_{}", s.mode)),
        comfort = comfort(lang, s),
        sun = sun_forecast(lang, s),
        next = next_charge(lang, s, o.now),
        sg = sg_ready(lang, s),
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

/// The heat pump's SG Ready state as it shows it: "3 · aanbevolen aan"; while the
/// device does not show what nomhub signals yet, that too.
fn sg_ready(lang: Lang, s: &StrategyView) -> String {
    let Some(sg) = &s.sg_ready else {
        return String::new();
    };
    let word = |state: crate::model::SgState| t(lang, &format!("sg_{}", state.as_str()));
    let text = match sg.shown {
        Some(shown) if shown == sg.wanted => word(shown).to_owned(),
        Some(shown) => format!(
            "{} ({} {})",
            word(shown),
            t(lang, "sg_asked"),
            word(sg.wanted)
        ),
        None => format!("{} {}", t(lang, "sg_asked"), word(sg.wanted)),
    };
    format!(
        r#"<p><span>{}:</span> <span id="strategy-sg-ready" data-state="{}">{}</span></p>"#,
        t(lang, "sg_ready"),
        sg.shown.map_or("unknown", crate::model::SgState::as_str),
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

/// The quarter hours of one day as bars (price all in, €/kWh), the current one marked;
/// the label says the cheapest and dearest hour for a screen reader.
fn strip(
    lang: Lang,
    day: &[Option<f64>],
    start: DateTime<Utc>,
    now: DateTime<Utc>,
    (lo, hi): (f64, f64),
) -> String {
    let known: Vec<(usize, f64)> = day
        .iter()
        .enumerate()
        .filter_map(|(i, p)| p.map(|p| (i, p)))
        .collect();
    if known.is_empty() {
        return format!(r#"<p class="note">{}</p>"#, t(lang, "prices_not_yet"));
    }
    let (h, w) = (40.0, 2.0);
    let zero = h * hi / (hi - lo);
    let at = |i: usize| {
        (start + chrono::TimeDelta::minutes(15 * i as i64))
            .with_timezone(&crate::clock::TZ)
            .format("%H:%M")
            .to_string()
    };
    let mut bars = String::new();
    for &(i, p) in &known {
        let y = h * (hi - p.max(0.0)) / (hi - lo);
        let height = (h * p.abs() / (hi - lo)).max(0.5);
        let q = start + chrono::TimeDelta::minutes(15 * i as i64);
        let class = if q <= now && now < q + chrono::TimeDelta::minutes(15) {
            " class=\"now\""
        } else if p < 0.0 {
            " class=\"neg\""
        } else {
            ""
        };
        bars.push_str(&format!(
            r#"<rect x="{x}" y="{y:.1}" width="{bw}" height="{height:.1}"{class}><title>{at} € {price}</title></rect>"#,
            x = i as f64 * w,
            bw = w - 0.4,
            at = at(i),
            price = num(lang, p, 3),
        ));
    }
    let cheapest = known
        .iter()
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .copied()
        .unwrap_or((0, 0.0));
    let dearest = known
        .iter()
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .copied()
        .unwrap_or((0, 0.0));
    let label = format!(
        "{} {} (€ {}), {} {} (€ {})",
        t(lang, "cheapest"),
        at(cheapest.0),
        num(lang, cheapest.1, 3),
        t(lang, "dearest"),
        at(dearest.0),
        num(lang, dearest.1, 3)
    );
    format!(
        r#"<svg class="strip" viewBox="0 0 {vw} {h}" preserveAspectRatio="none" role="img" aria-label="{label}"><line x1="0" x2="{vw}" y1="{zero:.1}" y2="{zero:.1}"/>{bars}</svg><p class="small">{label}</p>"#,
        vw = day.len() as f64 * w,
        label = esc(&label),
    )
}

/// The price of a kWh now and next hour, today's and tomorrow's prices, and what the
/// grid came to today and this month (with a tariff).
fn prices_block(lang: Lang, p: Option<&PricesView>, now: Option<DateTime<Utc>>) -> String {
    let (Some(p), Some(now)) = (p, now) else {
        return String::new();
    };
    let o = &p.outlook;
    let per_kwh = |x: f64| format!("€ {} {}", num(lang, x, 3), t(lang, "per_kwh"));
    let cost = |e: &Option<crate::ledger::PeriodEuros>| {
        e.map_or_else(|| "–".to_owned(), |e| eur_signed(lang, e.net_eur))
    };
    let all: Vec<f64> = o
        .today
        .iter()
        .chain(&o.tomorrow)
        .flatten()
        .copied()
        .collect();
    let lo = all.iter().copied().fold(0.0, f64::min);
    let hi = all.iter().copied().fold(0.01, f64::max);
    let tomorrow_start = o.today_start + chrono::TimeDelta::hours(24);
    let note = if o.fallback {
        format!(
            r#"<p class="note bad" id="price-fallback">{}</p>"#,
            t(lang, "price_fallback")
        )
    } else {
        String::new()
    };
    format!(
        r#"<section class="prices"><h2>{title}</h2>{note}<dl>
<div><dt>{now_t}</dt><dd id="price-now"><strong>{now_p}</strong></dd></div>
<div><dt>{next_t}</dt><dd id="price-next">{next_p}</dd></div>
<div><dt>{feed_t}</dt><dd id="price-feed-in">{feed_p}</dd></div>
<div><dt>{today_t}</dt><dd id="cost-today">{today_c}</dd></div>
<div><dt>{month_t}</dt><dd id="cost-month">{month_c}</dd></div></dl>
<h3>{today_h}</h3>{today_s}<h3>{tomorrow_h}</h3>{tomorrow_s}</section>"#,
        title = t(lang, "prices"),
        now_t = t(lang, "price_now"),
        now_p = per_kwh(o.import_now),
        next_t = t(lang, "price_next_hour"),
        next_p = per_kwh(o.import_next_hour),
        feed_t = t(lang, "feed_in_now"),
        feed_p = per_kwh(o.export_now),
        today_t = t(lang, "cost_today"),
        today_c = cost(&p.cost_today),
        month_t = t(lang, "cost_month"),
        month_c = cost(&p.cost_month),
        today_h = t(lang, "prices_today"),
        today_s = strip(lang, &o.today, o.today_start, now, (lo, hi)),
        tomorrow_h = t(lang, "prices_tomorrow"),
        tomorrow_s = strip(lang, &o.tomorrow, tomorrow_start, now, (lo, hi)),
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
    if let Some(d) = &g.days {
        // "3 of 64 days …": red when any day fell short.
        let days = |id: &str, name: &str, short: u32, of: u32, text: &str, extra: String| {
            let class = if short == 0 { "good" } else { "bad" };
            format!(
                r#"<div id="{id}"><dt>{}</dt><dd><span class="{class}">{short} {} {of}</span> {}{extra}</dd></div>"#,
                t(lang, name),
                t(lang, "of"),
                t(lang, text),
            )
        };
        if d.room_days > 0 {
            let lowest = d.room_min_c.map_or(String::new(), |m| {
                format!(" · {} {} °C", t(lang, "lowest"), num(lang, m, 1))
            });
            rows.push_str(&days(
                "guarantee-room-days",
                "room_days",
                d.room_below_days,
                d.room_days,
                "room_days_text",
                lowest,
            ));
        }
        if d.hot_water_days > 0 {
            let minutes = format!(" · {} {}", d.cold_minutes, t(lang, "cold_minutes"));
            rows.push_str(&days(
                "guarantee-hot-water",
                "hot_water_days",
                d.hot_water_short_days,
                d.hot_water_days,
                "hot_water_days_text",
                minutes,
            ));
        }
    }
    for y in g.pv_years.iter().rev() {
        let (class, word) = if y.met {
            ("good", "met")
        } else {
            ("bad", "not_met")
        };
        rows.push_str(&format!(
            r#"<div class="guarantee-pv-year"><dt>{name} {days}</dt><dd><strong>{gen}&nbsp;kWh</strong> {generated} {of} {min}&nbsp;kWh · <span class="{class}">{status}</span></dd></div>"#,
            name = t(lang, "pv_guarantee"),
            days = through(y.start, y.end),
            gen = num(lang, y.generated_kwh, 0),
            generated = t(lang, "generated"),
            of = t(lang, "of"),
            min = num(lang, y.guaranteed_kwh, 0),
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
    /// The first day anything was booked: ‹ goes back no further.
    pub first: Option<chrono::NaiveDate>,
    pub bundles: Option<&'a [BundleView]>,
    pub strategy: &'a StrategyView,
    pub settlement: Option<&'a SettlementView>,
    /// With a tariff: prices and today's and this month's costs.
    pub prices: Option<&'a PricesView>,
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
        "<h1>{}</h1>{}{}{}{}{}{}",
        t(lang, "title"),
        live_block(lang, o.live),
        bundles_block(lang, o),
        strategy_block(lang, o),
        prices_block(lang, o.prices, o.now),
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
    fn the_sg_ready_line_says_what_the_heat_pump_shows_and_what_was_asked() {
        use crate::model::SgState;
        let mut v = view(None);
        assert_eq!(sg_ready(Lang::Nl, &v), "", "no SG Ready configured");
        v.sg_ready = Some(crate::web::api::SgReadyView {
            shown: Some(SgState::Recommend),
            wanted: SgState::Recommend,
            since: None,
            why: String::new(),
        });
        let html = sg_ready(Lang::Nl, &v);
        assert!(html.contains(">3 · aanbevolen aan<"), "{html}");
        assert!(html.contains(r#"data-state="recommend""#), "{html}");
        v.sg_ready = Some(crate::web::api::SgReadyView {
            shown: Some(SgState::Normal),
            wanted: SgState::Lock,
            since: None,
            why: String::new(),
        });
        let html = sg_ready(Lang::En, &v);
        assert!(html.contains(">2 · normal (asked: 1 · locked)<"), "{html}");
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

    #[test]
    fn the_price_block_says_when_the_average_stands_in_and_tomorrow_is_not_out() {
        let start = DateTime::from_timestamp(1_796_598_000, 0).unwrap();
        let mut today = vec![Some(0.20); 96];
        today[52] = Some(-0.05);
        let view = PricesView {
            outlook: crate::prices::Outlook {
                import_now: 0.2466,
                import_next_hour: 0.25,
                export_now: 0.075,
                day_ahead_now: 0.09,
                fallback: true,
                net_metering: false,
                today_start: start,
                today,
                tomorrow: vec![None; 96],
                updated: None,
                source: None,
            },
            cost_today: None,
            cost_month: None,
        };
        let now = start + chrono::TimeDelta::minutes(13 * 60 + 5);
        let html = prices_block(Lang::Nl, Some(&view), Some(now));
        assert!(html.contains(r#"id="price-fallback""#), "{html}");
        assert!(html.contains("€ 0,247 per kWh"), "{html}");
        assert!(html.contains("Nog niet bekend"), "tomorrow: {html}");
        assert_eq!(html.matches("<rect").count(), 96);
        // 13:00 is the cheapest quarter hour, and the one now.
        assert!(html.contains("goedkoopst 13:00 (€ -0,050)"), "{html}");
        assert_eq!(html.matches(r#"class="now""#).count(), 1);
        assert_eq!(prices_block(Lang::Nl, None, Some(now)), "");
    }

    #[test]
    fn a_closed_month_says_how_far_over_or_under_and_an_empty_one_has_no_data() {
        let view = |used: f64, running: bool, no_data: bool| BundleView {
            bundle: "energy_used",
            period: "month",
            start: "2026-10-01".into(),
            end: "2026-11-01".into(),
            used_kwh: used,
            bundle_kwh: 471.0,
            expected_kwh: 471.0,
            projected_kwh: used,
            remaining_kwh: 471.0 - used,
            status: if used > 471.0 { "above" } else { "below" },
            good: used <= 471.0,
            more_is_better: false,
            running,
            no_data,
            data_from: None,
        };
        let html = bar(Lang::Nl, &view(476.0, false, false));
        assert!(html.contains("5\u{a0}kWh boven de bundel"), "{html}");
        assert!(html.contains(r#"class="bundle bad""#), "{html}");
        assert!(!html.contains("op koers"), "{html}");
        let html = bar(Lang::En, &view(459.0, false, false));
        assert!(html.contains("12\u{a0}kWh under the bundle"), "{html}");
        let html = bar(Lang::Nl, &view(0.0, false, true));
        assert!(html.contains("Geen gegevens"), "{html}");
        assert!(!html.contains("onder"), "{html}");
        // A running month: where it stands against the expected position, and where
        // it is heading.
        let running = BundleView {
            expected_kwh: 200.0,
            projected_kwh: 480.0,
            status: "on_track",
            ..view(205.0, true, false)
        };
        let html = bar(Lang::Nl, &running);
        assert!(
            html.contains("verwacht 200\u{a0}kWh · op weg naar 480\u{a0}kWh"),
            "{html}"
        );
        // nomhub started on 12 October: the month is judged on the days it measured.
        let partial = BundleView {
            expected_kwh: 300.0,
            data_from: Some("2026-10-12".into()),
            ..view(290.0, false, false)
        };
        let html = bar(Lang::Nl, &partial);
        assert!(html.contains("10\u{a0}kWh onder de bundel"), "{html}");
        assert!(html.contains("gemeten vanaf 12 oktober 2026"), "{html}");
    }
}
