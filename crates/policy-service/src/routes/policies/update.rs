use crate::routes::AuthErrors;
use actix_web::web;
use api_types::{
    dto::{PolicyIdResponse, UpdatePolicyRequest},
    error::ErrorEnvelope,
};
use chrono::Utc;

use crate::{
    domain::policy::PolicyPatch,
    error::PolicyError,
    events,
    routes::{Access, Json, PolicyPath, locked_policy, parse_policy_id},
    startup::AppState,
    store,
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
pub async fn handler(
    access: Access,
    path: web::Path<PolicyPath>,
    state: web::Data<AppState>,
    body: Json<UpdatePolicyRequest>,
) -> Result<web::Json<PolicyIdResponse>, PolicyError> {
    let id = parse_policy_id(&path.policy_id)?;
    let patch = PolicyPatch::try_from(body.into_inner())?;
    let project = access.project;
    let row = state
        .db
        .write(move |conn| {
            let mut row = locked_policy(conn, &project, id)?;
            let mut settings = row.settings()?;
            settings.apply(&patch);
            if let Some(name) = &patch.name {
                row.name = name.as_str().to_owned();
            }
            row.set_settings(&settings);
            store::save_policy(conn, &mut row, Utc::now().naive_utc())?;
            events::changed(conn, &row)?;
            Ok(row)
        })
        .await?;
    tracing::info!(policy_id = %row.id, version = row.version, "backup policy modified");
    Ok(web::Json(PolicyIdResponse { backup_policy_id: row.id.to_string() }))
}
