use backup_service::{
    Application,
    config::{Role, Settings},
};
use clap::Parser;
use service_kit::auth::Authenticator;

/// The VBS backup service: the backup API and/or the backup workers.
#[derive(Parser)]
#[command(name = "backup-service", version)]
struct Cli {
    /// What this process runs: the HTTP API, the workers, or both (development).
    #[arg(long, env = "VBS_BACKUP_ROLE", value_enum, default_value = "all")]
    role: Role,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let _telemetry = service_kit::telemetry::init("backup-service")?;
    let settings = Settings { role: cli.role, ..Settings::from_env()? };
    let authenticator = if settings.role.serves_http() { Some(Authenticator::from_env()?) } else { None };
    Application::build(settings, authenticator).await?.run_until_stopped().await
}
