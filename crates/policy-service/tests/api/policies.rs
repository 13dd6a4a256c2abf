use serde_json::{Value, json};

use crate::helpers::{assert_error, seed_policy, spawn_app, spawn_app_with};

#[tokio::test]
async fn the_seed_create_example_is_accepted_and_listed_field_for_field() {
    let app = spawn_app().await;
    let id = app.create_policy(&seed_policy("policy_01")).await;
    assert!(uuid::Uuid::parse_str(&id).is_ok(), "{id}");

    let listed = app.list_policies().await;
    assert_eq!(listed.len(), 1);
    assert_eq!(
        listed[0],
        json!({
            "backup_policy_id": id,
            "backup_policy_name": "policy_01",
            "scheduled_policy": {
                "start_time": "12:00",
                "week_frequency": ["SUN", "WED"],
                "rentention_day": 30,
                "remain_first_backup_of_curMonth": "Y",
                "status": "ON"
            },
            "policy_resource_count": 0,
            "tags": [{"key": "key", "value": "value"}],
            "time_zone": "UTC+08:00"
        })
    );
}

#[tokio::test]
async fn frequency_and_count_win_when_both_are_given_and_floats_are_floored() {
    let app = spawn_app().await;
    let id = app
        .create_policy(&json!({
            "backup_policy_name": "both",
            "scheduled_policy": {
                "start_time": "22:00,00:00,02:00",
                "frequency": 3,
                "week_frequency": ["MON"],
                "rentention_num": 5,
                "rentention_day": 7.9,
                "status": "OFF"
            }
        }))
        .await;
    let p = app.policy(&id).await;
    assert_eq!(
        p["scheduled_policy"],
        json!({"start_time": "22:00,00:00,02:00", "frequency": 3, "rentention_num": 5,
               "remain_first_backup_of_curMonth": "N", "status": "OFF"})
    );
    assert!(p.get("time_zone").is_none());

    let id = app
        .create_policy(&json!({
            "backup_policy_name": "days",
            "scheduled_policy": {"start_time": "01:00", "frequency": 1, "rentention_day": 2.5, "status": "ON"}
        }))
        .await;
    assert_eq!(app.policy(&id).await["scheduled_policy"]["rentention_day"], 2);
}

#[tokio::test]
async fn invalid_fields_get_their_vendor_codes() {
    let app = spawn_app().await;
    let cases: Vec<(&str, Value, &str)> = vec![
        ("backup_policy_name", json!("default-x"), "AutoBackup.0102"),
        ("backup_policy_name", json!("x".repeat(65)), "AutoBackup.0101"),
        ("backup_policy_name", json!(42), "AutoBackup.0102"),
        ("time_zone", json!("UTC+25:00"), "AutoBackup.0226"),
        ("tags", json!([{"key": "bad key", "value": "v"}]), "AutoBackup.0214"),
    ];
    for (field, value, code) in cases {
        let mut body = seed_policy("p");
        body[field] = value.clone();
        let message = assert_error(app.post("/backuppolicy", &body).await, 400, code).await;
        assert!(message.contains(field), "{field}={value}: {message}");
    }
    let sp_cases: Vec<(&str, Value, &str)> = vec![
        ("start_time", json!("12:30"), "AutoBackup.0103"),
        ("start_time", json!(12), "AutoBackup.0103"),
        ("status", json!("YES"), "AutoBackup.0104"),
        ("remain_first_backup_of_curMonth", json!("yes"), "AutoBackup.0105"),
        ("week_frequency", json!(["XYZ"]), "AutoBackup.0106"),
        ("week_frequency", json!("MON"), "AutoBackup.0106"),
        ("frequency", json!(0), "AutoBackup.0106"),
        ("frequency", json!("3"), "AutoBackup.0106"),
        ("rentention_day", json!(100000), "AutoBackup.0107"),
        ("rentention_num", json!(1), "AutoBackup.0107"),
        ("retention_num", json!(3), "AutoBackup.0107"),
    ];
    for (field, value, code) in sp_cases {
        let mut body = seed_policy("p");
        body["scheduled_policy"][field] = value.clone();
        let message = assert_error(app.post("/backuppolicy", &body).await, 400, code).await;
        assert!(message.contains(field), "{field}={value}: {message}");
    }
    assert!(app.list_policies().await.is_empty(), "nothing was created");
}

