use service_kit::auth::Authenticator;
use task_scheduler::{Application, config::Settings};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _telemetry = service_kit::telemetry::init("task-scheduler")?;
    let app = Application::build(Settings::from_env()?, Authenticator::from_env()?).await?;
    app.run_until_stopped().await
}
