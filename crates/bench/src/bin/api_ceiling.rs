//! The ceiling of `make bench-api`: a bare actix-web + diesel + r2d2 server that answers the
//! benchmarked calls with the same SQL the services run, and nothing else. No token check, no
//! validation beyond the JSON body, no tracing, no logging, and none of what follows a create
//! (the relay publishing the message, the scheduler applying it): what is left is HTTP, the
//! pool and the statement itself, so a service's throughput divided by this one's is what the
//! service's own work costs.
//!
//! - `POST /v2/{p}/backuppolicy`: policy-service's insert, one statement: the project's row
//!   (created on first use, its policy count raised under the cap), the policy, its tags and
//!   an outbox row (a fixed body, claimed forever so that policy-service's relay leaves it
//!   alone; `scripts/bench-api.sh` deletes them after the run).
//! - `GET /v2/{p}/backuppolicy`: policy-service's select: the project's policies, oldest first,
//!   each with its number of volumes and its tags.
//! - `GET /v3/{p}/native/backups/{id}`: the backup row (backup-service's `backups`).
//! - `GET /v3/{p}/native/backups?limit=N`: the newest N backups of the project, the columns the
//!   summary list reads.
//!
//! Settings: `CEILING_BIND`, `CEILING_POLICY_DATABASE_URL`, `CEILING_BACKUP_DATABASE_URL`,
//! `VBS_DB_POOL_SIZE` (default 10, the services' default).

use actix_web::{App, HttpResponse, HttpServer, error::ErrorInternalServerError, web};
use anyhow::Context;
use chrono::{NaiveDateTime, Utc};
use diesel::{
    PgConnection,
    prelude::*,
    r2d2::{ConnectionManager, Pool},
    sql_query,
    sql_types::{Array, BigInt, Nullable, SmallInt, Text, Timestamp},
};
use serde::{Deserialize, Serialize};

type PgPool = Pool<ConnectionManager<PgConnection>>;

struct Pools {
    policy: PgPool,
    backup: PgPool,
}

/// Runs `f` on a pooled connection on the blocking pool, as the services do.
async fn run<T, F>(pool: &PgPool, f: F) -> actix_web::Result<T>
where
    F: FnOnce(&mut PgConnection) -> QueryResult<T> + Send + 'static,
    T: Send + 'static,
{
    let pool = pool.clone();
    web::block(move || {
        let mut conn = pool.get().map_err(|e| anyhow::anyhow!(e))?;
        f(&mut conn).map_err(anyhow::Error::from)
    })
    .await?
    .map_err(ErrorInternalServerError)
}

#[derive(Deserialize)]
struct CreatePolicy {
    backup_policy_name: String,
    #[serde(default)]
    tags: Vec<TagBody>,
}

#[derive(Deserialize)]
struct TagBody {
    key: String,
    value: String,
}

async fn create_policy(
    pools: web::Data<Pools>,
    path: web::Path<String>,
    body: web::Json<CreatePolicy>,
) -> actix_web::Result<HttpResponse> {
    let project = path.into_inner();
    let CreatePolicy { backup_policy_name: name, tags } = body.into_inner();
    let id = uuid::Uuid::new_v4().to_string();
    let policy_id = id.clone();
    let (keys, values): (Vec<String>, Vec<String>) = tags.into_iter().map(|t| (t.key, t.value)).unzip();
    run(&pools.policy, move |conn| {
        sql_query(
            "WITH project AS ( \
                 INSERT INTO projects AS p (project_id, created_at, policy_count) VALUES ($1, $2, 1) \
                 ON CONFLICT (project_id) DO UPDATE SET policy_count = p.policy_count + 1 \
                 WHERE p.policy_count < 10 RETURNING project_id \
             ), policy AS ( \
                 INSERT INTO policies (id, project_id, name, start_times, frequency, retention_num, \
                     keep_first_of_month, enabled, version, created_at, updated_at) \
                 SELECT $3, project_id, $4, '12:00', 1, 7, false, true, 1, $2, $2 FROM project \
                 RETURNING id \
             ), tags AS ( \
                 INSERT INTO policy_tags (policy_id, key, value) \
                 SELECT policy.id, t.key, t.value FROM policy, unnest($5, $6) AS t (key, value) \
             ) \
             INSERT INTO outbox (message_id, routing_key, body, created_at, claimed_until) \
             SELECT gen_random_uuid()::text, 'bench.ceiling', '{}', $2, 'infinity' FROM policy",
        )
        .bind::<Text, _>(&project)
        .bind::<Timestamp, _>(Utc::now().naive_utc())
        .bind::<Text, _>(&policy_id)
        .bind::<Text, _>(&name)
        .bind::<Array<Text>, _>(&keys)
        .bind::<Array<Text>, _>(&values)
        .execute(conn)
    })
    .await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "backup_policy_id": id })))
}

#[derive(QueryableByName, Serialize)]
struct PolicyRow {
    #[diesel(sql_type = Text)]
    id: String,
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Text)]
    start_times: String,
    #[diesel(sql_type = Nullable<SmallInt>)]
    frequency: Option<i16>,
    #[diesel(sql_type = Nullable<Text>)]
    week_days: Option<String>,
    #[diesel(sql_type = Nullable<SmallInt>)]
    retention_num: Option<i16>,
    #[diesel(sql_type = Nullable<Text>)]
    time_zone: Option<String>,
    #[diesel(sql_type = BigInt)]
    volume_count: i64,
    #[diesel(sql_type = Nullable<Text>)]
    tags: Option<String>,
}

