//! `nomhub sim`: only the simulated dwelling, over Modbus TCP or RTU, and its smart
//! meter's P1 port, for other tools.

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
    /// The smart meter's P1 port on this TCP port (as ser2net serves one): a DSMR 5.0
    /// telegram every second of the same grid the SDM630 measures. 0 picks a free port.
    #[arg(long, default_value_t = 5021)]
    pub p1_port: u16,
    /// Also write the P1 telegrams to this serial device (a P1 cable's other end).
    #[arg(long)]
    pub p1_serial: Option<String>,
    /// A fault on the P1 port.
    #[arg(long, value_enum)]
    pub p1_fault: Option<sim::p1::P1Fault>,
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
    let listener = tokio::net::TcpListener::bind((args.bind, args.p1_port)).await?;
    let p1 = sim::p1::P1Port::new(bank.clone());
    p1.set_fault(args.p1_fault);
    tokio::spawn(
        p1.clone()
            .run(std::time::Duration::from_secs(1), cancel.clone()),
    );
    println!(
        "Smart meter P1 port on tcp://{} (DSMR 5.0, a telegram a second{}).",
        listener.local_addr()?,
        args.p1_fault
            .map_or(String::new(), |f| format!(", fault {}", f.as_str()))
    );
    tokio::spawn(p1.clone().serve_tcp(listener, cancel.clone()));
    if let Some(path) = args.p1_serial.clone() {
        println!("Smart meter P1 telegrams also on serial {path}.");
        let writer = p1.write_serial(path.clone(), cancel.clone());
        tokio::spawn(async move {
            if let Err(e) = writer.await {
                tracing::error!(serial = %path, error = %e, "Simulated P1 serial port stopped.");
            }
        });
    }
    crate::service::wait_for_signal(None).await;
    cancel.cancel();
    Ok(ExitCode::SUCCESS)
}
