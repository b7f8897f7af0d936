//! A simulated NOM dwelling behind one Modbus gateway: a SunSpec PV inverter,
//! an SDM630 grid meter, an SDM120 on the installations' group and a Luxtronik
//! heat pump with a hot-water tank that follows `shared/data/MODEL.md` (one mixed
//! node here; the stratified model belongs to the backtest).

use std::time::Duration;

use chrono::{DateTime, Datelike, TimeZone, Timelike, Utc};
use chrono_tz::Europe::Amsterdam;
use tokio_util::sync::CancellationToken;

use super::image::{Bank, Fault, UnitImage};
use crate::modbus::{DataType, RegisterKind, WordOrder, encode};
use crate::model::SgState;

/// Unit ids of the simulated devices.
pub const UNIT_INVERTER: u8 = 1;
pub const UNIT_GRID_METER: u8 = 2;
pub const UNIT_INSTALLATIONS_METER: u8 = 3;
pub const UNIT_HEAT_PUMP: u8 = 4;
/// An 8-channel relay board whose relays 1 and 2 are wired to the heat pump's SG
/// Ready terminals (contacts A and B).
pub const UNIT_RELAYS: u8 = 5;

/// What the simulated heat pump heats the tank to in SG Ready state 3 (its hot-water
/// target plus the installer's 5 K raise) and in state 4.
pub const SG_RAISED_C: f64 = 55.0;
pub const SG_FORCED_C: f64 = 60.0;

/// Where model 103 starts in the simulated inverter (base 40000, common model L = 66).
pub const SUNSPEC_INVERTER_MODEL: u16 = 40070;

/// Physical state of the dwelling.
#[derive(Debug, Clone)]
pub struct Dwelling {
    pub now: DateTime<Utc>,
    pub pv_w: f64,
    pub household_w: f64,
    pub ventilation_w: f64,
    pub space_heating_w: f64,
    pub dhw_w: f64,
    pub outdoor_c: f64,
    pub tank_c: f64,
    pub dhw_target_c: f64,
    pub charging: bool,
    /// The state on the heat pump's SG Ready terminals.
    pub sg: SgState,
    /// Counters in kWh.
    pub pv_kwh: f64,
    pub grid_import_kwh: f64,
    pub grid_export_kwh: f64,
    pub installations_kwh: f64,
    pub hp_kwh: f64,
    pub hp_dhw_kwh: f64,
    /// Heat delivered to the tank, kWh.
    pub dhw_heat_kwh: f64,
    cloud: f64,
    appliance_w: f64,
    appliance_left_s: f64,
}

const TANK_L: f64 = 200.0;
const C_W: f64 = 1.163e-3; // kWh/(l·K)
const UA_W_PER_K: f64 = 1.6;
const T_AMBIENT: f64 = 18.0;

impl Dwelling {
    pub fn new(start: DateTime<Utc>) -> Self {
        let mut d = Self {
            now: start,
            pv_w: 0.0,
            household_w: 0.0,
            ventilation_w: 30.0,
            space_heating_w: 0.0,
            dhw_w: 0.0,
            outdoor_c: 8.0,
            tank_c: 50.0,
            dhw_target_c: 50.0,
            charging: false,
            sg: SgState::Normal,
            pv_kwh: 18_234.5,
            grid_import_kwh: 12_345.6,
            grid_export_kwh: 9_876.5,
            installations_kwh: 6_543.2,
            hp_kwh: 5_678.9,
            hp_dhw_kwh: 1_234.5,
            dhw_heat_kwh: 3_086.2,
            cloud: 0.8,
            appliance_w: 0.0,
            appliance_left_s: 0.0,
        };
        d.update_powers(0.0);
        d
    }

    /// Grid power, + import / − export.
    pub fn grid_w(&self) -> f64 {
        self.household_w + self.installations_w() - self.pv_w
    }

    pub fn installations_w(&self) -> f64 {
        self.ventilation_w + self.heat_pump_w()
    }

    pub fn heat_pump_w(&self) -> f64 {
        self.space_heating_w + self.dhw_w
    }

