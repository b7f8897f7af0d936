//! `cargo bench --bench poll`: requests per poll cycle for every shipped profile
//! (planned blocks against one request per point), and the latency of a poll cycle
//! of the four simulated devices over Modbus TCP on loopback. Prints Markdown tables
//! for docs/performance.md.

use std::time::{Duration, Instant};

use nomhub::device::{DeviceSpec, Poller, poller};
use nomhub::modbus::{BusSettings, Transport, bus};
use nomhub::model::{BusId, DeviceId};
use nomhub::profile::{ProfileSet, ResolvedProfile, plan_tiers};
use nomhub::sim::{self, SimOptions};
use tokio_util::sync::CancellationToken;

fn requests(name: &str, r: &ResolvedProfile) {
    let plan = plan_tiers(r);
    let blocks: usize = plan.iter().map(|(_, b)| b.len()).sum();
    let tiers: Vec<String> = plan
        .iter()
        .map(|(t, b)| format!("{t}: {}", b.len()))
        .collect();
    println!(
        "| {name} | {} | {blocks} | {} |",
        r.points.len(),
        tiers.join(", ")
    );
}

fn main() {
    let set = ProfileSet::embedded().expect("profiles");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let cancel = CancellationToken::new();
        let opts = SimOptions {
            speed: 0.0,
            ..SimOptions::default()
        };
        let sim = sim::start(opts, cancel.clone()).await.expect("sim");
        let mut settings = BusSettings::new(
            BusId::new("bench").expect("id"),
            Transport::Tcp {
                host: "127.0.0.1".into(),
                port: sim.addr.port(),
            },
        );
        settings.timeout = Duration::from_secs(1);
        let bus = bus::spawn(settings, cancel.clone());

        println!("## Requests per poll cycle\n");
        println!("| profile | points | requests (all tiers) | per tier |");
        println!("|---|---:|---:|---|");
        let mut pollers = Vec::new();
        for (id, unit) in [
            ("sunspec-inverter", 1u8),
            ("eastron-sdm630", 2),
            ("eastron-sdm120", 3),
            ("alpha_innotec-luxtronik2", 4),
        ] {
            let spec = DeviceSpec {
                id: DeviceId::new(&id.replace('-', "_")).expect("id"),
                profile: set.get(id).expect("profile").clone(),
                unit,
                bus: bus.clone(),
                interval_override: None,
                clock: nomhub::clock::Clock::System,
            };
            let resolved = poller::resolve(&spec).await.expect("resolve");
            requests(id, &resolved);
            pollers.push(Poller::new(&spec, resolved));
        }
        for id in ["eastron-sdm72", "nibe-s_series"] {
            requests(
                id,
                &set.get(id).expect("profile").resolve().expect("resolve"),
            );
        }

        // Warm up, then time full cycles (every tier of all four devices).
        for p in &mut pollers {
            p.poll_all().await;
        }
        let cycles = 300;
        let mut times = Vec::with_capacity(cycles);
        let mut sent = 0;
        for _ in 0..cycles {
            let t0 = Instant::now();
            for p in &mut pollers {
                for r in p.poll_all().await {
                    assert!(r.error.is_none(), "{:?}", r.error);
                    sent += r.requests;
                }
            }
            times.push(t0.elapsed());
        }
        times.sort();
        let pct = |q: f64| times[((times.len() as f64 - 1.0) * q) as usize];
        println!("\n## Poll-cycle latency, four simulated devices on one loopback TCP bus\n");
        println!("| cycles | requests per cycle | median | p95 | max |");
        println!("|---:|---:|---:|---:|---:|");
        println!(
            "| {cycles} | {} | {:.2?} | {:.2?} | {:.2?} |",
            sent / cycles,
            pct(0.5),
            pct(0.95),
            times[times.len() - 1]
        );
        cancel.cancel();
    });
}
