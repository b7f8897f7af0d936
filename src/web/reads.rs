//! What the pages and the API read: which period a request asks for, who asks, and
//! the answers built from the views (the ledger through its queries).

use super::*;

/// Which period a request asks for.
#[derive(Debug, Clone, Copy)]
pub(super) struct Which {
    pub(super) kind: PeriodKind,
    /// 0: the running period; −1: the one before, and so on.
    pub(super) offset: i32,
}

/// A page asked for nothing (or something it cannot show): the running month.
impl Default for Which {
    fn default() -> Self {
        Self {
            kind: PeriodKind::Month,
            offset: 0,
        }
    }
}

/// `period` (month, year or settlement; month by default) and `offset` (0 or less).
pub(super) fn which(q: &Form) -> Result<Which, String> {
    let p = q.get("period").map_or("month", String::as_str);
    let kind = api::period_kind(p)
        .ok_or_else(|| format!("period `{p}` is not month, year or settlement"))?;
    let offset = match q.get("offset") {
        None => 0,
        Some(o) => o
            .parse::<i32>()
            .ok()
            .filter(|o| (-120..=0).contains(o))
            .ok_or_else(|| format!("offset `{o}` is not a whole number from -120 to 0"))?,
    };
    Ok(Which { kind, offset })
}

/// JSON for `Ok(Some)`, 400 for a bad request, 404 without a ledger.
pub(super) fn answer<T>(r: Result<Option<T>, String>, ok: impl FnOnce(T) -> Response) -> Response {
    match r {
        Ok(Some(t)) => ok(t),
        Ok(None) => error(StatusCode::NOT_FOUND, "no [ledger] in the config"),
        Err(e) => error(StatusCode::BAD_REQUEST, &e),
    }
}

/// Who is asking.
pub(super) enum Who {
    User(Session),
    /// `auth = "none"`: anyone on loopback.
    Open,
}

impl Web {
    pub(super) fn who(&self, token: Option<&str>) -> Option<Who> {
        if self.auth == Auth::None {
            return Some(Who::Open);
        }
        let (token, store) = (token?, self.store.as_ref()?);
        let s = self.sessions.get(token)?;
        // A new password (or a removed user) ends every older session.
        match users::stamp(store, &s.user) {
            Ok(Some(stamp)) if stamp == s.stamp => Some(Who::User(s)),
            _ => {
                self.sessions.end(token);
                None
            }
        }
    }

    pub(super) fn csrf<'a>(&'a self, who: &'a Who) -> &'a str {
        match who {
            Who::User(s) => &s.csrf,
            Who::Open => &self.open_csrf,
        }
    }

    /// The token a page's forms carry; None when nobody logs in (no logout form).
    pub(super) fn page_csrf<'a>(&'a self, who: &'a Who) -> Option<&'a str> {
        match who {
            Who::User(_) => Some(self.csrf(who)),
            Who::Open => None,
        }
    }

    pub(super) fn live(&self) -> api::LiveView {
        api::LiveView::from(&self.feeds.views.live())
    }

    /// The period a request asks for, and its bundles (the ledger's queries: the
    /// running period from its status, earlier ones from the store). `Ok(None)`: the
    /// config has no ledger.
    pub(super) fn positions(&self, w: Which) -> Result<Option<(Period, Vec<Position>)>, String> {
        let Some(l) = &self.feeds.views.ledger else {
            return Ok(None);
        };
        l.positions(w.kind, w.offset)
            .map(Some)
            .map_err(|e| e.to_string())
    }

    pub(super) fn history(&self, w: Which) -> Result<Option<History>, String> {
        let Some(l) = &self.feeds.views.ledger else {
            return Ok(None);
        };
        l.history(w.kind, w.offset)
            .map(Some)
            .map_err(|e| e.to_string())
    }

    pub(super) fn bundles_reply(&self, q: &Form) -> Response {
        answer(which(q).and_then(|w| self.positions(w)), |(_, p)| {
            json(api::bundles(&p))
        })
    }

    pub(super) fn history_reply(&self, q: &Form) -> Response {
        answer(which(q).and_then(|w| self.history(w)), json)
    }

    /// The first day anything was booked (None without a ledger or before the first).
    pub(super) fn first_day(&self) -> Option<chrono::NaiveDate> {
        self.feeds.views.ledger.as_ref()?.first_day()
    }

    /// The ledger's last status; `Ok(None)` without a ledger.
    pub(super) fn ledger_status(&self) -> Result<Option<Arc<LedgerStatus>>, String> {
        let Some(l) = self.feeds.views.ledger.as_ref() else {
            return Ok(None);
        };
        l.current().map(Some).map_err(|e| e.to_string())
    }

    /// Prices and today's and this month's costs, with a tariff (and a ledger report).
    pub(super) fn prices(&self) -> Option<api::PricesView> {
        let views = &self.feeds.views;
        let tariff = views.ledger.as_ref()?.setup().tariff.as_ref()?;
        let status = self.ledger_status().ok().flatten()?;
        let now = status.at?;
        let book = views.prices.as_ref()?.current();
        let cost = |kind| status.euros.iter().find(|e| e.period.kind == kind).copied();
        Some(api::PricesView {
            outlook: crate::prices::outlook(tariff, &book, now),
            cost_today: cost(crate::ledger::PeriodKind::Day),
            cost_month: cost(crate::ledger::PeriodKind::Month),
        })
    }

    pub(super) fn settlement(&self) -> Result<Option<api::SettlementView>, String> {
        Ok(self.ledger_status()?.and_then(|s| api::settlement(&s)))
    }

    pub(super) fn guarantees(&self) -> api::GuaranteesView {
        let status = self.ledger_status().ok().flatten();
        api::guarantees(
            &self.feeds.home,
            status.as_deref(),
            self.feeds
                .views
                .ledger
                .as_ref()
                .and_then(|l| l.setup().budgets.get(&crate::ledger::BundleId::Pv))
                .map(crate::ledger::Budget::yearly),
            &self.live(),
        )
    }

    pub(super) fn year_bundles(&self) -> Option<Vec<api::YearBundle>> {
        self.feeds
            .views
            .ledger
            .as_ref()
            .map(|l| api::year_bundles(l.setup()))
    }

    pub(super) fn strategy(&self) -> api::StrategyView {
        let settings = self.feeds.views.strategy.settings.borrow().clone();
        let control = self
            .feeds
            .views
            .control
            .as_ref()
            .map(|c| c.borrow().clone());
        api::strategy(&settings, control.as_ref())
    }
}
