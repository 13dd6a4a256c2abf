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
    let row = PolicyRow::new(id, &project, &new.name, &new.settings, Utc::now().naive_utc());
    let tags = new.tags.into_vec();
    let message = events::created(&row, &tags)?;
    let row = state
        .db
        .write_statement(move |conn| {
            if !store::create_policy(conn, &row, &tags, limit, &message)? {
                return Err(PolicyError::PolicyLimit(store::count_policies(conn, &project)?));
            }
            Ok(row)
        })
        .await?;
    tracing::info!(policy_id = %row.id, "backup policy created");
    Ok(web::Json(PolicyIdResponse { backup_policy_id: row.id.to_string() }))
}
