use policy_service::{Application, config::Settings};
use service_kit::auth::Authenticator;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _telemetry = service_kit::telemetry::init("policy-service")?;
    let app = Application::build(Settings::from_env()?, Authenticator::from_env()?).await?;
    app.run_until_stopped().await
}
