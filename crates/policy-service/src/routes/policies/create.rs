use crate::routes::ProjectPath;
use actix_web::web;
use api_types::openapi::AuthErrors;
use api_types::{
    domain::ResourceId,
    dto::{CreatePolicyRequest, PolicyIdResponse},
    error::ErrorEnvelope,
};
use chrono::Utc;

use crate::{
    domain::policy::NewPolicy,
    error::PolicyError,
    events,
    routes::{Json, WriteAccess},
    startup::AppState,
    store::{self, PolicyRow},
};

/// Create a backup policy.
///
/// A project can have at most 10 policies (`AutoBackup.0203` beyond that). When both are given,
/// `frequency` wins over `week_frequency` and `rentention_num` over `rentention_day`.
#[utoipa::path(
    post,
    operation_id = "createBackupPolicy",
    path = "/v2/{project_id}/backuppolicy",
    tag = "Backup policies",
    params(ProjectPath),
    request_body = CreatePolicyRequest,
    responses(
        (status = 200, description = "Created", body = PolicyIdResponse),
        (status = 400, description = "Invalid request or policy limit reached", body = ErrorEnvelope),
        AuthErrors,
    ),
    security(("token" = []))
)]
pub async fn create_policy(
    access: WriteAccess,
    state: web::Data<AppState>,
    body: Json<CreatePolicyRequest>,
) -> Result<web::Json<PolicyIdResponse>, PolicyError> {
    let new = NewPolicy::try_from(body.into_inner())?;
    let project = access.project;
    let limit = state.limits.max_policies_per_project;
    let id = ResourceId::new_v4();
    let row = state
        .db
        .write(move |conn| {
            let now = Utc::now().naive_utc();
            store::lock_project(conn, &project, now)?;
            let existing = store::count_policies(conn, &project)?;
            if existing >= limit {
                return Err(PolicyError::PolicyLimit(existing));
            }
            let row = PolicyRow::new(id, &project, &new.name, &new.settings, now);
            store::insert_policy(conn, &row)?;
            let tags = new.tags.into_vec();
            store::upsert_tags(conn, *row.id, &tags)?;
            events::created(conn, &row, &tags)?;
            Ok(row)
        })
        .await?;
    tracing::info!(policy_id = %row.id, "backup policy created");
    Ok(web::Json(PolicyIdResponse { backup_policy_id: row.id.to_string() }))
}
