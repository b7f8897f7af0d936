//! The built-in simulated dwelling: tokio-modbus servers on loopback presenting the
//! shipped profiles' register maps, driven by a day of sun, loads and hot water.

pub mod dwelling;
pub mod fixture;
pub mod history;
pub mod image;
pub mod p1;
pub mod prices;

use std::net::SocketAddr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use dwelling::{
    Dwelling, UNIT_GRID_METER, UNIT_HEAT_PUMP, UNIT_INSTALLATIONS_METER, UNIT_INVERTER, UNIT_RELAYS,
};
pub use image::{Bank, Fault, UnitImage};

/// How to run the simulator.
#[derive(Debug, Clone)]
pub struct SimOptions {
    /// Where to listen; port 0 picks a free one.
    pub listen: SocketAddr,
    /// Simulated seconds per real second; 0 freezes the dwelling.
    pub speed: f64,
    pub start: DateTime<Utc>,
    pub tick: Duration,
}

impl Default for SimOptions {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            speed: 60.0,
            start: dwelling::today_at(10),
            tick: Duration::from_millis(250),
        }
    }
}

/// A running simulator.
#[derive(Debug, Clone)]
pub struct SimHandle {
    pub addr: SocketAddr,
    pub bank: Bank,
}

/// Starts the dwelling and its Modbus server; both stop when `cancel` fires.
pub async fn start(opts: SimOptions, cancel: CancellationToken) -> std::io::Result<SimHandle> {
    let listener = TcpListener::bind(opts.listen).await?;
    let addr = listener.local_addr()?;
    let bank = spawn_dwelling(&opts, &cancel);
    let served = bank.clone();
    let stop = cancel.clone();
    tokio::spawn(async move {
        if let Err(e) = image::serve(listener, served, stop).await {
            tracing::error!(error = %e, "Simulator server stopped.");
        }
    });
    Ok(SimHandle { addr, bank })
}

/// Builds the dwelling's units and runs its physics; returns the bank to serve.
pub fn spawn_dwelling(opts: &SimOptions, cancel: &CancellationToken) -> Bank {
    let bank = Bank::default();
    let d = Dwelling::new(opts.start);
    dwelling::install(&bank, &d);
    tokio::spawn(dwelling::run(
        d,
        bank.clone(),
        opts.speed,
        opts.tick,
        cancel.clone(),
    ));
    bank
}

/// Serves the dwelling as Modbus RTU on serial port `path` instead of TCP.
pub fn start_rtu(opts: &SimOptions, path: &str, baud: u32, cancel: &CancellationToken) -> Bank {
    let bank = spawn_dwelling(opts, cancel);
    let (served, stop, path) = (bank.clone(), cancel.clone(), path.to_owned());
    tokio::spawn(async move {
        if let Err(e) = image::serve_rtu(&path, baud, served, stop).await {
            tracing::error!(error = %e, serial = %path, "Simulator RTU server stopped.");
        }
    });
    bank
}

/// Serves a fixed bank (a recorded fixture) without physics.
pub async fn serve_bank(bank: Bank, cancel: CancellationToken) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        if let Err(e) = image::serve(listener, bank, cancel).await {
            tracing::error!(error = %e, "Fixture server stopped.");
        }
    });
    Ok(addr)
}
