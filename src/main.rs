//! The `nomhub` binary: parse the command line, set up logging, hand over to `cli`.

use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::EnvFilter;

// Two workers: nomhub waits on the network most of the time, and each worker costs
// memory (a Pi 4 would start four).
#[tokio::main(worker_threads = 2)]
async fn main() -> ExitCode {
    let cli = nomhub::cli::Cli::parse();
    let level = match cli.verbose {
        0 => "warn,nomhub=info,rumqttd=off",
        1 => "info,nomhub=debug,rumqttd=warn",
        _ => "debug,nomhub=trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false);
    if nomhub::service::stderr_is_journal() {
        let format = tracing_subscriber::fmt::format()
            .without_time()
            .with_level(false)
            .with_target(false);
        logs.with_ansi(false)
            .event_format(nomhub::service::JournalFormat(format))
            .init();
    } else {
        logs.init();
    }
    match nomhub::cli::run(cli).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
