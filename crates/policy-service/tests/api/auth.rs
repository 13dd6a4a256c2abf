use std::time::Duration;

use api_types::domain::ProjectId;
use serde_json::json;
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
        .mint("x", &[ProjectId::parse(&app.project).unwrap()], Duration::from_secs(60))
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
