use actix_web::{HttpResponse, web};
use api_types::error::ErrorEnvelope;
use api_types::openapi::AuthErrors;

use crate::{
    error::PolicyError,
    events,
    routes::{PolicyPath, WriteAccess, parse_policy_id, with_locked_policy},
    startup::AppState,
    store,
};

/// Delete a backup policy. Its volumes are released and its backups are kept.
#[utoipa::path(
    delete,
    operation_id = "deleteBackupPolicy",
    path = "/v2/{project_id}/backuppolicy/{policy_id}",
    tag = "Backup policies",
    params(PolicyPath),
    responses(
        (status = 204, description = "Deleted"),
        AuthErrors,
        (status = 404, description = "No such policy (AutoBackup.0205)", body = ErrorEnvelope),
    ),
    security(("token" = []))
)]
pub async fn delete_policy(
    access: WriteAccess,
    path: web::Path<PolicyPath>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PolicyError> {
    let id = parse_policy_id(&path.policy_id)?;
    with_locked_policy(&state.db, access.project, id, |conn, row| {
        store::delete_policy(conn, *row.id)?;
        events::deleted(conn, &row)
    })
    .await?;
    tracing::info!(policy_id = %id, "backup policy deleted");
    Ok(HttpResponse::NoContent().finish())
}
