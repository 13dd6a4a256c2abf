//! The read-only volumes API: what openstackclient looks up before a backup or a restore.

use serde_json::{Value, json};

use crate::helpers::{MIB, assert_fault, make_image, spawn_app, token_for};

#[tokio::test]
async fn volumes_are_shown_and_listed_per_project() {
    let app = spawn_app().await;
    let volume = app.volume_with(&make_image(2 * MIB, 80));
    let res = app.get_url(&app.url_v("v3", &format!("/volumes/{volume}"))).await;
    assert_eq!(res.status(), 200);
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["volume"]["id"], volume.as_str());
    assert_eq!(v["volume"]["status"], "available");
    assert_eq!(v["volume"]["size"], 1, "GiB, rounded up");
    assert_eq!(v["volume"]["os-vol-tenant-attr:tenant_id"], app.project.as_str());
    assert!(v["volume"]["created_at"].as_str().unwrap().len() == 26, "{v}");

    for path in ["/volumes", "/volumes/detail"] {
        let listed: Value = app.get_url(&app.url_v("v3", path)).await.json().await.unwrap();
        let ids: Vec<&str> =
            listed["volumes"].as_array().unwrap().iter().map(|v| v["id"].as_str().unwrap()).collect();
        assert_eq!(ids, [volume.as_str()], "{path}");
    }

    // Unknown and malformed ids are 404; another project sees none of them.
    for id in [uuid::Uuid::new_v4().to_string(), "../x".to_owned()] {
        let res = app.get_url(&app.url_v("v3", &format!("/volumes/{id}"))).await;
        assert_fault(res, 404, "itemNotFound", json!(404)).await;
    }
    let other = format!("q{}", uuid::Uuid::new_v4().simple());
    let token = token_for(&[&other]);
    let url = format!("{}/v3/{other}/volumes/{volume}", app.address);
    let res = app.client.get(&url).header("X-Auth-Token", &token).send().await.unwrap();
    assert_fault(res, 404, "itemNotFound", json!(404)).await;
    let url = format!("{}/v3/{other}/volumes/detail", app.address);
    let listed: Value =
        app.client.get(&url).header("X-Auth-Token", &token).send().await.unwrap().json().await.unwrap();
    assert_eq!(listed["volumes"], json!([]));
}
