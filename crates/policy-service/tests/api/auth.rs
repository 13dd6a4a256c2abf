use std::time::Duration;

use api_types::domain::ProjectId;
use serde_json::{Value, json};
use service_kit::auth::{Claims, TokenKeys};

use crate::helpers::{assert_error, seed_policy, spawn_app, token_for};

#[tokio::test]
async fn no_token_is_401() {
    let app = spawn_app().await;
    let res = app.client.get(app.url("/backuppolicy")).send().await.unwrap();
    assert_error(res, 401, "AutoBackup.0002").await;
    let res = app.client.post(app.url("/backuppolicy")).json(&seed_policy("x")).send().await.unwrap();
    assert_error(res, 401, "AutoBackup.0002").await;
}

#[tokio::test]
async fn malformed_and_foreign_tokens_are_401() {
    let app = spawn_app().await;
    let foreign = TokenKeys::from_secret(b"some-other-deployment-secret-123")
        .unwrap()
        .mint(
            "x",
            &[ProjectId::parse(&app.project).unwrap()],
            service_kit::auth::Role::Member,
            Duration::from_secs(60),
        )
        .unwrap();
    for token in ["garbage", "a.b.c", foreign.as_str()] {
        let res =
            app.client.get(app.url("/backuppolicy")).header("X-Auth-Token", token).send().await.unwrap();
        assert_error(res, 401, "AutoBackup.0005").await;
    }
}

#[tokio::test]
async fn expired_tokens_are_401_with_their_own_code() {
    use jsonwebtoken::{Algorithm, EncodingKey, Header};
    let app = spawn_app().await;
    let now = jsonwebtoken::get_current_timestamp();
    let claims = Claims {
        sub: "x".into(),
        projects: vec![app.project.clone()],
        role: None,
        iss: "vbs".into(),
        iat: now - 7200,
        exp: now - 3600,
    };
    let expired = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(crate::helpers::SECRET),
    )
    .unwrap();
    let res = app.client.get(app.url("/backuppolicy")).header("X-Auth-Token", &expired).send().await.unwrap();
    assert_error(res, 401, "AutoBackup.0003").await;
}

#[tokio::test]
async fn another_projects_path_is_403_everywhere() {
    let app = spawn_app().await;
    let id = app.create_policy(&seed_policy("mine")).await;
    let other = format!("q{}", uuid::Uuid::new_v4().simple());
    let intruder = token_for(&[&other]);
    let base = format!("{}/v2/{}", app.address, app.project);
    let calls = [
        app.client.get(format!("{base}/backuppolicy")),
        app.client.post(format!("{base}/backuppolicy")).json(&seed_policy("x")),
        app.client.put(format!("{base}/backuppolicy/{id}")).json(&json!({})),
        app.client.delete(format!("{base}/backuppolicy/{id}")),
        app.client.post(format!("{base}/backuppolicy/{id}/action")),
        app.client.get(format!("{base}/backuppolicy/{id}/tags")),
        app.client.get(format!("{base}/backuppolicy/tags")),
        app.client.post(format!("{base}/backuppolicyresources")).json(&json!({})),
    ];
    for call in calls {
        let res = call.header("X-Auth-Token", &intruder).send().await.unwrap();
        assert_error(res, 403, "AutoBackup.0213").await;
    }
    // Nothing changed, and the owner still sees the policy.
    assert_eq!(app.list_policies().await.len(), 1);
}

#[tokio::test]
async fn a_token_may_name_several_projects() {
    let app = spawn_app().await;
    let other = format!("q{}", uuid::Uuid::new_v4().simple());
    let both = token_for(&[&app.project, &other]);
    for project in [&app.project, &other] {
        let res = app
            .client
            .get(format!("{}/v2/{project}/backuppolicy", app.address))
            .header("X-Auth-Token", &both)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
    }
}

/// Every operation of the policy API, as (method, path, body), `{id}` standing for a policy.
fn every_operation(id: &str) -> Vec<(reqwest::Method, String, Value)> {
    use reqwest::Method;
    let volume = "bce8d47a-0000-4000-8000-000000000001";
    vec![
        (Method::GET, "/backuppolicy".into(), Value::Null),
        (Method::GET, format!("/backuppolicy/{id}/tags"), Value::Null),
        (Method::GET, "/backuppolicy/tags".into(), Value::Null),
        (Method::POST, "/backuppolicy/resource_instances/action".into(), json!({"action": "count"})),
        (Method::POST, "/backuppolicy".into(), seed_policy("second")),
        (Method::PUT, format!("/backuppolicy/{id}"), json!({"backup_policy_name": "renamed"})),
        (Method::POST, format!("/backuppolicy/{id}/action"), json!({})),
        (
            Method::POST,
            "/backuppolicyresources".into(),
            json!({"backup_policy_id": id, "resources": [{"resource_id": volume, "resource_type": "volume"}]}),
        ),
        (
            Method::POST,
            format!("/backuppolicyresources/{id}/deleted_resources"),
            json!({"resources": [{"resource_id": volume}]}),
        ),
        (Method::POST, format!("/backuppolicy/{id}/tags"), json!({"tag": {"key": "k", "value": "v"}})),
        (
            Method::POST,
            format!("/backuppolicy/{id}/tags/action"),
            json!({"action": "create", "tags": [{"key": "a", "value": "b"}]}),
        ),
        (Method::DELETE, format!("/backuppolicy/{id}/tags/k"), Value::Null),
        (Method::DELETE, format!("/backuppolicy/{id}"), Value::Null),
    ]
}

async fn call(
    app: &crate::helpers::TestApp,
    token: &str,
    op: &(reqwest::Method, String, Value),
) -> reqwest::Response {
    let (method, path, body) = op;
    let mut req = app.client.request(method.clone(), app.url(path)).header("X-Auth-Token", token);
    if !body.is_null() {
        req = req.json(body);
    }
    req.send().await.unwrap()
}

/// The role matrix: a reader reads (the tag query is a read, although a POST) and is refused
/// every change; a member does everything in its project; an admin scoped elsewhere does
/// everything in any project.
#[tokio::test]
async fn readers_read_members_write_admins_act_anywhere() {
    use service_kit::{auth::Role, testing::token_with_role};
    let app = spawn_app().await;
    let id = app.create_policy(&seed_policy("mine")).await;
    let reader = token_with_role(&[&app.project], Role::Reader);
    for op in every_operation(&id) {
        let res = call(&app, &reader, &op).await;
        if op.0 == reqwest::Method::GET || op.1.ends_with("resource_instances/action") {
            assert_eq!(res.status(), 200, "reader {} {}", op.0, op.1);
        } else {
            let message = assert_error(res, 403, "AutoBackup.0213").await;
            assert!(message.contains("member or admin"), "reader {} {}: {message}", op.0, op.1);
        }
    }
    assert_eq!(app.list_policies().await.len(), 1, "the reader changed nothing");

    let elsewhere = format!("q{}", uuid::Uuid::new_v4().simple());
    for token in [token_for(&[&app.project]), token_with_role(&[&elsewhere], Role::Admin)] {
        let id = app.create_policy(&seed_policy("other")).await;
        for op in every_operation(&id) {
            let res = call(&app, &token, &op).await;
            assert!(res.status().is_success(), "{} {}: {}", op.0, op.1, res.status());
        }
    }
}
