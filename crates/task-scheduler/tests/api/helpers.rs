use std::{sync::Arc, time::Duration};

use api_types::{
    domain::{ProjectId, ResourceId},
    message::{
        Envelope, Message, PolicyChange, PolicyChanged, PolicyExecute, PolicySnapshot, RetentionRule,
        TaskOutcome, TaskStatus,
    },
};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use reqwest::Response;
use serde_json::Value;
pub use service_kit::testing::Listener;
use service_kit::{
    amqp::{AmqpConfig, Broker, Outgoing, Queue},
    db::PgPool,
    testing::TestDatabase,
};
use task_scheduler::{
    Application,
    clock::{Clock, ManualClock},
    config::{SchedulerConfig, Settings},
    messaging::{Applied, ApplyError, policy_events, task_status},
    scheduler::Scheduler,
    store::{
        policies::PolicyRow,
        schema::{policies, tasks},
        tasks::TaskRow,
    },
};

pub use service_kit::testing::{assert_error, init_logging, token_for};

pub use service_kit::testing::{amqp_url, database_url};

pub fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

/// Sunday 2026-11-22, noon UTC: where every test's clock starts.
pub fn start() -> DateTime<Utc> {
    at("2026-11-22T12:00:00Z")
}

pub fn new_id() -> ResourceId {
    ResourceId::new_v4()
}

pub struct TestApp {
    pub address: String,
    pub project: String,
    pub token: String,
    pub client: reqwest::Client,
    pub amqp: AmqpConfig,
    pub pool: PgPool,
    pub clock: ManualClock,
    pub scheduler: Scheduler,
    broker: Arc<Broker>,
    _db: TestDatabase,
    server: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.server.abort();
    }
}

