//! Building and running the service: database, migrations, the HTTP API and/or the workers,
//! and the outbox relay (both roles write messages).

use std::sync::Arc;

use actix_web::{dev::Server, web};
use anyhow::Context;
use backup_engine::Engine;
use diesel::PgConnection;
use diesel_migrations::{EmbeddedMigrations, embed_migrations};
use service_kit::{
    CancellationToken,
    amqp::Broker,
    auth::TokenKeys,
    db::{self, Migrations, PgPool},
    http::Cinder,
    outbox::Relay,
};
use tokio::sync::Notify;

use crate::{
    config::{Quotas, Settings},
    error::BackupError,
    routes, storage,
    volumes::FileVolumes,
    worker::{Maintenance, Worker},
};

pub const SERVICE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");
pub static MIGRATIONS: Migrations = Migrations(&SERVICE_MIGRATIONS);

/// What handlers share.
pub struct AppState {
    pub pool: PgPool,
    pub volumes: FileVolumes,
    pub public_url: Option<String>,
    pub availability_zone: Option<String>,
    pub quotas: Quotas,
    wake_relay: Arc<Notify>,
}

impl AppState {
    /// Runs `f` in one transaction and, once it committed, wakes the outbox relay so the job's
    /// message goes out at once rather than at the next poll.
    pub async fn write<T, F>(&self, f: F) -> Result<T, BackupError>
    where
        F: FnOnce(&mut PgConnection) -> Result<T, BackupError> + Send + 'static,
        T: Send + 'static,
    {
        db::write_and_wake(&self.pool, &self.wake_relay, f).await
    }

    /// Runs read-only work.
    pub async fn read<T, F>(&self, f: F) -> Result<T, BackupError>
    where
        F: FnOnce(&mut PgConnection) -> Result<T, BackupError> + Send + 'static,
        T: Send + 'static,
    {
        db::run(&self.pool, f).await
    }

    /// Runs blocking volume-driver work off the executor.
    pub async fn volumes<T, F>(&self, f: F) -> Result<T, BackupError>
    where
        F: FnOnce(&FileVolumes) -> Result<T, BackupError> + Send + 'static,
        T: Send + 'static,
    {
        let volumes = self.volumes.clone();
        service_kit::telemetry::spawn_blocking_in_span(move || f(&volumes))
            .await
            .map_err(|e| BackupError::Unexpected(e.into()))?
    }
}

pub struct Application {
    server: Option<Server>,
    port: Option<u16>,
    pool: PgPool,
    relay: Relay,
    worker: Option<Worker>,
    maintenance: Option<Maintenance>,
    engine: Engine,
    shutdown: CancellationToken,
}

impl Application {
    /// Builds the roles `settings.role` names. `keys` verify tokens; only the API needs them.
    pub async fn build(settings: Settings, keys: Option<TokenKeys>) -> anyhow::Result<Self> {
        let s = settings.clone();
        let pool = tokio::task::spawn_blocking(move || -> anyhow::Result<PgPool> {
            if s.create_database {
                db::ensure_database(&s.database_url)?;
            }
            let pool = db::pool(&s.database_url, s.db_pool_size)?;
            let ran = db::migrate(&mut *pool.get()?, MIGRATIONS)?;
            if ran > 0 {
                tracing::info!(migrations = ran, "database migrated");
            }
            Ok(pool)
        })
        .await??;

        let broker = Broker::new(settings.amqp.clone(), format!("backup-service-{:?}", settings.role));
        let wake = Arc::new(Notify::new());
        let relay = Relay::new(pool.clone(), Arc::clone(&broker), Arc::clone(&wake));
        let volumes = FileVolumes::new(&settings.volumes_root);
        let engine = storage::engine(&settings.object_store, settings.worker.engine_threads)?;
        let worker = settings.role.runs_jobs().then(|| {
            Worker::new(
                pool.clone(),
                Arc::clone(&broker),
                Arc::clone(&wake),
                engine.clone(),
                volumes.clone(),
                settings.worker.clone(),
                settings.quotas,
            )
        });

        let (server, port) = if settings.role.serves_http() {
            let keys = web::Data::new(keys.context("the API role needs VBS_TOKEN_SECRET")?);
            let state = web::Data::new(AppState {
                pool: pool.clone(),
                volumes,
                public_url: settings.public_url.clone(),
                availability_zone: settings.availability_zone.clone(),
                quotas: settings.quotas,
                wake_relay: wake,
            });
            let (server, port) = service_kit::http::server::<Cinder>(&settings.bind, move |cfg| {
                cfg.app_data(state.clone()).app_data(keys.clone());
                routes::configure(cfg);
            })?;
            tracing::info!(port, "backup-service API listening");
            (Some(server), Some(port))
        } else {
            (None, None)
        };
        let maintenance = worker.as_ref().map(Worker::maintenance);
        Ok(Self {
            server,
            port,
            pool,
            relay,
            worker,
            maintenance,
            engine,
            shutdown: CancellationToken::new(),
        })
    }

    /// The HTTP port, when this process serves the API.
    pub fn port(&self) -> Option<u16> {
        self.port
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
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
        self.shutdown.clone()
    }

    /// Serves until the process is asked to stop, relaying the outbox and running the workers
    /// alongside.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let relay = tokio::spawn(self.relay.run(self.shutdown.clone()));
        let worker = self.worker.map(|w| tokio::spawn(w.run(self.shutdown.clone())));
        let result = match self.server {
            Some(server) => server.await.context("HTTP server"),
            None => {
                tokio::select! {
                    () = wait_for_signal() => {}
                    () = self.shutdown.cancelled() => {}
                }
                Ok(())
            }
        };
        self.shutdown.cancel();
        if let Some(w) = worker {
            let _ = w.await;
        }
        let _ = relay.await;
        result
    }
}

async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => {
                let _ = ctrl_c.await;
                return;
            }
        };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
