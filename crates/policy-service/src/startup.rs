//! Building and running the service: database, migrations, HTTP server and outbox relay.

use std::sync::Arc;

use actix_web::{dev::Server, web};
use anyhow::Context;
use diesel::PgConnection;
use diesel_migrations::{EmbeddedMigrations, embed_migrations};
use service_kit::{
    CancellationToken,
    amqp::Broker,
    auth::TokenKeys,
    db::{self, Migrations, PgPool},
    http::Vbs,
    outbox::Relay,
};
use tokio::sync::Notify;

use crate::{config::Settings, error::PolicyError, routes};

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
    pub pool: PgPool,
    pub limits: Limits,
    pub public_url: Option<String>,
    wake_relay: Arc<Notify>,
}

impl AppState {
    /// Runs `f` in one transaction and, once it committed, wakes the outbox relay so the change's
    /// message goes out at once rather than at the next poll.
    pub async fn write<T, F>(&self, f: F) -> Result<T, PolicyError>
    where
        F: FnOnce(&mut PgConnection) -> Result<T, PolicyError> + Send + 'static,
        T: Send + 'static,
    {
        db::write_and_wake(&self.pool, &self.wake_relay, f).await
    }

    /// Runs read-only work.
    pub async fn read<T, F>(&self, f: F) -> Result<T, PolicyError>
    where
        F: FnOnce(&mut PgConnection) -> Result<T, PolicyError> + Send + 'static,
        T: Send + 'static,
    {
        db::run(&self.pool, f).await
    }
}

pub struct Application {
    server: Server,
    port: u16,
    pool: PgPool,
    relay: Relay,
    shutdown: CancellationToken,
}

impl Application {
    pub async fn build(settings: Settings, keys: TokenKeys) -> anyhow::Result<Self> {
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

        let broker = Broker::new(settings.amqp.clone(), "policy-service");
        let wake = Arc::new(Notify::new());
        let relay = Relay::new(pool.clone(), broker, Arc::clone(&wake));
        let state = web::Data::new(AppState {
            pool: pool.clone(),
            limits: Limits {
                max_policies_per_project: settings.max_policies_per_project,
                max_volumes_per_policy: settings.max_volumes_per_policy,
            },
            public_url: settings.public_url.clone(),
            wake_relay: wake,
        });
        let keys = web::Data::new(keys);

        let (server, port) = service_kit::http::server::<Vbs>(&settings.bind, move |cfg| {
            cfg.app_data(state.clone()).app_data(keys.clone());
            routes::configure(cfg);
        })?;
        tracing::info!(port, "policy-service listening");
        Ok(Self { server, port, pool, relay, shutdown: CancellationToken::new() })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Serves until the process is asked to stop (SIGINT/SIGTERM), relaying the outbox alongside.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let relay = tokio::spawn(self.relay.run(self.shutdown.clone()));
        let result = self.server.await;
        self.shutdown.cancel();
        let _ = relay.await;
        result.context("HTTP server")
    }
}
