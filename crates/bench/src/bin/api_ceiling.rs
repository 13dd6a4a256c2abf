//! The ceiling of `make bench-api`: a bare actix-web + diesel + r2d2 server that answers the
//! benchmarked calls with the least work that still touches the same tables of the same
//! databases as the services do. No token check, no validation beyond the JSON body, no
//! outbox, no tracing: what is left is HTTP, the pool and the SQL statement itself, so a
//! service's throughput divided by this one's is what the service's own work costs.
//!
//! - `POST /v2/{p}/backuppolicy`: one transaction that inserts the project row if missing and
//!   the policy row (policy-service's `projects` and `policies`).
//! - `GET /v2/{p}/backuppolicy`: the project's policy rows, oldest first.
//! - `GET /v3/{p}/native/backups/{id}`: the backup row (backup-service's `backups`).
//! - `GET /v3/{p}/native/backups?limit=N`: the newest N backups of the project (id, name).
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
    sql_types::{BigInt, Nullable, SmallInt, Text, Timestamp},
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
}

async fn create_policy(
    pools: web::Data<Pools>,
    path: web::Path<String>,
    body: web::Json<CreatePolicy>,
) -> actix_web::Result<HttpResponse> {
    let project = path.into_inner();
    let name = body.into_inner().backup_policy_name;
    let id = uuid::Uuid::new_v4().to_string();
    let policy_id = id.clone();
    run(&pools.policy, move |conn| {
        conn.transaction(|conn| {
            let now = Utc::now().naive_utc();
            sql_query("INSERT INTO projects (project_id, created_at) VALUES ($1, $2) ON CONFLICT DO NOTHING")
                .bind::<Text, _>(&project)
                .bind::<Timestamp, _>(now)
                .execute(conn)?;
            sql_query(
                "INSERT INTO policies (id, project_id, name, start_times, frequency, retention_num, \
                 keep_first_of_month, enabled, version, created_at, updated_at) \
                 VALUES ($1, $2, $3, '12:00', 1, 7, false, true, 1, $4, $4)",
            )
            .bind::<Text, _>(&policy_id)
            .bind::<Text, _>(&project)
            .bind::<Text, _>(&name)
            .bind::<Timestamp, _>(now)
            .execute(conn)
        })
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
}

async fn list_policies(pools: web::Data<Pools>, path: web::Path<String>) -> actix_web::Result<HttpResponse> {
    let project = path.into_inner();
    let rows = run(&pools.policy, move |conn| {
        sql_query(
            "SELECT id, name, start_times, frequency, week_days, retention_num, time_zone \
             FROM policies WHERE project_id = $1 ORDER BY created_at",
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
    #[diesel(sql_type = Nullable<Text>)]
    name: Option<String>,
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
            "SELECT id, name FROM backups WHERE project_id = $1 \
             ORDER BY created_at DESC, id DESC LIMIT $2",
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
