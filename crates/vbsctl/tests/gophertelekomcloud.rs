#![allow(clippy::unwrap_used, reason = "a contract test fails loudly on any error")]

//! HTTP pacts of the Go SDK `github.com/opentelekomcloud/gophertelekomcloud` (which the Terraform
//! provider `terraform-provider-opentelekomcloud` calls for its `opentelekomcloud_vbs_*`
//! resources). The requests are exactly what the SDK's sources send — method, path, headers,
//! body, query — each citing its source file; the response matchers cover the fields the SDK
//! decodes. Each test replays the requests against pact's mock server (which fails on any
//! request the pact does not describe) and checks that the answer decodes as the Go structs
//! would. The providers replay the committed pacts against the real services.
//!
//! `gophertelekomcloud-backup-sharing` and `gophertelekomcloud-policy-resources` describe what
//! the services do not serve yet (the sharing API; `availability_zone` and `os_vol_host_attr` in
//! association results); their provider tests are ignored until they do.

use contract_testing::{PROJECT, PactOutput, UUID};
use pact_consumer::{builders::RequestBuilder, prelude::*};
use serde_json::{Value, json};

const TOKEN: &str = "gAAAAABexampletoken";
const POLICY: &str = "af8a20b0-117d-4fc3-ae53-aa3968a4f870";
const VOLUME: &str = "5024a06e-6990-4f12-9dcc-8fe26b01a710";
const BACKUP: &str = "87566ed6-72cb-4053-aa6e-6f6216b3d507";
const JOB: &str = "ff808082-6576-401e-0165-7b99fc444986";
const OTHER_PROJECT: &str = "91d687759aed45d28b5f6084bc2fa8ad";
/// `golangsdk.JSONRFC3339MilliNoZ`: no zone.
const NO_ZONE_TIME: &str = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?$";

/// What `golangsdk` puts on every request with a JSON body (`Content-Type`, `Accept`) besides
/// the token.
fn go_json_request(req: &mut RequestBuilder) -> &mut RequestBuilder {
    req.header("X-Auth-Token", term!(r"^\S+$", TOKEN))
        .header("Content-Type", "application/json")
        .header("Accept", "application/json")
}

fn go_get(req: &mut RequestBuilder) -> &mut RequestBuilder {
    req.header("X-Auth-Token", term!(r"^\S+$", TOKEN)).header("Accept", "application/json")
}

/// Sends what the pact's request says, as the Go SDK would.
async fn send(base: &str, method: reqwest::Method, path: &str, body: Option<Value>) -> reqwest::Response {
    let mut req = reqwest::Client::new()
        .request(method, format!("{}{path}", base.trim_end_matches('/')))
        .header("X-Auth-Token", TOKEN)
        .header("Accept", "application/json");
    if let Some(body) = body {
        req = req.header("Content-Type", "application/json").body(body.to_string());
    }
    req.send().await.unwrap()
}

/// openstack/vbs/v2/policies/requests.go `CreateOpts` (no `time_zone`: the SDK has no field for
/// it), as the resource `opentelekomcloud_vbs_backup_policy_v2` fills it.
fn create_policy_body() -> Value {
    json!({
        "backup_policy_name": "Test_Policy",
        "scheduled_policy": {
            "start_time": "12:00",
            "frequency": 1,
            "rentention_num": 10,
            "remain_first_backup_of_curMonth": "Y",
            "status": "ON"
        },
        "tags": [{"key": "key", "value": "value"}]
    })
}

/// openstack/vbs/v2/policies/requests.go `UpdateOpts`: every field `omitempty`.
fn update_policy_body() -> Value {
    json!({
        "backup_policy_name": "Test_02",
        "scheduled_policy": {
            "start_time": "10:00",
            "frequency": 1,
            "rentention_num": 10,
            "remain_first_backup_of_curMonth": "Y",
            "status": "ON"
        }
    })
}

