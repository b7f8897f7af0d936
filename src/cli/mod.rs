//! The command line: clap's types and the dispatch; each command group has its file
//! (demo, run, sim, simulate, ledger, user, modbus, devices, profiles).

mod demo;
mod devices;
mod ledger;
mod modbus;
mod p1;
mod profiles;
mod run;
mod sim;
mod simulate;
mod user;

pub use demo::DemoArgs;
pub use devices::{DevicesCommand, render_snapshot};
pub use modbus::{ModbusCommand, RegisterArgs, Target};
pub use sim::SimArgs;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config;

#[derive(Debug, Parser)]
#[command(
    name = "nomhub",
    version,
    about = "Local hub for Nul op de Meter homes"
)]
pub struct Cli {
    /// More log output (-v debug, -vv trace); RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the simulated dwelling and poll it with the shipped profiles (no hardware needed).
    Demo(DemoArgs),
    /// Run only the simulated dwelling as a Modbus TCP server, for other tools to talk to.
    Sim(SimArgs),
    /// Run nomhub against real devices.
    Run {
        #[arg(long)]
        config: PathBuf,
    },
    /// Check a configuration file and report every problem (exit 0 when fine, 2 when not).
    CheckConfig { file: PathBuf },
    /// Print the example configuration with every key and its default.
    PrintConfig,
    /// List the built-in device profiles and their poll plans.
    Profiles {
        #[arg(long)]
        json: bool,
        /// Profiles from this directory instead of the built-in ones.
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Installer's Modbus tools.
    #[command(subcommand)]
    Modbus(ModbusCommand),
    /// Check the configured devices.
    #[command(subcommand)]
    Devices(DevicesCommand),
    /// Installer's P1 tools: read a smart meter's P1 port.
    #[command(subcommand)]
    P1(p1::P1Command),
    /// The energy bundle: derive bundles from a dwelling's figures.
    #[command(subcommand)]
    Bundle(ledger::BundleCommand),
    /// The ledger: where the bundles stand, history, export and import.
    #[command(subcommand)]
    Ledger(ledger::LedgerCommand),
    /// Backtest a hot-water strategy over a year file against the tank and heat pump model.
    Simulate(simulate::SimulateArgs),
    /// The dashboard's users.
    #[command(subcommand)]
    User(user::UserCommand),
}

/// Runs a parsed command line.
pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Demo(args) => demo::demo(args).await,
        Command::Sim(args) => sim::run_sim(args).await,
        Command::P1(cmd) => p1::run(cmd).await,
        Command::Run { config } => run::run_config(&config).await,
        Command::CheckConfig { file } => Ok(match crate::setup::load(&file) {
            Ok(c) => {
                for w in &c.warnings {
                    eprintln!("warning: {w}");
                }
                let sections = [
                    (c.ledger.is_some(), ", ledger"),
                    (c.mqtt.is_some(), ", mqtt"),
                    (c.control.is_some(), ", control"),
                    (c.web.is_some(), ", web"),
                ];
                let with: String = sections
                    .iter()
                    .filter(|(on, _)| *on)
                    .map(|(_, name)| *name)
                    .collect();
                println!(
                    "{}: ok ({} buses, {} devices{with})",
                    file.display(),
                    c.buses.len(),
                    c.devices.len(),
                );
                ExitCode::SUCCESS
            }
            Err(report) => {
                eprintln!("{report}");
                ExitCode::from(2)
            }
        }),
        Command::PrintConfig => {
            print!("{}", config::EXAMPLE);
            Ok(ExitCode::SUCCESS)
        }
        Command::Profiles { json, dir } => profiles::profiles(json, dir),
        Command::Modbus(cmd) => modbus::modbus(cmd).await,
        Command::Bundle(cmd) => ledger::bundle(cmd),
        Command::Ledger(cmd) => ledger::ledger(cmd),
        Command::Simulate(args) => simulate::simulate(args),
        Command::User(cmd) => user::run(cmd),
        Command::Devices(DevicesCommand::Check { config, json }) => {
            devices::devices_check(&config, json).await
        }
    }
}

/// Loads a config file, printing every problem when it has some.
fn load_or_report(path: &std::path::Path) -> Option<config::Config> {
    crate::setup::load(path)
        .map_err(|report| eprintln!("{report}"))
        .ok()
}