    /// Advances the physics by `dt` seconds in steps of at most a minute.
    pub fn advance(&mut self, dt: f64) {
        let mut left = dt;
        while left > 0.0 {
            let h = left.min(60.0);
            self.step(h);
            left -= h;
        }
    }

    fn local_hours(&self) -> (f64, u32) {
        let local = self.now.with_timezone(&Amsterdam);
        let h = f64::from(local.hour())
            + f64::from(local.minute()) / 60.0
            + f64::from(local.second()) / 3600.0;
        (h, local.ordinal())
    }

    fn update_powers(&mut self, dt: f64) {
        let (hour, day) = self.local_hours();
        let season = (2.0 * std::f64::consts::PI * (f64::from(day) - 172.0) / 365.0).cos(); // 1 at midsummer
        // Weather: a slow random walk of cloudiness.
        self.cloud =
            (self.cloud + (fastrand::f64() - 0.5) * 0.02 * (dt / 60.0).sqrt()).clamp(0.2, 1.0);
        self.outdoor_c =
            10.0 + 7.5 * season + 3.0 * ((hour - 9.0) / 24.0 * 2.0 * std::f64::consts::PI).sin();
        // PV: a bell between sunrise and sunset, higher and longer in summer (5.6 kWp, 5 kW inverter).
        let half_day = 6.0 + 2.2 * season;
        let x = (hour - 13.5) / half_day;
        let peak = 2600.0 + 2000.0 * season;
        self.pv_w = if x.abs() < 1.0 {
            (peak * (std::f64::consts::FRAC_PI_2 * x).cos().powf(1.5) * self.cloud).min(5000.0)
        } else {
            0.0
        };
        // Household: base load, morning and evening peaks, random appliances.
        let shape = 180.0 + 250.0 * gauss(hour, 7.5, 1.0) + 450.0 * gauss(hour, 18.5, 1.5);
        if self.appliance_left_s <= 0.0
            && fastrand::f64() < dt / 3600.0 * 0.6
            && (7.0..23.0).contains(&hour)
        {
            self.appliance_w = [2000.0, 1200.0, 2200.0, 800.0][fastrand::usize(..4)];
            self.appliance_left_s = 600.0 + fastrand::f64() * 3000.0;
        }
        if self.appliance_left_s > 0.0 {
            self.appliance_left_s -= dt;
        } else {
            self.appliance_w = 0.0;
        }
        self.household_w = shape + self.appliance_w;
        // Space heating: heat loss 110 W/K below 18 °C at a COP of about 4.5.
        self.space_heating_w = (110.0 * (18.0 - self.outdoor_c)).max(0.0) / 4.5;
    }

    fn step(&mut self, dt: f64) {
        self.now += chrono::Duration::milliseconds((dt * 1000.0) as i64);
        self.update_powers(dt);
        let (hour, _) = self.local_hours();
        // Draws: showers in the morning, kitchen and showers in the evening (kWh_th per hour).
        let draw_kw = 1.6 * gauss(hour, 7.25, 0.4)
            + 0.5 * gauss(hour, 12.5, 0.5)
            + 1.4 * gauss(hour, 19.5, 0.8);
        let heat_kwh = TANK_L * C_W;
        let loss_kw = UA_W_PER_K * (self.tank_c - T_AMBIENT) / 1000.0;
        // Heat pump DHW: a thermostat with 5 K hysteresis towards the target; SG Ready
        // state 3 or 4 starts it at once, a lock (state 1) stops it.
        let hysteresis = match self.sg {
            SgState::Recommend | SgState::Force => 0.5,
            _ => 5.0,
        };
        if self.tank_c < self.dhw_target_c - hysteresis {
            self.charging = true;
        }
        if self.tank_c >= self.dhw_target_c || self.sg == SgState::Lock {
            self.charging = false;
        }
        let p_th = (3.2 + 0.04 * (self.outdoor_c - 7.0)).clamp(2.4, 3.6);
        let cop = cop_dhw(self.dhw_target_c.max(55.0), self.outdoor_c);
        let charge_kw = if self.charging { p_th } else { 0.0 };
        self.dhw_w = charge_kw / cop * 1000.0;
        self.tank_c += (charge_kw - draw_kw - loss_kw) * dt / 3600.0 / heat_kwh;
        self.tank_c = self.tank_c.clamp(10.0, 75.0);
        // Counters.
        let h = dt / 3600.0 / 1000.0;
        self.pv_kwh += self.pv_w * h;
        let grid = self.grid_w();
        if grid > 0.0 {
            self.grid_import_kwh += grid * h;
        } else {
            self.grid_export_kwh += -grid * h;
        }
        self.installations_kwh += self.installations_w() * h;
        self.hp_kwh += self.heat_pump_w() * h;
        self.hp_dhw_kwh += self.dhw_w * h;
        self.dhw_heat_kwh += charge_kw * dt / 3600.0;
    }
}

