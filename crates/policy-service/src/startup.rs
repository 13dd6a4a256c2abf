//! Building and running the service: database, migrations, HTTP server and outbox relay.

use std::{net::TcpListener, sync::Arc};

use actix_web::{App, HttpServer, dev::Server, middleware::from_fn, web};
use anyhow::Context;
use diesel::{Connection, PgConnection};
use diesel_migrations::{EmbeddedMigrations, embed_migrations};
use service_kit::{
    CancellationToken,
    amqp::Broker,
    auth::TokenKeys,
    db::{self, Migrations, PgPool},
    http::{JsonLimit, Vbs, envelope_errors, fallback, query_config, request_span},
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
        let out = db::run(&self.pool, move |conn| conn.transaction(f)).await?;
        self.wake_relay.notify_one();
        Ok(out)
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

        let listener =
            TcpListener::bind(&settings.bind).with_context(|| format!("binding {}", settings.bind))?;
        let port = listener.local_addr()?.port();
        let server = HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
                .app_data(keys.clone())
                .app_data(JsonLimit::default())
                .app_data(query_config::<Vbs>())
                .configure(routes::configure)
                .default_service(web::to(fallback::<Vbs>))
                .wrap(from_fn(envelope_errors::<Vbs, _>))
                .wrap(from_fn(request_span))
        })
        .listen(listener)?
        .shutdown_timeout(10)
        .run();
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
