use service_kit::auth::TokenKeys;
use task_scheduler::{Application, config::Settings};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _telemetry = service_kit::telemetry::init("task-scheduler")?;
    let app = Application::build(Settings::from_env()?, TokenKeys::from_env()?).await?;
    app.run_until_stopped().await
}
