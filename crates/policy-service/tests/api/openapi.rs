use crate::helpers::spawn_app;

/// `make openapi` regenerates the committed document; this fails when they differ.
#[test]
fn the_committed_openapi_document_matches_the_code() {
    let committed = std::fs::read_to_string(service_kit::testing::repo_file("openapi/policy-service.json"))
        .unwrap_or_default();
    let generated = policy_service::openapi::document().to_json();
    assert!(
        committed == generated,
        "openapi/policy-service.json is out of date: run `make openapi` and commit the result"
    );
}

#[tokio::test]
async fn the_service_serves_its_document_and_swagger_ui() {
    let app = spawn_app().await;
    let res = app.client.get(format!("{}/openapi/policy-service.json", app.address)).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let doc: serde_json::Value = res.json().await.unwrap();
    assert!(doc["paths"]["/v2/{project_id}/backuppolicy"]["post"].is_object());
    let res = app.client.get(format!("{}/docs/", app.address)).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.text().await.unwrap().contains("swagger"), "Swagger UI page");
}

/// Generated clients name their methods after operation ids: each must exist and be unique.
#[test]
fn every_operation_has_a_unique_id() {
    let doc: serde_json::Value =
        serde_json::from_str(&policy_service::openapi::document().to_json()).unwrap();
    let mut ids: Vec<&str> = doc["paths"]
        .as_object()
        .unwrap()
        .values()
        .flat_map(|item| item.as_object().unwrap().values())
        .map(|op| op["operationId"].as_str().expect("an operationId"))
        .collect();
    let total = ids.len();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), total, "duplicate operation ids");
}
