#![allow(clippy::unwrap_used, reason = "a contract test fails loudly on any error")]

//! HTTP pacts with `vbsctl`'s typed client as the consumer: each test drives the real client
//! against pact's mock server, which answers as the pact says and fails the test on any request
//! the pact does not describe. The pacts land in `pacts/vbsctl-<provider>.json`; each provider's
//! test suite replays them against the real service (`contracts` tests there).

use api_types::dto::{
    CreateNativeBackupRequest, CreatePolicyRequest, NativeBackupInput, ScheduledPolicyInput, TagInput,
    UpdatePolicyRequest,
};
use contract_testing::{PROJECT, PactOutput, UUID};
use pact_consumer::prelude::*;
use serde_json::json;
use vbsctl::client::{Client, TaskQuery};

const TOKEN: &str = "eyJhbGciOiJIUzI1NiJ9.example.signature";
const POLICY: &str = "5b0ab9d5-56e4-4b1f-a7a9-2d0f5f3c3a11";
const VOLUME: &str = "0b4a2a0e-5d3f-4c8e-9f51-7d3f2e1c9a01";
const SNAPSHOT: &str = "6e2d1c0b-9a8f-4e7d-8c6b-5a4f3e2d1c02";
const BACKUP: &str = "3f9c1a52-7e44-4b0a-9d1e-8b6f0c2d4e03";
/// Task times: UTC, milliseconds, no zone.
const TASK_TIME: &str = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}$";
/// Native backup times: UTC, microseconds, no zone.
const NATIVE_TIME: &str = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}$";

fn policy_path(rest: &str) -> String {
    format!("/v2/{PROJECT}/backuppolicy{rest}")
}

fn create_body() -> CreatePolicyRequest {
    CreatePolicyRequest {
        backup_policy_name: "nightly_db".into(),
        scheduled_policy: ScheduledPolicyInput {
            start_time: Some("22:00,00:00,02:00".into()),
            week_frequency: Some(vec!["MON".into(), "THU".into()]),
            rentention_num: Some(7),
            remain_first_backup_of_cur_month: Some("Y".into()),
            status: Some("ON".into()),
            ..ScheduledPolicyInput::default()
        },
        tags: Some(vec![TagInput { key: Some("team".into()), value: Some("db".into()) }]),
        time_zone: Some("UTC+02:00".into()),
    }
}

#[tokio::test]
async fn policy_service_create_modify_list() {
    let output = PactOutput::new().unwrap();
    let mut pact = PactBuilder::new_v4("vbsctl", "policy-service");
    pact.with_output_dir(output.dir());
    pact.interaction("create a backup policy", "", |mut i| {
        i.request
            .post()
            .path(policy_path(""))
            .header("X-Auth-Token", term!(r"^\S+$", TOKEN))
            .json_body(serde_json::to_value(create_body()).unwrap());
        i.response.ok().json_body(json_pattern!({"backup_policy_id": term!(UUID, POLICY)}));
        i
    });
    pact.interaction("modify a backup policy", "", |mut i| {
        i.given("a backup policy exists");
        i.request
            .put()
            .path_from_provider_state(
                format!("/v2/{PROJECT}/backuppolicy/${{policy_id}}"),
                policy_path(&format!("/{POLICY}")),
            )
            .header("X-Auth-Token", term!(r"^\S+$", TOKEN))
            .json_body(json!({"scheduled_policy": {"status": "OFF", "rentention_num": 3}}));
        i.response.ok().json_body(json_pattern!({"backup_policy_id": term!(UUID, POLICY)}));
        i
    });
    pact.interaction("list the backup policies", "", |mut i| {
        i.given("a backup policy exists");
        i.request.get().path(policy_path("")).header("X-Auth-Token", term!(r"^\S+$", TOKEN));
        i.response.ok().json_body(json_pattern!({
            "backup_policies": each_like!({
                "backup_policy_id": term!(UUID, POLICY),
                "backup_policy_name": like!("nightly_db"),
                "scheduled_policy": {
                    "start_time": like!("22:00,00:00,02:00"),
                    "week_frequency": each_like!("MON"),
                    "rentention_num": like!(7),
                    "remain_first_backup_of_curMonth": term!("^[YN]$", "Y"),
                    "status": term!("^(ON|OFF)$", "ON")
                },
                "policy_resource_count": like!(0),
                "tags": each_like!({"key": like!("team"), "value": like!("db")}),
                "time_zone": like!("UTC+02:00")
            })
        }));
        i
    });

    {
        let server = pact.start_mock_server(None, None);
        let client = Client::new(server.url().as_str(), PROJECT, TOKEN);
        let created = client.create_policy(&create_body()).await.unwrap();
        assert_eq!(created.backup_policy_id, POLICY);
        let update = UpdatePolicyRequest {
            scheduled_policy: Some(ScheduledPolicyInput {
                status: Some("OFF".into()),
                rentention_num: Some(3),
                ..ScheduledPolicyInput::default()
            }),
            ..UpdatePolicyRequest::default()
        };
        assert_eq!(client.update_policy(POLICY, &update).await.unwrap().backup_policy_id, POLICY);
        let listed = client.list_policies().await.unwrap();
        let policy = &listed.backup_policies[0];
        assert_eq!(policy.backup_policy_name, "nightly_db");
        assert_eq!(policy.scheduled_policy.week_frequency.as_deref(), Some(&["MON".to_owned()][..]));
        assert_eq!(policy.tags[0].key, "team");
    }
    assert_eq!(output.settle("vbsctl", "policy-service").unwrap(), 3);
}

