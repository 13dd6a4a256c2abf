//! Building and running the service: the shared service process (database, outbox relay: both
//! roles write messages), the HTTP API and/or the workers.

use actix_web::{dev::Server, web};
use anyhow::Context;
use backup_engine::Engine;
use diesel_migrations::{EmbeddedMigrations, embed_migrations};
use futures_util::FutureExt;
use service_kit::{
    CancellationToken,
    auth::Authenticator,
    db::{Migrations, PgPool},
    http::{Basics, Cinder},
    process::ServiceProcess,
};

use crate::{
    app::Backups,
    config::Settings,
    engine, openapi, routes,
    volumes::Volumes,
    worker::{Maintenance, Worker, WorkerState},
};

pub const SERVICE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");
pub static MIGRATIONS: Migrations = Migrations(&SERVICE_MIGRATIONS);

/// What handlers share.
pub struct AppState {
    pub backups: Backups,
    /// `VBS_PUBLIC_URL`, for links.
    pub public_url: Option<String>,
    /// `VBS_AVAILABILITY_ZONE`, shown on backups.
    pub availability_zone: Option<String>,
}

pub struct Application {
    process: ServiceProcess,
    server: Option<Server>,
    port: Option<u16>,
    worker: Option<Worker>,
    maintenance: Option<Maintenance>,
    engine: Engine,
}

impl Application {
    /// Builds the roles `settings.role` names. `authenticator` checks tokens; only the API
    /// needs it.
    pub async fn build(settings: Settings, authenticator: Option<Authenticator>) -> anyhow::Result<Self> {
        let process = ServiceProcess::start(
            format!("backup-service-{:?}", settings.role),
            &settings.database,
            MIGRATIONS,
            settings.amqp.clone(),
        )
        .await?;
        let volumes: Volumes = settings.volumes.build();
        let engine = engine::build(&settings.object_store, settings.worker.engine_threads)?;
        let worker = settings.role.runs_jobs().then(|| {
            Worker::new(WorkerState {
                db: process.db(),
                broker: process.broker(),
                engine: engine.clone(),
                volumes: volumes.clone(),
                settings: settings.worker.clone(),
                quotas: settings.quotas,
                shutdown: process.shutdown_token(),
            })
        });

        let (server, port) = if settings.role.serves_http() {
            let authenticator = authenticator.context("the API role needs an authenticator")?;
            let state = web::Data::new(AppState {
                backups: Backups::new(process.db(), volumes, engine.clone(), settings.quotas),
                public_url: settings.public_url.clone(),
                availability_zone: settings.availability_zone.clone(),
            });
            let basics =
                Basics { pool: process.pool().clone(), document: openapi::document(), authenticator };
            let (server, port) = service_kit::http::server::<Cinder>(&settings.bind, basics, move |cfg| {
                cfg.app_data(state.clone());
                routes::configure(cfg);
            })?;
            tracing::info!(port, "backup-service API listening");
            (Some(server), Some(port))
        } else {
            (None, None)
        };
        let maintenance = worker.as_ref().map(Worker::maintenance);
        Ok(Self { process, server, port, worker, maintenance, engine })
    }

    /// The HTTP port, when this process serves the API.
    pub fn port(&self) -> Option<u16> {
        self.port
    }

    pub fn pool(&self) -> &PgPool {
        self.process.pool()
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The worker's maintenance duties, when this process runs workers.
    pub fn maintenance(&self) -> Option<Maintenance> {
        self.maintenance.clone()
    }

    /// Stops the background loops when cancelled (the HTTP server stops on SIGINT/SIGTERM).
    pub fn shutdown_token(&self) -> CancellationToken {
        self.process.shutdown_token()
    }

    /// Serves until the process is asked to stop, relaying the outbox and running the workers
    /// alongside.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let background = self.worker.into_iter().map(|w| w.run().boxed()).collect();
        self.process.run(self.server, background).await
    }
}
