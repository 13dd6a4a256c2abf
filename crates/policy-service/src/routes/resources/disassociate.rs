use actix_web::web;
use api_types::openapi::AuthErrors;
use api_types::{
    dto::{DisassociateRequest, ResourcesResponse},
    error::{ErrorEnvelope, codes::auto_backup as ab},
};
use chrono::Utc;

use crate::{
    domain::resources,
    error::PolicyError,
    routes::{Json, PolicyPath, WriteAccess, locked_policy, parse_policy_id, save_and_announce},
    startup::AppState,
    store,
};

/// Disassociate volumes from a backup policy. Their backups are kept.
#[utoipa::path(
    post,
    operation_id = "disassociateResources",
    path = "/v2/{project_id}/backuppolicyresources/{policy_id}/deleted_resources",
    tag = "Backup policy resources",
    params(PolicyPath),
    request_body = DisassociateRequest,
    responses(
        (status = 200, description = "Per-resource outcome", body = ResourcesResponse),
        (status = 400, description = "Invalid request", body = ErrorEnvelope),
        AuthErrors,
        (status = 404, description = "No such policy (AutoBackup.0205)", body = ErrorEnvelope),
    ),
    security(("token" = []))
)]
pub async fn disassociate_resources(
    access: WriteAccess,
    path: web::Path<PolicyPath>,
    state: web::Data<AppState>,
    body: Json<DisassociateRequest>,
) -> Result<web::Json<ResourcesResponse>, PolicyError> {
    let policy_id = parse_policy_id(&path.policy_id)?;
    let parsed = resources::parse(body.resources.as_deref(), false)?;
    let project = access.project;
    let response = state
        .db
        .write(move |conn| {
            let now = Utc::now().naive_utc();
            store::lock_project(conn, &project, now)?;
            let mut policy = locked_policy(conn, &project, policy_id)?;
            let detached = store::detach(conn, *policy.id, &parsed.volumes)?;
            let mut success = Vec::new();
            let mut fail = parsed.failed;
            for &volume in &parsed.volumes {
                if detached.contains(&volume) {
                    success.push(resources::succeeded(volume));
                } else {
                    fail.push(resources::failed(
                        volume,
                        ab::RESOURCE_INVALID,
                        format!("volume {volume} is not associated with policy {}", policy.id),
                    ));
                }
            }
            if !detached.is_empty() {
                save_and_announce(conn, &mut policy, now)?;
            }
            Ok(ResourcesResponse { success_resources: success, fail_resources: fail })
        })
        .await?;
    let placement = &state.placement;
    let response = response.placed(placement.availability_zone.as_deref(), placement.volume_host.as_deref());
    Ok(web::Json(response))
}