#[tokio::test]
async fn task_scheduler_task_query() {
    let output = PactOutput::new().unwrap();
    let mut pact = PactBuilder::new_v4("vbsctl", "task-scheduler");
    pact.with_output_dir(output.dir());
    pact.interaction("query the backup tasks of a policy", "", |mut i| {
        i.given("a backup policy with two finished tasks");
        i.request
            .get()
            .path_from_provider_state(
                format!("/v2/{PROJECT}/backuppolicy/${{policy_id}}/backuptasks"),
                policy_path(&format!("/{POLICY}/backuptasks")),
            )
            .query_param("sort_dir", "desc")
            .query_param("limit", "10")
            .header("X-Auth-Token", term!(r"^\S+$", TOKEN));
        i.response.ok().json_body(json_pattern!({
            "tasks": each_like!({
                "status": term!("^(WAITING|RUNNING|EXECUTE_SUCCESS|EXECUTE_FAIL|EXECUTE_TIMEOUT|SKIP)$", "EXECUTE_SUCCESS"),
                "job_id": term!(UUID, "c11b5a18-4559-4731-b7b3-58e2bd89cdb9"),
                "created_at": term!(TASK_TIME, "2026-11-23T22:00:00.123"),
                "finished_at": term!(TASK_TIME, "2026-11-23T22:03:10.456"),
                "backup_name": term!("^autobk_[0-9a-f]{4}$", "autobk_e6d2"),
                "resource_id": term!(UUID, VOLUME),
                "resource_type": "volume"
            }, min = 2),
            "count": like!(2)
        }));
        i
    });

    {
        let server = pact.start_mock_server(None, None);
        let client = Client::new(server.url().as_str(), PROJECT, TOKEN);
        let query = TaskQuery { sort_dir: Some("desc".into()), limit: Some(10), ..TaskQuery::default() };
        let page = client.list_tasks(POLICY, &query).await.unwrap();
        assert_eq!(page.count, 2);
        assert_eq!(page.tasks.len(), 2);
        assert!(page.tasks.iter().all(|t| t.backup_name.starts_with("autobk_")));
    }
    assert_eq!(output.settle("vbsctl", "task-scheduler").unwrap(), 1);
}

#[tokio::test]
async fn backup_service_native_create_and_show() {
    let output = PactOutput::new().unwrap();
    let mut pact = PactBuilder::new_v4("vbsctl", "backup-service");
    pact.with_output_dir(output.dir());
    let body = CreateNativeBackupRequest {
        backup: NativeBackupInput {
            volume_id: Some(VOLUME.into()),
            snapshot_id: Some(SNAPSHOT.into()),
            name: Some("before_upgrade".into()),
            description: Some("the database volume before the upgrade".into()),
            ..NativeBackupInput::default()
        },
    };
    let volume_state = json!({"volume_id": VOLUME, "snapshot_id": SNAPSHOT});
    pact.interaction("create a native backup of a snapshot", "", |mut i| {
        i.given_with_params("a volume with a snapshot exists", &volume_state);
        i.request
            .post()
            .path(format!("/v2/{PROJECT}/backups"))
            .header("X-Auth-Token", term!(r"^\S+$", TOKEN))
            .json_body(serde_json::to_value(&body).unwrap());
        i.response.status(202).json_body(json_pattern!({
            "backup": {
                "id": term!(UUID, BACKUP),
                "name": "before_upgrade",
                "links": each_like!({"href": like!(format!("http://127.0.0.1:8080/v2/{PROJECT}/backups/{BACKUP}")), "rel": like!("self")})
            }
        }));
        i
    });
    pact.interaction("show a native backup", "", |mut i| {
        i.given("an available backup exists");
        i.request
            .get()
            .path_from_provider_state(
                format!("/v3/{PROJECT}/native/backups/${{backup_id}}"),
                format!("/v3/{PROJECT}/native/backups/{BACKUP}"),
            )
            .header("X-Auth-Token", term!(r"^\S+$", TOKEN));
        i.response.ok().json_body(json_pattern!({
            "backup": {
                "id": term!(UUID, BACKUP),
                "name": like!("before_upgrade"),
                "status": "available",
                "links": each_like!({"href": like!(format!("http://127.0.0.1:8080/v3/{PROJECT}/backups/{BACKUP}")), "rel": like!("self")}),
                "volume_id": term!(UUID, VOLUME),
                "size": like!(1),
                "object_count": like!(3),
                "created_at": term!(NATIVE_TIME, "2026-11-23T09:06:46.706123"),
                "updated_at": term!(NATIVE_TIME, "2026-11-23T09:07:01.000456"),
                "os-backup-project-attr:tenant_id": PROJECT,
                "os-backup-project-attr:project_id": PROJECT,
                "os-bak-tenant-attr:tenant_id": PROJECT,
                "service_metadata": like!("{}"),
                "has_dependent_backups": like!(false),
                "is_incremental": like!(false)
            }
        }));
        i
    });

    {
        let server = pact.start_mock_server(None, None);
        let client = Client::new(server.url().as_str(), PROJECT, TOKEN);
        let created = client.create_backup(&body).await.unwrap();
        assert_eq!(created.backup.id, BACKUP);
        assert_eq!(created.backup.name.as_deref(), Some("before_upgrade"));
        let shown = client.show_backup(BACKUP).await.unwrap();
        assert_eq!(shown.backup.status, "available");
        assert_eq!(shown.backup.volume_id, VOLUME);
        assert_eq!(shown.backup.project_id, PROJECT);
    }
    assert_eq!(output.settle("vbsctl", "backup-service").unwrap(), 2);
}
