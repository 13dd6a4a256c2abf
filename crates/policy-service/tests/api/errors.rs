//! Every bad input gets a 4xx in the envelope: never a 500, never actix's plain text.

use serde_json::Value;

use crate::helpers::{assert_error, seed_policy, spawn_app};

#[tokio::test]
async fn malformed_empty_and_mistyped_bodies() {
    let app = spawn_app().await;
    let send = |body: &'static str, content_type: Option<&'static str>| {
        let mut req = app.client.post(app.url("/backuppolicy")).header("X-Auth-Token", &app.token).body(body);
        if let Some(ct) = content_type {
            req = req.header("Content-Type", ct);
        }
        req.send()
    };
    let msg = assert_error(
        send("{\"backup_policy_name\": ", Some("application/json")).await.unwrap(),
        400,
        "AutoBackup.0008",
    )
    .await;
    assert!(msg.contains("not valid JSON"), "{msg}");
    assert_error(send("", Some("application/json")).await.unwrap(), 400, "AutoBackup.0000").await;
    assert_error(send("  \n", None).await.unwrap(), 400, "AutoBackup.0000").await;
    assert_error(send("[1, 2]", Some("application/json")).await.unwrap(), 400, "AutoBackup.0008").await;
    assert_error(send("<policy/>", Some("application/xml")).await.unwrap(), 415, "AutoBackup.0415").await;
    let msg = assert_error(
        send(r#"{"backup_policy_name":"p","scheduled_policy":{"frequency":"often"}}"#, None).await.unwrap(),
        400,
        "AutoBackup.0106",
    )
    .await;
    assert!(msg.starts_with("scheduled_policy.frequency: invalid type"), "{msg}");
}

#[tokio::test]
async fn json_without_a_json_content_type_is_read_as_json() {
    let app = spawn_app().await;
    // No header at all, and curl's default for `-d`.
    for content_type in [None, Some("application/x-www-form-urlencoded")] {
        let mut req = app.client.post(app.url("/backuppolicy")).header("X-Auth-Token", &app.token);
        if let Some(ct) = content_type {
            req = req.header("Content-Type", ct);
        }
        let res = req.body(seed_policy("curl").to_string()).send().await.unwrap();
        assert_eq!(res.status(), 200, "{content_type:?}");
    }
}

#[tokio::test]
async fn oversized_bodies_are_413() {
    let app = spawn_app().await;
    let huge = format!("{{\"backup_policy_name\": \"{}\"}}", "x".repeat(200 * 1024));
    let res = app
        .client
        .post(app.url("/backuppolicy"))
        .header("X-Auth-Token", &app.token)
        .header("Content-Type", "application/json")
        .body(huge)
        .send()
        .await
        .unwrap();
    assert_error(res, 413, "AutoBackup.0413").await;
}

#[tokio::test]
async fn unknown_routes_and_wrong_methods_get_the_envelope() {
    let app = spawn_app().await;
    assert_error(app.get("/nothing-here").await, 404, "AutoBackup.0404").await;
    let res = app.client.get(format!("{}/totally/else", app.address)).send().await.unwrap();
    assert_error(res, 404, "AutoBackup.0404").await;
    // PATCH on a collection that only has GET and POST.
    let res =
        app.client.patch(app.url("/backuppolicy")).header("X-Auth-Token", &app.token).send().await.unwrap();
    assert_error(res, 405, "AutoBackup.0405").await;
    let res = app
        .client
        .get(app.url(&format!("/backuppolicy/{}", uuid::Uuid::new_v4())))
        .header("X-Auth-Token", &app.token)
        .send()
        .await
        .unwrap();
    assert_error(res, 405, "AutoBackup.0405").await;
}

#[tokio::test]
async fn responses_carry_a_request_id() {
    let app = spawn_app().await;
    let res = app.get("/backuppolicy").await;
    let id = res.headers().get("x-openstack-request-id").unwrap().to_str().unwrap().to_owned();
    assert!(id.starts_with("req-"), "{id}");
}

#[tokio::test]
async fn version_documents_need_no_token() {
    let app = spawn_app().await;
    for (path, id) in [("/v2", "v2.0"), ("/v2/", "v2.0"), ("/v3", "v3.0")] {
        let res = app.client.get(format!("{}{path}", app.address)).send().await.unwrap();
        assert_eq!(res.status(), 200, "{path}");
        let v: Value = res.json().await.unwrap();
        assert_eq!(v["version"]["id"], id);
        assert_eq!(v["version"]["links"][0]["rel"], "self");
    }
    let res = app.client.get(format!("{}/", app.address)).send().await.unwrap();
    assert_eq!(res.status(), 300);
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["versions"].as_array().unwrap().len(), 2);
    let res = app.client.get(format!("{}/health", app.address)).send().await.unwrap();
    assert_eq!(res.status(), 200);
}
