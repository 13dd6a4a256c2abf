//! PostgreSQL access: an r2d2 pool of diesel connections, embedded migrations, and running
//! blocking diesel work from async handlers.
//!
//! Each service owns its database. Its migrations are combined with the kit's own (outbox and
//! inbox tables) into one source, so that running and reverting them is one operation and
//! versions never collide (the kit's versions are below any dated service version).
//! Queries stay within what diesel also runs on SQLite: ids are text, times are `TIMESTAMP`
//! (UTC), and PostgreSQL-only SQL sits in small functions named for what they do.

use std::time::Duration;

use anyhow::Context;
use diesel::{
    Connection, PgConnection, RunQueryDsl,
    migration::{Migration, MigrationSource},
    pg::Pg,
    r2d2::{ConnectionManager, Pool, PooledConnection},
};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

mod handle;
mod ids;

pub use handle::{Db, run};
pub use ids::{DbId, DbProjectId};

pub type PgPool = Pool<ConnectionManager<PgConnection>>;
pub type PgPooled = PooledConnection<ConnectionManager<PgConnection>>;

/// The kit's tables: `outbox`, `inbox`.
pub const KIT_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");

/// The kit's migrations followed by a service's.
#[derive(Clone, Copy)]
pub struct Migrations(pub &'static EmbeddedMigrations);

impl MigrationSource<Pg> for Migrations {
    fn migrations(&self) -> diesel::migration::Result<Vec<Box<dyn Migration<Pg>>>> {
        let mut all = MigrationSource::<Pg>::migrations(&KIT_MIGRATIONS)?;
        all.extend(MigrationSource::<Pg>::migrations(self.0)?);
        Ok(all)
    }
}

/// Failures of the database layer that are not query errors.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("no database connection available: {0}")]
    Pool(#[from] diesel::r2d2::PoolError),
    #[error(transparent)]
    Query(#[from] diesel::result::Error),
    #[error("database task failed: {0}")]
    Join(#[from] tokio::task::JoinError),
}

/// Where a service's database is and how to reach it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatabaseSettings {
    /// The service's own `VBS_<SERVICE>_DATABASE_URL`.
    pub url: String,
    /// `VBS_DB_POOL_SIZE` (default 10).
    pub pool_size: u32,
    /// `VBS_CREATE_DATABASE` (default true): create the database at start when it is missing.
    pub create: bool,
}

impl DatabaseSettings {
    /// The URL from `url_key` (else `default_url`) and the pool settings every service shares.
    pub fn from_env(url_key: &str, default_url: &str) -> anyhow::Result<Self> {
        Ok(Self {
            url: crate::config::var_or(url_key, default_url),
            pool_size: crate::config::parse_or("VBS_DB_POOL_SIZE", 10)?,
            create: crate::config::parse_or("VBS_CREATE_DATABASE", true)?,
        })
    }
}

/// Everything a service does with its database before it serves: create it when allowed and
/// missing, open the pool, and apply the migrations under the migration lock.
pub async fn bootstrap(settings: &DatabaseSettings, migrations: Migrations) -> anyhow::Result<PgPool> {
    let settings = settings.clone();
    tokio::task::spawn_blocking(move || -> anyhow::Result<PgPool> {
        if settings.create {
            ensure_database(&settings.url)?;
        }
        let pool = pool(&settings.url, settings.pool_size)?;
        let ran = migrate(&mut *pool.get()?, migrations)?;
        if ran > 0 {
            tracing::info!(migrations = ran, "database migrated");
        }
        Ok(pool)
    })
    .await?
}

/// Connects, checking the URL once directly so that a wrong URL or a stopped server is reported
/// with PostgreSQL's own message rather than a pool timeout.
pub fn pool(url: &str, max_size: u32) -> anyhow::Result<PgPool> {
    PgConnection::establish(url).with_context(|| format!("connecting to {}", redact(url)))?;
    Pool::builder()
        .max_size(max_size)
        .connection_timeout(Duration::from_secs(10))
        .test_on_check_out(true)
        .build(ConnectionManager::new(url))
        .context("building the connection pool")
}

/// Applies pending migrations (the kit's and the service's), returning how many ran.
///
/// Several processes of one service may start at once (an API and its workers): a
/// PostgreSQL advisory lock (held for the session, released right after) lets one migrate
/// while the others wait and then find nothing left to do.
pub fn migrate(conn: &mut PgConnection, migrations: Migrations) -> anyhow::Result<usize> {
    const MIGRATION_LOCK: i64 = 0x7662_735f_6d69_6772; // "vbs_migr"
    diesel::sql_query(format!("SELECT pg_advisory_lock({MIGRATION_LOCK})"))
        .execute(conn)
        .context("taking the migration lock")?;
    let ran = conn
        .run_pending_migrations(migrations)
        .map(|versions| versions.len())
        .map_err(|e| anyhow::anyhow!("running migrations: {e}"));
    let unlocked = diesel::sql_query(format!("SELECT pg_advisory_unlock({MIGRATION_LOCK})")).execute(conn);
    let ran = ran?;
    unlocked.context("releasing the migration lock")?;
    Ok(ran)
}

/// Creates the database named in `url` when it does not exist (development and tests; in
/// production the operator creates it).
pub fn ensure_database(url: &str) -> anyhow::Result<()> {
    let (server, name) = split_database(url)?;
    if PgConnection::establish(url).is_ok() {
        return Ok(());
    }
    let mut admin = PgConnection::establish(&format!("{server}/postgres{}", url_params(url)))
        .with_context(|| format!("connecting to {}/postgres", redact(&server)))?;
    match diesel::sql_query(format!("CREATE DATABASE \"{name}\"")).execute(&mut admin) {
        Ok(_) => Ok(()),
        // Another process created it meanwhile (PostgreSQL says "already exists", or, when
        // both CREATE DATABASE statements ran at once, reports the catalog's unique index).
        Err(diesel::result::Error::DatabaseError(kind, info))
            if info.message().contains("already exists")
                || matches!(kind, diesel::result::DatabaseErrorKind::UniqueViolation) =>
        {
            Ok(())
        }
        Err(e) => Err(e).with_context(|| format!("creating database {name}")),
    }
}

/// Splits `postgres://…/name?params` into the server part and the database name.
pub(crate) fn split_database(url: &str) -> anyhow::Result<(String, String)> {
    let without_params = url.split('?').next().unwrap_or(url);
    let (server, name) = without_params
        .rsplit_once('/')
        .filter(|(s, n)| s.contains("://") && !s.ends_with('/') && !n.is_empty())
        .with_context(|| format!("{} does not name a database", redact(url)))?;
    anyhow::ensure!(
        name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-'),
        "database name {name:?} must be letters, digits, _ or -"
    );
    Ok((server.to_owned(), name.to_owned()))
}

/// The `?params` part of a database URL (empty when there is none), to carry options such as
/// `sslmode` over to the URLs derived from it.
pub(crate) fn url_params(url: &str) -> &str {
    url.find('?').map_or("", |i| &url[i..])
}

/// Hides a password in a URL before it reaches a log or an error message.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme_end + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_and_redacts() {
        let (s, n) = split_database("postgres://u:pw@host:5432/vbs_policy?sslmode=disable").unwrap();
        assert_eq!((s.as_str(), n.as_str()), ("postgres://u:pw@host:5432", "vbs_policy"));
        assert!(split_database("postgres://host:5432/").is_err());
        assert!(split_database("postgres://host/a;drop").is_err());
        assert_eq!(url_params("postgres://h/db?sslmode=disable"), "?sslmode=disable");
        assert_eq!(url_params("postgres://h/db"), "");
        assert_eq!(redact("postgres://u:pw@h/db"), "postgres://u:***@h/db");
        assert_eq!(redact("postgres://h/db"), "postgres://h/db");
    }
}
