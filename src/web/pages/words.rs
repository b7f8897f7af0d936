//! Every text a page shows, in Dutch and English.

use super::Lang;

/// Every text a page shows, in both languages.
pub(super) fn t(lang: Lang, key: &str) -> &'static str {
    let (nl, en) = match key {
        "title" => ("Overzicht", "Overview"),
        "prices" => ("Stroomprijs", "Electricity price"),
        "price_now" => ("Nu", "Now"),
        "price_next_hour" => ("Volgend uur", "Next hour"),
        "feed_in_now" => ("Teruglevering nu", "Feed-in now"),
        "per_kwh" => ("per kWh", "per kWh"),
        "cost_today" => ("Vandaag tot nu", "Today so far"),
        "cost_month" => ("Deze maand", "This month"),
        "prices_today" => ("Vandaag", "Today"),
        "prices_tomorrow" => ("Morgen", "Tomorrow"),
        "cheapest" => ("goedkoopst", "cheapest"),
        "dearest" => ("duurst", "dearest"),
        "prices_not_yet" => (
            "Nog niet bekend: de prijzen voor morgen komen rond 13:00.",
            "Not known yet: tomorrow's prices come at about 13:00.",
        ),
        "price_fallback" => (
            "De marktprijs van nu ontbreekt; de gemiddelde prijs uit het contract telt tot hij er is.",
            "The market price for now is missing; the contract's average price counts until it comes.",
        ),
        "updated_at" => ("bijgewerkt om", "updated at"),
        "connection_lost" => (
            "verbinding verbroken: de waarden hierboven zijn niet actueel",
            "connection lost: the values above are not current",
        ),
        "room_days" => ("Warmte in huis", "Warmth at home"),
        "room_days_text" => (
            "dagen van het stookseizoen te koud (een uur of langer onder de afgesproken temperatuur)",
            "days of the heating season too cold (an hour or more below the agreed temperature)",
        ),
        "lowest" => ("laagst", "lowest"),
        "hot_water_days" => ("Warm water", "Hot water"),
        "hot_water_days_text" => (
            "dagen met te weinig warm water (boiler onder 40 °C)",
            "days short of hot water (tank below 40 °C)",
        ),
        "cold_minutes" => ("minuten in totaal", "minutes in all"),
        "measured_from" => ("gemeten vanaf", "measured from"),
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
        "heading_for" => ("op weg naar", "heading for"),
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
        "over_bundle" => ("boven de bundel", "over the bundle"),
        "under_bundle" => ("onder de bundel", "under the bundle"),
        "no_data" => (
            "Geen gegevens: in deze periode is niets geboekt.",
            "No data: nothing was booked in this period.",
        ),
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
        "m_boost" => ("extra warm", "boost"),
        "set_mode" => ("Stand kiezen", "Choose the mode"),
        "b_off" => ("Uit", "Off"),
        "b_smart" => ("Slim", "Smart"),
        "b_boost" => ("Extra warm", "Boost"),
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
        "sg_ready" => ("SG Ready-stand", "SG Ready state"),
        "sg_asked" => ("gevraagd:", "asked:"),
        "sg_lock" => ("1 · geblokkeerd", "1 · locked"),
        "sg_normal" => ("2 · normaal", "2 · normal"),
        "sg_recommend" => ("3 · aanbevolen aan", "3 · run recommended"),
        "sg_force" => ("4 · geforceerd aan", "4 · run forced"),
        "comfort" => ("Warm water", "Hot water"),
        "comfort_ok" => ("genoeg voor een grote tapbeurt", "enough for a large draw"),
        "comfort_low" => (
            "krap: minder dan een grote tapbeurt, de boiler warmt op",
            "low: less than a large draw, the tank is being heated",
        ),
        "large_draw" => ("een grote tapbeurt vraagt", "a large draw takes"),
        "sun_forecast" => ("Zonneverwachting", "Sun forecast"),
        "forecast_error" => (
            "de laatste twee weken zat de dag er gemiddeld naast met",
            "over the last two weeks a day's forecast was off by",
        ),
        "forecast_stale" => (
            "geen actuele verwachting: de regeling rekent met de zon die ze van de woning leerde",
            "none current: the strategy plans with the sun it learned from the home",
        ),
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
        "with_nm" => ("Het hele jaar met saldering", "All year with net metering"),
        "without_nm" => ("zonder", "without"),
        "legend" => (
            "▼ verwacht tot nu · | de bundel",
            "▼ expected by now · | the bundle",
        ),
        "split_note" => (
            "De saldering stopt binnen dit afrekenjaar.",
            "Net metering ends within this settlement year.",
        ),
        "no_prices" => (
            "Zonder tarief in de configuratie ([tariff]) alleen in kWh.",
            "Without a tariff in the configuration ([tariff]) in kWh only.",
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

/// Why the hot-water strategy wants what it wants, in the resident's language: English
/// as the strategy writes it, Dutch from the same fields (every case named: a new one
/// does not build until it is said here).
pub(super) fn why(lang: Lang, w: &crate::strategy::Why) -> String {
    use crate::strategy::{Missing, Why};
    if lang == Lang::En {
        return w.to_string();
    }
    let n = |x: f64, d: usize| super::num(lang, x, d);
    match *w {
        Why::Nothing => String::new(),
        Why::Cold { tank_c, floor_c } => format!(
            "comfort: de boiler is {} °C, onder {} °C",
            n(tank_c, 1),
            n(floor_c, 0)
        ),
        Why::Drawing {
            usable_kwh,
            burst_kwh,
        } => format!(
            "comfort: er wordt warm water getapt en er is nog {} kWh, minder dan een grote tapbeurt ({} kWh)",
            n(usable_kwh, 1),
            n(burst_kwh, 1)
        ),
        Why::BeforeDraws {
            usable_kwh,
            burst_kwh,
        } => format!(
            "meer comfort: het gewone tappen komt binnen het uur en er is nog {} kWh, minder dan een grote tapbeurt ({} kWh)",
            n(usable_kwh, 1),
            n(burst_kwh, 1)
        ),
        Why::Reserve {
            usable_kwh,
            reserve_kwh,
        } => format!(
            "comfort: nog {} kWh warm water; het gewone tappen brengt het onder de reserve van {} kWh",
            n(usable_kwh, 1),
            n(reserve_kwh, 1)
        ),
        Why::SunForEvening {
            target_c,
            surplus_w,
            room_kwh,
        } => format!(
            "opwarmen met de zon tot {} °C voor de avond: {} W over, ruimte voor {} kWh",
            n(target_c, 0),
            n(surplus_w, 0),
            n(room_kwh, 1)
        ),
        Why::BestSun {
            target_c,
            surplus_w,
        } => format!(
            "opwarmen tot {} °C met de beste zon voordat de boiler leeg raakt: {} W over",
            n(target_c, 0),
            n(surplus_w, 0)
        ),
        Why::Legionella {
            target_c,
            with_sun: true,
        } => format!("legionellaronde tot {} °C, met de zon", n(target_c, 0)),
        Why::Legionella {
            target_c,
            with_sun: false,
        } => format!(
            "legionellaronde tot {} °C: het venster sluit zonder zon",
            n(target_c, 0)
        ),
        Why::Lasts {
            usable_kwh,
            need_kwh,
        } => format!(
            "gestopt: {} kWh warm water is genoeg tot de zon terug is ({} kWh nodig)",
            n(usable_kwh, 1),
            n(need_kwh, 1)
        ),
        Why::Planned {
            target_c,
            surplus_w,
        } => format!(
            "planning: nu opwarmen tot {} °C is het goedkoopst voor de komende anderhalve dag ({} W over)",
            n(target_c, 0),
            n(surplus_w, 0)
        ),
        Why::PlanHolds { usable_kwh } => format!(
            "planning: gestopt, {} kWh warm water is genoeg tot er goedkopere warmte komt",
            n(usable_kwh, 1)
        ),
        Why::BoostNow { target_c } => format!("nu één keer opwarmen tot {} °C", n(target_c, 0)),
        Why::Off => "stand uit: de warmtepomp volgt zijn eigen instellingen".to_owned(),
        Why::BoostMode { target_c } => {
            format!(
                "stand extra warm: de boiler blijft op {} °C",
                n(target_c, 0)
            )
        }
        Why::Waiting { comfort_c } => format!(
            "wachten: de warmtepomp houdt de boiler boven {} °C",
            n(comfort_c, 0)
        ),
        Why::HandedBack { missing } => format!(
            "teruggegeven aan de eigen instellingen van de warmtepomp: geen actuele {}",
            match missing {
                Missing::TankTemperature => "boilertemperatuur",
                Missing::GridReading => "meting van het net",
            }
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::strategy::{Missing, Why};

    /// Every reason the strategy gives, said in Dutch, numbers the Dutch way.
    #[test]
    fn every_reason_is_said_in_dutch() {
        let all = [
            Why::Cold {
                tank_c: 41.5,
                floor_c: 45.0,
            },
            Why::Drawing {
                usable_kwh: 3.2,
                burst_kwh: 5.5,
            },
            Why::Reserve {
                usable_kwh: 2.5,
                reserve_kwh: 1.6,
            },
            Why::SunForEvening {
                target_c: 60.0,
                surplus_w: 1850.0,
                room_kwh: 4.2,
            },
            Why::BestSun {
                target_c: 55.0,
                surplus_w: 700.0,
            },
            Why::Legionella {
                target_c: 60.0,
                with_sun: true,
            },
            Why::Legionella {
                target_c: 60.0,
                with_sun: false,
            },
            Why::Lasts {
                usable_kwh: 6.5,
                need_kwh: 5.1,
            },
            Why::Planned {
                target_c: 55.0,
                surplus_w: 900.0,
            },
            Why::PlanHolds { usable_kwh: 4.5 },
            Why::BoostNow { target_c: 55.0 },
            Why::Off,
            Why::BoostMode { target_c: 55.0 },
            Why::Waiting { comfort_c: 45.0 },
            Why::HandedBack {
                missing: Missing::GridReading,
            },
            Why::HandedBack {
                missing: Missing::TankTemperature,
            },
        ];
        let english = [
            "tank",
            "the ",
            "hot water",
            "charge",
            "waiting",
            "handed",
            "stopped",
            "mode",
        ];
        for w in all {
            let (nl, en) = (why(Lang::Nl, &w), why(Lang::En, &w));
            assert_eq!(en, w.to_string());
            assert!(!nl.is_empty() && nl != en, "{w:?}");
            for word in english {
                assert!(!nl.contains(word), "English `{word}` in `{nl}`");
            }
            if en.contains('.') {
                assert!(nl.contains(','), "decimals the Dutch way: {nl}");
            }
        }
        assert_eq!(why(Lang::Nl, &Why::Nothing), "");
    }
}
