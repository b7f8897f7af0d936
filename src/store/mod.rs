//! The only module that touches sled: key encoding, versioned records, atomic
//! commits and the flush policy.
//!
//! Keys are text with a schema version in front, so a future layout can live beside
//! this one and be migrated at start:
//!
//! | key | value |
//! |---|---|
//! | `v1/q/{series}/{unix seconds, 12 digits}` | 15-minute bucket |
//! | `v1/d/{series}/{YYYY-MM-DD}` | local day bucket |
//! | `v1/base/{device}.{point}` | the last counter reading booked (JSON, with `version`) |
//! | `v1/comfort/{YYYY-MM-DD}` | a local day's room and hot-water comfort (JSON, `ledger::comfort::DayComfort`) |
//! | `v1/verdict/pv/{YYYY-MM-DD}` | a settlement year's PV against its guarantee, kept once the year is over (JSON) |
//! | `v1/state/{name}` | a task's state to resume from after a restart (JSON): `control` |
//! | `v1/user/{name}` | reserved for the dashboard's users |
//! | `schema` | `1` |
//!
//! A bucket is 16 bytes: the Wh booked and the part of it that was estimated, both
//! little-endian `i64`. Every commit is one sled batch (buckets and the counter
//! readings they came from together) followed by a flush, so a crash leaves either
//! all of it or none of it, and the ledger resumes from the readings it stored.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::ledger::Series;
use crate::ledger::comfort::{DayComfort, PvVerdict};
use crate::model::{DeviceId, PointKey};

pub const SCHEMA: u32 = 1;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store {path}: cannot open (is another nomhub using it?)")]
    Open {
        path: PathBuf,
        #[source]
        source: sled::Error,
    },
    #[error("store {path}: written by a newer nomhub (schema {found}, this one knows {SCHEMA})")]
    Schema { path: PathBuf, found: String },
    #[error("store: {what}")]
    Io {
        what: &'static str,
        #[source]
        source: sled::Error,
    },
    #[error("store: record `{key}` is damaged: {why}")]
    Damaged { key: String, why: String },
}

/// Energy booked in one bucket.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bucket {
    pub wh: i64,
    /// The part of `wh` apportioned over a gap rather than measured.
    pub estimated: i64,
}

impl Bucket {
    pub fn add(&mut self, other: Bucket) {
        self.wh += other.wh;
        self.estimated += other.estimated;
    }

    fn encode(self) -> [u8; 16] {
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&self.wh.to_le_bytes());
        b[8..].copy_from_slice(&self.estimated.to_le_bytes());
        b
    }

    fn decode(key: &[u8], v: &[u8]) -> Result<Self, StoreError> {
        let arr: [u8; 16] = v.try_into().map_err(|_| StoreError::Damaged {
            key: String::from_utf8_lossy(key).into_owned(),
            why: format!("{} bytes, expected 16", v.len()),
        })?;
        let (a, b) = arr.split_at(8);
        let word = |s: &[u8]| {
            let mut w = [0u8; 8];
            w.copy_from_slice(s);
            i64::from_le_bytes(w)
        };
        Ok(Self {
            wh: word(a),
            estimated: word(b),
        })
    }
}

/// The last counter reading booked, to resume from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Baseline {
    pub version: u32,
    pub wh: i64,
    /// Unix milliseconds of the reading.
    pub at_ms: i64,
}

/// A counter the ledger re-based: it went back and stayed back (a meter replaced or
/// reset), and the ledger counts on from where it went back to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rebase {
    pub device: DeviceId,
    pub point: PointKey,
    /// Unix milliseconds of the reading that settled it.
    pub at_ms: i64,
    /// The last reading before it went back.
    pub previous_wh: i64,
    /// The first low reading, counted on from.
    pub base_wh: i64,
}

