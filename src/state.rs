//! Folds poll reports into the current snapshot, served on a `watch` channel.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::SystemTime;

use serde::Serialize;
use tokio::sync::{mpsc, watch};

use crate::device::PollReport;
use crate::model::{DeviceId, PointKey, Sample};

/// How a device is doing, from its last polls.
#[derive(Debug, Clone, Default, Serialize)]
pub struct DeviceStatus {
    pub online: bool,
    #[serde(skip)]
    pub last_success: Option<SystemTime>,
    pub errors: u64,
    pub last_error: Option<String>,
}

/// Every point's latest sample and every device's status.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Snapshot {
    pub points: BTreeMap<(DeviceId, PointKey), Sample>,
    pub devices: BTreeMap<DeviceId, DeviceStatus>,
}

impl Snapshot {
    pub fn get(&self, device: &str, point: &str) -> Option<&Sample> {
        self.points
            .iter()
            .find(|((d, p), _)| d.as_str() == device && p.as_str() == point)
            .map(|(_, s)| s)
    }

    pub fn apply(&mut self, report: PollReport) {
        let status = self.devices.entry(report.device.clone()).or_default();
        match &report.error {
            Some(e) => {
                status.online = false;
                status.errors += 1;
                status.last_error = Some(e.clone());
            }
            None => {
                status.online = true;
                status.last_success = report.samples.first().map(|s| s.at);
            }
        }
        for s in report.samples {
            self.points.insert((s.device.clone(), s.point.clone()), s);
        }
    }
}

/// Runs the fold until every sender is gone.
pub async fn run(mut reports: mpsc::Receiver<PollReport>, out: watch::Sender<Arc<Snapshot>>) {
    let mut snap = Snapshot::default();
    while let Some(r) = reports.recv().await {
        snap.apply(r);
        out.send_replace(Arc::new(snap.clone()));
    }
}
