//! A bounded property-based fuzz run of the whole public API through the gateway:
//! `scripts/fuzz.sh` (schemathesis) generates valid and invalid requests for every operation of
//! `openapi/vbs.json` and fails on a server error, a status the document does not list, an answer
//! that is not JSON where the document says JSON, or a body that violates its schema.
//!
//! Two runs: one with every path id generated (ids that are malformed, blank, of no resource),
//! then one with the ids of a policy, a volume, a backup, a share and a job that exist, so that
//! the requests reach what the handlers do with real resources (as an admin of the project, which
//! may call every operation, including deleting them part-way).

#![allow(clippy::unwrap_used, reason = "a failed step fails the test loudly")]

use std::{process::Command, time::Duration, time::Instant};

#[allow(dead_code, reason = "each test binary uses part of the harness")]
mod support;

use serde_json::json;
use service_kit::auth::Role;
use support::{Api, Stack, Topology, mixed_image};

const WAIT: Duration = Duration::from_secs(120);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_survives_a_bounded_fuzz_run_within_its_document() {
    let stack = Stack::start_with_env(Topology::default(), Vec::new()).await;
    let project = format!("fuzz{}", uuid::Uuid::new_v4().simple());

    // Seeded first: the run with generated ids fills the project's policy quota.
    let ids = seed(&stack, &project).await;
    fuzz(&stack, &project, "every id generated", None).await;
    fuzz(&stack, &project, "the ids of existing resources", Some(&ids)).await;
}

/// Runs `scripts/fuzz.sh` against the stack, printing its report; fails the test on any failure.
async fn fuzz(stack: &Stack, project: &str, what: &str, path_ids: Option<&str>) {
    let root = service_kit::testing::repo_file("");
    let mut cmd = Command::new(root.join("scripts/fuzz.sh"));
    cmd.env("VBS_FUZZ_URL", &stack.base_url)
        .env("VBS_FUZZ_PROJECT", project)
        .env("VBS_FUZZ_TOKEN", stack.token_with_role(&[project], Role::Admin))
        .env("VBS_FUZZ_PATH_IDS", path_ids.unwrap_or_default());
    let started = Instant::now();
    let out = tokio::task::spawn_blocking(move || cmd.output()).await.unwrap().unwrap();
    eprintln!(
        "=== schemathesis, {what} ({}): {:.0} s, exit {:?}\n{}\n{}",
        path_ids.unwrap_or("-"),
        started.elapsed().as_secs_f64(),
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "the fuzz run ({what}) found failures (above)\n--- errors logged\n{}\n{}",
        stack.errors(),
        stack.logs()
    );
}

/// A policy with a volume, an available backup of it shared with another project, and a VBS
/// job: their ids as `VBS_FUZZ_PATH_IDS`.
async fn seed(stack: &Stack, project: &str) -> String {
    let api = stack.client(project);
    let volume = stack.create_volume(project, &mixed_image(2 * 1024 * 1024 + 123, 7));
    let (status, body) = api
        .post(
            "/v2/{p}/backuppolicy",
            &json!({"backup_policy_name": "fuzz", "scheduled_policy": {"start_time": "03:00", "frequency": 1, "rentention_num": 2, "status": "ON"}}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let policy = body["backup_policy_id"].as_str().unwrap().to_owned();
    let (status, body) = api
        .post(
            "/v2/{p}/backuppolicyresources",
            &json!({"backup_policy_id": policy, "resources": [{"resource_id": volume, "resource_type": "volume"}]}),
        )
        .await;
    assert_eq!(status, 200, "{body}");

    let (status, body) =
        api.post("/v2/{p}/backups", &json!({"backup": {"volume_id": volume, "name": "fuzz"}})).await;
    assert_eq!(status, 202, "{body}");
    let backup = body["backup"]["id"].as_str().unwrap().to_owned();
    wait_available(&api, &backup).await;
    let (status, body) = api
        .post(
            "/v2/{p}/os-vendor-backup-sharing",
            &json!({"shared": {"backup_id": backup, "to_project_ids": ["fuzz-other"]}}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let share = body["shared"][0]["id"].as_str().unwrap().to_owned();
    let (status, body) =
        api.post("/v2/{p}/cloudbackups", &json!({"backup": {"volume_id": volume, "name": "fuzz-job"}})).await;
    assert_eq!(status, 200, "{body}");
    let job = body["job_id"].as_str().unwrap().to_owned();
    format!("policy_id={policy},volume_id={volume},backup_id={backup},share_id={share},job_id={job}")
}

async fn wait_available(api: &Api, backup: &str) {
    api.eventually("the seeded backup to be available", WAIT, || async {
        let (_, body) = api.get(&format!("/v2/{{p}}/backups/{backup}")).await;
        (body["backup"]["status"] == "available").then_some(())
    })
    .await;
}
