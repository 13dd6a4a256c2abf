//! `vbsctl`: the operator's command line.
//!
//! - `vbsctl token --project <id>…` prints a token for the given projects (and nothing else, so
//!   it can be captured in a shell variable), signed with `VBS_TOKEN_SECRET`.
//! - `vbsctl openapi <service>` prints a service's OpenAPI document.

use std::{io::Write, time::Duration};

use anyhow::Context;
use api_types::domain::ProjectId;
use clap::{Parser, Subcommand, ValueEnum};
use service_kit::auth::TokenKeys;

#[derive(Parser)]
#[command(name = "vbsctl", version, about = "Operator commands for the Volume Backup Service")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Mint an X-Auth-Token for one or more projects.
    Token {
        /// A project the token may act on (repeat for several).
        #[arg(long = "project", required = true)]
        projects: Vec<String>,
        /// Lifetime in hours.
        #[arg(long, default_value_t = 24)]
        ttl_hours: u64,
        /// Who the token is for (recorded in the token, for audit logs).
        #[arg(long, default_value = "operator")]
        subject: String,
    },
    /// Print a service's OpenAPI document.
    Openapi { service: Service },
}

#[derive(Clone, Copy, ValueEnum)]
enum Service {
    PolicyService,
    TaskScheduler,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let output = match cli.command {
        Command::Token { projects, ttl_hours, subject } => {
            let projects = projects
                .iter()
                .map(|p| ProjectId::parse(p).with_context(|| format!("project {p:?}")))
                .collect::<anyhow::Result<Vec<_>>>()?;
            let keys = TokenKeys::from_env()?;
            let token = keys.mint(&subject, &projects, Duration::from_secs(ttl_hours * 3600))?;
            format!("{token}\n")
        }
        Command::Openapi { service: Service::PolicyService } => policy_service::openapi::document_json(),
        Command::Openapi { service: Service::TaskScheduler } => task_scheduler::openapi::document_json(),
    };
    std::io::stdout().write_all(output.as_bytes())?;
    Ok(())
}