pub fn test_settings(db: &TestDatabase) -> Settings {
    Settings {
        bind: "127.0.0.1:0".into(),
        database: service_kit::db::DatabaseSettings { url: db.url.clone(), pool_size: 5, create: false },
        amqp: AmqpConfig {
            url: amqp_url(),
            namespace: format!("test-{}", uuid::Uuid::new_v4().simple()),
            ephemeral: true,
        },
        scheduler: SchedulerConfig::default(),
        tick_interval: Duration::from_secs(1),
        max_page_size: 1000,
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Starts the service on a manual clock (at [`start`]) with a fresh database and AMQP
/// namespace, without its tick loop (the tests tick and sweep by hand); `adjust` may change
/// settings.
pub async fn spawn_app_with(adjust: impl FnOnce(&mut Settings)) -> TestApp {
    spawn(adjust, false).await
}

/// As [`spawn_app`], with the tick loop running every second.
pub async fn spawn_app_ticking() -> TestApp {
    spawn(|_| {}, true).await
}

async fn spawn(adjust: impl FnOnce(&mut Settings), tick_loop: bool) -> TestApp {
    init_logging();
    let db = TestDatabase::create(&database_url(), "vbs_scheduler_test").unwrap();
    let mut settings = test_settings(&db);
    adjust(&mut settings);
    let amqp = settings.amqp.clone();
    let clock = ManualClock::new(start());
    let mut app = Application::build_with_clock(
        settings,
        service_kit::testing::authenticator(),
        Arc::new(clock.clone()),
    )
    .await
    .unwrap();
    if !tick_loop {
        app = app.without_tick_loop();
    }
    let address = format!("http://127.0.0.1:{}", app.port());
    let pool = app.pool().clone();
    let scheduler = app.scheduler();
    let server = tokio::spawn(app.run_until_stopped());
    let project = format!("p{}", uuid::Uuid::new_v4().simple());
    TestApp {
        token: token_for(&[&project]),
        address,
        project,
        client: reqwest::Client::new(),
        broker: Broker::new(amqp.clone(), "test-publisher"),
        amqp,
        pool,
        clock,
        scheduler,
        _db: db,
        server,
    }
}

/// A policy snapshot: `hours` UTC, the given week days (or every day when `None`), no time
/// zone, retention of 3, ON.
pub fn snapshot(hours: &[u8], week_days: Option<&[&str]>, volumes: &[ResourceId]) -> PolicySnapshot {
    PolicySnapshot {
        name: "policy_01".into(),
        enabled: true,
        start_hours_utc: hours.to_vec(),
        frequency_days: if week_days.is_none() { Some(1) } else { None },
        week_days: week_days.map(|d| d.iter().map(|s| (*s).to_owned()).collect()),
        utc_offset_minutes: 0,
        retention: RetentionRule { count: Some(3), days: None, keep_first_of_month: false },
        volumes: volumes.to_vec(),
        tags: vec![],
    }
}

/// Every hour of the day, every day.
pub fn hourly(volumes: &[ResourceId]) -> PolicySnapshot {
    snapshot(&(0..24).collect::<Vec<_>>(), None, volumes)
}

/// Applies messages the way the consumers do, without the broker.
pub async fn apply_policy_event<M: Message>(s: &Scheduler, env: &Envelope<M>) -> Result<Applied, ApplyError> {
    policy_events::apply(s, serde_json::to_vec(env).unwrap()).await
}

pub fn changed(project: &str, policy: ResourceId, version: i64, snapshot: PolicySnapshot) -> PolicyChanged {
    PolicyChanged {
        project_id: ProjectId::parse(project).unwrap(),
        policy_id: policy,
        version,
        change: PolicyChange::Upserted { policy: snapshot },
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

    /// `GET …/backuppolicy/{policy}/backuptasks{query}`, asserting 200.
    pub async fn tasks(&self, policy: ResourceId, query: &str) -> Value {
        let res = self.get(&format!("/backuppolicy/{policy}/backuptasks{query}")).await;
        assert_eq!(res.status(), 200, "{query}");
        res.json().await.unwrap()
    }

    /// An envelope stamped with the test clock's time.
    pub fn envelope<M: Message>(&self, payload: M) -> Envelope<M> {
        Envelope::new(payload, self.clock.now(), None)
    }

    /// Creates (or replaces) a policy of this project through the consumer's code path,
    /// without the broker.
    pub async fn put_policy(&self, policy: ResourceId, version: i64, snapshot: PolicySnapshot) {
        let env = self.envelope(changed(&self.project, policy, version, snapshot));
        let applied = apply_policy_event(&self.scheduler, &env).await.unwrap();
        assert!(matches!(applied, Applied::Done(_)), "{applied:?}");
    }

    pub async fn apply_status(&self, env: &Envelope<TaskStatus>) -> Result<Applied, ApplyError> {
        task_status::apply(&self.scheduler, serde_json::to_vec(env).unwrap()).await
    }

    pub fn status(&self, task: &TaskRow, outcome: TaskOutcome) -> Envelope<TaskStatus> {
        self.envelope(TaskStatus {
            task_id: *task.id,
            project_id: task.project_id.clone().into(),
            policy_id: *task.policy_id,
            volume_id: *task.volume_id,
            at: self.clock.now(),
            vbs_job_id: None,
            outcome,
        })
    }

    pub fn execute(&self, policy: ResourceId, version: i64) -> Envelope<PolicyExecute> {
        self.envelope(PolicyExecute {
            project_id: ProjectId::parse(&self.project).unwrap(),
            policy_id: policy,
            version,
            requested_at: self.clock.now(),
        })
    }

    /// Publishes a message on the broker, as its producer's relay would.
    pub async fn publish<M: Message>(&self, env: &Envelope<M>) {
        self.publish_raw(&env.message_id.to_string(), M::TYPE, serde_json::to_vec(env).unwrap()).await;
    }

    pub async fn publish_raw(&self, message_id: &str, routing_key: &str, body: Vec<u8>) {
        self.broker
            .publish_confirmed(&[Outgoing {
                message_id: message_id.to_owned(),
                routing_key: routing_key.to_owned(),
                body,
                traceparent: None,
            }])
            .await
            .unwrap();
    }

    /// Waits until the consumer has committed message `id` (its inbox record exists).
    pub async fn wait_handled(&self, id: uuid::Uuid) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let pool = self.pool.clone();
            let key = id.to_string();
            let done = tokio::task::spawn_blocking(move || {
                service_kit::inbox::inbox::table
                    .find(key)
                    .count()
                    .get_result::<i64>(&mut pool.get().unwrap())
                    .unwrap()
                    == 1
            })
            .await
            .unwrap();
            if done {
                return;
            }
            assert!(tokio::time::Instant::now() < deadline, "message {id} was not handled in time");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Runs blocking diesel work on the app's database.
    pub async fn db<T: Send + 'static>(&self, f: impl FnOnce(&mut PgConnection) -> T + Send + 'static) -> T {
        let pool = self.pool.clone();
        tokio::task::spawn_blocking(move || f(&mut pool.get().unwrap())).await.unwrap()
    }

    /// The policy's tasks in creation order.
    pub async fn task_rows(&self, policy: ResourceId) -> Vec<TaskRow> {
        self.db(move |c| {
            tasks::table
                .filter(tasks::policy_id.eq(policy.to_string()))
                .order(tasks::seq.asc())
                .select(TaskRow::as_select())
                .load(c)
                .unwrap()
        })
        .await
    }

    pub async fn policy_row(&self, policy: ResourceId) -> PolicyRow {
        self.db(move |c| {
            policies::table.find(policy.to_string()).select(PolicyRow::as_select()).first(c).unwrap()
        })
        .await
    }

    pub async fn listener(&self, queue: Queue) -> Listener {
        Listener::new(&self.amqp, queue).await
    }

    pub async fn dead_letters(&self) -> Listener {
        Listener::on_queue(&self.amqp, &self.amqp.dead_letter_queue()).await
    }
}
