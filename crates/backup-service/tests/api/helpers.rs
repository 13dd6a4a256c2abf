use std::{
    path::{Path, PathBuf},
    time::Duration,
};

use api_types::{
    domain::{ProjectId, ResourceId},
    message::{Envelope, Message},
};
use backup_engine::Engine;
use backup_service::{
    Application,
    config::{ObjectStoreConfig, Quotas, Role, Settings, WorkerSettings},
    volumes::{DriverSettings, FileVolumes, Volumes},
    worker::Maintenance,
};
use lapin::{BasicProperties, Connection, ConnectionProperties, options::BasicPublishOptions};
use reqwest::Response;
use serde_json::{Value, json};
pub use service_kit::testing::Listener;
use service_kit::{
    CancellationToken,
    amqp::{AmqpConfig, Queue},
    db::PgPool,
    testing::TestDatabase,
};
use sha2::{Digest, Sha256};

pub use service_kit::testing::{assert_error, init_logging, token_for};
pub const MIB: usize = 1024 * 1024;

pub use service_kit::testing::{amqp_url, database_url};

/// Worker timings for tests: short leases, no periodic GC (tests run it), no grace period.
pub fn test_worker_settings() -> WorkerSettings {
    WorkerSettings {
        concurrency: 2,
        engine_threads: 2,
        heartbeat: Duration::from_millis(200),
        job_timeout: Duration::from_secs(2),
        max_attempts: 3,
        gc_interval: Duration::ZERO,
        gc_grace: Duration::ZERO,
        pending_ttl: Duration::from_secs(3600),
        reap_interval: Duration::from_millis(500),
    }
}

