//! Building and running the service: database, migrations, the HTTP API and/or the workers,
//! and the outbox relay (both roles write messages).

use actix_web::{dev::Server, web};
use anyhow::Context;
use backup_engine::Engine;
use diesel_migrations::{EmbeddedMigrations, embed_migrations};
use futures_util::FutureExt;
use service_kit::{
    CancellationToken,
    auth::TokenKeys,
    db::{Db, Migrations, PgPool},
    http::{Basics, Cinder},
    process::ServiceProcess,
};

use crate::{
    config::{Quotas, Settings},
    error::BackupError,
    openapi, routes, storage,
    volumes::FileVolumes,
    worker::{Maintenance, Worker},
};

pub const SERVICE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");
pub static MIGRATIONS: Migrations = Migrations(&SERVICE_MIGRATIONS);

/// What handlers share.
pub struct AppState {
    pub db: Db<BackupError>,
    pub volumes: FileVolumes,
    pub public_url: Option<String>,
    pub availability_zone: Option<String>,
    pub quotas: Quotas,
}

impl AppState {
    /// Runs blocking volume-driver work off the executor.
    pub async fn volumes<T, F>(&self, f: F) -> Result<T, BackupError>
    where
        F: FnOnce(&FileVolumes) -> Result<T, BackupError> + Send + 'static,
        T: Send + 'static,
    {
        let volumes = self.volumes.clone();
        service_kit::telemetry::spawn_blocking_in_span(move || f(&volumes))
            .await
            .map_err(|e| BackupError::from(anyhow::Error::from(e)))?
    }
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
    /// Builds the roles `settings.role` names. `keys` verify tokens; only the API needs them.
    pub async fn build(settings: Settings, keys: Option<TokenKeys>) -> anyhow::Result<Self> {
        let process = ServiceProcess::start(
            format!("backup-service-{:?}", settings.role),
            &settings.database,
            MIGRATIONS,
            settings.amqp.clone(),
        )
        .await?;
        let volumes = FileVolumes::new(&settings.volumes_root);
        let engine = storage::engine(&settings.object_store, settings.worker.engine_threads)?;
        let worker = settings.role.runs_jobs().then(|| {
            Worker::new(
                process.pool().clone(),
                process.broker(),
                process.wake_relay(),
                engine.clone(),
                volumes.clone(),
                settings.worker.clone(),
                settings.quotas,
            )
        });

        let (server, port) = if settings.role.serves_http() {
            let keys = web::Data::new(keys.context("the API role needs VBS_TOKEN_SECRET")?);
            let state = web::Data::new(AppState {
                db: process.db(),
                volumes,
                public_url: settings.public_url.clone(),
                availability_zone: settings.availability_zone.clone(),
                quotas: settings.quotas,
            });
            let basics = Basics { pool: process.pool().clone(), document: openapi::document() };
            let (server, port) = service_kit::http::server::<Cinder>(&settings.bind, basics, move |cfg| {
                cfg.app_data(state.clone()).app_data(keys.clone());
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
        let shutdown = self.process.shutdown_token();
        let background = self.worker.into_iter().map(|w| w.run(shutdown.clone()).boxed()).collect();
        self.process.run(self.server, background).await
    }
}