fn gauss(x: f64, mu: f64, sigma: f64) -> f64 {
    (-((x - mu) / sigma).powi(2) / 2.0).exp()
}

/// DHW COP after `MODEL.md` §3: Carnot fraction 0.45, condensing at target + 5 K,
/// evaporating at outdoor − 6 K, clipped to 1.5..5.
pub fn cop_dhw(target_c: f64, outdoor_c: f64) -> f64 {
    let tk = target_c + 5.0 + 273.15;
    let ts = outdoor_c - 6.0 + 273.15;
    (0.45 * tk / (tk - ts)).clamp(1.5, 5.0)
}

fn put(img: &mut UnitImage, kind: RegisterKind, addr: u16, ty: DataType, v: f64) {
    if let Ok(words) = encode(v, ty, WordOrder::ABCD) {
        img.set(kind, addr, &words);
    }
}

fn put_str(img: &mut UnitImage, addr: u16, len: u16, s: &str) {
    let mut bytes = s.as_bytes().to_vec();
    bytes.resize(usize::from(len) * 2, 0);
    let words: Vec<u16> = bytes
        .chunks(2)
        .map(|c| u16::from_be_bytes([c[0], c[1]]))
        .collect();
    img.set(RegisterKind::Holding, addr, &words);
}

/// The inverter's SunSpec map: marker, common model (L = 66), model 103 (L = 50), end.
fn inverter_image() -> UnitImage {
    let mut img = UnitImage::default();
    let h = RegisterKind::Holding;
    img.set(h, 40000, &[0x5375, 0x6E53, 1, 66]);
    put_str(&mut img, 40004, 16, "nomhub-sim");
    put_str(&mut img, 40020, 16, "SIM-5000");
    put_str(&mut img, 40036, 8, "");
    put_str(&mut img, 40044, 8, "1.0.0");
    put_str(&mut img, 40052, 16, "SIM0001");
    img.set(h, 40068, &[UNIT_INVERTER as u16, 0]);
    img.set(h, SUNSPEC_INVERTER_MODEL, &[103, 50]);
    for off in 2..52u16 {
        img.set(h, SUNSPEC_INVERTER_MODEL + off, &[0]);
    }
    // Unimplemented points carry the sentinels.
    for off in [7u16, 8, 9, 18, 20, 22, 34, 35, 36] {
        img.set(h, SUNSPEC_INVERTER_MODEL + off, &[0x8000]);
    }
    img.set(h, SUNSPEC_INVERTER_MODEL + 52, &[0xFFFF, 0]);
    img.writable.push(40068);
    img
}

/// Puts energy counter `addr`, in units of 1/`per_kwh` kWh, as the unit shows `kwh`.
fn put_counter(
    img: &mut UnitImage,
    kind: RegisterKind,
    addr: u16,
    ty: DataType,
    per_kwh: f64,
    kwh: f64,
) {
    let v = shown(img, addr, kwh) * per_kwh;
    put(img, kind, addr, ty, v);
}

/// What a replaced meter reads when it is put in.
pub const REPLACED_AT_KWH: f64 = 12.0;

/// What energy counter `reg` of `unit` shows when the dwelling has counted `kwh`: the
/// count itself, or what a faulty or replaced meter would show.
fn shown(unit: &mut UnitImage, reg: u16, kwh: f64) -> f64 {
    match unit.fault {
        Some(Fault::CounterBackwards) => kwh - 5.0,
        Some(Fault::MeterReplaced) => {
            REPLACED_AT_KWH + kwh - *unit.replaced.entry(reg).or_insert(kwh)
        }
        _ => {
            unit.replaced.clear();
            kwh
        }
    }
}

