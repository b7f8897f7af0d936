//! `[dwelling]` and `[[contact]]`: the home itself, as the resident's dashboard shows
//! it (address, manuals, the contract's guarantees, who installed and maintains it).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use toml::Spanned;

use super::ledger::Problem;
use crate::model::{Celsius, WattHours};

pub use crate::ledger::comfort::NOM_ROOM_TEMPERATURE;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DwellingConfig {
    /// Usable floor area (GO, NEN 2580), m².
    #[serde(default)]
    pub floor_area: Option<f64>,
    #[serde(default)]
    pub persons: Option<f64>,
    #[serde(default)]
    pub address: Option<String>,
    /// A folder of documents (manuals) the dashboard lists.
    #[serde(default)]
    pub manuals: Option<Spanned<String>>,
    /// The contract's minimum PV yield per year, kWh.
    #[serde(default)]
    pub pv_guarantee_kwh: Option<Spanned<f64>>,
    /// The room temperature the contract guarantees, °C.
    #[serde(default)]
    pub room_temperature: Option<Spanned<f64>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContactConfig {
    pub role: Spanned<String>,
    pub name: String,
    #[serde(default)]
    pub phone: Option<String>,
    #[serde(default)]
    pub email: Option<Spanned<String>>,
    #[serde(default)]
    pub web: Option<Spanned<String>>,
    /// A line of its own, e.g. opening hours or "faults: 24/7".
    #[serde(default)]
    pub note: Option<String>,
    /// The same line in English, for the English pages (without it they show `note`).
    #[serde(default)]
    pub note_en: Option<String>,
}

/// What a contact does for the home.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Installer,
    Maintainer,
    Landlord,
    Supplier,
    Other,
}

impl Role {
    pub const ALL: [Role; 5] = [
        Role::Installer,
        Role::Maintainer,
        Role::Landlord,
        Role::Supplier,
        Role::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Installer => "installer",
            Role::Maintainer => "maintainer",
            Role::Landlord => "landlord",
            Role::Supplier => "supplier",
            Role::Other => "other",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Contact {
    pub role: Role,
    pub name: String,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub web: Option<String>,
    pub note: Option<String>,
    pub note_en: Option<String>,
}

/// The home as the dashboard shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Home {
    pub address: Option<String>,
    /// The manuals folder (a relative path is taken from the config file's folder).
    pub manuals: Option<PathBuf>,
    pub pv_guarantee: Option<WattHours>,
    pub room_temperature: Celsius,
    pub contacts: Vec<Contact>,
}

impl Default for Home {
    fn default() -> Self {
        Self {
            address: None,
            manuals: None,
            pv_guarantee: None,
            room_temperature: Celsius(NOM_ROOM_TEMPERATURE),
            contacts: Vec::new(),
        }
    }
}

/// Checks `[dwelling]`'s dashboard keys and the contacts; `config_path` is the
/// config file's path, for a relative manuals folder. A missing manuals folder is a
/// warning: the installer may fill it later.
pub fn resolve(
    d: &DwellingConfig,
    contacts: &[ContactConfig],
    config_path: &Path,
    problems: &mut Vec<Problem>,
    warnings: &mut Vec<Problem>,
) -> Home {
    let manuals = d.manuals.as_ref().map(|m| {
        let path = config_path
            .parent()
            .unwrap_or(Path::new(""))
            .join(m.get_ref());
        if !path.is_dir() {
            warnings.push((
                Some(m.span()),
                format!(
                    "dwelling: manuals folder `{}` does not exist (yet); the dashboard lists no manuals until it does",
                    path.display()
                ),
            ));
        }
        path
    });
    let pv_guarantee = d.pv_guarantee_kwh.as_ref().and_then(|g| {
        let kwh = *g.get_ref();
        if kwh.is_finite() && kwh > 0.0 {
            Some(WattHours::from_kwh(kwh))
        } else {
            problems.push((
                Some(g.span()),
                format!(
                    "dwelling: pv_guarantee_kwh {kwh} is not a positive number of kWh per year"
                ),
            ));
            None
        }
    });
    let room_temperature = match &d.room_temperature {
        None => Celsius(NOM_ROOM_TEMPERATURE),
        Some(t) if (15.0..=25.0).contains(t.get_ref()) => Celsius(*t.get_ref()),
        Some(t) => {
            problems.push((
                Some(t.span()),
                format!(
                    "dwelling: room_temperature {} °C is outside 15..=25 °C (the NOM Keur asks at least {NOM_ROOM_TEMPERATURE} °C)",
                    t.get_ref()
                ),
            ));
            Celsius(NOM_ROOM_TEMPERATURE)
        }
    };
    Home {
        address: d.address.clone(),
        manuals,
        pv_guarantee,
        room_temperature,
        contacts: contacts
            .iter()
            .filter_map(|c| contact(c, problems))
            .collect(),
    }
}

fn contact(c: &ContactConfig, problems: &mut Vec<Problem>) -> Option<Contact> {
    let role = Role::ALL
        .into_iter()
        .find(|r| r.as_str() == c.role.get_ref());
    if role.is_none() {
        let names: Vec<_> = Role::ALL
            .iter()
            .map(|r| format!("`{}`", r.as_str()))
            .collect();
        problems.push((
            Some(c.role.span()),
            format!(
                "contact: role `{}` is not one of {}",
                c.role.get_ref(),
                names.join(", ")
            ),
        ));
    }
    if let Some(e) = &c.email
        && !e.get_ref().contains('@')
    {
        problems.push((
            Some(e.span()),
            format!("contact: email `{}` has no @", e.get_ref()),
        ));
    }
    if let Some(w) = &c.web
        && !(w.get_ref().starts_with("https://") || w.get_ref().starts_with("http://"))
    {
        problems.push((
            Some(w.span()),
            format!(
                "contact: web `{}` does not start with https:// or http://",
                w.get_ref()
            ),
        ));
    }
    Some(Contact {
        role: role?,
        name: c.name.clone(),
        phone: c.phone.clone(),
        email: c.email.as_ref().map(|e| e.get_ref().clone()),
        web: c.web.as_ref().map(|w| w.get_ref().clone()),
        note: c.note.clone(),
        note_en: c.note_en.clone(),
    })
}
