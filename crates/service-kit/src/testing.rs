//! Test support shared by the services' integration tests: throw-away databases, the migration
//! round trip every service checks, a [`Listener`] that reads one of the consumers' queues as
//! the consumer would, and a TCP proxy in front of RabbitMQ that a test can cut and restore, to
//! show that messages survive a broker outage without stopping the broker every other test is
//! using. Failures panic: this is for tests only.

use std::{
    net::SocketAddr,
    path::PathBuf,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use api_types::message::{Envelope, EnvelopeHead, Message};
use futures_util::StreamExt;
use lapin::{
    Connection, ConnectionProperties,
    options::{BasicAckOptions, BasicConsumeOptions},
    types::FieldTable,
};
use tokio::{
    net::{TcpListener, TcpStream},
    sync::Mutex,
    task::JoinSet,
};

use diesel::{Connection as _, PgConnection, RunQueryDsl};
use diesel_migrations::MigrationHarness;

use crate::{
    amqp::{AmqpConfig, Queue},
    db::{Migrations, ensure_database, split_database, url_params},
};

/// The token secret of the services the tests start.
pub const SECRET: &[u8] = b"test-secret-test-secret-test-secret!";

/// The keys of [`SECRET`].
pub fn token_keys() -> crate::auth::TokenKeys {
    crate::auth::TokenKeys::from_secret(SECRET).expect("a valid test secret")
}

/// A member's token for `projects`, signed with [`SECRET`], valid for ten minutes.
pub fn token_for(projects: &[&str]) -> String {
    token_with_role(projects, crate::auth::Role::Member)
}

/// A token for `projects` with `role`, signed with [`SECRET`], valid for ten minutes.
pub fn token_with_role(projects: &[&str], role: crate::auth::Role) -> String {
    let projects: Vec<api_types::domain::ProjectId> = projects
        .iter()
        .map(|p| api_types::domain::ProjectId::parse(p).expect("a valid test project id"))
        .collect();
    token_keys().mint("tester", &projects, role, Duration::from_secs(600)).expect("a token")
}

/// How the services under test check tokens: the local strategy with [`SECRET`].
pub fn authenticator() -> crate::auth::Authenticator {
    crate::auth::Authenticator::Local(token_keys())
}

/// Logs go to the test output when `TEST_LOG` is set (`TEST_LOG=1 cargo test … -- --nocapture`).
pub fn init_logging() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        if std::env::var("TEST_LOG").is_ok() {
            let _ = tracing_subscriber::fmt()
                .with_env_filter("debug,h2=info,hyper=info,lapin=info,amq_protocol=info,reqwest=info")
                .with_test_writer()
                .try_init();
        }
    });
}

/// Asserts the `{"error":{"code","message"}}` envelope with `code`, returning the message.
pub async fn assert_error(res: reqwest::Response, status: u16, code: &str) -> String {
    assert_eq!(res.status(), status, "status");
    assert_eq!(
        res.headers().get("content-type").and_then(|v| v.to_str().ok()),
        Some("application/json"),
        "content type"
    );
    let body: serde_json::Value = res.json().await.expect("a JSON body");
    assert_eq!(body["error"]["code"], code, "{body}");
    let message = body["error"]["message"].as_str().unwrap_or_default().to_owned();
    assert!(!message.is_empty(), "{body}");
    message
}

/// The PostgreSQL server tests create their databases on: `VBS_TEST_DATABASE_URL`, by
/// default the local server without TLS. With TLS, libpq uses OpenSSL, and OpenSSL 3 tears
/// itself down in an `atexit` handler while the connection pools' threads may still use it: a
/// test process then passes and dies with "double free or corruption" on its way out.
/// Runs one SQL statement on `pool` (test set-up: what no API may do, such as losing a row).
pub async fn execute(pool: &crate::db::PgPool, sql: String) {
    let pool = pool.clone();
    tokio::task::spawn_blocking(move || {
        diesel::sql_query(sql).execute(&mut pool.get().expect("a connection")).expect("the statement");
    })
    .await
    .expect("the blocking task");
}

/// A file of the checkout under test, by its path from the repository root (e.g.
/// `openapi/policy-service.json`). Taken from the running test's crate directory (cargo and
/// nextest set `CARGO_MANIFEST_DIR` at run time, and every crate is two levels down) rather
/// than a build-time path: checkouts that share a target directory share unchanged test
/// binaries, whose build-time path names whichever checkout built them.
pub fn repo_file(path: &str) -> PathBuf {
    let crate_dir = std::env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from);
    crate_dir.join("../..").join(path)
}

pub fn database_url() -> String {
    std::env::var("VBS_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable".into())
}

/// The RabbitMQ broker of the tests: `VBS_TEST_AMQP_URL`, by default the local one.
pub fn amqp_url() -> String {
    std::env::var("VBS_TEST_AMQP_URL").unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into())
}

/// A throw-away database for one test, dropped when the guard is.
pub struct TestDatabase {
    pub url: String,
    server: String,
    params: String,
    name: String,
}

impl TestDatabase {
    /// Creates `<prefix>_<random>` on the server of `base_url`, with `base_url`'s parameters.
    pub fn create(base_url: &str, prefix: &str) -> anyhow::Result<Self> {
        let (server, _) = split_database(base_url)?;
        let params = url_params(base_url).to_owned();
        let name = format!("{prefix}_{}", uuid::Uuid::new_v4().simple());
        let url = format!("{server}/{name}{params}");
        ensure_database(&url)?;
        Ok(Self { url, server, params, name })
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let Ok(mut admin) = PgConnection::establish(&format!("{}/postgres{}", self.server, self.params)) {
            let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name))
                .execute(&mut admin);
        }
    }
}