pub struct TestApp {
    pub address: String,
    pub project: String,
    pub token: String,
    pub client: reqwest::Client,
    pub amqp: AmqpConfig,
    pub pool: PgPool,
    pub engine: Engine,
    pub maintenance: Option<Maintenance>,
    /// The file driver over the service's volumes directory.
    pub volumes: Volumes,
    pub volumes_root: PathBuf,
    pub settings: Settings,
    pub dirs: tempfile::TempDir,
    shutdown: CancellationToken,
    server: tokio::task::JoinHandle<anyhow::Result<()>>,
    _db: TestDatabase,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
        self.server.abort();
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// The settings of a fresh test deployment: database, AMQP namespace, volume and object
/// directories of its own.
pub fn test_settings(db: &TestDatabase, dirs: &Path) -> Settings {
    Settings {
        role: Role::All,
        bind: "127.0.0.1:0".into(),
        database: service_kit::db::DatabaseSettings { url: db.url.clone(), pool_size: 8, create: false },
        amqp: AmqpConfig {
            url: amqp_url(),
            namespace: format!("test-{}", uuid::Uuid::new_v4().simple()),
            ephemeral: true,
        },
        public_url: None,
        volumes: DriverSettings::File { root: dirs.join("volumes") },
        object_store: ObjectStoreConfig::Local(dirs.join("objects")),
        availability_zone: Some("az-test".into()),
        quotas: Quotas::default(),
        worker: test_worker_settings(),
    }
}

/// Starts the service (API and workers) with a fresh database, AMQP namespace and
/// directories; `adjust` may change settings.
pub async fn spawn_app_with(adjust: impl FnOnce(&mut Settings)) -> TestApp {
    init_logging();
    let db = TestDatabase::create(&database_url(), "vbs_backup_test").unwrap();
    let dirs = tempfile::tempdir().unwrap();
    let mut settings = test_settings(&db, dirs.path());
    adjust(&mut settings);
    let app =
        Application::build(settings.clone(), Some(service_kit::testing::authenticator())).await.unwrap();
    let address = format!("http://127.0.0.1:{}", app.port().unwrap_or_default());
    let pool = app.pool().clone();
    let engine = app.engine().clone();
    let maintenance = app.maintenance();
    let shutdown = app.shutdown_token();
    let server = tokio::spawn(app.run_until_stopped());
    let project = format!("p{}", uuid::Uuid::new_v4().simple());
    TestApp {
        token: token_for(&[&project]),
        address,
        project,
        client: reqwest::Client::new(),
        amqp: settings.amqp.clone(),
        pool,
        engine,
        maintenance,
        volumes: std::sync::Arc::new(FileVolumes::new(dirs.path().join("volumes"))),
        volumes_root: dirs.path().join("volumes"),
        settings,
        dirs,
        shutdown,
        server,
        _db: db,
    }
}

/// A deterministic image mixing random, zero, text-like and duplicated regions (4 KiB-aligned
/// copies of earlier data), of any length.
pub fn make_image(len: usize, seed: u64) -> Vec<u8> {
    let mut rng = Rng(seed ^ 0x9E37_79B9_7F4A_7C15);
    let mut img = vec![0u8; len];
    let words = ["volume ", "backup ", "block ", "the ", "of ", "snapshot ", "restore\n", "data ", "42 "];
    let mut pos = 0;
    let mut region = 0u64;
    while pos < len {
        let n = ((rng.below(40) as usize + 1) * 7919).min(len - pos);
        match region % 4 {
            0 => rng.fill(&mut img[pos..pos + n]),
            1 => {} // zeros
            2 => {
                let mut i = pos;
                while i < pos + n {
                    let w = words[rng.below(words.len() as u64) as usize].as_bytes();
                    let k = w.len().min(pos + n - i);
                    img[i..i + k].copy_from_slice(&w[..k]);
                    i += k;
                }
            }
            _ => {
                // A copy of an earlier 4 KiB-aligned extent.
                let aligned = pos / 4096 * 4096;
                if aligned > 4096 {
                    let from = (rng.below((aligned / 4096) as u64) as usize) * 4096;
                    let k = n.min(aligned - from).min(len - pos);
                    img.copy_within(from..from + k, pos);
                }
            }
        }
        pos += n;
        region += 1;
    }
    img
}

pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    pub fn fill(&mut self, buf: &mut [u8]) {
        for c in buf.chunks_mut(8) {
            let v = self.next().to_le_bytes();
            c.copy_from_slice(&v[..c.len()]);
        }
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

pub fn sha256(data: &[u8]) -> String {
    format!("{:x}", Sha256::digest(data))
}

pub fn sha256_file(path: &Path) -> String {
    sha256(&std::fs::read(path).unwrap())
}

impl TestApp {
    /// `path` is relative to `/{version}/{project_id}`.
    pub fn url_v(&self, version: &str, path: &str) -> String {
        format!("{}/{version}/{}{path}", self.address, self.project)
    }

    pub fn url(&self, path: &str) -> String {
        self.url_v("v2", path)
    }

    pub async fn get(&self, path: &str) -> Response {
        self.get_url(&self.url(path)).await
    }

    pub async fn get_url(&self, url: &str) -> Response {
        self.client.get(url).header("X-Auth-Token", &self.token).send().await.unwrap()
    }

    pub async fn post(&self, path: &str, body: &Value) -> Response {
        self.post_url(&self.url(path), body).await
    }

    pub async fn post_url(&self, url: &str, body: &Value) -> Response {
        self.client.post(url).header("X-Auth-Token", &self.token).json(body).send().await.unwrap()
    }

    pub async fn delete(&self, path: &str) -> Response {
        self.client.delete(self.url(path)).header("X-Auth-Token", &self.token).send().await.unwrap()
    }

    pub fn project_id(&self) -> ProjectId {
        ProjectId::parse(&self.project).unwrap()
    }

    /// Creates a volume of this project holding `data`; returns its id.
    pub fn volume_with(&self, data: &[u8]) -> String {
        self.volume_in(&self.project_id(), data)
    }

    pub fn volume_in(&self, project: &ProjectId, data: &[u8]) -> String {
        let id = ResourceId::new_v4();
        let src = self.dirs.path().join(format!("src-{id}"));
        std::fs::write(&src, data).unwrap();
        self.volumes.create_volume(project, id, data.len() as u64, Some("vol"), Some(&src)).unwrap();
        std::fs::remove_file(src).unwrap();
        id.to_string()
    }

    /// An empty volume of `len` bytes.
    pub fn empty_volume(&self, len: u64) -> String {
        let id = ResourceId::new_v4();
        self.volumes.create_volume(&self.project_id(), id, len, Some("target"), None).unwrap();
        id.to_string()
    }

    pub fn disk(&self, volume: &str) -> PathBuf {
        self.disk_in(&self.project, volume)
    }

    pub fn disk_in(&self, project: &str, volume: &str) -> PathBuf {
        self.volumes_root.join(project).join(volume).join("disk")
    }

    /// Overwrites the volume's content.
    pub fn write_volume(&self, volume: &str, data: &[u8]) {
        std::fs::write(self.disk(volume), data).unwrap();
    }

    /// Snapshots the volume as it is now; returns the snapshot id.
    pub fn snapshot(&self, volume: &str) -> String {
        let id = ResourceId::new_v4();
        self.volumes
            .create_snapshot(&self.project_id(), ResourceId::parse("v", volume).unwrap(), id)
            .unwrap();
        id.to_string()
    }

    /// Native create of a backup of a fresh snapshot of `volume`; returns the backup id.
    pub async fn create_backup(&self, volume: &str, name: &str) -> String {
        let snapshot = self.snapshot(volume);
        let res = self
            .post(
                "/backups",
                &json!({"backup": {"volume_id": volume, "snapshot_id": snapshot, "name": name}}),
            )
            .await;
        assert_eq!(res.status(), 202, "{:?}", res.text().await);
        let v: Value = res.json().await.unwrap();
        v["backup"]["id"].as_str().unwrap().to_owned()
    }

    /// Creates a backup and waits until it is available; returns its detail.
    pub async fn backup_available(&self, volume: &str, name: &str) -> Value {
        let id = self.create_backup(volume, name).await;
        self.wait_backup(&id, "available").await
    }

    pub async fn show(&self, id: &str) -> Response {
        self.get_url(&self.url_v("v3", &format!("/native/backups/{id}"))).await
    }

    /// Polls the backup until its status is `status` (panics on `error` unless expected).
    pub async fn wait_backup(&self, id: &str, status: &str) -> Value {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            let res = self.show(id).await;
            assert_eq!(res.status(), 200, "{id}");
            let v: Value = res.json().await.unwrap();
            let b = v["backup"].clone();
            if b["status"] == status {
                return b;
            }
            assert!(b["status"] != "error" || status == "error", "backup failed: {b}");
            assert!(tokio::time::Instant::now() < deadline, "backup {id} stayed {}", b["status"]);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Polls until the backup is gone (404).
    pub async fn wait_gone(&self, id: &str) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        while self.show(id).await.status() != 404 {
            assert!(tokio::time::Instant::now() < deadline, "backup {id} was not deleted");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Polls a job until it finished; returns it.
    pub async fn wait_job(&self, job_id: &str) -> Value {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            let res = self.get_url(&self.url_v("v1", &format!("/jobs/{job_id}"))).await;
            assert_eq!(res.status(), 200);
            let v: Value = res.json().await.unwrap();
            if v["status"] == "SUCCESS" || v["status"] == "FAIL" {
                return v;
            }
            assert!(tokio::time::Instant::now() < deadline, "job {job_id} stayed {}", v["status"]);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Native restore of `backup` into `volume`, waited for; asserts the backup is available
    /// again.
    pub async fn restore(&self, backup: &str, volume: &str) {
        let res = self
            .post(&format!("/backups/{backup}/restore"), &json!({"restore": {"volume_id": volume}}))
            .await;
        assert_eq!(res.status(), 202, "{:?}", res.text().await);
        self.wait_backup(backup, "available").await;
        // The restore job finished too (the backup turns available in the same transaction).
    }

    pub async fn listener(&self, queue: Queue) -> Listener {
        Listener::new(&self.amqp, queue).await
    }

    /// Publishes a message to the exchange as another service would.
    pub async fn publish<M: Message>(&self, payload: M) -> Envelope<M> {
        let env = Envelope::new(payload, chrono::Utc::now(), None);
        self.publish_envelope(&env).await;
        env
    }

    pub async fn publish_envelope<M: Message>(&self, env: &Envelope<M>) {
        self.publish_raw(M::TYPE, &serde_json::to_vec(env).unwrap()).await;
    }

    pub async fn publish_raw(&self, routing_key: &str, body: &[u8]) {
        let connection = Connection::connect(&self.amqp.url, ConnectionProperties::default()).await.unwrap();
        let channel = connection.create_channel().await.unwrap();
        service_kit::amqp::declare_topology(&channel, &self.amqp).await.unwrap();
        channel
            .basic_publish(
                self.amqp.exchange().as_str().into(),
                routing_key.into(),
                BasicPublishOptions::default(),
                body,
                BasicProperties::default().with_delivery_mode(2),
            )
            .await
            .unwrap()
            .await
            .unwrap();
        let _ = connection.close(0, "done".into()).await;
    }

    /// The value of a `SELECT count(*) …` (or any one BIGINT).
    pub async fn count(&self, sql: &'static str) -> i64 {
        let pool = self.pool.clone();
        tokio::task::spawn_blocking(move || {
            use diesel::RunQueryDsl;
            diesel::select(diesel::dsl::sql::<diesel::sql_types::BigInt>(&format!("({sql})")))
                .get_result::<i64>(&mut pool.get().unwrap())
                .unwrap()
        })
        .await
        .unwrap()
    }

    /// Runs one SQL statement against the service's database (test set-up only).
    pub async fn execute(&self, sql: String) {
        service_kit::testing::execute(&self.pool, sql).await;
    }
}

/// Asserts a Cinder fault `{"<kind>":{"code","message"}}`; returns the message.
pub async fn assert_fault(res: Response, status: u16, kind: &str, code: Value) -> String {
    assert_eq!(res.status(), status, "status");
    assert_eq!(res.headers().get("content-type").and_then(|v| v.to_str().ok()), Some("application/json"));
    let body: Value = res.json().await.unwrap();
    assert_eq!(body.as_object().map(|o| o.len()), Some(1), "{body}");
    assert_eq!(body[kind]["code"], code, "{body}");
    let message = body[kind]["message"].as_str().unwrap_or_default().to_owned();
    assert!(!message.is_empty(), "{body}");
    message
}
