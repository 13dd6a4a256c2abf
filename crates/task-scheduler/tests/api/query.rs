//! `GET /v2/{project_id}/backuppolicy/{policy_id}/backuptasks`, as spec/04 gives it: filters,
//! sorting, paging by marker and offset, the total count, the time format, and every bad input
//! answered in the error envelope.

use api_types::{
    domain::{ProjectId, ResourceId},
    dto::TaskState,
};
use chrono::{DateTime, TimeDelta, Utc};
use diesel::{
    pg::Pg,
    prelude::*,
    query_builder::{AstPass, Query, QueryFragment, QueryId},
    sql_types::Text,
};
use serde_json::{Value, json};
use task_scheduler::{
    domain::query::TaskQuery,
    store::{
        self,
        tasks::{self, NewTask},
    },
};

use crate::helpers::{TestApp, assert_error, hourly, new_id, spawn_app, start, token_for};

/// Inserts tasks of `policy` with the given status and creation time, in order; returns their
/// ids.
async fn seed(app: &TestApp, policy: ResourceId, specs: Vec<(TaskState, DateTime<Utc>)>) -> Vec<String> {
    let project = ProjectId::parse(&app.project).unwrap();
    let volume = ResourceId::parse("volume_id", "f47a4ab5-11f5-4509-97f5-80ce0dd74e37").unwrap();
    app.db(move |c| {
        specs
            .into_iter()
            .enumerate()
            .map(|(i, (status, created))| {
                let id = new_id();
                let finished = (!status.is_open()).then(|| store::naive(created + TimeDelta::minutes(5)));
                let task = NewTask {
                    id: id.into(),
                    project_id: project.clone().into(),
                    policy_id: policy.into(),
                    volume_id: volume.into(),
                    trigger: "schedule",
                    scheduled_at: store::naive(start() + TimeDelta::hours(i as i64)),
                    status: status.as_str(),
                    backup_name: format!("autobk_{:04x}", i),
                    message: None,
                    created_at: store::naive(created),
                    finished_at: finished,
                    deadline: store::naive(created + TimeDelta::hours(6)),
                };
                assert!(tasks::insert(c, &task).unwrap());
                id.to_string()
            })
            .collect()
    })
    .await
}

fn ids(body: &Value) -> Vec<String> {
    body["tasks"].as_array().unwrap().iter().map(|t| t["job_id"].as_str().unwrap().to_owned()).collect()
}

const CYCLE: [TaskState; 5] = [
    TaskState::ExecuteSuccess,
    TaskState::ExecuteFail,
    TaskState::Skip,
    TaskState::Waiting,
    TaskState::Running,
];

/// 25 tasks a minute apart, statuses cycling through [`CYCLE`]; ids oldest first.
async fn policy_with_25_tasks(app: &TestApp) -> (ResourceId, Vec<String>) {
    let policy = new_id();
    app.put_policy(policy, 1, hourly(&[new_id()])).await;
    let specs = (0..25).map(|i| (CYCLE[i % 5], start() + TimeDelta::minutes(i as i64))).collect();
    (policy, seed(app, policy, specs).await)
}

#[tokio::test]
async fn the_default_page_is_the_20_newest_and_count_is_the_total() {
    let app = spawn_app().await;
    let (policy, created) = policy_with_25_tasks(&app).await;
    let body = app.tasks(policy, "").await;
    assert_eq!(body["count"], 25);
    let newest_first: Vec<String> = created.iter().rev().take(20).cloned().collect();
    assert_eq!(ids(&body), newest_first);
    // Explicit defaults answer the same.
    assert_eq!(app.tasks(policy, "?sort_key=created_at&sort_dir=desc&limit=20&offset=0").await, body);
    let asc = app.tasks(policy, "?sort_dir=asc&limit=25").await;
    assert_eq!(ids(&asc), created);
    assert_eq!(asc["count"], 25);
}

