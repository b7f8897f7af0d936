//! Loading profiles (embedded in the binary, or from a directory for development)
//! and validating them, reporting every problem at once.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use super::schema::{DeviceKind, PointDef, ProfileFile, ResolvedProfile, Role};
use crate::modbus::{DataType, RegisterKind};
use crate::model::SgState;
use crate::report::{Issue, Report};

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/profiles.rs"));
}

/// A validated profile and where it came from.
#[derive(Debug, Clone)]
pub struct Profile {
    pub file: ProfileFile,
    pub kind: DeviceKind,
    /// `integrations/<kind>/<id>.toml`, or the file's path for a directory override.
    pub origin: String,
}

/// A model found on a SunSpec device: its id and the wire address of its ID register.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct FoundModel {
    pub id: u16,
    pub addr: u16,
    pub len: u16,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ProfileError {
    #[error(
        "profile `{profile}`: the device offers none of the SunSpec models {wanted:?} (found {found:?})"
    )]
    NoSunSpecModel {
        profile: String,
        wanted: Vec<u16>,
        found: Vec<u16>,
    },
    #[error("profile `{profile}` is a SunSpec profile; run discovery first")]
    NeedsDiscovery { profile: String },
    #[error("profile `{profile}`: point `{point}` lies outside model {model} (length {len})")]
    OutsideModel {
        profile: String,
        point: String,
        model: u16,
        len: u16,
    },
}

impl Profile {
    pub fn id(&self) -> &str {
        &self.file.id
    }

    pub fn is_sunspec(&self) -> bool {
        self.file.sunspec.is_some()
    }

    /// Wire addresses for a plain profile.
    pub fn resolve(&self) -> Result<ResolvedProfile, ProfileError> {
        if self.is_sunspec() {
            return Err(ProfileError::NeedsDiscovery {
                profile: self.id().to_owned(),
            });
        }
        let base = self.file.modbus.address_base;
        let points = self
            .file
            .points
            .iter()
            .map(|p| self.point_def(p, p.addr().saturating_sub(base), None))
            .collect();
        Ok(self.resolved(points, Vec::new()))
    }

    /// Wire addresses for a SunSpec profile on a device whose model chain is `found`.
    /// Common-model points come from model 1; the measurement points from the first
    /// model in `prefer` that the device has.
    pub fn resolve_sunspec(&self, found: &[FoundModel]) -> Result<ResolvedProfile, ProfileError> {
        let Some(sunspec) = &self.file.sunspec else {
            return self.resolve();
        };
        let chosen = sunspec
            .prefer
            .iter()
            .find_map(|m| found.iter().find(|f| f.id == *m))
            .ok_or_else(|| ProfileError::NoSunSpecModel {
                profile: self.id().to_owned(),
                wanted: sunspec.prefer.clone(),
                found: found.iter().map(|f| f.id).collect(),
            })?;
        let mut points = Vec::new();
        for p in &self.file.points {
            let models = p.model.as_deref().unwrap_or(&[]);
            let model = if models.contains(&chosen.id) {
                *chosen
            } else if let Some(m) = found
                .iter()
                .find(|f| models.contains(&f.id) && !sunspec.prefer.contains(&f.id))
            {
                *m
            } else {
                continue;
            };
            let words = p.ty.words(p.length.unwrap_or(0));
            if p.addr() + words > model.len + 2 {
                return Err(ProfileError::OutsideModel {
                    profile: self.id().to_owned(),
                    point: p.key.to_string(),
                    model: model.id,
                    len: model.len,
                });
            }
            let sf = p.scale_factor.map(|o| model.addr + o);
            points.push(self.point_def(p, model.addr + p.addr(), sf));
        }
        Ok(self.resolved(points, found.iter().map(|f| f.id).collect()))
    }

