use crate::helpers::spawn_app;

/// `make openapi` regenerates the committed document; this fails when they differ.
#[test]
fn the_committed_openapi_document_matches_the_code() {
    let committed = std::fs::read_to_string(service_kit::testing::repo_file("openapi/task-scheduler.json"))
        .unwrap_or_default();
    let generated = task_scheduler::openapi::document().to_json();
    assert!(
        committed == generated,
        "openapi/task-scheduler.json is out of date: run `make openapi` and commit the result"
    );
}

#[tokio::test]
async fn the_service_serves_its_document_swagger_ui_and_health() {
    let app = spawn_app().await;
    let res = app.client.get(format!("{}/openapi/task-scheduler.json", app.address)).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let doc: serde_json::Value = res.json().await.unwrap();
    assert!(doc["paths"]["/v2/{project_id}/backuppolicy/{policy_id}/backuptasks"]["get"].is_object());
    let res = app.client.get(format!("{}/docs/", app.address)).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.text().await.unwrap().contains("swagger"), "Swagger UI page");
    let res = app.client.get(format!("{}/health", app.address)).send().await.unwrap();
    assert_eq!(res.status(), 200);
}

/// Every `$ref` in the document names a schema the document defines (generators choke on a
/// dangling one).
#[test]
fn every_schema_reference_resolves() {
    let doc: serde_json::Value =
        serde_json::from_str(&task_scheduler::openapi::document().to_json()).unwrap();
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    let text = doc.to_string();
    for reference in text.split("\"#/components/schemas/").skip(1) {
        let name = reference.split('"').next().unwrap();
        assert!(schemas.contains_key(name), "dangling reference to {name}");
    }
}