/// Everything one commit adds and sets.
#[derive(Debug, Clone, Default)]
pub struct Commit {
    /// Added to the 15-minute buckets (keyed by the bucket's start, unix seconds).
    pub quarters: BTreeMap<(Series, i64), Bucket>,
    /// Added to the day buckets.
    pub days: BTreeMap<(Series, NaiveDate), Bucket>,
    /// Replace the stored readings.
    pub baselines: BTreeMap<(DeviceId, PointKey), Baseline>,
    /// Counters re-based since the last commit, kept for good.
    pub rebases: Vec<Rebase>,
}

impl Commit {
    pub fn is_empty(&self) -> bool {
        self.quarters.is_empty()
            && self.days.is_empty()
            && self.baselines.is_empty()
            && self.rebases.is_empty()
    }
}

fn quarter_key(s: Series, start: i64) -> String {
    format!("v1/q/{}/{start:012}", s.as_str())
}

fn day_key(s: Series, d: NaiveDate) -> String {
    format!("v1/d/{}/{}", s.as_str(), d.format("%Y-%m-%d"))
}

fn base_key(device: &DeviceId, point: &PointKey) -> String {
    format!("v1/base/{device}.{point}")
}

fn rebase_key(r: &Rebase) -> String {
    format!("v1/rebase/{:013}/{}.{}", r.at_ms, r.device, r.point)
}

/// The ledger's store.
#[derive(Clone)]
pub struct Store {
    db: sled::Db,
    path: PathBuf,
}

/// sled's page cache.
const CACHE_BYTES: u64 = 2 * 1024 * 1024;

