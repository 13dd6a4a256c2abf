use serde_json::{Value, json};

use crate::helpers::{assert_error, seed_policy, spawn_app};

async fn tags_of(app: &crate::helpers::TestApp, id: &str) -> Value {
    let res = app.get(&format!("/backuppolicy/{id}/tags")).await;
    assert_eq!(res.status(), 200);
    res.json::<Value>().await.unwrap()["tags"].clone()
}

#[tokio::test]
async fn add_overwrite_list_and_delete() {
    let app = spawn_app().await;
    let id = app.create_policy(&seed_policy("p")).await;
    let res =
        app.post(&format!("/backuppolicy/{id}/tags"), &json!({"tag": {"key": "env", "value": "prod"}})).await;
    assert_eq!(res.status(), 204);
    assert_eq!(
        tags_of(&app, &id).await,
        json!([{"key": "env", "value": "prod"}, {"key": "key", "value": "value"}])
    );

    let res =
        app.post(&format!("/backuppolicy/{id}/tags"), &json!({"tag": {"key": "env", "value": ""}})).await;
    assert_eq!(res.status(), 204);
    assert_eq!(tags_of(&app, &id).await[0], json!({"key": "env", "value": ""}));

    assert_eq!(app.delete(&format!("/backuppolicy/{id}/tags/env")).await.status(), 204);
    assert_eq!(tags_of(&app, &id).await, json!([{"key": "key", "value": "value"}]));
    assert_error(app.delete(&format!("/backuppolicy/{id}/tags/env")).await, 404, "AutoBackup.0216").await;
    assert_error(
        app.post(&format!("/backuppolicy/{id}/tags"), &json!({"tag": {"key": "a b", "value": "x"}})).await,
        400,
        "AutoBackup.0214",
    )
    .await;
    assert_error(
        app.post(&format!("/backuppolicy/{id}/tags"), &json!({"tag": {"value": "x"}})).await,
        400,
        "AutoBackup.0214",
    )
    .await;
    let unknown = uuid::Uuid::new_v4();
    assert_error(app.get(&format!("/backuppolicy/{unknown}/tags")).await, 404, "AutoBackup.0205").await;
}

#[tokio::test]
async fn at_most_ten_tags() {
    let app = spawn_app().await;
    let id = app.create_policy(&seed_policy("p")).await;
    for i in 0..9 {
        let res = app
            .post(
                &format!("/backuppolicy/{id}/tags"),
                &json!({"tag": {"key": format!("k{i}"), "value": "v"}}),
            )
            .await;
        assert_eq!(res.status(), 204);
    }
    assert_error(
        app.post(&format!("/backuppolicy/{id}/tags"), &json!({"tag": {"key": "k10", "value": "v"}})).await,
        400,
        "AutoBackup.0215",
    )
    .await;
    // Overwriting an existing key is still allowed at the limit.
    assert_eq!(
        app.post(&format!("/backuppolicy/{id}/tags"), &json!({"tag": {"key": "k0", "value": "w"}}))
            .await
            .status(),
        204
    );
}

#[tokio::test]
async fn batch_actions() {
    let app = spawn_app().await;
    let id = app.create_policy(&seed_policy("p")).await;
    let path = format!("/backuppolicy/{id}/tags/action");
    let res = app.post(&path, &json!({"action": "create", "tags": [{"key": "a", "value": "1"}, {"key": "key", "value": "new"}]})).await;
    assert_eq!(res.status(), 204);
    assert_eq!(tags_of(&app, &id).await, json!([{"key": "a", "value": "1"}, {"key": "key", "value": "new"}]));
    assert_eq!(
        app.post(&path, &json!({"action": "update", "tags": [{"key": "a", "value": "2"}]})).await.status(),
        204
    );
    assert_eq!(tags_of(&app, &id).await[0]["value"], "2");
    // Terraform deletes with the old tags, values included, and may send none.
    assert_eq!(
        app.post(&path, &json!({"action": "delete", "tags": [{"key": "a", "value": "2"}, {"key": "gone"}]}))
            .await
            .status(),
        204
    );
    assert_eq!(app.post(&path, &json!({"action": "delete"})).await.status(), 204);
    assert_eq!(app.post(&path, &json!({"action": "create", "tags": []})).await.status(), 204);
    assert_eq!(tags_of(&app, &id).await, json!([{"key": "key", "value": "new"}]));
    assert_error(app.post(&path, &json!({"action": "upsert", "tags": []})).await, 400, "AutoBackup.0222")
        .await;
    let eleven: Vec<Value> = (0..11).map(|i| json!({"key": format!("k{i}"), "value": ""})).collect();
    assert_error(app.post(&path, &json!({"action": "create", "tags": eleven})).await, 400, "AutoBackup.0215")
        .await;
}

#[tokio::test]
async fn project_tags_aggregate_values_by_key() {
    let app = spawn_app().await;
    let mut a = seed_policy("a");
    a["tags"] = json!([{"key": "env", "value": "prod"}, {"key": "team", "value": "db"}]);
    let mut b = seed_policy("b");
    b["tags"] = json!([{"key": "env", "value": "dev"}, {"key": "team", "value": "db"}]);
    app.create_policy(&a).await;
    app.create_policy(&b).await;
    let res = app.get("/backuppolicy/tags").await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.json::<Value>().await.unwrap(),
        json!({"tags": [{"key": "env", "values": ["dev", "prod"]}, {"key": "team", "values": ["db"]}]})
    );
}

#[tokio::test]
async fn filter_and_count_by_tags() {
    let app = spawn_app().await;
    let mut a = seed_policy("daily-db");
    a["tags"] = json!([{"key": "env", "value": "prod"}]);
    let mut b = seed_policy("weekly-web");
    b["tags"] = json!([{"key": "env", "value": "dev"}]);
    let a_id = app.create_policy(&a).await;
    app.create_policy(&b).await;

    let res = app
        .post(
            "/backuppolicy/resource_instances/action",
            &json!({"action": "filter", "limit": "10", "offset": "0", "tags": [{"key": "env", "values": ["prod"]}]}),
        )
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.json::<Value>().await.unwrap(),
        json!({"resources": [{"resource_id": a_id, "resource_name": "daily-db", "resource_detail": null,
                              "tags": [{"key": "env", "value": "prod"}]}],
               "total_count": 1})
    );
    let res = app
        .post(
            "/backuppolicy/resource_instances/action",
            &json!({"action": "count", "tags_any": [{"key": "env", "values": []}]}),
        )
        .await;
    assert_eq!(res.json::<Value>().await.unwrap(), json!({"total_count": 2}));
    let res = app
        .post(
            "/backuppolicy/resource_instances/action",
            &json!({"action": "filter", "limit": 1, "offset": 1}),
        )
        .await;
    let v: Value = res.json().await.unwrap();
    assert_eq!((v["total_count"].as_i64(), v["resources"].as_array().unwrap().len()), (Some(2), 1));
    assert_error(
        app.post("/backuppolicy/resource_instances/action", &json!({"action": "list"})).await,
        400,
        "AutoBackup.0222",
    )
    .await;
}
