use policy_service::{Application, config::Settings};
use reqwest::Response;
use serde_json::{Value, json};
pub use service_kit::testing::Listener;
use service_kit::{
    amqp::{AmqpConfig, Queue},
    db::PgPool,
    testing::TestDatabase,
};

pub use service_kit::testing::{SECRET, assert_error, init_logging, token_for};

pub use service_kit::testing::{amqp_url, database_url};

pub struct TestApp {
    pub address: String,
    pub project: String,
    pub token: String,
    pub client: reqwest::Client,
    pub amqp: AmqpConfig,
    pub pool: PgPool,
    _db: TestDatabase,
    server: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.server.abort();
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Starts the service with a fresh database and AMQP namespace; `adjust` may change settings.
pub async fn spawn_app_with(adjust: impl FnOnce(&mut Settings)) -> TestApp {
    init_logging();
    let db = TestDatabase::create(&database_url(), "vbs_policy_test").unwrap();
    let mut settings = Settings {
        bind: "127.0.0.1:0".into(),
        database: service_kit::db::DatabaseSettings { url: db.url.clone(), pool_size: 5, create: false },
        amqp: AmqpConfig {
            url: amqp_url(),
            namespace: format!("test-{}", uuid::Uuid::new_v4().simple()),
            ephemeral: true,
        },
        max_policies_per_project: 10,
        max_volumes_per_policy: 200,
        public_url: None,
        placement: policy_service::config::Placement {
            availability_zone: Some("az-test".into()),
            volume_host: Some("vbs@file#volumes".into()),
        },
    };
    adjust(&mut settings);
    let amqp = settings.amqp.clone();
    let app = Application::build(settings, service_kit::testing::authenticator()).await.unwrap();
    let address = format!("http://127.0.0.1:{}", app.port());
    let pool = app.pool().clone();
    let server = tokio::spawn(app.run_until_stopped());
    let project = format!("p{}", uuid::Uuid::new_v4().simple());
    TestApp {
        token: token_for(&[&project]),
        address,
        project,
        client: reqwest::Client::new(),
        amqp,
        pool,
        _db: db,
        server,
    }
}

impl TestApp {
    /// `path` is relative to `/v2/{project_id}`.
    pub fn url(&self, path: &str) -> String {
        format!("{}/v2/{}{path}", self.address, self.project)
    }

    pub async fn get(&self, path: &str) -> Response {
        self.client.get(self.url(path)).header("X-Auth-Token", &self.token).send().await.unwrap()
    }

    pub async fn post(&self, path: &str, body: &Value) -> Response {
        self.client.post(self.url(path)).header("X-Auth-Token", &self.token).json(body).send().await.unwrap()
    }

    pub async fn put(&self, path: &str, body: &Value) -> Response {
        self.client.put(self.url(path)).header("X-Auth-Token", &self.token).json(body).send().await.unwrap()
    }

    pub async fn delete(&self, path: &str) -> Response {
        self.client.delete(self.url(path)).header("X-Auth-Token", &self.token).send().await.unwrap()
    }

    /// Creates a policy from `body` and returns its id.
    pub async fn create_policy(&self, body: &Value) -> String {
        let res = self.post("/backuppolicy", body).await;
        assert_eq!(res.status(), 200, "{:?}", res.text().await);
        let v: Value = res.json().await.unwrap();
        v["backup_policy_id"].as_str().unwrap().to_owned()
    }

    pub async fn list_policies(&self) -> Vec<Value> {
        let res = self.get("/backuppolicy").await;
        assert_eq!(res.status(), 200);
        let v: Value = res.json().await.unwrap();
        v["backup_policies"].as_array().unwrap().clone()
    }

    pub async fn policy(&self, id: &str) -> Value {
        self.list_policies().await.into_iter().find(|p| p["backup_policy_id"] == id).unwrap()
    }

    /// Reads the next message on one of the consumers' queues, as the consumer would.
    pub async fn listener(&self, queue: Queue) -> Listener {
        Listener::new(&self.amqp, queue).await
    }
}

/// The seed request of spec/01 with a given name.
pub fn seed_policy(name: &str) -> Value {
    json!({
        "backup_policy_name": name,
        "scheduled_policy": {
            "remain_first_backup_of_curMonth": "Y",
            "rentention_day": 30,
            "week_frequency": ["SUN", "WED"],
            "start_time": "12:00",
            "status": "ON"
        },
        "tags": [{"key": "key", "value": "value"}],
        "time_zone": "UTC+08:00"
    })
}

impl TestApp {
    /// Runs one SQL statement against the service's database (test set-up only).
    pub async fn execute(&self, sql: String) {
        service_kit::testing::execute(&self.pool, sql).await;
    }
}
