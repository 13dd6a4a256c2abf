//! What only the compose deployment (`make up`, docker/compose.yaml) can show: one trace across
//! every service as the span recorder received it, a worker container killed mid-backup, and
//! the broker and the database restarted mid-flow.
//!
//! These tests run only when `VBS_E2E_COMPOSE_PROJECT` names a running compose project (set by
//! `make test-e2e-compose`, with `VBS_E2E_BASE_URL`, `VBS_E2E_VOLUMES_ROOT` and
//! `VBS_E2E_SPANS_URL`); otherwise they pass without doing anything, so `make test` is
//! unaffected. They stop and start containers: run them one at a time.

#![allow(clippy::unwrap_used, reason = "a failed step fails the scenario loudly")]

use std::{
    collections::{BTreeMap, BTreeSet},
    process::Command,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

#[allow(dead_code, reason = "each test binary uses part of the harness")]
mod support;

use serde_json::{Value, json};
use support::{Api, Stack, Topology, sha256_file};

const WAIT: Duration = Duration::from_secs(180);

/// The running compose project, driven with the `docker` command line.
struct Compose {
    project: String,
    spans_url: String,
}

impl Compose {
    fn from_env() -> Option<Self> {
        let project = std::env::var("VBS_E2E_COMPOSE_PROJECT").ok().filter(|p| !p.is_empty());
        let Some(project) = project else {
            eprintln!("skipped: VBS_E2E_COMPOSE_PROJECT does not name a running compose project");
            return None;
        };
        let spans_url =
            std::env::var("VBS_E2E_SPANS_URL").expect("VBS_E2E_SPANS_URL with the compose project");
        Some(Self { project, spans_url })
    }

    /// The container of a compose service.
    fn container(&self, service: &str) -> String {
        let id = docker(&[
            "ps",
            "-aq",
            "--filter",
            &format!("label=com.docker.compose.project={}", self.project),
            "--filter",
            &format!("label=com.docker.compose.service={service}"),
        ]);
        assert!(!id.is_empty() && !id.contains('\n'), "one container for {service}: {id:?}");
        id
    }

    /// `<started at> <restart count>` of a service's container: changes when it was restarted.
    fn incarnation(&self, service: &str) -> String {
        docker(&["inspect", "-f", "{{.State.StartedAt}} {{.RestartCount}}", &self.container(service)])
    }

    fn logs(&self, service: &str) -> String {
        docker(&["logs", &self.container(service)])
    }

    /// Waits until the service's container runs and, when it has a healthcheck, is healthy.
    async fn wait_healthy(&self, service: &str) {
        let id = self.container(service);
        let deadline = Instant::now() + WAIT;
        loop {
            let state = docker(&[
                "inspect",
                "-f",
                "{{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{else}}-{{end}}",
                &id,
            ]);
            if state == "running healthy" || state == "running -" {
                return;
            }
            assert!(Instant::now() < deadline, "{service} is not healthy: {state}");
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// The spans of a trace, as the span recorder received them.
    async fn spans(&self, trace_id: &str) -> Vec<Value> {
        let res = reqwest::get(format!("{}/traces/{trace_id}", self.spans_url)).await.expect("span recorder");
        res.json().await.expect("spans as JSON")
    }
}

/// Runs `docker` and returns its trimmed stdout; fails the test when it fails.
fn docker(args: &[&str]) -> String {
    let out = Command::new(std::env::var("VBS_E2E_DOCKER").unwrap_or_else(|_| "docker".into()))
        .args(args)
        .output()
        .expect("running docker");
    assert!(out.status.success(), "docker {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn project() -> String {
    format!("e2e{}", uuid::Uuid::new_v4().simple())
}

async fn create_policy(api: &Api, name: &str) -> String {
    let (status, body) = api
        .post(
            "/v2/{p}/backuppolicy",
            &json!({
                "backup_policy_name": name,
                "scheduled_policy": {"start_time": "03:00", "frequency": 1, "rentention_num": 14, "status": "ON"},
                "time_zone": "UTC+00:00"
            }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    body["backup_policy_id"].as_str().unwrap().to_owned()
}

async fn associate(api: &Api, policy: &str, volumes: &[&str]) {
    let resources: Vec<Value> =
        volumes.iter().map(|v| json!({"resource_id": v, "resource_type": "volume"})).collect();
    let (status, body) = api
        .post("/v2/{p}/backuppolicyresources", &json!({"backup_policy_id": policy, "resources": resources}))
        .await;
    assert_eq!(status, 200, "{body}");
    api.eventually("the scheduler to know the policy", WAIT, || async {
        let (status, _) = api.get(&format!("/v2/{{p}}/backuppolicy/{policy}/backuptasks")).await;
        (status == 200).then_some(())
    })
    .await;
}

async fn tasks(api: &Api, policy: &str) -> Vec<Value> {
    let (status, body) = api.get(&format!("/v2/{{p}}/backuppolicy/{policy}/backuptasks?limit=1000")).await;
    assert_eq!(status, 200, "{body}");
    body["tasks"].as_array().unwrap().clone()
}

/// Executes the policy, retrying while the deployment answers 5xx (a dependency restarting).
async fn execute(api: &Api, policy: &str) {
    api.eventually("the policy to be executed", WAIT, || async {
        let (status, _) = api.post(&format!("/v2/{{p}}/backuppolicy/{policy}/action"), &json!({})).await;
        assert!(status == 204 || status >= 500, "execute answered {status}");
        (status == 204).then_some(())
    })
    .await;
}

async fn backup_status(api: &Api, id: &str) -> Option<String> {
    let (status, body) = api.get(&format!("/v3/{{p}}/native/backups/{id}")).await;
    (status == 200).then(|| body["backup"]["status"].as_str().unwrap_or_default().to_owned())
}

async fn wait_backup_status(api: &Api, id: &str, wanted: &str) {
    api.eventually(&format!("backup {id} to be {wanted}"), WAIT, || async {
        let status = backup_status(api, id).await;
        assert_ne!(status.as_deref(), Some("error"), "backup {id} failed");
        (status.as_deref() == Some(wanted)).then_some(())
    })
    .await;
}

/// A volume of `mib` MiB of random bytes (nothing to compress or deduplicate: the backup takes
/// a while).
fn random_volume(stack: &Stack, project: &str, mib: usize) -> String {
    let id = stack.create_volume(project, b"");
    let path = stack.volume_path(project, &id);
    let status = Command::new("sh")
        .arg("-c")
        .arg(format!("head -c {}M /dev/urandom > '{}'", mib, path.display()))
        .status()
        .unwrap();
    assert!(status.success());
    id
}

#[tokio::test]
async fn one_trace_from_the_gateway_through_the_broker_to_a_worker() {
    let Some(compose) = Compose::from_env() else { return };
    let stack = Stack::start(Topology::default()).await;
    let p = project();
    let api = stack.client(&p);
    let volume = stack.create_volume(&p, &support::mixed_image(4 * 1024 * 1024 + 1, 3));
    let policy = create_policy(&api, "traced").await;
    associate(&api, &policy, &[&volume]).await;

    // The caller starts the trace: the gateway passes `traceparent` on to policy-service.
    let trace_id = uuid::Uuid::new_v4().simple().to_string();
    let root = uuid::Uuid::new_v4().simple().to_string()[..16].to_owned();
    let res = reqwest::Client::new()
        .post(api.url(&format!("/v2/{{p}}/backuppolicy/{policy}/action")))
        .header("X-Auth-Token", &api.token)
        .header("traceparent", format!("00-{trace_id}-{root}-01"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let task = api
        .eventually("the traced task to finish", WAIT, || async {
            tasks(&api, &policy)
                .await
                .into_iter()
                .find(|t| !matches!(t["status"].as_str(), Some("WAITING" | "RUNNING")))
        })
        .await;
    assert_eq!(task["status"], "EXECUTE_SUCCESS", "{task}");

    // Spans arrive in batches: wait until every service's part of the trace is there and each
    // span's parent is the caller's span or another span of the trace.
    let wanted = ["policy-service", "task-scheduler", "backup-service"];
    let deadline = Instant::now() + Duration::from_secs(60);
    let spans = loop {
        let spans = compose.spans(&trace_id).await;
        let ids: BTreeSet<&str> = spans.iter().map(|s| s["span_id"].as_str().unwrap()).collect();
        let services: BTreeSet<&str> = spans.iter().map(|s| s["service"].as_str().unwrap()).collect();
        let linked = spans.iter().all(|s| {
            let parent = s["parent_span_id"].as_str().unwrap();
            parent == root || ids.contains(parent)
        });
        // The worker's spans come last: it runs the backup after the scheduler's message.
        let worker_done = spans.iter().any(|s| {
            s["service"] == "backup-service"
                && spans
                    .iter()
                    .any(|q| q["span_id"] == s["parent_span_id"] && q["service"] == "task-scheduler")
        });
        if linked && worker_done && wanted.iter().all(|w| services.contains(w)) {
            break spans;
        }
        assert!(
            Instant::now() < deadline,
            "the trace is incomplete or broken (services {services:?}, linked {linked}):\n{}",
            tree(&spans, &root)
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let printed = tree(&spans, &root);
    eprintln!("trace {trace_id} as the span recorder received it ({} spans):\n{printed}", spans.len());
    // The chain, in order: the request, policy-service's outbox message, the scheduler's task,
    // the worker's backup.
    let roots: Vec<&Value> = spans.iter().filter(|s| s["parent_span_id"] == root.as_str()).collect();
    assert_eq!(roots.len(), 1, "one span answers the caller's request:\n{printed}");
    assert_eq!(roots[0]["service"], "policy-service", "{printed}");
}

/// The trace as an indented tree under the caller's span.
fn tree(spans: &[Value], root: &str) -> String {
    let mut children: BTreeMap<&str, Vec<&Value>> = BTreeMap::new();
    for s in spans {
        children.entry(s["parent_span_id"].as_str().unwrap()).or_default().push(s);
    }
    for list in children.values_mut() {
        list.sort_by_key(|s| s["start_unix_nano"].as_u64());
    }
    fn walk(out: &mut String, children: &BTreeMap<&str, Vec<&Value>>, id: &str, depth: usize) {
        for s in children.get(id).into_iter().flatten() {
            let ms = (s["end_unix_nano"].as_u64().unwrap_or(0))
                .saturating_sub(s["start_unix_nano"].as_u64().unwrap_or(0))
                / 1_000_000;
            out.push_str(&format!(
                "{}{} {} [{}] {ms} ms\n",
                "  ".repeat(depth),
                s["service"].as_str().unwrap(),
                s["name"].as_str().unwrap(),
                s["span_id"].as_str().unwrap()
            ));
            walk(out, children, s["span_id"].as_str().unwrap(), depth + 1);
        }
    }
    let mut out = format!("caller [{root}]\n");
    walk(&mut out, &children, root, 1);
    let ids: BTreeSet<&str> = spans.iter().map(|s| s["span_id"].as_str().unwrap()).collect();
    for s in spans {
        let parent = s["parent_span_id"].as_str().unwrap();
        if parent != root && !ids.contains(parent) {
            out.push_str(&format!("orphan (parent {parent:?}): {} {}\n", s["service"], s["name"]));
        }
    }
    out
}

#[tokio::test]
async fn a_worker_killed_mid_backup_is_replaced_by_the_other_and_the_backup_restores_identical() {
    let Some(compose) = Compose::from_env() else { return };
    let stack = Stack::start(Topology::default()).await;
    let p = project();
    let api = stack.client(&p);
    let mib = 1536;
    let source = random_volume(&stack, &p, mib);
    let target = random_volume(&stack, &p, mib);

    let (status, body) =
        api.post("/v2/{p}/backups", &json!({"backup": {"volume_id": source, "name": "killed-worker"}})).await;
    assert_eq!(status, 202, "{body}");
    let id = body["backup"]["id"].as_str().unwrap().to_owned();

    // The worker that took the job says so in its log ("job started" with the backup id).
    let workers = ["backup-worker-1", "backup-worker-2"];
    let started = Instant::now();
    let victim = api
        .eventually("a worker to start the backup", WAIT, || async {
            workers.into_iter().find(|w| compose.logs(w).contains(&id))
        })
        .await;
    let survivor = workers.into_iter().find(|w| *w != victim).unwrap();
    assert_eq!(backup_status(&api, &id).await.as_deref(), Some("creating"), "killed mid-backup");
    docker(&["kill", &compose.container(victim)]);
    eprintln!("killed {victim} {:?} after it started backup {id}", started.elapsed());

    wait_backup_status(&api, &id, "available").await;
    eprintln!("{survivor} finished the backup {:?} after the kill", started.elapsed());
    assert!(compose.logs(survivor).contains(&id), "{survivor} took the job over");

    let (status, body) = api
        .post(&format!("/v3/{{p}}/native/backups/{id}/restore"), &json!({"restore": {"volume_id": target}}))
        .await;
    assert_eq!(status, 202, "{body}");
    wait_backup_status(&api, &id, "available").await;
    let (want, got) =
        (sha256_file(&stack.volume_path(&p, &source)), sha256_file(&stack.volume_path(&p, &target)));
    assert_eq!(want, got, "the restore is sha256-identical to the source");
    eprintln!("restored {mib} MiB, sha256 {got}");

    // Back to two workers for whatever runs next.
    docker(&["start", &compose.container(victim)]);
    compose.wait_healthy(victim).await;
    for dir in [&source, &target] {
        let _ = std::fs::remove_dir_all(stack.volume_path(&p, dir).parent().unwrap());
    }
}

#[tokio::test]
async fn restarting_the_broker_and_the_database_mid_flow_loses_and_doubles_nothing() {
    let Some(compose) = Compose::from_env() else { return };
    let stack = Stack::start(Topology::default()).await;
    let p = project();
    let api = stack.client(&p);
    // Random data, so that the backups are still running when the broker goes away.
    let volumes: Vec<String> = (0..3).map(|_| random_volume(&stack, &p, 384)).collect();
    let refs: Vec<&str> = volumes.iter().map(String::as_str).collect();
    let policy = create_policy(&api, "restarts").await;
    associate(&api, &policy, &refs).await;

    let services = [
        "policy-service",
        "task-scheduler",
        "backup-service",
        "backup-worker-1",
        "backup-worker-2",
        "gateway",
    ];
    let before: Vec<String> = services.iter().map(|s| compose.incarnation(s)).collect();

    // Each execution is followed at once by a restart, while its messages are on their way.
    let started = Instant::now();
    execute(&api, &policy).await;
    docker(&["restart", &compose.container("rabbitmq")]);
    compose.wait_healthy("rabbitmq").await;
    eprintln!("rabbitmq restarted and healthy {:?}", started.elapsed());
    execute(&api, &policy).await;
    // Traffic on every service while the database restarts: each answer is a success or a 503
    // in the API's envelope, never another error, and no process exits (checked below).
    let stop = Arc::new(AtomicBool::new(false));
    let traffic = tokio::spawn(traffic(api.clone(), policy.clone(), stop.clone()));
    docker(&["restart", &compose.container("postgres")]);
    compose.wait_healthy("postgres").await;
    eprintln!("postgres restarted and healthy {:?}", started.elapsed());
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.store(true, Ordering::SeqCst);
    let answers = traffic.await.unwrap();
    let unavailable = answers.iter().filter(|(s, _)| *s == 503).count();
    eprintln!("{} requests during the database restart: {unavailable} answered 503", answers.len());
    assert!(answers.len() > 10, "traffic ran: {answers:?}");
    for (status, body) in &answers {
        assert!(
            *status == 200 || *status == 503,
            "only successes and 503s while the database restarts: {status} {body}"
        );
        if *status == 503 {
            assert!(
                body.get("error").is_some() || body.get("serviceUnavailable").is_some(),
                "503 in the envelope: {body}"
            );
        }
    }
    execute(&api, &policy).await;

    let done = api
        .eventually("nine tasks to finish", WAIT, || async {
            let all = tasks(&api, &policy).await;
            (all.len() >= 9
                && all.iter().all(|t| !matches!(t["status"].as_str(), Some("WAITING" | "RUNNING"))))
            .then_some(all)
        })
        .await;
    eprintln!("all tasks ended {:?} after the first execution", started.elapsed());
    let statuses: Vec<&str> = done.iter().map(|t| t["status"].as_str().unwrap()).collect();
    eprintln!("task statuses: {statuses:?}");
    assert_eq!(done.len(), 9, "one task per volume and execution, none lost, none doubled: {done:?}");
    let ids: BTreeSet<&str> = done.iter().map(|t| t["job_id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 9, "no task twice");
    // An execution reaching a volume whose previous task is still open is a SKIP by design.
    assert!(statuses.iter().all(|s| matches!(*s, "EXECUTE_SUCCESS" | "SKIP")), "{done:?}");
    let succeeded = statuses.iter().filter(|s| **s == "EXECUTE_SUCCESS").count();
    let mut backups = 0;
    for v in &volumes {
        let (status, body) = api.get(&format!("/v2/{{p}}/backups/detail?volume_id={v}&limit=1000")).await;
        assert_eq!(status, 200, "{body}");
        let list = body["backups"].as_array().unwrap();
        assert!(list.iter().all(|b| b["status"] == "available"), "{list:?}");
        let names: BTreeSet<&str> = list.iter().map(|b| b["name"].as_str().unwrap()).collect();
        assert_eq!(names.len(), list.len(), "no backup twice for {v}");
        backups += list.len();
    }
    assert_eq!(backups, succeeded, "one backup per successful task");

    let after: Vec<String> = services.iter().map(|s| compose.incarnation(s)).collect();
    for ((service, b), a) in services.iter().zip(&before).zip(&after) {
        assert_eq!(b, a, "{service} kept running through both restarts (started at, restarts)");
    }
}

/// Reads from each service in turn (policies, the task query, backups) until `stop`; returns
/// every answer's status and body.
async fn traffic(api: Api, policy: String, stop: Arc<AtomicBool>) -> Vec<(u16, Value)> {
    let paths = [
        "/v2/{p}/backuppolicy".to_owned(),
        format!("/v2/{{p}}/backuppolicy/{policy}/backuptasks?limit=5"),
        "/v2/{p}/backups/detail?limit=5".to_owned(),
    ];
    let mut answers = Vec::new();
    while !stop.load(Ordering::SeqCst) {
        for path in &paths {
            answers.push(api.get(path).await);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    answers
}
