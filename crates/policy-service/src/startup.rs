//! Building and running the service: the shared service process (database, relay) and the
//! HTTP API.

use actix_web::{dev::Server, web};
use diesel_migrations::{EmbeddedMigrations, embed_migrations};
use service_kit::{
    auth::Authenticator,
    db::{Db, Migrations, PgPool},
    http::Basics,
    process::ServiceProcess,
};

use crate::{config::Settings, error::PolicyApi, error::PolicyError, openapi, routes};

pub const SERVICE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");
pub static MIGRATIONS: Migrations = Migrations(&SERVICE_MIGRATIONS);

/// Limits a deployment may tune.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_policies_per_project: i64,
    pub max_volumes_per_policy: i64,
}

/// What handlers share.
pub struct AppState {
    pub db: Db<PolicyError>,
    pub limits: Limits,
    pub public_url: Option<String>,
    pub placement: crate::config::Placement,
}

pub struct Application {
    process: ServiceProcess,
    server: Server,
    port: u16,
}

impl Application {
    pub async fn build(settings: Settings, authenticator: Authenticator) -> anyhow::Result<Self> {
        let process =
            ServiceProcess::start("policy-service", &settings.database, MIGRATIONS, settings.amqp.clone())
                .await?;
        let state = web::Data::new(AppState {
            db: process.db(),
            limits: Limits {
                max_policies_per_project: settings.max_policies_per_project,
                max_volumes_per_policy: settings.max_volumes_per_policy,
            },
            public_url: settings.public_url.clone(),
            placement: settings.placement.clone(),
        });
        let basics = Basics { pool: process.pool().clone(), document: openapi::document(), authenticator };
        let (server, port) = service_kit::http::server::<PolicyApi>(&settings.bind, basics, move |cfg| {
            cfg.app_data(state.clone());
            routes::configure(cfg);
        })?;
        tracing::info!(port, "policy-service listening");
        Ok(Self { process, server, port })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn pool(&self) -> &PgPool {
        self.process.pool()
    }

    /// Serves until the process is asked to stop (SIGINT/SIGTERM), relaying the outbox alongside.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        self.process.run(Some(self.server), Vec::new()).await
    }
}
