use serde_json::{Value, json};

use crate::helpers::{assert_error, seed_policy, spawn_app, spawn_app_with};

fn volume() -> String {
    uuid::Uuid::new_v4().to_string()
}

fn associate(policy: &str, volumes: &[&str]) -> Value {
    json!({
        "backup_policy_id": policy,
        "resources": volumes.iter().map(|v| json!({"resource_id": v, "resource_type": "volume"})).collect::<Vec<_>>()
    })
}

/// A successful result of the test deployment (`VBS_AVAILABILITY_ZONE`, `VBS_VOLUME_HOST`).
fn placed(id: &str) -> Value {
    json!({"resource_id": id, "resource_type": "volume", "availability_zone": "az-test", "os_vol_host_attr": "vbs@file#volumes"})
}

#[tokio::test]
async fn associate_reports_each_resource_and_counts_them() {
    let app = spawn_app().await;
    let id = app.create_policy(&seed_policy("p")).await;
    let (v1, v2) = (volume(), volume());
    let body = json!({
        "backup_policy_id": id,
        "resources": [
            {"resource_id": v1, "resource_type": "volume"},
            {"resource_id": v2, "resource_type": "volume"},
            {"resource_id": "not-a-uuid", "resource_type": "volume"},
            {"resource_id": volume(), "resource_type": "server"},
        ]
    });
    let res = app.post("/backuppolicyresources", &body).await;
    assert_eq!(res.status(), 200);
    let v: Value = res.json().await.unwrap();
    // Each result names where the volume is (read by gophertelekomcloud and otcextensions).
    let placed = |id: &str| json!({"resource_id": id, "resource_type": "volume", "availability_zone": "az-test", "os_vol_host_attr": "vbs@file#volumes"});
    assert_eq!(v["success_resources"], json!([placed(&v1), placed(&v2)]));
    let fails = v["fail_resources"].as_array().unwrap();
    assert_eq!(fails[0]["availability_zone"], "az-test");
    assert_eq!(fails.len(), 2);
    assert_eq!(fails[0]["code"], "AutoBackup.1400");
    assert_eq!(fails[1]["code"], "AutoBackup.0211");
    assert!(fails.iter().all(|f| f["message"].as_str().is_some_and(|m| !m.is_empty())));
    assert_eq!(app.policy(&id).await["policy_resource_count"], 2);

    // Associating again is a success that changes nothing.
    let res = app.post("/backuppolicyresources", &associate(&id, &[&v1])).await;
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["success_resources"].as_array().unwrap().len(), 1);
    assert_eq!(app.policy(&id).await["policy_resource_count"], 2);
}

#[tokio::test]
async fn a_volume_belongs_to_one_policy_and_associating_moves_it() {
    let app = spawn_app().await;
    let a = app.create_policy(&seed_policy("a")).await;
    let b = app.create_policy(&seed_policy("b")).await;
    let v = volume();
    assert_eq!(app.post("/backuppolicyresources", &associate(&a, &[&v])).await.status(), 200);
    assert_eq!(app.post("/backuppolicyresources", &associate(&b, &[&v])).await.status(), 200);
    assert_eq!(app.policy(&a).await["policy_resource_count"], 0);
    assert_eq!(app.policy(&b).await["policy_resource_count"], 1);
}

#[tokio::test]
async fn disassociate_removes_only_what_the_policy_has() {
    let app = spawn_app().await;
    let id = app.create_policy(&seed_policy("p")).await;
    let (v1, v2) = (volume(), volume());
    app.post("/backuppolicyresources", &associate(&id, &[&v1, &v2])).await;
    let stranger = volume();
    // otcextensions sends resource_type on disassociate too; the vendor's page does not.
    let res = app
        .post(
            &format!("/backuppolicyresources/{id}/deleted_resources"),
            &json!({"resources": [{"resource_id": v1}, {"resource_id": stranger, "resource_type": "volume"}]}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["success_resources"], json!([placed(&v1)]));
    assert_eq!(v["fail_resources"][0]["resource_id"], stranger);
    assert_eq!(v["fail_resources"][0]["code"], "AutoBackup.1400");
    assert_eq!(app.policy(&id).await["policy_resource_count"], 1);
}

#[tokio::test]
async fn whole_request_errors() {
    let app = spawn_app().await;
    let id = app.create_policy(&seed_policy("p")).await;
    assert_error(
        app.post("/backuppolicyresources", &json!({"backup_policy_id": id})).await,
        400,
        "AutoBackup.0207",
    )
    .await;
    assert_error(
        app.post("/backuppolicyresources", &json!({"backup_policy_id": id, "resources": []})).await,
        400,
        "AutoBackup.0207",
    )
    .await;
    assert_error(
        app.post(
            "/backuppolicyresources",
            &json!({"resources": [{"resource_id": volume(), "resource_type": "volume"}]}),
        )
        .await,
        400,
        "AutoBackup.0006",
    )
    .await;
    let unknown = uuid::Uuid::new_v4().to_string();
    assert_error(
        app.post("/backuppolicyresources", &associate(&unknown, &[&volume()])).await,
        404,
        "AutoBackup.0205",
    )
    .await;
    assert_error(
        app.post(
            &format!("/backuppolicyresources/{unknown}/deleted_resources"),
            &json!({"resources": [{"resource_id": volume()}]}),
        )
        .await,
        404,
        "AutoBackup.0205",
    )
    .await;
}

#[tokio::test]
async fn the_volume_limit_fails_the_excess_resources() {
    let app = spawn_app_with(|s| s.max_volumes_per_policy = 2).await;
    let id = app.create_policy(&seed_policy("p")).await;
    let vs = [volume(), volume(), volume()];
    let res = app.post("/backuppolicyresources", &associate(&id, &[&vs[0], &vs[1], &vs[2]])).await;
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["success_resources"].as_array().unwrap().len(), 2);
    assert_eq!(v["fail_resources"][0]["code"], "AutoBackup.0204");
    assert_eq!(app.policy(&id).await["policy_resource_count"], 2);
}

#[tokio::test]
async fn projects_do_not_see_each_others_volumes() {
    let app = spawn_app().await;
    let id = app.create_policy(&seed_policy("p")).await;
    let v = volume();
    app.post("/backuppolicyresources", &associate(&id, &[&v])).await;
    // The same volume id in another project is another volume.
    let other = format!("q{}", uuid::Uuid::new_v4().simple());
    let token = crate::helpers::token_for(&[&other]);
    let create = app
        .client
        .post(format!("{}/v2/{other}/backuppolicy", app.address))
        .header("X-Auth-Token", &token)
        .json(&seed_policy("theirs"))
        .send()
        .await
        .unwrap();
    let theirs = create.json::<Value>().await.unwrap()["backup_policy_id"].as_str().unwrap().to_owned();
    let res = app
        .client
        .post(format!("{}/v2/{other}/backuppolicyresources", app.address))
        .header("X-Auth-Token", &token)
        .json(&associate(&theirs, &[&v]))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(app.policy(&id).await["policy_resource_count"], 1, "our association is untouched");
    // Our policy id is unknown in their project.
    let res = app
        .client
        .post(format!("{}/v2/{other}/backuppolicyresources", app.address))
        .header("X-Auth-Token", &token)
        .json(&associate(&id, &[&volume()]))
        .send()
        .await
        .unwrap();
    assert_error(res, 404, "AutoBackup.0205").await;
}
