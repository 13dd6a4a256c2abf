//! Building and running the service: the shared service process (database, relay), the HTTP
//! API, the two consumers and the tick loop.

use std::sync::Arc;

use actix_web::{dev::Server, web};
use diesel_migrations::{EmbeddedMigrations, embed_migrations};
use futures_util::FutureExt;
use service_kit::{
    auth::Authenticator,
    db::{Db, Migrations, PgPool},
    http::{Basics, Vbs},
    process::ServiceProcess,
};

use crate::{
    clock::{Clock, SystemClock},
    config::Settings,
    error::TaskError,
    messaging, openapi, routes,
    scheduler::Scheduler,
};

pub const SERVICE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");
pub static MIGRATIONS: Migrations = Migrations(&SERVICE_MIGRATIONS);

/// What handlers share.
pub struct AppState {
    pub db: Db<TaskError>,
    pub max_page_size: i64,
}

pub struct Application {
    process: ServiceProcess,
    server: Server,
    port: u16,
    scheduler: Scheduler,
    /// `None`: no tick loop; someone else calls [`Scheduler::tick`] and [`Scheduler::sweep`].
    tick_interval: Option<std::time::Duration>,
}

impl Application {
    pub async fn build(settings: Settings, authenticator: Authenticator) -> anyhow::Result<Self> {
        Self::build_with_clock(settings, authenticator, Arc::new(SystemClock)).await
    }

    /// As [`Application::build`], reading the time from `clock` (tests pass a manual one).
    pub async fn build_with_clock(
        settings: Settings,
        authenticator: Authenticator,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<Self> {
        let process =
            ServiceProcess::start("task-scheduler", &settings.database, MIGRATIONS, settings.amqp.clone())
                .await?;
        let scheduler =
            Scheduler::new(process.pool().clone(), clock, settings.scheduler, process.wake_relay());
        let state = web::Data::new(AppState { db: process.db(), max_page_size: settings.max_page_size });
        let basics = Basics { pool: process.pool().clone(), document: openapi::document(), authenticator };
        let (server, port) = service_kit::http::server::<Vbs>(&settings.bind, basics, move |cfg| {
            cfg.app_data(state.clone());
            routes::configure(cfg);
        })?;
        tracing::info!(port, "task-scheduler listening");
        Ok(Self { process, server, port, scheduler, tick_interval: Some(settings.tick_interval) })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn pool(&self) -> &PgPool {
        self.process.pool()
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
        let shutdown = self.process.shutdown_token();
        let mut background =
            vec![messaging::run(self.scheduler.clone(), self.process.broker(), shutdown.clone()).boxed()];
        if let Some(interval) = self.tick_interval {
            background.push(self.scheduler.run(interval, shutdown).boxed());
        }
        self.process.run(Some(self.server), background).await
    }
}
