//! What every service process is made of besides its own routes and loops: the database
//! (created, pooled and migrated at start), the broker handle, the outbox relay, and a shutdown
//! signal for the background loops. A service's `startup.rs` builds one [`ServiceProcess`], adds
//! its HTTP server and loops, and calls [`ServiceProcess::run`].

use std::sync::Arc;

use actix_web::dev::Server;
use anyhow::Context;
use futures_util::future::BoxFuture;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::{
    amqp::{AmqpConfig, Broker},
    db::{self, DatabaseSettings, Db, DbError, Migrations, PgPool},
    outbox::Relay,
};

pub struct ServiceProcess {
    pool: PgPool,
    broker: Arc<Broker>,
    wake_relay: Arc<Notify>,
    relay: Relay,
    shutdown: CancellationToken,
}

impl ServiceProcess {
    /// Bootstraps the database (see [`db::bootstrap`]) and prepares the relay; nothing runs
    /// until [`ServiceProcess::run`]. `name` names the broker connection.
    pub async fn start(
        name: impl Into<String>,
        database: &DatabaseSettings,
        migrations: Migrations,
        amqp: AmqpConfig,
    ) -> anyhow::Result<Self> {
        let pool = db::bootstrap(database, migrations).await?;
        let broker = Broker::new(amqp, name);
        let wake_relay = Arc::new(Notify::new());
        let relay = Relay::new(pool.clone(), Arc::clone(&broker), Arc::clone(&wake_relay));
        Ok(Self { pool, broker, wake_relay, relay, shutdown: CancellationToken::new() })
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    pub fn broker(&self) -> Arc<Broker> {
        Arc::clone(&self.broker)
    }

    /// Notified after a write, so the relay publishes its messages at once.
    pub fn wake_relay(&self) -> Arc<Notify> {
        Arc::clone(&self.wake_relay)
    }

    /// The database with error type `E`.
    pub fn db<E>(&self) -> Db<E>
    where
        E: From<DbError> + From<diesel::result::Error> + Send + 'static,
    {
        Db::new(self.pool.clone(), self.wake_relay())
    }

    /// Cancelled when the process stops; background loops end with it.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Runs until the process is asked to stop. With a `server`, that is when the server stops
    /// (it handles SIGINT and SIGTERM itself); without one, on a signal or when the shutdown
    /// token is cancelled. The outbox relay and `background` run alongside; they are stopped
    /// through the shutdown token and awaited before this returns.
    pub async fn run(
        self,
        server: Option<Server>,
        background: Vec<BoxFuture<'static, ()>>,
    ) -> anyhow::Result<()> {
        let relay = tokio::spawn(self.relay.run(self.shutdown.clone()));
        let tasks: Vec<_> = background.into_iter().map(tokio::spawn).collect();
        let result = match server {
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
        for task in tasks {
            let _ = task.await;
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