/// Builds every unit's image from the dwelling's state.
pub fn render(d: &Dwelling, bank: &Bank) {
    bank.set_now(d.now);
    let mut units = bank.lock();
    let ir = RegisterKind::Input;
    let hr = RegisterKind::Holding;
    if let Some(inv) = units.get_mut(&UNIT_INVERTER) {
        let m = SUNSPEC_INVERTER_MODEL;
        let amps = d.pv_w / 230.0 / 3.0;
        put(inv, hr, m + 2, DataType::U16, amps * 300.0); // A_SF = -2, three phases
        for ph in 0..3 {
            put(inv, hr, m + 3 + ph, DataType::U16, amps * 100.0);
        }
        put(inv, hr, m + 6, DataType::I16, -2.0);
        for ph in 0..3 {
            put(
                inv,
                hr,
                m + 10 + ph,
                DataType::U16,
                2301.0 + f64::from(ph) * 3.0,
            );
        }
        put(inv, hr, m + 13, DataType::I16, -1.0);
        put(inv, hr, m + 14, DataType::I16, d.pv_w.round());
        put(inv, hr, m + 15, DataType::I16, 0.0);
        put(inv, hr, m + 16, DataType::U16, 5000.0);
        put(inv, hr, m + 17, DataType::I16, -2.0);
        put_counter(inv, hr, m + 24, DataType::U32, 1000.0, d.pv_kwh);
        put(inv, hr, m + 26, DataType::I16, 0.0);
        put(
            inv,
            hr,
            m + 31,
            DataType::I16,
            (d.pv_w * 1.03 / 10.0).round(),
        );
        put(inv, hr, m + 32, DataType::I16, 1.0);
        put(
            inv,
            hr,
            m + 33,
            DataType::I16,
            ((d.outdoor_c + 12.0 + d.pv_w / 200.0) * 10.0).round(),
        );
        put(inv, hr, m + 37, DataType::I16, -1.0);
        put(
            inv,
            hr,
            m + 38,
            DataType::U16,
            if d.pv_w > 0.0 { 4.0 } else { 2.0 },
        );
    }

    if let Some(g) = units.get_mut(&UNIT_GRID_METER) {
        let p = d.grid_w();
        for ph in 0..3u16 {
            put(g, ir, ph * 2, DataType::F32, 230.1 + f64::from(ph) * 0.4);
            put(g, ir, 6 + ph * 2, DataType::F32, p / 3.0 / 230.0);
            put(g, ir, 12 + ph * 2, DataType::F32, p / 3.0);
        }
        put(g, ir, 0x34, DataType::F32, p);
        put(g, ir, 0x46, DataType::F32, 50.0);
        put_counter(g, ir, 0x48, DataType::F32, 1.0, d.grid_import_kwh);
        put_counter(g, ir, 0x4A, DataType::F32, 1.0, d.grid_export_kwh);
    }

    if let Some(m) = units.get_mut(&UNIT_INSTALLATIONS_METER) {
        let p = d.installations_w();
        put(m, ir, 0, DataType::F32, 230.4);
        put(m, ir, 6, DataType::F32, p / 230.0);
        put(m, ir, 0x0C, DataType::F32, p);
        put(m, ir, 0x46, DataType::F32, 50.0);
        put_counter(m, ir, 0x48, DataType::F32, 1.0, d.installations_kwh);
        put(m, ir, 0x4A, DataType::F32, 0.0);
    }

    if let Some(hp) = units.get_mut(&UNIT_HEAT_PUMP) {
        let mode = if d.charging {
            1.0
        } else if d.space_heating_w > 0.0 {
            0.0
        } else {
            5.0
        };
        put(
            hp,
            ir,
            10000,
            DataType::U16,
            if d.heat_pump_w() > 0.0 { 1.0 } else { 0.0 },
        );
        put(hp, ir, 10002, DataType::U16, mode);
        put(
            hp,
            ir,
            10003,
            DataType::U16,
            if d.space_heating_w > 0.0 { 3.0 } else { 1.0 },
        );
        put(
            hp,
            ir,
            10004,
            DataType::U16,
            if d.charging { 3.0 } else { 1.0 },
        );
        put(
            hp,
            ir,
            10105,
            DataType::U16,
            ((30.0 - d.outdoor_c * 0.4) * 10.0).round(),
        );
        put(hp, ir, 10108, DataType::I16, (d.outdoor_c * 10.0).round());
        put(hp, ir, 10120, DataType::I16, (d.tank_c * 10.0).round());
        put(
            hp,
            ir,
            10121,
            DataType::U16,
            (d.dhw_target_c * 10.0).round(),
        );
        put(
            hp,
            ir,
            10301,
            DataType::U16,
            (d.heat_pump_w() / 100.0).round(),
        );
        put_counter(hp, ir, 10310, DataType::I32, 10.0, d.hp_kwh);
        put(
            hp,
            ir,
            10312,
            DataType::I32,
            ((d.hp_kwh - d.hp_dhw_kwh) * 10.0).round(),
        );
        put_counter(hp, ir, 10314, DataType::I32, 10.0, d.hp_dhw_kwh);
        put_counter(hp, ir, 10324, DataType::I32, 10.0, d.dhw_heat_kwh);
    }
}

