//! `nomhub sim`: only the simulated dwelling, over Modbus TCP or RTU, for other tools.

use std::process::ExitCode;

use clap::Args;
use tokio_util::sync::CancellationToken;

use crate::sim::{self, Fault, SimOptions};

#[derive(Debug, Args)]
pub struct SimArgs {
    #[arg(long, default_value_t = 5020)]
    pub port: u16,
    /// Address to listen on (loopback by default).
    #[arg(long, default_value = "127.0.0.1")]
    pub bind: std::net::IpAddr,
    /// Simulated seconds per real second; 0 freezes the dwelling.
    #[arg(long, default_value_t = 60.0)]
    pub speed: f64,
    /// Local hour of today the simulation starts at.
    #[arg(long, default_value_t = 10)]
    pub start_hour: u32,
    /// A fault to switch on, as UNIT=FAULT (silent, exception, illegal_function, illegal_address,
    /// illegal_value, garbage, flaky, counter_backwards, meter_replaced).
    #[arg(long)]
    pub fault: Vec<String>,
    /// Serve Modbus RTU on this serial port instead of TCP (e.g. an RS485 adapter).
    #[arg(long)]
    pub serial: Option<String>,
    #[arg(long, default_value_t = 9600)]
    pub baud: u32,
}

pub(super) async fn run_sim(args: SimArgs) -> anyhow::Result<ExitCode> {
    let cancel = CancellationToken::new();
    let faults: Vec<(u8, Fault)> = args
        .fault
        .iter()
        .map(|f| {
            let (u, k) = f
                .split_once('=')
                .ok_or_else(|| anyhow::anyhow!("--fault {f}: write UNIT=FAULT"))?;
            Ok((
                u.parse()?,
                k.parse().map_err(|e: String| anyhow::anyhow!(e))?,
            ))
        })
        .collect::<anyhow::Result<_>>()?;
    let opts = SimOptions {
        listen: (args.bind, args.port).into(),
        speed: args.speed,
        start: sim::dwelling::today_at(args.start_hour),
        ..SimOptions::default()
    };
    let units = "unit 1 SunSpec inverter (base 40000), 2 SDM630 grid meter, 3 SDM120 installations meter, 4 Luxtronik 2.1 heat pump";
    let bank = match &args.serial {
        Some(path) => {
            let bank = sim::start_rtu(&opts, path, args.baud, &cancel);
            println!(
                "Simulated dwelling on modbus rtu://{path}@{}: {units}.",
                args.baud
            );
            bank
        }
        None => {
            let handle = sim::start(opts, cancel.clone()).await?;
            println!(
                "Simulated dwelling on modbus tcp://{}: {units}.",
                handle.addr
            );
            handle.bank
        }
    };
    for (unit, fault) in faults {
        bank.set_fault(unit, Some(fault));
    }
    crate::service::wait_for_signal(None).await;
    cancel.cancel();
    Ok(ExitCode::SUCCESS)
}
