//! Backup sharing (`os-vendor-backup-sharing`): the tenant-isolation matrix's shared-backup
//! column. A recipient sees and restores a backup shared with it, and can never change,
//! delete or share it on; a third project sees nothing; ending a share or deleting the backup
//! takes the recipient's access away.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{
    MIB, TestApp, assert_error, assert_fault, make_image, sha256, sha256_file, spawn_app, token_for,
};

struct Project {
    id: String,
    token: String,
}

impl Project {
    fn new(app: &TestApp, id: Option<String>) -> Self {
        let id = id.unwrap_or_else(|| format!("q{}", uuid::Uuid::new_v4().simple()));
        let token = if id == app.project { app.token.clone() } else { token_for(&[&id]) };
        Self { id, token }
    }

    async fn call(
        &self,
        app: &TestApp,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> reqwest::Response {
        let url = format!("{}/v2/{}{path}", app.address, self.id);
        let mut req = app.client.request(method, url).header("X-Auth-Token", &self.token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        req.send().await.unwrap()
    }

    async fn json(&self, app: &TestApp, path: &str) -> Value {
        let res = self.call(app, Method::GET, path, None).await;
        assert_eq!(res.status(), 200, "GET {path}");
        res.json().await.unwrap()
    }
}

#[tokio::test]
async fn a_shared_backup_is_seen_and_restored_by_its_recipient_only() {
    let app = spawn_app().await;
    let (a, b, c) =
        (Project::new(&app, Some(app.project.clone())), Project::new(&app, None), Project::new(&app, None));
    let img = make_image(2 * MIB + 5, 90);
    let a_volume = app.volume_with(&img);
    let backup = app.backup_available(&a_volume, "shared").await["id"].as_str().unwrap().to_owned();
    let b_volume =
        app.volume_in(&api_types::domain::ProjectId::parse(&b.id).unwrap(), &make_image(3 * MIB, 91));

    // Before sharing, B does not see it.
    assert_fault(
        b.call(&app, Method::GET, &format!("/backups/{backup}"), None).await,
        404,
        "itemNotFound",
        json!(404),
    )
    .await;

    // A shares it with B.
    let share = |to: Vec<&str>, id: &str| json!({"shared": {"backup_id": id, "to_project_ids": to}});
    let res =
        a.call(&app, Method::POST, "/os-vendor-backup-sharing", Some(share(vec![&b.id], &backup))).await;
    assert_eq!(res.status(), 200);
    let created: Value = res.json().await.unwrap();
    let s = &created["shared"][0];
    assert_eq!(
        (s["backup_id"].as_str(), s["from_project_id"].as_str(), s["to_project_id"].as_str()),
        (Some(backup.as_str()), Some(a.id.as_str()), Some(b.id.as_str()))
    );
    assert_eq!(s["deleted"], "false");
    let share_id = s["id"].as_str().unwrap().to_owned();

    // Refused: again to B, to A itself, nobody, an unknown backup, a bad project id.
    for (body, code) in [
        (share(vec![&b.id], &backup), "VolumeBackup.0300"),
        (share(vec![&a.id], &backup), "VolumeBackup.0300"),
        (share(vec![], &backup), "VolumeBackup.0300"),
        (share(vec!["../x"], &backup), "VolumeBackup.0300"),
        (share(vec![&c.id], "not-a-uuid"), "VolumeBackup.0300"),
    ] {
        assert_error(a.call(&app, Method::POST, "/os-vendor-backup-sharing", Some(body)).await, 400, code)
            .await;
    }
    let res = a
        .call(
            &app,
            Method::POST,
            "/os-vendor-backup-sharing",
            Some(share(vec![&c.id], &uuid::Uuid::new_v4().to_string())),
        )
        .await;
    assert_eq!(res.status(), 404);
    // B cannot share it on.
    let res =
        b.call(&app, Method::POST, "/os-vendor-backup-sharing", Some(share(vec![&c.id], &backup))).await;
    assert_eq!(res.status(), 404);

    // B sees it: show (v2 and v3), list, and its shares to B with the backup summary.
    let shown = b.json(&app, &format!("/backups/{backup}")).await;
    assert_eq!(shown["backup"]["name"], "shared");
    let v3 = app
        .client
        .get(format!("{}/v3/{}/backups/{backup}", app.address, b.id))
        .header("X-Auth-Token", &b.token)
        .send()
        .await
        .unwrap();
    assert_eq!(v3.status(), 200);
    let listed = b.json(&app, "/backups/detail").await;
    assert_eq!(listed["backups"][0]["id"], backup.as_str());
    let to_me = b.json(&app, "/os-vendor-backup-sharing/detail?share_to_me=true").await;
    assert_eq!(to_me["shared"][0]["backup"]["id"], backup.as_str());
    assert_eq!(to_me["shared"][0]["backup"]["status"], "available");
    assert_eq!(
        b.json(&app, "/os-vendor-backup-sharing/detail").await["shared"],
        json!([]),
        "B made no share"
    );
    let made = a.json(&app, &format!("/os-vendor-backup-sharing/detail?backup_id={backup}")).await;
    assert_eq!(made["shared"][0]["id"], share_id.as_str());
    assert_eq!(
        a.json(&app, &format!("/os-vendor-backup-sharing/count?to_project_id={}", b.id)).await["count"],
        1
    );
    assert_eq!(
        a.json(&app, &format!("/os-vendor-backup-sharing/count?to_project_id={}", c.id)).await["count"],
        0
    );
    for p in [&a, &b] {
        assert_eq!(
            p.json(&app, &format!("/os-vendor-backup-sharing/{share_id}")).await["shared"]["backup"]["id"],
            backup.as_str()
        );
    }

    // C sees nothing of it.
    assert_error(
        c.call(&app, Method::GET, &format!("/os-vendor-backup-sharing/{share_id}"), None).await,
        404,
        "VolumeBackup.0301",
    )
    .await;
    assert_fault(
        c.call(&app, Method::GET, &format!("/backups/{backup}"), None).await,
        404,
        "itemNotFound",
        json!(404),
    )
    .await;
    assert_eq!(c.json(&app, "/os-vendor-backup-sharing/detail?share_to_me=true").await["shared"], json!([]));

    // B restores it into its own volume, byte for byte, and into a new one.
    let res = b
        .call(
            &app,
            Method::POST,
            &format!("/backups/{backup}/restore"),
            Some(json!({"restore": {"volume_id": b_volume}})),
        )
        .await;
    assert_eq!(res.status(), 202);
    app.wait_backup(&backup, "available").await;
    let b_disk = app.disk_in(&b.id, &b_volume);
    let restored = std::fs::read(&b_disk).unwrap();
    assert_eq!(sha256(&restored[..img.len()]), sha256(&img));
    let res =
        b.call(&app, Method::POST, &format!("/backups/{backup}/restore"), Some(json!({"restore": {}}))).await;
    assert_eq!(res.status(), 202);
    let new_volume = res.json::<Value>().await.unwrap()["restore"]["volume_id"].as_str().unwrap().to_owned();
    app.wait_backup(&backup, "available").await;
    assert_eq!(sha256_file(&app.disk_in(&b.id, &new_volume)), sha256(&img));

    // B can never change or delete it, nor end A's share.
    assert_fault(
        b.call(&app, Method::DELETE, &format!("/backups/{backup}"), None).await,
        404,
        "itemNotFound",
        json!(404),
    )
    .await;
    assert_fault(
        b.call(&app, Method::PUT, &format!("/backups/{backup}"), Some(json!({"backup": {"name": "mine"}})))
            .await,
        404,
        "itemNotFound",
        json!(404),
    )
    .await;
    assert_fault(
        b.call(
            &app,
            Method::POST,
            &format!("/backups/{backup}/metadata"),
            Some(json!({"metadata": {"k": "v"}})),
        )
        .await,
        404,
        "itemNotFound",
        json!(404),
    )
    .await;
    assert_error(
        b.call(&app, Method::DELETE, &format!("/os-vendor-backup-sharing/{share_id}"), None).await,
        404,
        "VolumeBackup.0301",
    )
    .await;
    assert_eq!(app.show(&backup).await.json::<Value>().await.unwrap()["backup"]["name"], "shared");

    // A ends every share of the backup: B's access ends with it.
    let res = a
        .call(&app, Method::DELETE, &format!("/os-vendor-backup-sharing/{backup}?is_backup_id=true"), None)
        .await;
    assert_eq!(res.status(), 200);
    assert_fault(
        b.call(&app, Method::GET, &format!("/backups/{backup}"), None).await,
        404,
        "itemNotFound",
        json!(404),
    )
    .await;
    let res = b
        .call(
            &app,
            Method::POST,
            &format!("/backups/{backup}/restore"),
            Some(json!({"restore": {"volume_id": b_volume}})),
        )
        .await;
    assert_fault(res, 404, "itemNotFound", json!(404)).await;

    // Shared again, then the backup is deleted: the share goes with it.
    let res = a
        .call(&app, Method::POST, "/os-vendor-backup-sharing", Some(share(vec![&b.id, &c.id], &backup)))
        .await;
    assert_eq!(res.json::<Value>().await.unwrap()["shared"].as_array().unwrap().len(), 2);
    let res = a.call(&app, Method::DELETE, &format!("/os-vendor-backup-sharing/{share_id}"), None).await;
    assert_error(res, 404, "VolumeBackup.0301").await;
    assert_eq!(app.delete(&format!("/backups/{backup}")).await.status(), 202);
    app.wait_gone(&backup).await;
    assert_eq!(b.json(&app, "/os-vendor-backup-sharing/detail?share_to_me=true").await["shared"], json!([]));
    assert_eq!(a.json(&app, "/os-vendor-backup-sharing/count").await["count"], 0);
}