#[tokio::test]
async fn status_and_job_id_filter_and_count_what_they_match() {
    let app = spawn_app().await;
    let (policy, created) = policy_with_25_tasks(&app).await;
    for (i, state) in CYCLE.iter().enumerate() {
        let body = app.tasks(policy, &format!("?status={state}&sort_dir=asc")).await;
        assert_eq!(body["count"], 5, "{state}");
        let expected: Vec<String> = created.iter().skip(i).step_by(5).cloned().collect();
        assert_eq!(ids(&body), expected, "{state}");
        assert!(body["tasks"].as_array().unwrap().iter().all(|t| t["status"] == state.as_str()));
    }
    let body = app.tasks(policy, "?status=EXECUTE_TIMEOUT").await;
    assert_eq!(body, json!({"tasks": [], "count": 0}));
    // count is the total matching the filters, not the page size.
    let body = app.tasks(policy, "?status=SKIP&limit=2").await;
    assert_eq!((body["count"].as_i64(), body["tasks"].as_array().unwrap().len()), (Some(5), 2));

    let body = app.tasks(policy, &format!("?job_id={}", created[7])).await;
    assert_eq!((body["count"].as_i64(), ids(&body)), (Some(1), vec![created[7].clone()]));
    // A job id in another spelling (upper case) names the same job.
    let body = app.tasks(policy, &format!("?job_id={}", created[7].to_uppercase())).await;
    assert_eq!(ids(&body), vec![created[7].clone()]);
    // Both filters at once; and a job that does not match the status.
    assert_eq!(app.tasks(policy, &format!("?job_id={}&status=SKIP", created[7])).await["count"], 1);
    assert_eq!(app.tasks(policy, &format!("?job_id={}&status=WAITING", created[7])).await["count"], 0);
    // A job of another policy, or no job at all, matches nothing.
    let other = new_id();
    app.put_policy(other, 1, hourly(&[new_id()])).await;
    let foreign = seed(&app, other, vec![(TaskState::Waiting, start())]).await;
    assert_eq!(app.tasks(policy, &format!("?job_id={}", foreign[0])).await, json!({"tasks": [], "count": 0}));
    assert_eq!(app.tasks(policy, &format!("?job_id={}", new_id())).await["count"], 0);
}

/// The counts come from counters that triggers keep; they follow every change of a task's
/// status (a report, the deadline sweep) and ignore changes that keep it.
#[tokio::test]
async fn count_follows_status_changes() {
    let app = spawn_app().await;
    let (policy, created) = policy_with_25_tasks(&app).await;
    let count = |status: &'static str| {
        let app = &app;
        async move { app.tasks(policy, &format!("?status={status}")).await["count"].as_i64().unwrap() }
    };
    // created[3] is WAITING: it succeeds; created[8] (WAITING) only gets a message.
    let done = ResourceId::parse("id", &created[3]).unwrap();
    let noted = ResourceId::parse("id", &created[8]).unwrap();
    app.db(move |c| {
        let success = task_scheduler::domain::task::TaskPatch {
            status: Some(TaskState::ExecuteSuccess),
            ..Default::default()
        };
        tasks::apply(c, done, &success, None).unwrap();
        let message =
            task_scheduler::domain::task::TaskPatch { message: Some("noted".into()), ..Default::default() };
        tasks::apply(c, noted, &message, None).unwrap();
    })
    .await;
    assert_eq!((count("WAITING").await, count("EXECUTE_SUCCESS").await), (4, 6));
    // Every open task is past its deadline far in the future.
    let timed_out = app
        .db(|c| tasks::time_out(c, store::naive(start() + TimeDelta::days(30)), "late", 100).unwrap())
        .await;
    assert_eq!(timed_out, 9);
    assert_eq!((count("WAITING").await, count("RUNNING").await, count("EXECUTE_TIMEOUT").await), (0, 0, 9));
    assert_eq!(app.tasks(policy, "").await["count"], 25);
}

#[tokio::test]
async fn paging_by_marker_until_a_short_page_sees_every_task_once_in_order() {
    let app = spawn_app().await;
    let policy = new_id();
    app.put_policy(policy, 1, hourly(&[new_id()])).await;
    // 23 tasks, several created in the same instant (one slot, many volumes): ties keep their
    // creation order.
    let specs = (0..23).map(|i| (CYCLE[i % 5], start() + TimeDelta::minutes((i / 4) as i64))).collect();
    let created = seed(&app, policy, specs).await;

    for (dir, expected) in
        [("asc", created.clone()), ("desc", created.iter().rev().cloned().collect::<Vec<_>>())]
    {
        let mut seen = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let query = match &marker {
                Some(m) => format!("?sort_dir={dir}&limit=5&marker={m}"),
                None => format!("?sort_dir={dir}&limit=5"),
            };
            let body = app.tasks(policy, &query).await;
            assert_eq!(body["count"], 23, "the count ignores paging");
            let page = ids(&body);
            seen.extend(page.iter().cloned());
            if page.len() < 5 {
                break;
            }
            marker = page.last().cloned();
        }
        assert_eq!(seen, expected, "{dir}");
    }

    // offset counts from the start, or from the marker when there is one.
    let body = app.tasks(policy, "?sort_dir=asc&offset=20&limit=5").await;
    assert_eq!(ids(&body), created[20..].to_vec());
    let body = app.tasks(policy, &format!("?sort_dir=asc&marker={}&offset=2&limit=3", created[5])).await;
    assert_eq!(ids(&body), created[8..11].to_vec());
    let body = app.tasks(policy, &format!("?marker={}&offset=1&limit=2", created[5])).await;
    assert_eq!(ids(&body), vec![created[3].clone(), created[2].clone()]);
    // Past the end: an empty page, the count unchanged.
    assert_eq!(app.tasks(policy, "?offset=1000").await, json!({"tasks": [], "count": 23}));
    let body = app.tasks(policy, &format!("?sort_dir=asc&marker={}", created[22])).await;
    assert_eq!(body, json!({"tasks": [], "count": 23}));
    // The marker need not match the status filter: it is a position.
    let body = app.tasks(policy, &format!("?sort_dir=asc&status=SKIP&marker={}", created[3])).await;
    let skips: Vec<String> = created.iter().skip(7).step_by(5).cloned().collect();
    assert_eq!(ids(&body), skips);
    assert_eq!(body["count"], 5);
}