    fn resolved(&self, points: Vec<PointDef>, models: Vec<u16>) -> ResolvedProfile {
        let f = &self.file;
        ResolvedProfile {
            id: f.id.clone(),
            kind: self.kind,
            protocol: f.protocol,
            vendor: f.vendor.clone(),
            model: f.model.clone(),
            tiers: f.poll_tiers.iter().map(|(k, v)| (k.clone(), v.0)).collect(),
            max_block: f.modbus.max_block,
            max_gap: f.modbus.max_gap,
            timeout: f.modbus.timeout.map(|d| d.0),
            points,
            models,
        }
    }

    fn point_def(&self, p: &super::schema::PointFile, addr: u16, sf: Option<u16>) -> PointDef {
        PointDef {
            key: p.key.clone(),
            label: p.label.clone(),
            kind: p.reg(),
            addr,
            words: p.ty.words(p.length.unwrap_or(0)),
            ty: p.ty,
            order: p.word_order.unwrap_or(self.file.modbus.word_order),
            scale: p.scale,
            offset: p.offset,
            scale_factor_addr: sf,
            unit: p.unit,
            sign: p.sign,
            invalid: p.invalid.clone(),
            states: p.states.clone(),
            tier: p.poll.clone().unwrap_or_else(|| self.default_tier()),
            counter: p.counter,
            write: p.write,
            role: p.role,
            p1: p.p1,
        }
    }

    fn default_tier(&self) -> String {
        if self.file.poll_tiers.contains_key("fast") {
            "fast".to_owned()
        } else {
            self.file
                .poll_tiers
                .keys()
                .next()
                .cloned()
                .unwrap_or_else(|| "fast".to_owned())
        }
    }
}

/// Every profile nomhub knows, by id.
#[derive(Debug, Clone, Default)]
pub struct ProfileSet {
    profiles: BTreeMap<String, Profile>,
}

impl ProfileSet {
    /// The profiles built into the binary.
    pub fn embedded() -> Result<Self, Report> {
        Self::from_sources(
            embedded::PROFILES
                .iter()
                .map(|(path, text)| ((*path).to_owned(), (*text).to_owned())),
        )
    }

    /// Profiles from a directory laid out like `integrations/` (for development).
    pub fn from_dir(dir: &Path) -> Result<Self, Report> {
        let mut sources = Vec::new();
        let mut report = Report::default();
        let kinds = std::fs::read_dir(dir).map_err(|e| {
            let mut r = Report::default();
            r.push(Issue::at(
                &dir.display().to_string(),
                "",
                None,
                format!("cannot read: {e}"),
            ));
            r
        })?;
        for kind in kinds.flatten() {
            if !kind.path().is_dir() {
                continue;
            }
            let Ok(files) = std::fs::read_dir(kind.path()) else {
                continue;
            };
            for file in files.flatten() {
                let path = file.path();
                let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
                if path.extension().is_some_and(|e| e == "toml") && !name.starts_with('_') {
                    match std::fs::read_to_string(&path) {
                        Ok(text) => sources.push((path.display().to_string(), text)),
                        Err(e) => report.push(Issue::at(
                            &path.display().to_string(),
                            "",
                            None,
                            format!("cannot read: {e}"),
                        )),
                    }
                }
            }
        }
        match Self::from_sources(sources) {
            Ok(set) if report.is_empty() => Ok(set),
            Ok(_) => Err(report),
            Err(r) => {
                report.extend(r);
                Err(report)
            }
        }
    }

