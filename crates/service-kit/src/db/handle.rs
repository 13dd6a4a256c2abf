//! Running diesel work from async code.
//!
//! diesel and r2d2 block, so every query runs on tokio's blocking pool, inside the caller's span
//! so its logs and child spans stay attached to the request or message being handled.

use std::{marker::PhantomData, sync::Arc};

use diesel::{Connection, PgConnection};
use tokio::sync::Notify;

use super::{DbError, PgPool};

/// Runs blocking diesel work on a pooled connection, off the async executor, in the caller's
/// span.
pub async fn run<T, E, F>(pool: &PgPool, f: F) -> Result<T, E>
where
    F: FnOnce(&mut PgConnection) -> Result<T, E> + Send + 'static,
    T: Send + 'static,
    E: From<DbError> + Send + 'static,
{
    let pool = pool.clone();
    crate::telemetry::spawn_blocking_in_span(move || {
        let mut conn = pool.get().map_err(DbError::from)?;
        f(&mut conn)
    })
    .await
    .map_err(DbError::from)?
}

/// A service's database as its handlers and consumers use it: reads, and writes that wake the
/// outbox relay once they committed (the messages a change wrote then go out at once rather than
/// at the relay's next poll). `E` is the caller's error type, so closures can use `?` on their
/// own errors and on query errors alike.
pub struct Db<E> {
    pool: PgPool,
    wake_relay: Arc<Notify>,
    error: PhantomData<fn() -> E>,
}

impl<E> Clone for Db<E> {
    fn clone(&self) -> Self {
        Self { pool: self.pool.clone(), wake_relay: Arc::clone(&self.wake_relay), error: PhantomData }
    }
}

impl<E> Db<E>
where
    E: From<DbError> + From<diesel::result::Error> + Send + 'static,
{
    pub fn new(pool: PgPool, wake_relay: Arc<Notify>) -> Self {
        Self { pool, wake_relay, error: PhantomData }
    }

    /// The same database, with another error type.
    pub fn with_error<E2>(&self) -> Db<E2> {
        Db { pool: self.pool.clone(), wake_relay: Arc::clone(&self.wake_relay), error: PhantomData }
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Runs `f` without a transaction of its own (reads, or a single statement).
    pub async fn read<T, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut PgConnection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
    {
        run(&self.pool, f).await
    }

    /// Runs `f` in one read-only, repeatable-read transaction, so that everything it reads (a
    /// page and its total, say) describes the same moment.
    pub async fn read_snapshot<T, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut PgConnection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
    {
        run(&self.pool, move |conn| conn.build_transaction().read_only().repeatable_read().run(f)).await
    }

    /// Runs `f` in one transaction and, once it committed, wakes the outbox relay.
    pub async fn write<T, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut PgConnection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
    {
        let out = run(&self.pool, move |conn| conn.transaction(f)).await?;
        self.wake_relay.notify_one();
        Ok(out)
    }

    /// Runs `f`, which makes its change in one statement (atomic without a transaction, so
    /// without `BEGIN` and `COMMIT` round trips), and wakes the outbox relay once it returned.
    pub async fn write_statement<T, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut PgConnection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
    {
        let out = run(&self.pool, f).await?;
        self.wake_relay.notify_one();
        Ok(out)
    }

    /// Wakes the outbox relay (after a write made outside [`Db::write`]).
    pub fn wake_relay(&self) {
        self.wake_relay.notify_one();
    }
}
