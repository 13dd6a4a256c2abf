//! The HTTP pacts of the Go SDK gophertelekomcloud (`pacts/gophertelekomcloud-*.json`, written
//! by `crates/vbsctl/tests/gophertelekomcloud.rs` from the SDK's sources) replayed against the
//! real policy API.

use contract_testing::{Callback, PROJECT};
use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app, token_for};

/// The provider states: a policy as the SDK's resource creates it.
async fn state(app: &TestApp, token: &str, name: &str) -> anyhow::Result<Value> {
    anyhow::ensure!(name == "a backup policy exists", "unknown state {name}");
    let body = json!({
        "backup_policy_name": format!("p{}", &uuid::Uuid::new_v4().simple().to_string()[..8]),
        "scheduled_policy": {"start_time": "12:00", "frequency": 1, "rentention_num": 10,
            "remain_first_backup_of_curMonth": "Y", "status": "ON"}
    });
    let res = app
        .client
        .post(format!("{}/v2/{PROJECT}/backuppolicy", app.address))
        .header("X-Auth-Token", token)
        .json(&body)
        .send()
        .await?;
    anyhow::ensure!(res.status() == 200, "create: {}", res.status());
    let created: Value = res.json().await?;
    Ok(json!({"policy_id": created["backup_policy_id"]}))
}

#[tokio::test]
async fn the_policy_api_satisfies_the_pact_of_gophertelekomcloud() {
    let app = spawn_app().await;
    let port: u16 = app.address.rsplit(':').next().unwrap().parse().unwrap();
    let token = token_for(&[PROJECT]);
    let verified = contract_testing::verify(
        "gophertelekomcloud",
        "policy-service",
        Some(port),
        Some(token.clone()),
        |callback| {
            let (app, token) = (&app, &token);
            async move {
                let Callback::State { name, setup: true, .. } = callback else { return Ok(Value::Null) };
                state(app, token, &name).await
            }
        },
    )
    .await
    .unwrap();
    assert_eq!(verified, 4);
}

/// Association results with `availability_zone` and `os_vol_host_attr`, which the SDK decodes.
/// The policy id the association pact names in its bodies (the Go SDK's fixture).
const PACT_POLICY: &str = "af8a20b0-117d-4fc3-ae53-aa3968a4f870";

/// The association pact's states: a policy with the pact's id (created through the API, then
/// renamed), with or without the state's volume.
async fn association_state(
    app: &TestApp,
    token: &str,
    name: &str,
    params: &std::collections::HashMap<String, Value>,
) -> anyhow::Result<Value> {
    let created = state(app, token, "a backup policy exists").await?;
    let id = created["policy_id"].as_str().unwrap_or_default().to_owned();
    app.execute(format!("DELETE FROM policies WHERE id = '{PACT_POLICY}'")).await;
    app.execute(format!("UPDATE policies SET id = '{PACT_POLICY}' WHERE id = '{id}'")).await;
    match name {
        "a backup policy and a volume exist" => Ok(Value::Null),
        "a backup policy with an associated volume" => {
            let volume = params.get("volume_id").and_then(Value::as_str).unwrap_or_default();
            let body = json!({"backup_policy_id": PACT_POLICY, "resources": [{"resource_id": volume, "resource_type": "volume"}]});
            let res = app
                .client
                .post(format!("{}/v2/{PROJECT}/backuppolicyresources", app.address))
                .header("X-Auth-Token", token)
                .json(&body)
                .send()
                .await?;
            anyhow::ensure!(res.status() == 200, "associate: {}", res.status());
            Ok(Value::Null)
        }
        other => anyhow::bail!("unknown state {other}"),
    }
}

#[tokio::test]
async fn association_results_satisfy_the_pact_of_gophertelekomcloud() {
    let app = spawn_app().await;
    let port: u16 = app.address.rsplit(':').next().unwrap().parse().unwrap();
    let token = token_for(&[PROJECT]);
    let verified = contract_testing::verify(
        "gophertelekomcloud",
        "policy-resources",
        Some(port),
        Some(token.clone()),
        |callback| {
            let (app, token) = (&app, &token);
            async move {
                let Callback::State { name, params, setup: true } = callback else { return Ok(Value::Null) };
                association_state(app, token, &name, &params).await
            }
        },
    )
    .await
    .unwrap();
    assert_eq!(verified, 2);
}