async fn list_policies(pools: web::Data<Pools>, path: web::Path<String>) -> actix_web::Result<HttpResponse> {
    let project = path.into_inner();
    let rows = run(&pools.policy, move |conn| {
        sql_query(
            "SELECT p.id, p.name, p.start_times, p.frequency, p.week_days, p.retention_num, p.time_zone, \
                    (SELECT count(*) FROM policy_volumes v WHERE v.policy_id = p.id) AS volume_count, \
                    (SELECT json_agg(json_build_array(t.key, t.value) ORDER BY t.key, t.value)::text \
                       FROM policy_tags t WHERE t.policy_id = p.id) AS tags \
             FROM policies p WHERE p.project_id = $1 ORDER BY p.created_at, p.id",
        )
        .bind::<Text, _>(&project)
        .load::<PolicyRow>(conn)
    })
    .await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "backup_policies": rows })))
}

#[derive(QueryableByName, Serialize)]
struct BackupRow {
    #[diesel(sql_type = Text)]
    id: String,
    #[diesel(sql_type = Text)]
    volume_id: String,
    #[diesel(sql_type = Nullable<Text>)]
    name: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    description: Option<String>,
    #[diesel(sql_type = Text)]
    status: String,
    #[diesel(sql_type = BigInt)]
    size_gib: i64,
    #[diesel(sql_type = Nullable<BigInt>)]
    object_count: Option<i64>,
    #[diesel(sql_type = Nullable<Text>)]
    parent_id: Option<String>,
    #[diesel(sql_type = Timestamp)]
    created_at: NaiveDateTime,
    #[diesel(sql_type = Timestamp)]
    updated_at: NaiveDateTime,
    #[diesel(sql_type = Text)]
    metadata: String,
}

async fn show_backup(
    pools: web::Data<Pools>,
    path: web::Path<(String, String)>,
) -> actix_web::Result<HttpResponse> {
    let (project, id) = path.into_inner();
    let row = run(&pools.backup, move |conn| {
        sql_query(
            "SELECT id, volume_id, name, description, status, size_gib, object_count, parent_id, \
             created_at, updated_at, metadata FROM backups WHERE id = $1 AND project_id = $2",
        )
        .bind::<Text, _>(&id)
        .bind::<Text, _>(&project)
        .get_result::<BackupRow>(conn)
        .optional()
    })
    .await?;
    Ok(match row {
        Some(backup) => HttpResponse::Ok().json(serde_json::json!({ "backup": backup })),
        None => HttpResponse::NotFound().finish(),
    })
}

#[derive(Deserialize)]
struct ListQuery {
    limit: Option<i64>,
}

#[derive(QueryableByName, Serialize)]
struct BackupRef {
    #[diesel(sql_type = Text)]
    id: String,
    #[diesel(sql_type = Text)]
    project_id: String,
    #[diesel(sql_type = Nullable<Text>)]
    name: Option<String>,
    #[diesel(sql_type = Text)]
    status: String,
    #[diesel(sql_type = BigInt)]
    size_gib: i64,
    #[diesel(sql_type = Timestamp)]
    created_at: NaiveDateTime,
    #[diesel(sql_type = Timestamp)]
    updated_at: NaiveDateTime,
}

async fn list_backups(
    pools: web::Data<Pools>,
    path: web::Path<String>,
    query: web::Query<ListQuery>,
) -> actix_web::Result<HttpResponse> {
    let project = path.into_inner();
    let limit = query.limit.unwrap_or(1000);
    let rows = run(&pools.backup, move |conn| {
        sql_query(
            "SELECT id, project_id, name, status, size_gib, created_at, updated_at FROM backups \
             WHERE project_id = $1 \
             ORDER BY created_at DESC, id COLLATE \"C\" DESC LIMIT $2",
        )
        .bind::<Text, _>(&project)
        .bind::<BigInt, _>(limit)
        .load::<BackupRef>(conn)
    })
    .await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "backups": rows })))
}

fn pool(url: &str, size: u32) -> anyhow::Result<PgPool> {
    Pool::builder()
        .max_size(size)
        .build(ConnectionManager::new(url))
        .with_context(|| format!("connecting to {url}"))
}

fn env(name: &str) -> anyhow::Result<String> {
    std::env::var(name).with_context(|| format!("{name} is not set"))
}

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    let size = std::env::var("VBS_DB_POOL_SIZE").ok().and_then(|s| s.parse().ok()).unwrap_or(10);
    let pools = web::Data::new(Pools {
        policy: pool(&env("CEILING_POLICY_DATABASE_URL")?, size)?,
        backup: pool(&env("CEILING_BACKUP_DATABASE_URL")?, size)?,
    });
    let bind = env("CEILING_BIND")?;
    HttpServer::new(move || {
        App::new()
            .app_data(pools.clone())
            .route("/v2/{p}/backuppolicy", web::post().to(create_policy))
            .route("/v2/{p}/backuppolicy", web::get().to(list_policies))
            .route("/v3/{p}/native/backups/{id}", web::get().to(show_backup))
            .route("/v3/{p}/native/backups", web::get().to(list_backups))
    })
    .bind(&bind)
    .with_context(|| format!("binding {bind}"))?
    .run()
    .await?;
    Ok(())
}