#[tokio::test]
async fn tasks_have_the_vendor_fields_and_time_format() {
    let app = spawn_app().await;
    let policy = new_id();
    app.put_policy(policy, 1, hourly(&[new_id()])).await;
    let created = start() + TimeDelta::milliseconds(706) + TimeDelta::microseconds(999);
    let ids =
        seed(&app, policy, vec![(TaskState::ExecuteSuccess, created), (TaskState::Running, created)]).await;
    let (done, running) = (ids[0].clone(), ids[1].clone());
    app.db({
        let done = done.clone();
        move |c| {
            use task_scheduler::store::schema::tasks::dsl as t;
            diesel::update(t::tasks.find(&done))
                .set((
                    t::vbs_job_id.eq("70a599e0-31e7-49b7-b260-868f441e862b"),
                    t::backup_id.eq("4b1c2d3e-5f60-4718-8a9b-0c1d2e3f4a5b"),
                ))
                .execute(c)
                .unwrap();
        }
    })
    .await;
    let body = app.tasks(policy, "").await;
    assert_eq!(
        body,
        json!({
            "tasks": [
                {
                    "status": "RUNNING",
                    "job_id": running,
                    "created_at": "2026-11-22T12:00:00.706",
                    "backup_name": "autobk_0001",
                    "resource_id": "f47a4ab5-11f5-4509-97f5-80ce0dd74e37",
                    "resource_type": "volume"
                },
                {
                    "status": "EXECUTE_SUCCESS",
                    "job_id": done,
                    "created_at": "2026-11-22T12:00:00.706",
                    "finished_at": "2026-11-22T12:05:00.706",
                    "backup_name": "autobk_0000",
                    "resource_id": "f47a4ab5-11f5-4509-97f5-80ce0dd74e37",
                    "resource_type": "volume",
                    "vbs_job_id": "70a599e0-31e7-49b7-b260-868f441e862b"
                }
            ],
            "count": 2
        })
    );
}

#[tokio::test]
async fn bad_parameters_are_400_in_the_envelope_naming_the_parameter() {
    let app = spawn_app().await;
    let (policy, _) = policy_with_25_tasks(&app).await;
    let other = new_id();
    app.put_policy(other, 1, hourly(&[new_id()])).await;
    let foreign = seed(&app, other, vec![(TaskState::Waiting, start())]).await;
    let cases = [
        ("status=running", "status"),
        ("status=DONE", "status"),
        ("status=", "status"),
        ("sort_dir=up", "sort_dir"),
        ("sort_dir=ASC", "sort_dir"),
        ("sort_key=updated_at", "sort_key"),
        ("limit=0", "limit"),
        ("limit=-5", "limit"),
        ("limit=1001", "limit"),
        ("limit=abc", "limit"),
        ("limit=2.5", "limit"),
        ("limit=", "limit"),
        ("offset=-1", "offset"),
        ("offset=one", "offset"),
        ("marker=not-a-job", "marker"),
        (&format!("marker={}", new_id()), "marker"),
        (&format!("marker={}", foreign[0]), "marker"),
        ("job_id=42", "job_id"),
        ("limit=1&limit=2", "limit"),
    ];
    for (query, param) in cases {
        let res = app.get(&format!("/backuppolicy/{policy}/backuptasks?{query}")).await;
        let message = assert_error(res, 400, "AutoBackup.0008").await;
        assert!(message.contains(param), "{query}: {message}");
    }
    // Unknown parameters are ignored, as the vendor does.
    assert_eq!(app.tasks(policy, "?foo=bar").await["count"], 25);
}

