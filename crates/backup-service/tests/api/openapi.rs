use crate::helpers::spawn_app;

/// `make openapi` regenerates the committed document; this fails when they differ.
#[test]
fn the_committed_openapi_document_matches_the_code() {
    let committed = std::fs::read_to_string(service_kit::testing::repo_file("openapi/backup-service.json"))
        .unwrap_or_default();
    let generated = backup_service::openapi::document().to_json();
    assert!(
        committed == generated,
        "openapi/backup-service.json is out of date: run `make openapi` and commit the result"
    );
}

#[tokio::test]
async fn the_service_serves_its_document_and_swagger_ui() {
    let app = spawn_app().await;
    let res = app.client.get(format!("{}/openapi/backup-service.json", app.address)).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let doc: serde_json::Value = res.json().await.unwrap();
    assert!(doc["paths"]["/v2/{project_id}/backups"]["post"].is_object());
    assert!(doc["paths"]["/v1/{project_id}/jobs/{job_id}"]["get"].is_object());
    let res = app.client.get(format!("{}/docs/", app.address)).send().await.unwrap();
    assert_eq!(res.status(), 200);
}