#[tokio::test]
async fn required_parts_are_required() {
    let app = spawn_app().await;
    for missing in ["backup_policy_name", "scheduled_policy"] {
        let mut body = seed_policy("p");
        body.as_object_mut().unwrap().remove(missing);
        let res = app.post("/backuppolicy", &body).await;
        assert_eq!(res.status(), 400);
        let v: Value = res.json().await.unwrap();
        assert!(v["error"]["message"].as_str().unwrap().contains(missing), "{v}");
    }
    for (missing, code) in [
        ("start_time", "AutoBackup.0103"),
        ("status", "AutoBackup.0104"),
        ("week_frequency", "AutoBackup.0106"),
        ("rentention_day", "AutoBackup.0107"),
    ] {
        let mut body = seed_policy("p");
        body["scheduled_policy"].as_object_mut().unwrap().remove(missing);
        assert_error(app.post("/backuppolicy", &body).await, 400, code).await;
    }
}

#[tokio::test]
async fn modify_merges_partial_bodies_and_tolerates_backup_policy_id() {
    let app = spawn_app().await;
    let id = app.create_policy(&seed_policy("before")).await;

    // otcextensions' disable_policy: only the status, plus the id it always sends.
    let res = app
        .put(
            &format!("/backuppolicy/{id}"),
            &json!({"backup_policy_id": id, "scheduled_policy": {"status": "OFF"}}),
        )
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<Value>().await.unwrap(), json!({"backup_policy_id": id}));
    let p = app.policy(&id).await;
    assert_eq!(p["scheduled_policy"]["status"], "OFF");
    assert_eq!(p["scheduled_policy"]["week_frequency"], json!(["SUN", "WED"]));
    assert_eq!(p["scheduled_policy"]["rentention_day"], 30);

    // The seed modify example: rename, switch retention to a count, new days and time zone.
    let res = app
        .put(
            &format!("/backuppolicy/{id}"),
            &json!({
                "backup_policy_name": "policy_01",
                "scheduled_policy": {
                    "remain_first_backup_of_curMonth": "Y",
                    "rentention_num": 10,
                    "week_frequency": ["MON"],
                    "start_time": "12:00",
                    "status": "ON"
                },
                "time_zone": "UTC+08:00"
            }),
        )
        .await;
    assert_eq!(res.status(), 200);
    let p = app.policy(&id).await;
    assert_eq!(p["backup_policy_name"], "policy_01");
    assert_eq!(
        p["scheduled_policy"],
        json!({"start_time": "12:00", "week_frequency": ["MON"], "rentention_num": 10,
               "remain_first_backup_of_curMonth": "Y", "status": "ON"})
    );

    // Switching to a frequency clears the week days.
    let res = app.put(&format!("/backuppolicy/{id}"), &json!({"scheduled_policy": {"frequency": 2}})).await;
    assert_eq!(res.status(), 200);
    let sp = &app.policy(&id).await["scheduled_policy"];
    assert_eq!(sp["frequency"], 2);
    assert!(sp.get("week_frequency").is_none());

    // A bad field changes nothing.
    let res = app
        .put(
            &format!("/backuppolicy/{id}"),
            &json!({"backup_policy_name": "x", "scheduled_policy": {"frequency": 99}}),
        )
        .await;
    assert_error(res, 400, "AutoBackup.0106").await;
    assert_eq!(app.policy(&id).await["backup_policy_name"], "policy_01");
}

#[tokio::test]
async fn unknown_or_malformed_policy_ids_are_404() {
    let app = spawn_app().await;
    let unknown = uuid::Uuid::new_v4();
    let body = json!({"scheduled_policy": {"status": "OFF"}});
    assert_error(app.put(&format!("/backuppolicy/{unknown}"), &body).await, 404, "AutoBackup.0205").await;
    assert_error(app.put("/backuppolicy/not-a-uuid", &body).await, 404, "AutoBackup.0205").await;
    assert_error(app.delete(&format!("/backuppolicy/{unknown}")).await, 404, "AutoBackup.0205").await;
    assert_error(
        app.post(&format!("/backuppolicy/{unknown}/action"), &json!({})).await,
        404,
        "AutoBackup.0205",
    )
    .await;
}

