//! Building and running the service: database, migrations, HTTP server, outbox relay, the two
//! consumers and the tick loop.

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

use crate::{
    clock::{Clock, SystemClock},
    config::Settings,
    error::TaskError,
    messaging, routes,
    scheduler::Scheduler,
};

pub const SERVICE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");
pub static MIGRATIONS: Migrations = Migrations(&SERVICE_MIGRATIONS);

/// What handlers share.
pub struct AppState {
    pub pool: PgPool,
    pub max_page_size: i64,
}

impl AppState {
    /// Runs read-only work in one read-only, repeatable-read transaction, so that a page and its
    /// `count` describe the same moment.
    pub async fn read<T, F>(&self, f: F) -> Result<T, TaskError>
    where
        F: FnOnce(&mut PgConnection) -> Result<T, TaskError> + Send + 'static,
        T: Send + 'static,
    {
        db::run(&self.pool, move |conn| conn.build_transaction().read_only().repeatable_read().run(f)).await
    }
}

pub struct Application {
    server: Server,
    port: u16,
    scheduler: Scheduler,
    relay: Relay,
    broker: Arc<Broker>,
    /// `None`: no tick loop; someone else calls [`Scheduler::tick`] and [`Scheduler::sweep`].
    tick_interval: Option<std::time::Duration>,
    shutdown: CancellationToken,
}

impl Application {
    pub async fn build(settings: Settings, keys: TokenKeys) -> anyhow::Result<Self> {
        Self::build_with_clock(settings, keys, Arc::new(SystemClock)).await
    }

    /// As [`Application::build`], reading the time from `clock` (tests pass a manual one).
    pub async fn build_with_clock(
        settings: Settings,
        keys: TokenKeys,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<Self> {
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

        let broker = Broker::new(settings.amqp.clone(), "task-scheduler");
        let wake = Arc::new(Notify::new());
        let relay = Relay::new(pool.clone(), Arc::clone(&broker), Arc::clone(&wake));
        let scheduler = Scheduler::new(pool.clone(), clock, settings.scheduler, wake);
        let state = web::Data::new(AppState { pool, max_page_size: settings.max_page_size });
        let keys = web::Data::new(keys);

        let (server, port) = service_kit::http::server::<Vbs>(&settings.bind, move |cfg| {
            cfg.app_data(state.clone()).app_data(keys.clone());
            routes::configure(cfg);
        })?;
        tracing::info!(port, "task-scheduler listening");
        Ok(Self {
            server,
            port,
            scheduler,
            relay,
            broker,
            tick_interval: Some(settings.tick_interval),
            shutdown: CancellationToken::new(),
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn pool(&self) -> &PgPool {
        self.scheduler.pool()
    }

    /// The scheduler, to tick and sweep by hand (tests).
    pub fn scheduler(&self) -> Scheduler {
        self.scheduler.clone()
    }

    /// Runs without the tick loop, for tests that tick and sweep by hand and must not race a
    /// background tick.
    pub fn without_tick_loop(mut self) -> Self {
        self.tick_interval = None;
        self
    }

    /// Serves until the process is asked to stop (SIGINT/SIGTERM), with the outbox relay, the
    /// consumers and the tick loop alongside.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let relay = tokio::spawn(self.relay.run(self.shutdown.clone()));
        let consumers =
            tokio::spawn(messaging::run(self.scheduler.clone(), self.broker, self.shutdown.clone()));
        let ticks = self
            .tick_interval
            .map(|interval| tokio::spawn(self.scheduler.run(interval, self.shutdown.clone())));
        let result = self.server.await;
        self.shutdown.cancel();
        let _ = tokio::join!(relay, consumers);
        if let Some(ticks) = ticks {
            let _ = ticks.await;
        }
        result.context("HTTP server")
    }
}
