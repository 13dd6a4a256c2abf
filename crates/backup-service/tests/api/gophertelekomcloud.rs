//! The HTTP pacts of the Go SDK gophertelekomcloud (`pacts/gophertelekomcloud-*.json`, written
//! by `crates/vbsctl/tests/gophertelekomcloud.rs` from the SDK's sources) replayed against the
//! real backup API and its workers.

use std::time::Duration;

use api_types::domain::{ProjectId, ResourceId};
use contract_testing::{Callback, PROJECT};
use serde_json::{Value, json};

use crate::{
    contracts::{resource, volume_at},
    helpers::{TestApp, spawn_app, token_for},
};

/// Polls `url` until `done` holds of the answer (or a minute passes).
async fn until(
    app: &TestApp,
    token: &str,
    url: &str,
    done: impl Fn(&Value) -> bool,
) -> anyhow::Result<Value> {
    for _ in 0..600 {
        let shown: Value = app.client.get(url).header("X-Auth-Token", token).send().await?.json().await?;
        if done(&shown) {
            return Ok(shown);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    anyhow::bail!("{url} did not get there")
}

async fn state(
    app: &TestApp,
    token: &str,
    name: &str,
    params: &std::collections::HashMap<String, Value>,
) -> anyhow::Result<Value> {
    match name {
        "a volume exists" => {
            volume_at(app, PROJECT, resource(params["volume_id"].as_str().unwrap_or_default()), 7);
            Ok(Value::Null)
        }
        "a backup job succeeded" => {
            let volume = ResourceId::new_v4();
            volume_at(app, PROJECT, volume, 8);
            let body = json!({"backup": {"volume_id": volume, "name": "backup_test"}});
            let res = app
                .client
                .post(format!("{}/v2/{PROJECT}/cloudbackups", app.address))
                .header("X-Auth-Token", token)
                .json(&body)
                .send()
                .await?;
            anyhow::ensure!(res.status() == 200, "cloud create: {}", res.status());
            let job: Value = res.json().await?;
            let id = job["job_id"].as_str().unwrap_or_default().to_owned();
            let url = format!("{}/v1/{PROJECT}/jobs/{id}", app.address);
            until(app, token, &url, |j| j["status"] == "SUCCESS").await?;
            Ok(json!({"job_id": id}))
        }
        "an available backup exists" => available_backup(app, token, params).await,
        "a backup shared with another project" => {
            let backup = available_backup(app, token, params).await?;
            let id = backup["backup_id"].as_str().unwrap_or_default().to_owned();
            let body = json!({"shared": {"backup_id": id, "to_project_ids": [SHARE_RECIPIENT]}});
            let res = app
                .client
                .post(format!("{}/v2/{PROJECT}/os-vendor-backup-sharing", app.address))
                .header("X-Auth-Token", token)
                .json(&body)
                .send()
                .await?;
            anyhow::ensure!(res.status() == 200, "share: {}", res.status());
            Ok(backup)
        }
        other => anyhow::bail!("unknown state {other}"),
    }
}

/// The project the sharing pact shares with.
const SHARE_RECIPIENT: &str = "91d687759aed45d28b5f6084bc2fa8ad";

/// An available backup, given the pact's id when the state names one (the Go SDK's fixtures
/// put fixed ids in request bodies): the row is renamed, as an import would name it.
async fn available_backup(
    app: &TestApp,
    token: &str,
    params: &std::collections::HashMap<String, Value>,
) -> anyhow::Result<Value> {
    let project = ProjectId::parse(PROJECT)?;
    {
        {
            let volume = ResourceId::new_v4();
            volume_at(app, PROJECT, volume, 9);
            let snapshot = ResourceId::new_v4();
            app.volumes.create_snapshot(&project, volume, snapshot)?;
            let body = json!({"backup": {"volume_id": volume, "snapshot_id": snapshot, "name": "nightly"}});
            let created: Value = app
                .client
                .post(format!("{}/v2/{PROJECT}/backups", app.address))
                .header("X-Auth-Token", token)
                .json(&body)
                .send()
                .await?
                .json()
                .await?;
            let id = created["backup"]["id"].as_str().unwrap_or_default().to_owned();
            let url = format!("{}/v2/{PROJECT}/backups/{id}", app.address);
            until(app, token, &url, |b| b["backup"]["status"] == "available").await?;
            let Some(wanted) = params.get("backup_id").and_then(Value::as_str) else {
                return Ok(json!({"backup_id": id}));
            };
            ResourceId::parse("backup_id", wanted)?;
            app.execute(format!("DELETE FROM backups WHERE id = '{wanted}'")).await;
            app.execute(format!("UPDATE jobs SET backup_id = '{wanted}' WHERE backup_id = '{id}'")).await;
            app.execute(format!("UPDATE backups SET id = '{wanted}' WHERE id = '{id}'")).await;
            Ok(json!({"backup_id": wanted}))
        }
    }
}

#[tokio::test]
async fn the_backup_api_satisfies_the_pact_of_gophertelekomcloud() {
    let app = spawn_app().await;
    let port: u16 = app.address.rsplit(':').next().unwrap().parse().unwrap();
    let token = token_for(&[PROJECT]);
    let verified = contract_testing::verify(
        "gophertelekomcloud",
        "backup-service",
        Some(port),
        Some(token.clone()),
        |callback| {
            let (app, token) = (&app, &token);
            async move {
                let Callback::State { name, params, setup: true } = callback else { return Ok(Value::Null) };
                state(app, token, &name, &params).await
            }
        },
    )
    .await
    .unwrap();
    assert_eq!(verified, 4);
}

/// The VBS sharing API (`/v2/{project_id}/os-vendor-backup-sharing`) as the SDK's `shares`
/// package and the Terraform resource `opentelekomcloud_vbs_backup_share_v2` call it.
#[tokio::test]
async fn the_sharing_api_satisfies_the_pact_of_gophertelekomcloud() {
    let app = spawn_app().await;
    let port: u16 = app.address.rsplit(':').next().unwrap().parse().unwrap();
    let token = token_for(&[PROJECT]);
    let verified = contract_testing::verify(
        "gophertelekomcloud",
        "backup-sharing",
        Some(port),
        Some(token.clone()),
        |callback| {
            let (app, token) = (&app, &token);
            async move {
                let Callback::State { name, params, setup: true } = callback else { return Ok(Value::Null) };
                state(app, token, &name, &params).await
            }
        },
    )
    .await
    .unwrap();
    assert_eq!(verified, 3);
}
