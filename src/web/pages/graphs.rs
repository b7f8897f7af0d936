//! The graphs page: one bundle's history per day or month as stacked SVG bars, with
//! the bundle as a line.

use super::*;

/// The graphs page: one bundle, a period, its history.
pub struct Graphs<'a> {
    /// `pv`, `energy_used` or `hot_water`.
    pub bundle: &'a str,
    pub kind: &'a str,
    pub offset: i32,
    pub history: Option<&'a crate::ledger::History>,
    /// The first day anything was booked.
    pub first: Option<chrono::NaiveDate>,
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
    // The bars and the bundle line are drawn in a plot that stretches to the page's
    // width (one unit of 10 per bucket, 0..100 up); the axis text is placed outside it
    // in CSS pixels, so it reads the same on a phone and on a wide screen.
    let (height, top_px, plot_px) = (240.0, 14.0, 202.0);
    let n = rows.len().max(1);
    let y = |v: f64| 100.0 * (1.0 - v / top);
    let y_px = |v: f64| top_px + plot_px * (1.0 - v / top);
    let mut svg = format!(
        r#"<svg class="chart" height="{height}" role="img" aria-label="{}">"#,
        t(lang, &format!("b_{bundle}"))
    );
    for frac in [0.0, 0.5, 1.0] {
        let v = top / 1.1 * frac;
        svg.push_str(&format!(
            r#"<line class="grid" x1="0" x2="100%" y1="{gy:.1}" y2="{gy:.1}"/><text class="axis" x="2" y="{ty:.1}">{label}</text>"#,
            gy = y_px(v),
            ty = y_px(v) - 3.0,
            label = num(lang, v, if top < 10.0 { 1 } else { 0 }),
        ));
    }
    let mut plot = format!(
        r#"<svg x="0" y="{top_px}" width="100%" height="{plot_px}" viewBox="0 0 {} 100" preserveAspectRatio="none">"#,
        n * 10
    );
    let mut labels = String::new();
    let mut line = Vec::new();
    for (i, ((parts, bundle_kwh), b)) in rows.iter().zip(&h.buckets).enumerate() {
        let x = 10.0 * i as f64;
        let mut base = 0.0;
        for ((class, series), v) in stack.iter().zip(parts) {
            plot.push_str(&format!(
                r#"<rect class="{class}" x="{:.1}" y="{:.2}" width="7" height="{:.2}"><title>{} · {}: {} kWh</title></rect>"#,
                x + 1.5,
                y(base + v),
                y(base) - y(base + v),
                b.start,
                t(lang, &format!("b_{series}")),
                num(lang, *v, 1),
            ));
            base += v;
        }
        if let Some(bk) = bundle_kwh {
            line.push(format!(
                "{x:.1},{:.2} {:.1},{:.2}",
                y(*bk),
                x + 10.0,
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
            labels.push_str(&format!(
                r#"<text class="axis" x="{:.2}%" y="{}" text-anchor="middle">{label}</text>"#,
                100.0 * (i as f64 + 0.5) / n as f64,
                height - 6.0
            ));
        }
    }
    if !line.is_empty() {
        plot.push_str(&format!(
            r#"<polyline class="bundle-line" points="{}"><title>{}</title></polyline>"#,
            line.join(" "),
            t(lang, "bundle")
        ));
    }
    plot.push_str("</svg>");
    svg.push_str(&plot);
    svg.push_str(&labels);
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
            first: g.first,
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
