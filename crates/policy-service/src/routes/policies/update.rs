use actix_web::web;
use api_types::openapi::AuthErrors;
use api_types::{
    dto::{PolicyIdResponse, UpdatePolicyRequest},
    error::ErrorEnvelope,
};
use chrono::Utc;

use crate::{
    domain::policy::PolicyPatch,
    error::PolicyError,
    routes::{Json, PolicyPath, WriteAccess, parse_policy_id, save_and_announce, with_locked_policy},
    startup::AppState,
};

/// Modify a backup policy.
///
/// Every field is optional; what is given replaces what is stored. Giving `week_frequency`
/// without `frequency` switches to a weekly schedule (and the reverse); likewise
/// `rentention_day` and `rentention_num`. A `backup_policy_id` in the body is ignored.
#[utoipa::path(
    put,
    operation_id = "updateBackupPolicy",
    path = "/v2/{project_id}/backuppolicy/{policy_id}",
    tag = "Backup policies",
    params(PolicyPath),
    request_body = UpdatePolicyRequest,
    responses(
        (status = 200, description = "Modified", body = PolicyIdResponse),
        (status = 400, description = "Invalid request", body = ErrorEnvelope),
        AuthErrors,
        (status = 404, description = "No such policy (AutoBackup.0205)", body = ErrorEnvelope),
    ),
    security(("token" = []))
)]
pub async fn update_policy(
    access: WriteAccess,
    path: web::Path<PolicyPath>,
    state: web::Data<AppState>,
    body: Json<UpdatePolicyRequest>,
) -> Result<web::Json<PolicyIdResponse>, PolicyError> {
    let id = parse_policy_id(&path.policy_id)?;
    let patch = PolicyPatch::try_from(body.into_inner())?;
    let row = with_locked_policy(&state.db, access.project, id, move |conn, mut row| {
        let mut settings = row.settings()?;
        settings.apply(&patch);
        if let Some(name) = &patch.name {
            row.name = name.as_str().to_owned();
        }
        row.set_settings(&settings);
        save_and_announce(conn, &mut row, Utc::now().naive_utc())?;
        Ok(row)
    })
    .await?;
    tracing::info!(policy_id = %row.id, version = row.version, "backup policy modified");
    Ok(web::Json(PolicyIdResponse { backup_policy_id: row.id.to_string() }))
}
