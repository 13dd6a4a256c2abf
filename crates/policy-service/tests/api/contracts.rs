//! Contracts as a provider: the `policy.changed` / `policy.execute` messages the scheduler
//! relies on, produced by the real service (HTTP request in, message out of the outbox onto the
//! broker), and the HTTP pact of `vbsctl` (create, modify, list) replayed against the real API.

use contract_testing::{Callback, PROJECT};
use serde_json::{Value, json};
use service_kit::amqp::Queue;

use crate::helpers::{Listener, TestApp, spawn_app, token_for};

/// The policy the consumer's examples describe: weekly, in a time zone, with a tag.
fn weekly_policy(name: &str) -> Value {
    json!({
        "backup_policy_name": name,
        "scheduled_policy": {
            "start_time": "22:00,00:00,02:00",
            "week_frequency": ["MON", "THU"],
            "rentention_num": 7,
            "remain_first_backup_of_curMonth": "Y",
            "status": "ON"
        },
        "tags": [{"key": "team", "value": "db"}],
        "time_zone": "UTC+02:00"
    })
}

/// Makes the real service announce what `description` says, through its API.
async fn produce(app: &TestApp, events: &mut Listener, description: &str) -> anyhow::Result<Value> {
    let name = format!("p{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let id = if description.contains("every few days") {
        app.create_policy(&json!({
            "backup_policy_name": name,
            "scheduled_policy": {
                "start_time": "03:00",
                "frequency": 3,
                "rentention_day": 30,
                "remain_first_backup_of_curMonth": "N",
                "status": "ON"
            }
        }))
        .await
    } else {
        app.create_policy(&weekly_policy(&name)).await
    };
    let of_policy = |m: &Value| m["payload"]["policy_id"] == id.as_str();
    let message = match description {
        d if d.contains("weekly") => {
            let volume = uuid::Uuid::new_v4().to_string();
            let res = app
                .post(
                    "/backuppolicyresources",
                    &json!({"backup_policy_id": id, "resources": [{"resource_id": volume, "resource_type": "volume"}]}),
                )
                .await;
            anyhow::ensure!(res.status() == 200, "associate: {}", res.status());
            events.next_json("policy.changed", |m| of_policy(m) && m["payload"]["version"] == 2).await
        }
        d if d.contains("every few days") => events.next_json("policy.changed", of_policy).await,
        d if d.contains("deleted") => {
            let res = app.delete(&format!("/backuppolicy/{id}")).await;
            anyhow::ensure!(res.status() == 204, "delete: {}", res.status());
            events.next_json("policy.changed", |m| of_policy(m) && m["payload"]["change"] == "deleted").await
        }
        d if d.contains("executed") => {
            let res = app.post(&format!("/backuppolicy/{id}/action"), &json!({})).await;
            anyhow::ensure!(res.status() == 204, "execute: {}", res.status());
            events.next_json("policy.execute", of_policy).await
        }
        d => anyhow::bail!("no way to produce {d:?}"),
    };
    Ok(message)
}

#[tokio::test]
async fn policy_messages_satisfy_the_pact_of_the_scheduler() {
    let app = spawn_app().await;
    let events = tokio::sync::Mutex::new(app.listener(Queue::SchedulerPolicyEvents).await);
    let verified = contract_testing::verify("task-scheduler", "policy-service", None, None, |callback| {
        let (app, events) = (&app, &events);
        async move {
            match callback {
                Callback::Message { description, .. } => {
                    produce(app, &mut *events.lock().await, &description).await
                }
                // Each message is produced from a policy created for it.
                Callback::State { .. } => Ok(Value::Null),
            }
        }
    })
    .await
    .unwrap();
    assert_eq!(verified, 4);
}

#[tokio::test]
async fn the_policy_api_satisfies_the_pact_of_vbsctl() {
    let app = spawn_app().await;
    let port: u16 = app.address.rsplit(':').next().unwrap().parse().unwrap();
    let token = token_for(&[PROJECT]);
    let verified =
        contract_testing::verify("vbsctl", "policy-service", Some(port), Some(token.clone()), |callback| {
            let (app, token) = (&app, &token);
            async move {
                let Callback::State { name, setup: true, .. } = callback else { return Ok(Value::Null) };
                anyhow::ensure!(name == "a backup policy exists", "unknown state {name}");
                let policy_name = format!("p{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
                let res = app
                    .client
                    .post(format!("{}/v2/{PROJECT}/backuppolicy", app.address))
                    .header("X-Auth-Token", token)
                    .json(&weekly_policy(&policy_name))
                    .send()
                    .await?;
                anyhow::ensure!(res.status() == 200, "create: {}", res.status());
                let created: Value = res.json().await?;
                Ok(json!({"policy_id": created["backup_policy_id"]}))
            }
        })
        .await
        .unwrap();
    assert_eq!(verified, 3);
}
