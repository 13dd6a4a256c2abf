use actix_web::{HttpResponse, web};
use api_types::error::ErrorEnvelope;
use api_types::openapi::AuthErrors;

use crate::{
    error::PolicyError,
    events,
    routes::{PolicyPath, WriteAccess, existing_policy, parse_policy_id},
    startup::AppState,
};

/// Execute a backup policy now: one backup task per associated volume, whatever the schedule
/// and even when the policy is OFF. No request body.
#[utoipa::path(
    post,
    operation_id = "executeBackupPolicy",
    path = "/v2/{project_id}/backuppolicy/{policy_id}/action",
    tag = "Backup policies",
    params(PolicyPath),
    responses(
        (status = 204, description = "Accepted: the tasks appear in the policy's backup tasks"),
        AuthErrors,
        (status = 404, description = "No such policy (AutoBackup.0205)", body = ErrorEnvelope),
    ),
    security(("token" = []))
)]
pub async fn execute_policy(
    access: WriteAccess,
    path: web::Path<PolicyPath>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PolicyError> {
    let id = parse_policy_id(&path.policy_id)?;
    let project = access.project;
    state
        .db
        .write(move |conn| {
            let row = existing_policy(conn, &project, id)?;
            events::execute(conn, &row)
        })
        .await?;
    tracing::info!(policy_id = %id, "backup policy execution requested");
    Ok(HttpResponse::NoContent().finish())
}