/// The Luxtronik's own control: reads the SHI holding registers the way the
/// controller would and sets the tank target.
fn apply_controls(d: &mut Dwelling, bank: &Bank) {
    let mut units = bank.lock();
    // Relays 1 and 2 are contacts A and B of the heat pump's SG Ready input.
    d.sg = units.get(&UNIT_RELAYS).map_or(SgState::Normal, |r| {
        let on = |a: u16| r.get(RegisterKind::Coil, a).is_some_and(|v| v != 0);
        SgState::from_contacts(on(0), on(1))
    });
    let Some(hp) = units.get_mut(&UNIT_HEAT_PUMP) else {
        return;
    };
    let reg = |a: u16| hp.get(RegisterKind::Holding, a).unwrap_or(0);
    let mode = reg(10005);
    let setpoint = f64::from(reg(10006)) / 10.0;
    let offset = f64::from(reg(10007) as i16) / 10.0;
    let base = 50.0;
    d.dhw_target_c = match mode {
        1 => setpoint.clamp(30.0, 65.0),
        2 => (base + offset).clamp(30.0, 65.0),
        _ => base,
    };
    d.dhw_target_c = match d.sg {
        SgState::Recommend => d.dhw_target_c.max(SG_RAISED_C),
        SgState::Force => d.dhw_target_c.max(SG_FORCED_C),
        _ => d.dhw_target_c,
    };
    if reg(10071) == 1 {
        // One-off heating to the maximum; the controller clears the request when done.
        d.dhw_target_c = 60.0;
        d.charging = true;
        if d.tank_c >= 59.9 {
            hp.set(RegisterKind::Holding, 10071, &[0]);
        }
    }
}

fn heat_pump_image() -> UnitImage {
    let mut img = UnitImage {
        strict: true,
        ..UnitImage::default()
    };
    let ir = RegisterKind::Input;
    for a in [
        10000u16, 10002, 10003, 10004, 10105, 10108, 10120, 10121, 10301,
    ] {
        img.set(ir, a, &[0]);
    }
    for a in [10310u16, 10312, 10314, 10324] {
        img.set(ir, a, &[0, 0]);
    }
    img.set(ir, 10400, &[3, 92, 1]);
    let hr = RegisterKind::Holding;
    // SHI defaults: no influence, 40.0 °C, 0 K; power limit off; no boost.
    for (a, v) in [
        (10005u16, 0u16),
        (10006, 400),
        (10007, 0),
        (10040, 0),
        (10041, 300),
        (10071, 0),
    ] {
        img.set(hr, a, &[v]);
        img.writable.push(a);
    }
    img
}

/// The relay board: eight relays, all off, as after power-up.
pub fn relays_image() -> UnitImage {
    let mut img = UnitImage {
        strict: true,
        ..UnitImage::default()
    };
    for a in 0..8u16 {
        img.set(RegisterKind::Coil, a, &[0]);
    }
    img
}