#[tokio::test]
async fn gophertelekomcloud_policies() {
    let output = PactOutput::new().unwrap();
    let mut pact = PactBuilder::new_v4("gophertelekomcloud", "policy-service");
    pact.with_output_dir(output.dir());
    let base = format!("/v2/{PROJECT}/backuppolicy");
    // policies/requests.go Create: POST commonURL, OkCodes 200; results.go Policy.
    pact.interaction("policies.Create", "", |mut i| {
        go_json_request(i.request.post().path(base.clone())).json_body(create_policy_body());
        i.response.ok().json_body(json_pattern!({"backup_policy_id": term!(UUID, POLICY)}));
        i
    });
    // policies/requests.go Update: PUT resourceURL, OkCodes 200.
    pact.interaction("policies.Update", "", |mut i| {
        i.given("a backup policy exists");
        go_json_request(
            i.request
                .put()
                .path_from_provider_state(format!("{base}/${{policy_id}}"), format!("{base}/{POLICY}")),
        )
        .json_body(update_policy_body());
        i.response.ok().json_body(json_pattern!({"backup_policy_id": term!(UUID, POLICY)}));
        i
    });
    // policies/requests.go List: GET commonURL through a LinkedPageBase pager; results.go
    // ExtractPolicies reads backup_policies[] (Policy, ScheduledPolicy).
    pact.interaction("policies.List", "", |mut i| {
        i.given("a backup policy exists");
        go_get(i.request.get().path(base.clone()));
        i.response.ok().json_body(json_pattern!({
            "backup_policies": each_like!({
                "backup_policy_id": term!(UUID, POLICY),
                "backup_policy_name": like!("Test_Policy"),
                "scheduled_policy": {
                    "start_time": like!("12:00"),
                    "frequency": like!(1),
                    "rentention_num": like!(10),
                    "remain_first_backup_of_curMonth": term!("^[YN]$", "Y"),
                    "status": term!("^(ON|OFF)$", "ON")
                },
                "policy_resource_count": like!(0)
            })
        }));
        i
    });
    // policies/requests.go Delete: DELETE resourceURL (default OkCodes: 202, 204).
    pact.interaction("policies.Delete", "", |mut i| {
        i.given("a backup policy exists");
        i.request
            .delete()
            .path_from_provider_state(format!("{base}/${{policy_id}}"), format!("{base}/{POLICY}"))
            .header("X-Auth-Token", term!(r"^\S+$", TOKEN));
        i.response.status(204);
        i
    });

    {
        let server = pact.start_mock_server(None, None);
        let url = server.url().to_string();
        let created: Value =
            send(&url, reqwest::Method::POST, &base, Some(create_policy_body())).await.json().await.unwrap();
        assert_eq!(created["backup_policy_id"], POLICY);
        let updated =
            send(&url, reqwest::Method::PUT, &format!("{base}/{POLICY}"), Some(update_policy_body())).await;
        assert_eq!(updated.status(), 200);
        let listed: Value = send(&url, reqwest::Method::GET, &base, None).await.json().await.unwrap();
        let policy = &listed["backup_policies"][0];
        assert_eq!(policy["scheduled_policy"]["remain_first_backup_of_curMonth"], "Y");
        assert!(policy["policy_resource_count"].is_i64());
        let deleted = reqwest::Client::new()
            .delete(format!("{}{base}/{POLICY}", url.trim_end_matches('/')))
            .header("X-Auth-Token", TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(deleted.status(), 204);
    }
    assert_eq!(output.settle("gophertelekomcloud", "policy-service").unwrap(), 4);
}

/// The backup fields backups/results.go `Backup` decodes that are never null here
/// (`snapshot_id`, `description`, `fail_reason`, `container`, `availability_zone` may be null,
/// which Go decodes as an empty string).
fn backup_detail() -> JsonPattern {
    json_pattern!({
        "id": term!(UUID, BACKUP),
        "name": like!("nightly"),
        "links": each_like!({"href": like!("http://vbs/v2/p/backups/id"), "rel": like!("self")}),
        "status": like!("available"),
        "volume_id": term!(UUID, VOLUME),
        "size": like!(10),
        "object_count": like!(3),
        "os-bak-tenant-attr:tenant_id": like!(PROJECT),
        "service_metadata": like!("{\"Type\":1}"),
        "has_dependent_backups": like!(false),
        "is_incremental": like!(false),
        "created_at": term!(NO_ZONE_TIME, "2013-06-27T08:48:03.000000"),
        "updated_at": term!(NO_ZONE_TIME, "2013-06-27T08:48:03.000000")
    })
}

#[tokio::test]
async fn gophertelekomcloud_backups() {
    let output = PactOutput::new().unwrap();
    let mut pact = PactBuilder::new_v4("gophertelekomcloud", "backup-service");
    pact.with_output_dir(output.dir());
    let create_body = json!({"backup": {"volume_id": VOLUME, "name": "backup_test", "description": "tf"}});
    // backups/requests.go Create: POST rootURL (cloudbackups), body under "backup", OkCodes
    // 200; results_job.go JobResponse.
    pact.interaction("backups.Create", "", |mut i| {
        i.given_with_params("a volume exists", &json!({"volume_id": VOLUME}));
        go_json_request(i.request.post().path(format!("/v2/{PROJECT}/cloudbackups")))
            .json_body(create_body.clone());
        i.response.ok().json_body(json_pattern!({"job_id": term!(UUID, JOB)}));
        i
    });
    // results_job.go WaitForJobSuccess: GET /v1/{project}/jobs/{job_id} (the endpoint with v2
    // replaced by v1); JobStatus with entities as map[string]string.
    pact.interaction("backups.WaitForJobSuccess", "", |mut i| {
        i.given("a backup job succeeded");
        go_get(i.request.get().path_from_provider_state(
            format!("/v1/{PROJECT}/jobs/${{job_id}}"),
            format!("/v1/{PROJECT}/jobs/{JOB}"),
        ));
        i.response.ok().json_body(json_pattern!({
            "status": term!("^(INIT|RUNNING|SUCCESS|FAIL)$", "SUCCESS"),
            "entities": {"backup_id": term!(UUID, BACKUP)},
            "job_id": term!(UUID, JOB),
            "job_type": like!("bksCreateBackup")
        }));
        i
    });
    // backups/requests.go Get: GET resourceURL (backups/{id}); results.go Extract.
    pact.interaction("backups.Get", "", |mut i| {
        i.given("an available backup exists");
        go_get(i.request.get().path_from_provider_state(
            format!("/v2/{PROJECT}/backups/${{backup_id}}"),
            format!("/v2/{PROJECT}/backups/{BACKUP}"),
        ));
        i.response.ok().json_body(json_pattern!({"backup": backup_detail()}));
        i
    });
    // backups/requests.go List with empty ListOpts: GET listURL (backups/detail), no query;
    // results.go ExtractBackups reads backups[].
    pact.interaction("backups.List", "", |mut i| {
        i.given("an available backup exists");
        go_get(i.request.get().path(format!("/v2/{PROJECT}/backups/detail")));
        i.response.ok().json_body(json_pattern!({"backups": each_like!(backup_detail())}));
        i
    });

    {
        let server = pact.start_mock_server(None, None);
        let url = server.url().to_string();
        let job: Value =
            send(&url, reqwest::Method::POST, &format!("/v2/{PROJECT}/cloudbackups"), Some(create_body))
                .await
                .json()
                .await
                .unwrap();
        assert_eq!(job["job_id"], JOB);
        let status: Value = send(&url, reqwest::Method::GET, &format!("/v1/{PROJECT}/jobs/{JOB}"), None)
            .await
            .json()
            .await
            .unwrap();
        assert!(status["entities"].as_object().unwrap().values().all(Value::is_string));
        let shown: Value = send(&url, reqwest::Method::GET, &format!("/v2/{PROJECT}/backups/{BACKUP}"), None)
            .await
            .json()
            .await
            .unwrap();
        assert!(!shown["backup"]["created_at"].as_str().unwrap().ends_with('Z'));
        let listed: Value = send(&url, reqwest::Method::GET, &format!("/v2/{PROJECT}/backups/detail"), None)
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(listed["backups"][0]["id"], BACKUP);
    }
    assert_eq!(output.settle("gophertelekomcloud", "backup-service").unwrap(), 4);
}

#[tokio::test]
async fn gophertelekomcloud_backup_sharing() {
    let output = PactOutput::new().unwrap();
    let mut pact = PactBuilder::new_v4("gophertelekomcloud", "backup-sharing");
    pact.with_output_dir(output.dir());
    let base = format!("/v2/{PROJECT}/os-vendor-backup-sharing");
    let share_body = json!({"shared": {"backup_id": BACKUP, "to_project_ids": [OTHER_PROJECT]}});
    let share = || {
        json_pattern!({
            "backup_id": term!(UUID, BACKUP),
            "id": term!(UUID, "ee3e6f5e-b5d4-4c8e-9a4d-2a4f6c1e3d21"),
            "to_project_id": like!(OTHER_PROJECT),
            "from_project_id": like!(PROJECT),
            "created_at": term!(NO_ZONE_TIME, "2018-08-28T08:48:03.000000")
        })
    };
    // shares/requests.go Create: POST rootURL, body under "shared", OkCodes 200; results.go
    // Extract reads shared[] (Share). Used by resource_opentelekomcloud_vbs_backup_share_v2.
    pact.interaction("shares.Create", "", |mut i| {
        i.given_with_params("an available backup exists", &json!({"backup_id": BACKUP}));
        go_json_request(i.request.post().path(base.clone())).json_body(share_body.clone());
        i.response.ok().json_body(json_pattern!({"shared": each_like!(share())}));
        i
    });
    // shares/requests.go List with BackupID: GET listURL (…/detail) ?backup_id=; results.go
    // ExtractShareList reads shared[].
    pact.interaction("shares.List by backup", "", |mut i| {
        i.given_with_params("a backup shared with another project", &json!({"backup_id": BACKUP}));
        go_get(i.request.get().path(format!("{base}/detail")).query_param("backup_id", BACKUP));
        i.response.ok().json_body(json_pattern!({"shared": each_like!(share())}));
        i
    });
    // shares/requests.go Delete with DeleteOpts{IsBackupID: true}: DELETE resourceURL
    // ?is_backup_id=true, OkCodes 200 (every share of the backup ends).
    pact.interaction("shares.Delete every share of a backup", "", |mut i| {
        i.given_with_params("a backup shared with another project", &json!({"backup_id": BACKUP}));
        i.request
            .delete()
            .path(format!("{base}/{BACKUP}"))
            .query_param("is_backup_id", "true")
            .header("X-Auth-Token", term!(r"^\S+$", TOKEN));
        i.response.ok();
        i
    });

    {
        let server = pact.start_mock_server(None, None);
        let url = server.url().to_string();
        let created: Value =
            send(&url, reqwest::Method::POST, &base, Some(share_body)).await.json().await.unwrap();
        assert_eq!(created["shared"][0]["backup_id"], BACKUP);
        let listed: Value =
            send(&url, reqwest::Method::GET, &format!("{base}/detail?backup_id={BACKUP}"), None)
                .await
                .json()
                .await
                .unwrap();
        assert_eq!(listed["shared"][0]["to_project_id"], OTHER_PROJECT);
        let deleted = reqwest::Client::new()
            .delete(format!("{}{base}/{BACKUP}?is_backup_id=true", url.trim_end_matches('/')))
            .header("X-Auth-Token", TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(deleted.status(), 200);
    }
    assert_eq!(output.settle("gophertelekomcloud", "backup-sharing").unwrap(), 3);
}

#[tokio::test]
async fn gophertelekomcloud_policy_resources() {
    let output = PactOutput::new().unwrap();
    let mut pact = PactBuilder::new_v4("gophertelekomcloud", "policy-resources");
    pact.with_output_dir(output.dir());
    let resource = || {
        json_pattern!({
            "resource_id": term!(UUID, VOLUME),
            "resource_type": "volume",
            "availability_zone": like!("eu-de-01"),
            "os_vol_host_attr": like!("pod01.eu-de-01")
        })
    };
    let associate = json!({"backup_policy_id": POLICY, "resources": [{"resource_id": VOLUME, "resource_type": "volume"}]});
    let disassociate = json!({"resources": [{"resource_id": VOLUME}]});
    // policies/requests.go Associate: POST associateURL (backuppolicyresources), OkCodes 200;
    // results.go ResultResources / Resource (availability_zone, os_vol_host_attr).
    pact.interaction("policies.Associate", "", |mut i| {
        i.given_with_params("a backup policy and a volume exist", &json!({"volume_id": VOLUME}));
        go_json_request(i.request.post().path(format!("/v2/{PROJECT}/backuppolicyresources")))
            .json_body(associate.clone());
        i.response
            .ok()
            .json_body(json_pattern!({"success_resources": each_like!(resource()), "fail_resources": []}));
        i
    });
    // policies/requests.go Disassociate: POST disassociateURL (…/{policy_id}/deleted_resources).
    pact.interaction("policies.Disassociate", "", |mut i| {
        i.given_with_params("a backup policy with an associated volume", &json!({"volume_id": VOLUME}));
        go_json_request(
            i.request.post().path(format!("/v2/{PROJECT}/backuppolicyresources/{POLICY}/deleted_resources")),
        )
        .json_body(disassociate.clone());
        i.response
            .ok()
            .json_body(json_pattern!({"success_resources": each_like!(resource()), "fail_resources": []}));
        i
    });

    {
        let server = pact.start_mock_server(None, None);
        let url = server.url().to_string();
        let path = format!("/v2/{PROJECT}/backuppolicyresources");
        let done: Value =
            send(&url, reqwest::Method::POST, &path, Some(associate)).await.json().await.unwrap();
        assert!(done["success_resources"][0]["availability_zone"].is_string());
        let path = format!("{path}/{POLICY}/deleted_resources");
        let done: Value =
            send(&url, reqwest::Method::POST, &path, Some(disassociate)).await.json().await.unwrap();
        assert!(done["success_resources"][0]["os_vol_host_attr"].is_string());
    }
    assert_eq!(output.settle("gophertelekomcloud", "policy-resources").unwrap(), 2);
}
