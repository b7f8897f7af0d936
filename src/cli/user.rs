//! `nomhub user add|passwd`: the dashboard's users, in the ledger's store.

use std::io::{BufRead, IsTerminal};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;

use crate::store::Store;
use crate::web::users;

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Add a dashboard user. The password is asked twice on a terminal, else read
    /// from the first line of standard input.
    Add {
        name: String,
        #[arg(long)]
        config: PathBuf,
    },
    /// Set a user's password; the user's open sessions end.
    Passwd {
        name: String,
        #[arg(long)]
        config: PathBuf,
    },
}

fn password() -> anyhow::Result<String> {
    if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("Password: ")?;
        let again = rpassword::prompt_password("Again: ")?;
        anyhow::ensure!(first == again, "the two passwords differ");
        Ok(first)
    } else {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        Ok(line.trim_end_matches(['\r', '\n']).to_owned())
    }
}

pub fn run(cmd: UserCommand) -> anyhow::Result<ExitCode> {
    let (name, path, add) = match cmd {
        UserCommand::Add { name, config } => (name, config, true),
        UserCommand::Passwd { name, config } => (name, config, false),
    };
    let Some(config) = super::load_or_report(&path) else {
        return Ok(ExitCode::from(2));
    };
    let Some(ledger) = &config.ledger else {
        anyhow::bail!(
            "{}: dashboard users live in the ledger's store; the config has no [ledger]",
            path.display()
        );
    };
    let store = Store::open(&ledger.store).map_err(|e| {
        anyhow::anyhow!(
            "{e} (is nomhub running on this store? stop it first, e.g. `systemctl stop nomhub`)"
        )
    })?;
    let pw = password()?;
    if add {
        users::add(&store, &name, &pw)?;
        println!("User `{name}` added.");
    } else {
        users::set_password(&store, &name, &pw)?;
        println!("Password of `{name}` changed; its sessions have ended.");
    }
    Ok(ExitCode::SUCCESS)
}
