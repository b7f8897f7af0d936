//! State payloads: what each state topic carries right now, rendered from the
//! snapshot, the live flows, the ledger's status and the strategy's settings.
//! `None` means "nothing to say yet" (no ledger summary so far), and a value that is
//! unavailable is sent as `None`, which Home Assistant shows as unknown.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::json;

use super::discovery::{Format, Source};
use crate::control::ControlStatus;
use crate::ledger::{LedgerStatus, PeriodKind, period::local_midnight};
use crate::live::Live;
use crate::model::{Value, WattHours};
use crate::prices::Prices;
use crate::state::Snapshot;
use crate::strategy::Settings;
use crate::tariff::Tariff;

/// Home Assistant's payload for "unknown".
pub const UNKNOWN: &str = "None";

/// Everything a state is rendered from.
pub struct View<'a> {
    pub snapshot: &'a Snapshot,
    pub live: &'a Live,
    pub ledger: Option<&'a LedgerStatus>,
    pub settings: &'a Settings,
    pub control: Option<&'a ControlStatus>,
    /// The tariff and the day-ahead prices known, with a tariff.
    pub prices: Option<(&'a Tariff, &'a Prices)>,
}

/// Home Assistant keeps at most this many characters of a state.
const MAX_STATE: usize = 255;

fn clip(s: &str) -> String {
    if s.chars().count() <= MAX_STATE {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(MAX_STATE - 1).collect();
    out.push('…');
    out
}

fn on_off(b: bool) -> &'static str {
    if b { "ON" } else { "OFF" }
}

/// A number without trailing zeros beyond `decimals`.
fn number(v: f64, decimals: usize) -> String {
    let s = format!("{v:.decimals$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        s
    }
}

fn kwh(wh: WattHours, decimals: usize) -> f64 {
    let f = 10f64.powi(decimals as i32);
    (wh.kwh() * f).round() / f
}