/// Every migration (the kit's and the service's) applies, reverts cleanly leaving no table
/// behind, and applies again.
pub fn assert_migrations_round_trip(migrations: Migrations, prefix: &str) {
    let db = TestDatabase::create(&database_url(), prefix).expect("a test database");
    let mut conn = PgConnection::establish(&db.url).expect("connect to the test database");
    let applied = conn.run_pending_migrations(migrations).expect("migrations apply").len();
    assert!(applied >= 3, "kit and service migrations");
    let reverted = conn.revert_all_migrations(migrations).expect("migrations revert").len();
    assert_eq!(reverted, applied);
    let tables: i64 = diesel::select(diesel::dsl::sql::<diesel::sql_types::BigInt>(
        "(SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public' AND table_name <> '__diesel_schema_migrations')",
    ))
    .get_result(&mut conn)
    .expect("count the tables");
    assert_eq!(tables, 0, "down migrations leave nothing behind");
    assert_eq!(conn.run_pending_migrations(migrations).expect("migrations apply again").len(), applied);
}

/// Reads a queue of the test's AMQP namespace, acking what it reads.
pub struct Listener {
    _connection: Connection,
    consumer: lapin::Consumer,
}

impl Listener {
    /// Listens on one of the consumers' durable queues.
    pub async fn new(amqp: &AmqpConfig, queue: Queue) -> Self {
        Self::on_queue(amqp, &amqp.queue_name(queue)).await
    }

    /// Listens on the queue named `queue` (e.g. the dead-letter queue), declaring the topology
    /// first so that it exists.
    pub async fn on_queue(amqp: &AmqpConfig, queue: &str) -> Self {
        let connection = Connection::connect(&amqp.url, ConnectionProperties::default())
            .await
            .expect("connect to RabbitMQ");
        let channel = connection.create_channel().await.expect("open a channel");
        crate::amqp::declare_topology(&channel, amqp).await.expect("declare the topology");
        let consumer = channel
            .basic_consume(queue.into(), "test".into(), BasicConsumeOptions::default(), FieldTable::default())
            .await
            .expect("consume");
        Self { _connection: connection, consumer }
    }

    /// The next message body, or a panic after `wait`.
    pub async fn next_raw(&mut self, wait: Duration) -> Vec<u8> {
        let delivery = tokio::time::timeout(wait, self.consumer.next())
            .await
            .expect("no message arrived in time")
            .expect("consumer ended")
            .expect("delivery");
        delivery.acker.ack(BasicAckOptions::default()).await.expect("ack");
        delivery.data
    }

    /// The next message of type `M` within a minute, skipping messages of other types.
    pub async fn next<M: Message>(&mut self) -> Envelope<M> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let body = self.next_raw(left).await;
            let head: EnvelopeHead = serde_json::from_slice(&body).expect("an envelope");
            if head.message_type == M::TYPE {
                return Envelope::decode(&body).expect("a message of its type");
            }
        }
    }

    /// The next message of type `message_type` that `wanted` accepts, as raw JSON (for
    /// contract tests, which check the wire form), skipping others; 20 s per message at most.
    pub async fn next_json(
        &mut self,
        message_type: &str,
        wanted: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        loop {
            let raw = self.next_raw(Duration::from_secs(20)).await;
            let message: serde_json::Value = serde_json::from_slice(&raw).expect("a JSON message");
            if message["message_type"] == message_type && wanted(&message) {
                return message;
            }
        }
    }

    /// Asserts nothing more arrives within `wait`.
    pub async fn assert_quiet(&mut self, wait: Duration) {
        if let Ok(Some(Ok(d))) = tokio::time::timeout(wait, self.consumer.next()).await {
            panic!("unexpected message: {}", String::from_utf8_lossy(&d.data));
        }
    }
}

/// A TCP forwarder to `upstream` that can be switched off (every connection dropped, new ones
/// refused) and on again.
pub struct BrokerProxy {
    addr: SocketAddr,
    up: Arc<AtomicBool>,
    connections: Arc<Mutex<JoinSet<()>>>,
    accept: tokio::task::JoinHandle<()>,
}

impl BrokerProxy {
    pub async fn start(upstream: SocketAddr) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let up = Arc::new(AtomicBool::new(true));
        let connections = Arc::new(Mutex::new(JoinSet::new()));
        let accept = tokio::spawn({
            let up = Arc::clone(&up);
            let connections = Arc::clone(&connections);
            async move {
                while let Ok((mut client, _)) = listener.accept().await {
                    if !up.load(Ordering::SeqCst) {
                        drop(client);
                        continue;
                    }
                    connections.lock().await.spawn(async move {
                        if let Ok(mut server) = TcpStream::connect(upstream).await {
                            let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                        }
                    });
                }
            }
        });
        Ok(Self { addr, up, connections, accept })
    }

    /// An AMQP URL that goes through the proxy.
    pub fn amqp_url(&self) -> String {
        format!("amqp://guest:guest@{}/%2f", self.addr)
    }

    /// The broker "goes down": open connections are cut, new ones refused.
    pub async fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        self.connections.lock().await.abort_all();
    }

    /// The broker "comes back".
    pub fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

impl Drop for BrokerProxy {
    fn drop(&mut self) {
        self.accept.abort();
    }
}