#[tokio::test]
async fn a_page_size_above_the_maximum_is_refused_not_cut() {
    let app = spawn_app_with_max(50).await;
    let (policy, _) = policy_with_25_tasks(&app).await;
    assert_eq!(app.tasks(policy, "?limit=50").await["tasks"].as_array().unwrap().len(), 25);
    let res = app.get(&format!("/backuppolicy/{policy}/backuptasks?limit=51")).await;
    let message = assert_error(res, 400, "AutoBackup.0008").await;
    assert!(message.contains("1 to 50"), "{message}");
}

async fn spawn_app_with_max(max: i64) -> TestApp {
    crate::helpers::spawn_app_with(|s| s.max_page_size = max).await
}

#[tokio::test]
async fn unknown_deleted_and_foreign_policies_are_404() {
    let app = spawn_app().await;
    let policy = new_id();
    app.put_policy(policy, 1, hourly(&[new_id()])).await;
    assert_eq!(app.tasks(policy, "").await, json!({"tasks": [], "count": 0}));

    let res = app.get(&format!("/backuppolicy/{}/backuptasks", new_id())).await;
    let message = assert_error(res, 404, "AutoBackup.0205").await;
    assert!(message.contains("does not exist"), "{message}");
    // Not a UUID: it names no policy.
    let res = app.get("/backuppolicy/not-a-policy/backuptasks").await;
    assert_error(res, 404, "AutoBackup.0205").await;
    // 404 wins over a bad parameter: there is nothing to query.
    let res = app.get(&format!("/backuppolicy/{}/backuptasks?limit=0", new_id())).await;
    assert_eq!(res.status(), 404);

    // Another project's policy, with a token for that project too.
    let other_project = format!("p{}", uuid::Uuid::new_v4().simple());
    let token = token_for(&[&app.project, &other_project]);
    let res = app
        .client
        .get(format!("{}/v2/{other_project}/backuppolicy/{policy}/backuptasks", app.address))
        .header("X-Auth-Token", token)
        .send()
        .await
        .unwrap();
    assert_error(res, 404, "AutoBackup.0205").await;
}

#[tokio::test]
async fn tokens_are_required_and_must_grant_the_project() {
    let app = spawn_app().await;
    let policy = new_id();
    app.put_policy(policy, 1, hourly(&[new_id()])).await;
    let url = app.url(&format!("/backuppolicy/{policy}/backuptasks"));
    let res = app.client.get(&url).send().await.unwrap();
    assert_error(res, 401, "AutoBackup.0002").await;
    let res = app.client.get(&url).header("X-Auth-Token", "garbage").send().await.unwrap();
    assert_error(res, 401, "AutoBackup.0005").await;
    let res = app.client.get(&url).header("X-Auth-Token", token_for(&["someone-else"])).send().await.unwrap();
    assert_error(res, 403, "AutoBackup.0213").await;
}

/// The task query is a read: a reader of the project and an admin of any project may run it.
#[tokio::test]
async fn readers_and_admins_of_any_project_query_tasks() {
    use service_kit::{auth::Role, testing::token_with_role};
    let app = spawn_app().await;
    let policy = new_id();
    app.put_policy(policy, 1, hourly(&[new_id()])).await;
    let url = app.url(&format!("/backuppolicy/{policy}/backuptasks"));
    for token in [
        token_with_role(&[&app.project], Role::Reader),
        token_with_role(&["some-other-project"], Role::Admin),
    ] {
        let res = app.client.get(&url).header("X-Auth-Token", token).send().await.unwrap();
        assert_eq!(res.status(), 200);
    }
}

#[tokio::test]
async fn wrong_methods_and_unknown_routes_get_the_envelope() {
    let app = spawn_app().await;
    let policy = new_id();
    let url = app.url(&format!("/backuppolicy/{policy}/backuptasks"));
    let res = app.client.post(&url).header("X-Auth-Token", &app.token).send().await.unwrap();
    assert_error(res, 405, "AutoBackup.0405").await;
    let res = app.client.delete(&url).header("X-Auth-Token", &app.token).send().await.unwrap();
    assert_error(res, 405, "AutoBackup.0405").await;
    let res = app.get("/backuppolicy").await;
    assert_error(res, 404, "AutoBackup.0404").await;
    let res = app.get(&format!("/backuppolicy/{policy}/backuptasks/extra")).await;
    assert_error(res, 404, "AutoBackup.0404").await;
}

/// `EXPLAIN <query>`, with the query's own bind parameters.
struct Explain<Q>(Q);