fn iso(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn point(value: Option<&Value>, format: &Format) -> String {
    let Some(value) = value else {
        return UNKNOWN.to_owned();
    };
    match (format, value) {
        (Format::Energy, Value::Energy(wh)) => number(wh.kwh(), 3),
        (Format::Bool, Value::Bool(b)) => on_off(*b).to_owned(),
        (Format::Enum(options), Value::Text(t)) => {
            if options.contains(t) {
                t.clone()
            } else {
                UNKNOWN.to_owned()
            }
        }
        (Format::Text, Value::Text(t)) => t.clone(),
        (Format::Power | Format::Temperature | Format::Number, v) => match v.as_f64() {
            Some(x) => number(x, 2),
            None => UNKNOWN.to_owned(),
        },
        _ => UNKNOWN.to_owned(),
    }
}

/// The payload `source` has now.
pub fn render(source: &Source, v: &View) -> Option<String> {
    Some(match source {
        Source::Point {
            device,
            point: key,
            format,
        } => {
            let value = v
                .snapshot
                .points
                .get(&(device.clone(), key.clone()))
                .and_then(|s| s.value.as_ref().ok());
            point(value, format)
        }
        Source::Flow(f) => v
            .live
            .get(*f)
            .map_or_else(|| UNKNOWN.to_owned(), |x| number(x, 1)),
        Source::Lifetime(s) => number(v.ledger?.lifetime.get(s)?.kwh(), 3),
        Source::Bundle(id, kind) => {
            let p = v
                .ledger?
                .positions
                .iter()
                .find(|p| p.bundle_id == *id && p.period.kind == *kind)?;
            json!({
                "used": kwh(p.used, 1),
                "estimated": kwh(p.estimated, 1),
                "bundle": kwh(p.bundle, 1),
                "expected": kwh(p.expected, 1),
                "projected": kwh(p.projected, 1),
                "remaining": kwh(p.remaining, 1),
                "status": p.status,
                "good": p.good,
                "period_start": p.period.start,
                "period_end": p.period.end,
                "last_reset": iso(local_midnight(p.period.start)),
            })
            .to_string()
        }
        Source::Forecast => {
            let f = v.ledger?.forecast.as_ref()?;
            json!({
                "eur": f.eur.map(|e| (e * 100.0).round() / 100.0),
                "net_kwh": (f.net_kwh * 10.0).round() / 10.0,
                "regime": f.regime,
                "eur_with_net_metering": f.eur_with_net_metering.map(|e| e.round()),
                "eur_without_net_metering": f.eur_without_net_metering.map(|e| e.round()),
            })
            .to_string()
        }
        Source::LedgerHealth => {
            let l = v.ledger?;
            l.at?;
            json!({
                "clock_trusted": on_off(l.clock_trusted),
                "store_problem": on_off(l.store_error.is_some()),
                "store_error": l.store_error,
            })
            .to_string()
        }
        Source::Prices => {
            let (tariff, prices) = v.prices?;
            let now = v.ledger?.at?;
            serde_json::to_string(&crate::prices::outlook(tariff, prices, now)).ok()?
        }
        Source::Costs => {
            let l = v.ledger?;
            let e = |kind: PeriodKind| l.euros.iter().find(|e| e.period.kind == kind);
            let (day, month) = (e(PeriodKind::Day)?, e(PeriodKind::Month)?);
            let cents = |x: f64| (x * 100.0).round() / 100.0;
            json!({
                "today_eur": cents(day.net_eur),
                "today_import_eur": cents(day.import_eur),
                "today_export_eur": cents(day.export_eur),
                "today_fallback_eur": cents(day.fallback_eur),
                "today_reset": iso(local_midnight(day.period.start)),
                "month_eur": cents(month.net_eur),
                "month_import_eur": cents(month.import_eur),
                "month_export_eur": cents(month.export_eur),
                "month_fallback_eur": cents(month.fallback_eur),
                "month_reset": iso(local_midnight(month.period.start)),
            })
            .to_string()
        }
        Source::Guarantees => {
            let l = v.ledger?;
            l.at?;
            let c = &l.comfort;
            json!({
                "room_below_days": c.room_below_days,
                "room_days": c.room_days,
                "room_min_c": c.room_min_c,
                "hot_water_short_days": c.hot_water_short_days,
                "hot_water_days": c.hot_water_days,
                "cold_minutes": c.cold_minutes,
                "from": c.from,
                "pv_years": l.pv_verdicts,
            })
            .to_string()
        }
        Source::Mode => v.settings.mode.as_str().to_owned(),
        Source::Setting(s) => number(v.settings.get(*s), 2),
        Source::DeviceAvailability(id) => {
            let online = v.snapshot.devices.get(id).is_some_and(|d| d.online);
            if online { "online" } else { "offline" }.to_owned()
        }
        Source::LastPoll(id) => match v.snapshot.devices.get(id).and_then(|d| d.last_success) {
            Some(t) => iso(t.into()),
            None => UNKNOWN.to_owned(),
        },
        Source::Control => {
            let c = v.control?;
            let points: Vec<_> = c
                .points
                .iter()
                .map(|p| json!({"point": format!("{}.{}", p.device, p.point), "value": p.value, "by": p.by, "why": p.why}))
                .collect();
            let note = c.notes.back();
            json!({
                "decision": clip(&c.strategy),
                "note": note.map(|(_, _, text)| clip(text)),
                "note_by": note.map(|(_, rule, _)| rule),
                "note_at": note.map(|(at, _, _)| iso(*at)),
                "points": points,
                "problem": c.problems.back().map(|(_, p)| p),
                "comfort_at_risk": c.comfort.map(|k| k.at_risk),
                "hot_water_kwh": c.comfort.map(|k| k.usable_kwh),
                "large_draw_kwh": c.comfort.map(|k| k.large_draw_kwh),
                "pv_forecast_today_kwh": c.forecast.filter(|f| f.current).and_then(|f| f.today_kwh),
                "pv_forecast_tomorrow_kwh": c.forecast.filter(|f| f.current).and_then(|f| f.tomorrow_kwh),
                "pv_forecast_issued": c.forecast.map(|f| iso(f.issued)),
                "pv_forecast_day_error_pct": c.forecast.and_then(|f| f.day_error).map(|e| (e * 100.0).round()),
                "sg_ready_state": c.sg_ready.as_ref().and_then(|s| s.shown).map(crate::model::SgState::as_str),
                "sg_ready_wanted": c.sg_ready.as_ref().map(|s| s.wanted.as_str()),
                "sg_ready_why": c.sg_ready.as_ref().map(|s| s.why.as_str()),
                "sg_ready_since": c.sg_ready.as_ref().and_then(|s| s.since).map(iso),
            })
            .to_string()
        }
        Source::DeviceDiagnostics(id) => {
            let d = v.snapshot.devices.get(id);
            json!({
                "link": d.map(|d| on_off(d.online)),
                "errors": d.map_or(0, |d| d.errors),
                "last_error": d.and_then(|d| d.last_error.clone()),
                "last_error_kind": d.and_then(|d| d.last_error_kind),
            })
            .to_string()
        }
    })
}

/// The payload as a number, for the deadband.
pub fn as_number(payload: &str) -> Option<f64> {
    payload.parse::<f64>().ok().filter(|x| x.is_finite())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Celsius, DeviceId, PointKey, Sample, Unavailable, Watts};
    use std::time::SystemTime;

    fn view_with(value: Result<Value, Unavailable>, format: Format) -> String {
        let (d, p) = (DeviceId::new("hp").unwrap(), PointKey::new("x").unwrap());
        let mut snap = Snapshot::default();
        snap.points.insert(
            (d.clone(), p.clone()),
            Sample {
                device: d.clone(),
                point: p.clone(),
                value,
                at: SystemTime::UNIX_EPOCH,
            },
        );
        let v = View {
            snapshot: &snap,
            live: &Live::default(),
            ledger: None,
            settings: &Settings::default(),
            control: None,
            prices: None,
        };
        render(
            &Source::Point {
                device: d,
                point: p,
                format,
            },
            &v,
        )
        .unwrap()
    }

    #[test]
    fn points_are_written_in_home_assistant_units() {
        let e = Value::Energy(WattHours(1_234_567));
        assert_eq!(view_with(Ok(e), Format::Energy), "1234.567");
        let w = Value::Power(Watts(-1520.456));
        assert_eq!(view_with(Ok(w), Format::Power), "-1520.46");
        let c = Value::Temperature(Celsius(48.0));
        assert_eq!(view_with(Ok(c), Format::Temperature), "48");
        assert_eq!(view_with(Ok(Value::Bool(true)), Format::Bool), "ON");
        let opts = Format::Enum(vec!["heating".into(), "hot_water".into()]);
        assert_eq!(
            view_with(Ok(Value::Text("hot_water".into())), opts.clone()),
            "hot_water"
        );
        assert_eq!(
            view_with(Ok(Value::Text("unknown_9".into())), opts),
            UNKNOWN
        );
        let gone = Err(Unavailable::NotImplemented);
        assert_eq!(view_with(gone, Format::Power), UNKNOWN);
    }

    #[test]
    fn nothing_is_said_of_the_ledger_before_its_first_summary() {
        let snap = Snapshot::default();
        let v = View {
            snapshot: &snap,
            live: &Live::default(),
            ledger: None,
            settings: &Settings::default(),
            control: None,
            prices: None,
        };
        assert_eq!(render(&Source::Forecast, &v), None);
        assert_eq!(
            render(&Source::Lifetime(crate::ledger::Series::Pv), &v),
            None
        );
        assert_eq!(render(&Source::Mode, &v).as_deref(), Some("smart"));
        assert_eq!(render(&Source::Control, &v), None);
    }

    #[test]
    fn control_texts_fit_a_home_assistant_state() {
        let snap = Snapshot::default();
        let mut status = ControlStatus {
            strategy: "é".repeat(300),
            ..ControlStatus::default()
        };
        status
            .notes
            .push_back((chrono::DateTime::UNIX_EPOCH, "tell".into(), "short".into()));
        let v = View {
            snapshot: &snap,
            live: &Live::default(),
            ledger: None,
            settings: &Settings::default(),
            control: Some(&status),
            prices: None,
        };
        let j: serde_json::Value =
            serde_json::from_str(&render(&Source::Control, &v).unwrap()).unwrap();
        let decision = j["decision"].as_str().unwrap();
        assert_eq!(decision.chars().count(), MAX_STATE);
        assert!(decision.ends_with('…'));
        assert_eq!(j["note"], "short");
        assert_eq!(j["note_by"], "tell");
        assert_eq!(j["note_at"], "1970-01-01T00:00:00Z");
    }
}