impl Store {
    /// Opens (or creates) the store at `path`.
    #[allow(clippy::disallowed_methods)] // the one place sled is opened
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let config = sled::Config::new()
            .path(path)
            // Commits flush explicitly; no background flush wearing the SD card.
            .flush_every_ms(None)
            // sled caches up to 1 GiB by default; the ledger's reads are a few hundred
            // day records (the kernel's page cache keeps the file), so a small cache keeps
            // a Pi's memory free (docs/performance.md, footprint).
            .cache_capacity(CACHE_BYTES);
        // A store just closed (by this process or one that is exiting) can hold its
        // lock a moment longer; wait up to two seconds for it.
        let mut tries = 0;
        let db = loop {
            match config.open() {
                Ok(db) => break db,
                Err(sled::Error::Io(e)) if e.to_string().contains("acquire lock") && tries < 20 => {
                    tries += 1;
                    std::thread::sleep(std::time::Duration::from_millis(100));
                }
                Err(source) => {
                    return Err(StoreError::Open {
                        path: path.to_owned(),
                        source,
                    });
                }
            }
        };
        let store = Self {
            db,
            path: path.to_owned(),
        };
        store.migrate()?;
        Ok(store)
    }

    fn io(what: &'static str) -> impl FnOnce(sled::Error) -> StoreError {
        move |source| StoreError::Io { what, source }
    }

    fn migrate(&self) -> Result<(), StoreError> {
        match self
            .db
            .get("schema")
            .map_err(Self::io("reading the schema"))?
        {
            None => {
                self.db
                    .insert("schema", SCHEMA.to_string().as_bytes())
                    .map_err(Self::io("writing the schema"))?;
                self.flush()
            }
            Some(v) if v.as_ref() == SCHEMA.to_string().as_bytes() => Ok(()),
            Some(v) => Err(StoreError::Schema {
                path: self.path.clone(),
                found: String::from_utf8_lossy(&v).into_owned(),
            }),
        }
    }

    /// Writes `c` atomically (adding to the buckets already there) and flushes.
    pub fn commit(&self, c: &Commit) -> Result<(), StoreError> {
        if c.is_empty() {
            return Ok(());
        }
        let mut batch = sled::Batch::default();
        let mut add = |key: String, b: Bucket| -> Result<(), StoreError> {
            let mut cur = match self.db.get(&key).map_err(Self::io("reading a bucket"))? {
                Some(v) => Bucket::decode(key.as_bytes(), &v)?,
                None => Bucket::default(),
            };
            cur.add(b);
            batch.insert(key.as_bytes(), &cur.encode()[..]);
            Ok(())
        };
        for (&(s, start), &b) in &c.quarters {
            add(quarter_key(s, start), b)?;
        }
        for (&(s, d), &b) in &c.days {
            add(day_key(s, d), b)?;
        }
        for ((dev, pt), base) in &c.baselines {
            let json = serde_json::to_vec(base).map_err(|e| StoreError::Damaged {
                key: base_key(dev, pt),
                why: e.to_string(),
            })?;
            batch.insert(base_key(dev, pt).as_bytes(), json);
        }
        for r in &c.rebases {
            let json = serde_json::to_vec(r).map_err(|e| StoreError::Damaged {
                key: rebase_key(r),
                why: e.to_string(),
            })?;
            batch.insert(rebase_key(r).as_bytes(), json);
        }
        self.db
            .apply_batch(batch)
            .map_err(Self::io("writing a commit"))?;
        self.flush()
    }

    pub fn flush(&self) -> Result<(), StoreError> {
        self.db.flush().map_err(Self::io("flushing"))?;
        Ok(())
    }

    pub fn baselines(&self) -> Result<BTreeMap<(DeviceId, PointKey), Baseline>, StoreError> {
        let mut out = BTreeMap::new();
        for kv in self.db.scan_prefix("v1/base/") {
            let (k, v) = kv.map_err(Self::io("reading counter readings"))?;
            let key = String::from_utf8_lossy(&k).into_owned();
            let damaged = |why: String| StoreError::Damaged {
                key: key.clone(),
                why,
            };
            let name = key.trim_start_matches("v1/base/");
            let (d, p) = name
                .split_once('.')
                .ok_or_else(|| damaged("no device.point".into()))?;
            let base: Baseline = serde_json::from_slice(&v).map_err(|e| damaged(e.to_string()))?;
            let dev = DeviceId::new(d).map_err(damaged)?;
            let pt = PointKey::new(p).map_err(damaged)?;
            out.insert((dev, pt), base);
        }
        Ok(out)
    }

    /// The first local day any energy was booked on (None: none yet).
    pub fn first_day(&self) -> Result<Option<NaiveDate>, StoreError> {
        let mut first: Option<NaiveDate> = None;
        for s in Series::ALL {
            let prefix = format!("v1/d/{}/", s.as_str());
            if let Some(kv) = self.db.scan_prefix(&prefix).next() {
                let (k, _) = kv.map_err(Self::io("reading day buckets"))?;
                let key = String::from_utf8_lossy(&k);
                if let Ok(d) =
                    NaiveDate::parse_from_str(key.trim_start_matches(&prefix), "%Y-%m-%d")
                {
                    first = Some(first.map_or(d, |f| f.min(d)));
                }
            }
        }
        Ok(first)
    }

    /// Every counter re-based, oldest first.
    pub fn rebases(&self) -> Result<Vec<Rebase>, StoreError> {
        let mut out = Vec::new();
        for kv in self.db.scan_prefix("v1/rebase/") {
            let (k, v) = kv.map_err(Self::io("reading re-based counters"))?;
            out.push(serde_json::from_slice(&v).map_err(|e| StoreError::Damaged {
                key: String::from_utf8_lossy(&k).into_owned(),
                why: e.to_string(),
            })?);
        }
        Ok(out)
    }

    /// Day buckets of `series` for `from..to` (local dates, `to` excluded).
    pub fn days(
        &self,
        series: Series,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<(NaiveDate, Bucket)>, StoreError> {
        // Keys hold four-digit years; keep the range inside them.
        let clamp = |d: NaiveDate| {
            d.clamp(
                NaiveDate::from_ymd_opt(1, 1, 1).unwrap_or(NaiveDate::MIN),
                NaiveDate::from_ymd_opt(9999, 12, 31).unwrap_or(NaiveDate::MAX),
            )
        };
        let mut out = Vec::new();
        for kv in self
            .db
            .range(day_key(series, clamp(from))..day_key(series, clamp(to)))
        {
            let (k, v) = kv.map_err(Self::io("reading day buckets"))?;
            let key = String::from_utf8_lossy(&k);
            let date = key
                .rsplit('/')
                .next()
                .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
                .ok_or_else(|| StoreError::Damaged {
                    key: key.clone().into_owned(),
                    why: "not a date".into(),
                })?;
            out.push((date, Bucket::decode(&k, &v)?));
        }
        Ok(out)
    }

    /// 15-minute buckets of `series` starting in `from..to` (unix seconds).
    pub fn quarters(
        &self,
        series: Series,
        from: i64,
        to: i64,
    ) -> Result<Vec<(i64, Bucket)>, StoreError> {
        let mut out = Vec::new();
        for kv in self
            .db
            .range(quarter_key(series, from.max(0))..quarter_key(series, to.max(0)))
        {
            let (k, v) = kv.map_err(Self::io("reading 15-minute buckets"))?;
            let key = String::from_utf8_lossy(&k);
            let start = key
                .rsplit('/')
                .next()
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| StoreError::Damaged {
                    key: key.clone().into_owned(),
                    why: "not a time".into(),
                })?;
            out.push((start, Bucket::decode(&k, &v)?));
        }
        Ok(out)
    }

    /// Removes 15-minute buckets that start before `before` (unix seconds).
    pub fn prune_quarters(&self, before: i64) -> Result<usize, StoreError> {
        let mut batch = sled::Batch::default();
        let mut n = 0;
        for s in Series::STORED {
            for kv in self
                .db
                .range(quarter_key(s, 0)..quarter_key(s, before.max(0)))
            {
                let (k, _) = kv.map_err(Self::io("pruning"))?;
                batch.remove(k);
                n += 1;
            }
        }
        if n > 0 {
            self.db.apply_batch(batch).map_err(Self::io("pruning"))?;
        }
        Ok(n)
    }

    /// Replaces a day's comfort record (flushed with the next commit).
    pub fn put_comfort(&self, day: &DayComfort) -> Result<(), StoreError> {
        self.put_json(
            &format!("v1/comfort/{}", day.date),
            day,
            "writing a day's comfort",
        )
    }

    /// The comfort records of `from..to` (local dates, `to` excluded), oldest first.
    pub fn comfort_days(
        &self,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<DayComfort>, StoreError> {
        let range = format!("v1/comfort/{from}")..format!("v1/comfort/{to}");
        self.db
            .range(range)
            .map(|kv| {
                let (k, v) = kv.map_err(Self::io("reading comfort days"))?;
                serde_json::from_slice(&v).map_err(|e| StoreError::Damaged {
                    key: String::from_utf8_lossy(&k).into_owned(),
                    why: e.to_string(),
                })
            })
            .collect()
    }

    /// Keeps a settlement year's PV verdict (once: a kept verdict is not replaced).
    pub fn keep_pv_verdict(&self, v: &PvVerdict) -> Result<bool, StoreError> {
        let key = format!("v1/verdict/pv/{}", v.start);
        if self
            .db
            .contains_key(&key)
            .map_err(Self::io("reading a verdict"))?
        {
            return Ok(false);
        }
        self.put_json(&key, v, "keeping a verdict")?;
        self.flush()?;
        Ok(true)
    }

    /// Every settlement year's PV verdict kept, oldest first.
    pub fn pv_verdicts(&self) -> Result<Vec<PvVerdict>, StoreError> {
        self.db
            .scan_prefix("v1/verdict/pv/")
            .map(|kv| {
                let (k, v) = kv.map_err(Self::io("reading verdicts"))?;
                serde_json::from_slice(&v).map_err(|e| StoreError::Damaged {
                    key: String::from_utf8_lossy(&k).into_owned(),
                    why: e.to_string(),
                })
            })
            .collect()
    }

    fn put_json<T: Serialize>(
        &self,
        key: &str,
        value: &T,
        what: &'static str,
    ) -> Result<(), StoreError> {
        let bytes = serde_json::to_vec(value).map_err(|e| StoreError::Damaged {
            key: key.to_owned(),
            why: e.to_string(),
        })?;
        self.db.insert(key, bytes).map_err(Self::io(what))?;
        Ok(())
    }

    /// A task's saved state (`v1/state/{name}`), if it saved one.
    pub fn state<T: for<'de> Deserialize<'de>>(&self, name: &str) -> Result<Option<T>, StoreError> {
        let key = format!("v1/state/{name}");
        let Some(v) = self.db.get(&key).map_err(Self::io("reading a state"))? else {
            return Ok(None);
        };
        serde_json::from_slice(&v)
            .map(Some)
            .map_err(|e| StoreError::Damaged {
                key,
                why: e.to_string(),
            })
    }

    /// Replaces a task's saved state and flushes, so a crash right after keeps it.
    pub fn set_state<T: Serialize>(&self, name: &str, value: &T) -> Result<(), StoreError> {
        let bytes = serde_json::to_vec(value).map_err(|e| StoreError::Damaged {
            key: format!("v1/state/{name}"),
            why: e.to_string(),
        })?;
        self.db
            .insert(format!("v1/state/{name}"), bytes)
            .map_err(Self::io("writing a state"))?;
        self.flush()
    }

    /// Bytes the store takes on disk.
    pub fn size_on_disk(&self) -> Result<u64, StoreError> {
        self.db.size_on_disk().map_err(Self::io("measuring"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, d).unwrap()
    }

    #[test]
    fn comfort_days_are_replaced_by_day_and_read_by_range() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        for (d, cold) in [(20, 60.0), (21, 0.0), (21, 600.0), (22, 0.0)] {
            let mut c = DayComfort::new(day(d));
            c.tank_seconds = 86_400.0;
            c.tank_cold_seconds = cold;
            store.put_comfort(&c).unwrap();
        }
        store.flush().unwrap();
        let got = store.comfort_days(day(21), day(23)).unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!((got[0].date, got[0].tank_cold_seconds), (day(21), 600.0));
        assert_eq!(got[1].date, day(22));
    }

    #[test]
    fn commits_add_up_and_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let dev = DeviceId::new("grid").unwrap();
        let pt = PointKey::new("import_energy").unwrap();
        {
            let store = Store::open(dir.path()).unwrap();
            for wh in [100, 23] {
                let mut c = Commit::default();
                c.days
                    .insert((Series::GridImport, day(23)), Bucket { wh, estimated: 0 });
                c.quarters.insert(
                    (Series::GridImport, 1_800_000_000),
                    Bucket { wh, estimated: 5 },
                );
                c.baselines.insert(
                    (dev.clone(), pt.clone()),
                    Baseline {
                        version: 1,
                        wh: 5_000 + wh,
                        at_ms: 1,
                    },
                );
                store.commit(&c).unwrap();
            }
        }
        let store = Store::open(dir.path()).unwrap();
        let days = store.days(Series::GridImport, day(1), day(30)).unwrap();
        assert_eq!(
            days,
            vec![(
                day(23),
                Bucket {
                    wh: 123,
                    estimated: 0
                }
            )]
        );
        assert!(
            store
                .days(Series::GridExport, day(1), day(30))
                .unwrap()
                .is_empty()
        );
        assert!(
            store
                .days(Series::GridImport, day(24), day(30))
                .unwrap()
                .is_empty()
        );
        let q = store
            .quarters(Series::GridImport, 0, 2_000_000_000)
            .unwrap();
        assert_eq!(
            q,
            vec![(
                1_800_000_000,
                Bucket {
                    wh: 123,
                    estimated: 10
                }
            )]
        );
        assert_eq!(store.baselines().unwrap()[&(dev, pt)].wh, 5_023);
        assert_eq!(store.prune_quarters(1_800_000_001).unwrap(), 1);
        assert!(
            store
                .quarters(Series::GridImport, 0, 2_000_000_000)
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn refuses_a_newer_schema() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = Store::open(dir.path()).unwrap();
            store.db.insert("schema", "2").unwrap();
            store.flush().unwrap();
        }
        let err = Store::open(dir.path()).err().unwrap();
        assert!(err.to_string().contains("schema 2"), "{err}");
    }
}