    /// Parses and validates `(path, text)` pairs; the path's last two parts give kind and id.
    pub fn from_sources(
        sources: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, Report> {
        let mut report = Report::default();
        let mut profiles = BTreeMap::new();
        for (path, text) in sources {
            if let Some(p) = parse(&path, &text, &mut report) {
                if profiles.contains_key(p.id()) {
                    report.push(Issue::at(
                        &path,
                        &text,
                        None,
                        format!("a second profile with id `{}`", p.id()),
                    ));
                } else {
                    profiles.insert(p.id().to_owned(), p);
                }
            }
        }
        report.into_result(Self { profiles })
    }

    pub fn get(&self, id: &str) -> Option<&Profile> {
        self.profiles.get(id)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Profile> {
        self.profiles.values()
    }

    pub fn ids(&self) -> Vec<&str> {
        self.profiles.keys().map(String::as_str).collect()
    }
}

/// Parses and validates one profile, adding its problems to `report`.
pub fn parse(path: &str, text: &str, report: &mut Report) -> Option<Profile> {
    let file: ProfileFile = match toml::from_str(text) {
        Ok(f) => f,
        Err(e) => {
            report.push(Issue::at(path, text, e.span(), e.message().to_owned()));
            return None;
        }
    };
    let before = report.issues.len();
    // Each problem points at its place: the point's `key = "..."` line, or the key set.
    let mut problem = |msg: String, at: Place| {
        report.push(Issue::at(path, text, at.find(text), msg));
    };
    let parts: Vec<&str> = path.rsplit(['/', '\\']).take(2).collect();
    let stem = parts
        .first()
        .and_then(|f| f.strip_suffix(".toml"))
        .unwrap_or("");
    let kind = parts.get(1).and_then(|k| DeviceKind::from_folder(k));
    if stem != file.id {
        problem(
            format!("id `{}` must equal the file name `{stem}`", file.id),
            Place::Key("id"),
        );
    }
    let Some(kind) = kind else {
        problem(
            "a profile must sit in heat_pump/, inverter/ or meter/".to_owned(),
            Place::File,
        );
        return None;
    };
    let m = &file.modbus;
    if m.address_base > 1 {
        problem(
            format!("address_base must be 0 or 1, not {}", m.address_base),
            Place::Key("address_base"),
        );
    }
    if m.max_block == 0 || m.max_block > 125 {
        problem(
            format!("max_block must be 1..=125, not {}", m.max_block),
            Place::Key("max_block"),
        );
    }
    if file.poll_tiers.is_empty() {
        problem(
            "poll_tiers needs at least one tier".to_owned(),
            Place::Key("poll_tiers"),
        );
    }
    for (name, d) in &file.poll_tiers {
        if d.0.is_zero() {
            problem(
                format!("poll tier `{name}` must be longer than 0s"),
                Place::Key(name),
            );
        }
    }
    if file.points.is_empty() {
        problem(
            "a profile needs at least one [[point]]".to_owned(),
            Place::Key("point"),
        );
    }
    let sunspec = file.sunspec.is_some();
    let p1 = file.protocol == super::schema::Protocol::P1;
    if p1 && sunspec {
        problem(
            "a P1 profile has no [sunspec]".to_owned(),
            Place::Key("sunspec"),
        );
    }
    for p in &file.points {
        let key = &p.key;
        let k = Place::Point(key.as_str());
        // A P1 point says what of the telegram it is; a Modbus point, where it lives.
        match (
            p1,
            p.p1.is_some(),
            p.register.is_some() && p.address.is_some(),
        ) {
            (true, true, _) if p.register.is_some() || p.address.is_some() => problem(
                format!("point `{key}`: a P1 point has no `register` or `address`"),
                k.clone(),
            ),
            (true, false, _) => problem(
                format!("point `{key}`: a P1 point needs `p1` (what of the telegram it is)"),
                k.clone(),
            ),
            (false, true, _) => problem(
                format!("point `{key}`: `p1` belongs in profiles with protocol = \"p1\""),
                k.clone(),
            ),
            (false, false, false) => problem(
                format!("point `{key}`: a Modbus point needs `register` and `address`"),
                k.clone(),
            ),
            _ => {}
        }
        if p1 && p.write.is_some() {
            problem(
                format!("point `{key}`: a P1 port cannot be written"),
                k.clone(),
            );
        }
        if sunspec != p.model.is_some() {
            problem(
                if sunspec {
                    format!("point `{key}`: SunSpec points need `model`")
                } else {
                    format!("point `{key}`: `model` belongs in SunSpec profiles only")
                },
                k.clone(),
            );
        }
        if p.scale_factor.is_some() && !sunspec {
            problem(
                format!("point `{key}`: `scale_factor` belongs in SunSpec profiles only"),
                k.clone(),
            );
        }
        if !sunspec && p.addr() < m.address_base {
            problem(
                format!(
                    "point `{key}`: address {} is below address_base {}",
                    p.addr(),
                    m.address_base
                ),
                k.clone(),
            );
        }
        match (p.ty, p.length) {
            (DataType::String, None | Some(0)) => problem(
                format!("point `{key}`: a string needs `length` (registers)"),
                k.clone(),
            ),
            (DataType::String, Some(_)) | (_, None) => {}
            (_, Some(_)) => problem(
                format!("point `{key}`: only strings take `length`"),
                k.clone(),
            ),
        }
        if p.reg().is_bit() && p.ty != DataType::Bool {
            problem(
                format!(
                    "point `{key}`: {} registers hold bits; the type must be bool",
                    p.reg()
                ),
                k.clone(),
            );
        }
        if let Some(tier) = &p.poll
            && !file.poll_tiers.contains_key(tier)
        {
            problem(
                format!("point `{key}`: poll tier `{tier}` is not in poll_tiers"),
                k.clone(),
            );
        }
        if !p.scale.is_finite() || p.scale == 0.0 {
            problem(
                format!("point `{key}`: scale must be a non-zero number"),
                k.clone(),
            );
        }
        if let Some(c) = &p.counter {
            if !p.unit.is_some_and(|u| u.is_energy()) {
                problem(
                    format!("point `{key}`: an energy counter needs unit Wh or kWh"),
                    k.clone(),
                );
            }
            if matches!(p.ty, DataType::String | DataType::Bool) {
                problem(
                    format!("point `{key}`: an energy counter must be a number"),
                    k.clone(),
                );
            }
            if c.max_power_w <= 0.0 {
                problem(
                    format!("point `{key}`: counter.max_power_w must be above 0"),
                    k.clone(),
                );
            }
        }
        if let Some(w) = &p.write {
            if matches!(p.reg(), RegisterKind::Input | RegisterKind::Discrete) {
                problem(
                    format!("point `{key}`: {} registers cannot be written", p.reg()),
                    k.clone(),
                );
            }
            if p.ty != DataType::Bool && p.ty != DataType::String {
                match (w.min, w.max) {
                    (Some(lo), Some(hi)) if lo <= hi => {}
                    (Some(lo), Some(hi)) => problem(
                        format!("point `{key}`: write.min {lo} is above write.max {hi}"),
                        k.clone(),
                    ),
                    _ => problem(
                        format!("point `{key}`: a writable number needs write.min and write.max"),
                        k.clone(),
                    ),
                }
            }
            if p.ty == DataType::String {
                problem(
                    format!("point `{key}`: strings cannot be written"),
                    k.clone(),
                );
            }
            // SG Ready as one register: nomhub writes states by their SG names.
            if p.role == Some(Role::SgReady) {
                let names: Vec<&str> = p.states.values().map(String::as_str).collect();
                let strange: Vec<&str> = names
                    .iter()
                    .copied()
                    .filter(|n| SgState::parse(n).is_none())
                    .collect();
                if !names.contains(&"normal") || !strange.is_empty() {
                    problem(
                        format!(
                            "point `{key}`: a writable `sg_ready` point names its states `lock`, `normal`, `recommend`, `force` (at least `normal`){}",
                            if strange.is_empty() {
                                String::new()
                            } else {
                                format!("; not: {}", strange.join(", "))
                            }
                        ),
                        k.clone(),
                    );
                }
            }
        }
    }
    for check in &file.identify {
        let key = check.point.as_str();
        let point = file.points.iter().find(|p| p.key.as_str() == key);
        let text = point.is_some_and(|p| p.ty == DataType::String);
        let what = match (point, &check.prefix, check.min.zip(check.max)) {
            (None, ..) => Some(format!("identify: no point `{key}`")),
            (Some(_), Some(_), _) if !text => Some(format!(
                "identify: `prefix` needs a text point; `{key}` is a number"
            )),
            (Some(_), None, None) if text => Some(format!("identify: `{key}` needs a `prefix`")),
            (Some(_), None, None) => Some(format!("identify: `{key}` needs `min` and `max`")),
            (Some(_), None, Some((lo, hi))) if lo > hi => {
                Some(format!("identify: `{key}`: min {lo} is above max {hi}"))
            }
            _ => None,
        };
        if let Some(msg) = what {
            problem(msg, Place::Key("identify"));
        }
    }
    // Duplicate keys and overlapping registers; SunSpec points only clash within one model.
    let mut seen: HashMap<(Option<u16>, &str), ()> = HashMap::new();
    let groups: Vec<Option<u16>> = if sunspec {
        let mut ms: Vec<u16> = file
            .points
            .iter()
            .flat_map(|p| p.model.clone().unwrap_or_default())
            .collect();
        ms.sort_unstable();
        ms.dedup();
        ms.into_iter().map(Some).collect()
    } else {
        vec![None]
    };
    for group in &groups {
        let members: Vec<_> = file
            .points
            .iter()
            .filter(|p| group.is_none_or(|g| p.model.as_deref().is_some_and(|m| m.contains(&g))))
            .collect();
        for p in &members {
            if seen.insert((*group, p.key.as_str()), ()).is_some() {
                problem(
                    format!("point `{}` is defined twice{}", p.key, in_model(*group)),
                    Place::Point(p.key.as_str()),
                );
            }
        }
        for (i, a) in members.iter().enumerate() {
            for b in &members[i + 1..] {
                let (a0, b0) = (u32::from(a.addr()), u32::from(b.addr()));
                let a1 = a0 + u32::from(a.ty.words(a.length.unwrap_or(0)));
                let b1 = b0 + u32::from(b.ty.words(b.length.unwrap_or(0)));
                if !p1 && a.reg() == b.reg() && a0 < b1 && b0 < a1 {
                    problem(
                        format!(
                            "points `{}` and `{}` overlap at {} register {}{}",
                            a.key,
                            b.key,
                            a.reg(),
                            a0.max(b0),
                            in_model(*group)
                        ),
                        Place::Point(b.key.as_str()),
                    );
                }
            }
        }
    }
    if report.issues.len() > before {
        return None;
    }
    let max_block = m.max_block;
    let profile = Profile {
        file,
        kind,
        origin: path.to_owned(),
    };
    // A point whose span exceeds the block limit could never be read in one request.
    for p in &profile.file.points {
        let words = p.ty.words(p.length.unwrap_or(0));
        let span = p.scale_factor.map_or(u32::from(words), |sf| {
            let (lo, hi) = (p.addr().min(sf), (p.addr() + words).max(sf + 1));
            u32::from(hi - lo)
        });
        if span > u32::from(max_block) {
            report.push(Issue::at(
                path,
                text,
                Place::Point(p.key.as_str()).find(text),
                format!(
                    "point `{}` needs {span} registers in one request, above max_block {max_block}",
                    p.key
                ),
            ));
        }
    }
    (report.issues.len() == before).then_some(profile)
}

/// Where in a profile's text a problem is.
#[derive(Clone)]
enum Place<'a> {
    /// The file as a whole.
    File,
    /// A point, by its `key = "..."` line.
    Point(&'a str),
    /// The first `name =` in the file (a top-level key or one in an inline table).
    Key(&'a str),
}

impl Place<'_> {
    fn find(&self, text: &str) -> Option<std::ops::Range<usize>> {
        match self {
            Place::File => None,
            Place::Point(key) => {
                let needle = format!("key = \"{key}\"");
                text.find(&needle).map(|i| i..i + needle.len())
            }
            Place::Key(name) => text
                .match_indices(name)
                .map(|(i, _)| i)
                .find(|&i| {
                    let before = text[..i].chars().next_back();
                    let after = text[i + name.len()..].trim_start_matches([' ', '\t']);
                    !before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '"')
                        && after.starts_with('=')
                })
                .map(|i| i..i + name.len()),
        }
    }
}

fn in_model(group: Option<u16>) -> String {
    group.map(|g| format!(" in model {g}")).unwrap_or_default()
}