#[tokio::test]
async fn delete_removes_the_policy_and_releases_its_volumes() {
    let app = spawn_app().await;
    let a = app.create_policy(&seed_policy("a")).await;
    let b = app.create_policy(&seed_policy("b")).await;
    let volume = uuid::Uuid::new_v4().to_string();
    let res = app
        .post(
            "/backuppolicyresources",
            &json!({"backup_policy_id": a, "resources": [{"resource_id": volume, "resource_type": "volume"}]}),
        )
        .await;
    assert_eq!(res.status(), 200);

    let res = app.delete(&format!("/backuppolicy/{a}")).await;
    assert_eq!(res.status(), 204);
    assert!(res.text().await.unwrap().is_empty());
    let listed = app.list_policies().await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["backup_policy_id"], b);
    assert_error(app.delete(&format!("/backuppolicy/{a}")).await, 404, "AutoBackup.0205").await;
}

#[tokio::test]
async fn execute_answers_204_even_when_the_policy_is_off() {
    let app = spawn_app().await;
    let mut body = seed_policy("off");
    body["scheduled_policy"]["status"] = json!("OFF");
    let id = app.create_policy(&body).await;
    // otcextensions posts no body at all.
    let res = app
        .client
        .post(app.url(&format!("/backuppolicy/{id}/action")))
        .header("X-Auth-Token", &app.token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
}

#[tokio::test]
async fn a_project_has_at_most_ten_policies() {
    let app = spawn_app().await;
    for i in 0..10 {
        app.create_policy(&seed_policy(&format!("p{i}"))).await;
    }
    assert_error(app.post("/backuppolicy", &seed_policy("eleventh")).await, 400, "AutoBackup.0203").await;
    assert_eq!(app.list_policies().await.len(), 10);

    // Another project has its own ten.
    let other = format!("q{}", uuid::Uuid::new_v4().simple());
    let res = app
        .client
        .post(format!("{}/v2/{other}/backuppolicy", app.address))
        .header("X-Auth-Token", crate::helpers::token_for(&[&other]))
        .json(&seed_policy("first"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn the_cap_holds_under_twenty_concurrent_creates() {
    let app = spawn_app_with(|s| s.database.pool_size = 20).await;
    let requests = (0..20).map(|i| {
        let client = app.client.clone();
        let url = app.url("/backuppolicy");
        let token = app.token.clone();
        async move {
            client
                .post(url)
                .header("X-Auth-Token", token)
                .json(&seed_policy(&format!("c{i}")))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    });
    let statuses = futures_util::future::join_all(requests).await;
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 10, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 400).count(), 10, "{statuses:?}");
    assert_eq!(app.list_policies().await.len(), 10);
}

#[tokio::test]
async fn a_deleted_policy_frees_its_place_under_the_cap() {
    let app = spawn_app_with(|s| s.max_policies_per_project = 2).await;
    let first = app.create_policy(&seed_policy("a")).await;
    app.create_policy(&seed_policy("b")).await;
    let refused = app.post("/backuppolicy", &seed_policy("c")).await;
    assert_eq!(refused.status(), 400);
    let body: Value = refused.json().await.unwrap();
    assert!(body.to_string().contains("already has 2 backup policies"), "{body}");
    assert_eq!(app.delete(&format!("/backuppolicy/{first}")).await.status(), 204);
    // Deleting it again changes nothing: the project still counts one policy.
    assert_eq!(app.delete(&format!("/backuppolicy/{first}")).await.status(), 404);
    app.create_policy(&seed_policy("c")).await;
    assert_error(app.post("/backuppolicy", &seed_policy("d")).await, 400, "AutoBackup.0203").await;
    let names: Vec<String> = app
        .list_policies()
        .await
        .iter()
        .map(|p| p["backup_policy_name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(names.contains(&"b".to_owned()) && names.contains(&"c".to_owned()), "{names:?}");
}

#[tokio::test]
async fn the_cap_is_configurable() {
    let app = spawn_app_with(|s| s.max_policies_per_project = 2).await;
    app.create_policy(&seed_policy("a")).await;
    app.create_policy(&seed_policy("b")).await;
    assert_error(app.post("/backuppolicy", &seed_policy("c")).await, 400, "AutoBackup.0203").await;
}