impl<Q: QueryFragment<Pg>> QueryFragment<Pg> for Explain<Q> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql("EXPLAIN ");
        self.0.walk_ast(out.reborrow())
    }
}

impl<Q> QueryId for Explain<Q> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<Q> Query for Explain<Q> {
    type SqlType = Text;
}

impl<Q> RunQueryDsl<PgConnection> for Explain<Q> {}

#[tokio::test]
async fn a_policy_with_100000_tasks_is_paged_through_its_index() {
    let app = spawn_app().await;
    let policy = new_id();
    app.put_policy(policy, 1, hourly(&[new_id()])).await;
    let neighbour = new_id();
    app.put_policy(neighbour, 1, hourly(&[new_id()])).await;
    let project = app.project.clone();
    let insert = |policy: ResourceId, n: i64| {
        format!(
            "INSERT INTO tasks (id, project_id, policy_id, volume_id, trigger, scheduled_at, status,
                                backup_name, created_at, finished_at, deadline)
             SELECT gen_random_uuid()::text, '{project}', '{policy}', 'f47a4ab5-11f5-4509-97f5-80ce0dd74e37',
                    'schedule', timestamp '2015-01-01' + i * interval '1 hour',
                    (ARRAY['WAITING','RUNNING','EXECUTE_SUCCESS','EXECUTE_FAIL','EXECUTE_TIMEOUT','SKIP'])[1 + i % 6],
                    'autobk_' || lpad(to_hex(i % 65536), 4, '0'),
                    timestamp '2015-01-01' + i * interval '1 hour' + interval '0.25 second',
                    NULL, timestamp '2015-01-01' + i * interval '1 hour' + interval '6 hour'
             FROM generate_series(1, {n}) AS i"
        )
    };
    let (big, small) = (insert(policy, 100_000), insert(neighbour, 5_000));
    let plans = app
        .db(move |c| {
            assert_eq!(diesel::sql_query(big).execute(c).unwrap(), 100_000);
            diesel::sql_query(small).execute(c).unwrap();
            diesel::sql_query("ANALYZE tasks").execute(c).unwrap();
            let id = policy.to_string();
            let last: String = store::schema::tasks::table
                .filter(store::schema::tasks::policy_id.eq(&id))
                .order(store::schema::tasks::seq.desc())
                .select(store::schema::tasks::id)
                .first(c)
                .unwrap();
            let last = ResourceId::parse("id", &last).unwrap();
            let query = |params: &[(&str, &str)], marker: Option<ResourceId>| {
                let mut p = api_types::dto::TaskQueryParams::default();
                for (k, v) in params {
                    let v = Some((*v).to_owned());
                    match *k {
                        "status" => p.status = v,
                        "sort_dir" => p.sort_dir = v,
                        "offset" => p.offset = v,
                        _ => unreachable!(),
                    }
                }
                TaskQuery { marker, ..TaskQuery::parse(&p, 1000).unwrap() }
            };
            let cases = [
                query(&[], None),
                query(&[("sort_dir", "asc")], None),
                query(&[("status", "SKIP")], None),
                query(&[("status", "WAITING"), ("sort_dir", "asc")], None),
                query(&[], Some(last)),
                query(&[("sort_dir", "asc"), ("offset", "40")], Some(last)),
                query(&[("status", "EXECUTE_FAIL")], Some(last)),
            ];
            let project = ProjectId::parse(&project).unwrap();
            cases
                .into_iter()
                .map(|q| {
                    let plan: Vec<String> = Explain(tasks::page_query(&project, policy, &q)).load(c).unwrap();
                    (format!("{q:?}"), plan.join("\n"))
                })
                .collect::<Vec<_>>()
        })
        .await;
    for (case, plan) in plans {
        assert!(plan.contains("Index Scan") || plan.contains("Index Only Scan"), "{case}:\n{plan}");
        assert!(!plan.contains("Seq Scan") && !plan.contains("Sort"), "{case}:\n{plan}");
    }

    let body = app.tasks(policy, "").await;
    assert_eq!(body["count"], 100_000);
    assert_eq!(body["tasks"][0]["created_at"], "2026-05-29T16:00:00.250", "the newest: 2015 + 100000 h");
    let marker = body["tasks"][19]["job_id"].as_str().unwrap().to_owned();
    let next = app.tasks(policy, &format!("?marker={marker}&limit=1000")).await;
    assert_eq!(next["tasks"].as_array().unwrap().len(), 1000);
    assert_eq!(next["tasks"][0]["created_at"], "2026-05-28T20:00:00.250", "20 hours older");
    assert_eq!(app.tasks(policy, "?status=SKIP").await["count"], 16_666);
}
