//! The dwelling (its year bundles and manuals), who to call, and the account page.

use super::*;

/// The year bundles table: a row per bundle, a column per month; "More" opens
/// household and building-bound under energy used.
/// The year bundles twice: months as columns for a wide screen, months as rows for a
/// phone (the style sheet shows one). Household and building-bound are marked `part`,
/// folded under "More" by `app.js`.
fn year_table(lang: Lang, year: &[YearBundle]) -> String {
    let find = |id: &str| year.iter().find(|b| b.bundle == id);
    let shown: Vec<(&YearBundle, &str)> = [
        ("pv", "main"),
        ("energy_used", "main"),
        ("household", "part"),
        ("building_bound", "part"),
        ("hot_water", "main"),
    ]
    .iter()
    .filter_map(|(id, class)| find(id).map(|b| (b, *class)))
    .collect();
    let month = |i: usize| {
        let (nl, en) = MONTHS[i];
        let m = if lang == Lang::Nl { nl } else { en };
        m.chars().take(3).collect::<String>()
    };
    let name = |b: &YearBundle| t(lang, &format!("b_{}", b.bundle));
    let total = t(lang, "total");

    let head: String = (0..12)
        .map(|i| format!(r#"<th scope="col">{}</th>"#, month(i)))
        .collect();
    let rows: String = shown
        .iter()
        .map(|(b, class)| {
            let cells: String = b
                .monthly_kwh
                .iter()
                .map(|v| format!("<td>{}</td>", num(lang, *v, 0)))
                .collect();
            format!(
                r#"<tr class="{class}" data-bundle="{id}"><th scope="row">{name}</th>{cells}<td class="total">{total}</td></tr>"#,
                id = b.bundle,
                name = name(b),
                total = num(lang, b.yearly_kwh, 0),
            )
        })
        .collect();
    let wide = format!(
        r#"<table id="year-bundles" class="year-bundles wide"><thead><tr><th></th>{head}<th scope="col">{total}</th></tr></thead><tbody>{rows}</tbody></table>"#
    );

    let cols: String = shown
        .iter()
        .map(|(b, class)| {
            format!(
                r#"<th scope="col" class="{class}" data-bundle="{}">{}</th>"#,
                b.bundle,
                name(b)
            )
        })
        .collect();
    let cell = |class: &str, kwh: f64| format!(r#"<td class="{class}">{}</td>"#, num(lang, kwh, 0));
    let months: String = (0..12)
        .map(|i| {
            let cells: String = shown
                .iter()
                .map(|(b, class)| cell(class, b.monthly_kwh.get(i).copied().unwrap_or(0.0)))
                .collect();
            format!(r#"<tr><th scope="row">{}</th>{cells}</tr>"#, month(i))
        })
        .collect();
    let totals: String = shown
        .iter()
        .map(|(b, class)| cell(class, b.yearly_kwh))
        .collect();
    let narrow = format!(
        r#"<table id="year-bundles-months" class="year-bundles narrow"><thead><tr><th></th>{cols}</tr></thead><tbody>{months}<tr class="total"><th scope="row">{total}</th>{totals}</tr></tbody></table>"#
    );
    let more = if shown.iter().any(|(_, class)| *class == "part") {
        format!(
            r#"<p><button type="button" id="year-more" aria-expanded="true" aria-controls="year-bundles year-bundles-months" hidden>{}</button></p>"#,
            t(lang, "more")
        )
    } else {
        String::new()
    };
    format!("{wide}{narrow}{more}")
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
            let note = match lang {
                Lang::En => c.note_en.as_ref().or(c.note.as_ref()),
                Lang::Nl => c.note.as_ref(),
            };
            let note = note.map_or(String::new(), |n| format!("<p>{}</p>", esc(n)));
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