/// The gateway's units, freshly built for a dwelling.
pub fn install(bank: &Bank, d: &Dwelling) {
    bank.insert(UNIT_INVERTER, inverter_image());
    bank.insert(UNIT_GRID_METER, UnitImage::default());
    bank.insert(UNIT_INSTALLATIONS_METER, UnitImage::default());
    bank.insert(UNIT_HEAT_PUMP, heat_pump_image());
    bank.insert(UNIT_RELAYS, relays_image());
    render(d, bank);
}

/// Runs the physics: every `tick` of real time the dwelling advances `speed` × tick.
/// A speed of 0 freezes it (handy for comparing tools).
pub async fn run(
    mut d: Dwelling,
    bank: Bank,
    speed: f64,
    tick: Duration,
    cancel: CancellationToken,
) {
    let mut interval = tokio::time::interval(tick);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = cancel.cancelled() => return,
            _ = interval.tick() => {}
        }
        if speed <= 0.0 || bank.is_paused() {
            continue;
        }
        apply_controls(&mut d, &bank);
        d.advance(tick.as_secs_f64() * speed);
        render(&d, &bank);
    }
}

/// Local Amsterdam time `hour`:00 today, as UTC.
pub fn today_at(hour: u32) -> DateTime<Utc> {
    let now: DateTime<Utc> = crate::clock::now().into();
    let local = now.with_timezone(&Amsterdam).date_naive();
    let naive = local.and_hms_opt(hour, 0, 0).unwrap_or_default();
    Amsterdam
        .from_local_datetime(&naive)
        .earliest()
        .map_or(now, |t| t.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cop_matches_the_model_table() {
        // MODEL.md §3: COP55 = 2.05 / 2.54 / 3.26 at −7 / 7 / 20 °C.
        for (t, want) in [(-7.0, 2.05), (7.0, 2.54), (20.0, 3.26)] {
            assert!(
                (cop_dhw(55.0, t) - want).abs() < 0.01,
                "{t}: {}",
                cop_dhw(55.0, t)
            );
        }
    }

    #[test]
    fn the_tank_heats_when_asked_and_cools_with_draws() {
        let start = Amsterdam
            .with_ymd_and_hms(2025, 6, 21, 5, 0, 0)
            .unwrap()
            .with_timezone(&Utc);
        let mut d = Dwelling::new(start);
        d.tank_c = 40.0;
        d.dhw_target_c = 55.0;
        d.advance(600.0);
        assert!(d.charging && d.tank_c > 40.0, "tank {}", d.tank_c);
        assert!(d.dhw_w > 500.0);
        // Counters only go up, and the energy balance holds.
        let (i0, e0, pv0) = (d.grid_import_kwh, d.grid_export_kwh, d.pv_kwh);
        d.advance(6.0 * 3600.0);
        assert!(d.grid_import_kwh >= i0 && d.grid_export_kwh >= e0 && d.pv_kwh > pv0);
    }

    #[test]
    fn sg_ready_raises_the_target_and_a_lock_stops_the_heat_pump() {
        let start = Amsterdam
            .with_ymd_and_hms(2025, 6, 21, 11, 0, 0)
            .unwrap()
            .with_timezone(&Utc);
        let bank = Bank::default();
        let mut d = Dwelling::new(start);
        install(&bank, &d);
        d.tank_c = 49.0;
        // Contacts 0:1, state 3: the tank is heated to the raised target at once.
        bank.lock()
            .get_mut(&UNIT_RELAYS)
            .unwrap()
            .set(RegisterKind::Coil, 1, &[1]);
        apply_controls(&mut d, &bank);
        assert_eq!((d.sg, d.dhw_target_c), (SgState::Recommend, SG_RAISED_C));
        d.advance(60.0);
        assert!(d.charging);
        // 1:0, a lock: it stops.
        {
            let mut units = bank.lock();
            let r = units.get_mut(&UNIT_RELAYS).unwrap();
            r.set(RegisterKind::Coil, 0, &[1]);
            r.set(RegisterKind::Coil, 1, &[0]);
        }
        apply_controls(&mut d, &bank);
        d.advance(60.0);
        assert_eq!(d.sg, SgState::Lock);
        assert!(!d.charging && d.dhw_w == 0.0);
    }
}
