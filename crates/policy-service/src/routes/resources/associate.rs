use crate::routes::ProjectPath;
use api_types::openapi::AuthErrors;

use actix_web::web;
use api_types::{
    domain::ValidationError,
    dto::{AssociateRequest, ResourcesResponse},
    error::{ErrorEnvelope, codes::auto_backup as ab},
};
use chrono::Utc;

use crate::{
    domain::resources,
    error::PolicyError,
    routes::{Json, WriteAccess, locked_policy, parse_policy_id, save_and_announce},
    startup::AppState,
    store,
};

/// Associate volumes with a backup policy.
///
/// A volume belongs to at most one policy: associating a volume that belongs to another policy
/// of the project moves it. Each resource succeeds or fails on its own; failures carry a code
/// and a message.
#[utoipa::path(
    post,
    operation_id = "associateResources",
    path = "/v2/{project_id}/backuppolicyresources",
    tag = "Backup policy resources",
    params(ProjectPath),
    request_body = AssociateRequest,
    responses(
        (status = 200, description = "Per-resource outcome", body = ResourcesResponse),
        (status = 400, description = "Invalid request", body = ErrorEnvelope),
        AuthErrors,
        (status = 404, description = "No such policy (AutoBackup.0205)", body = ErrorEnvelope),
    ),
    security(("token" = []))
)]
pub async fn associate_resources(
    access: WriteAccess,
    state: web::Data<AppState>,
    body: Json<AssociateRequest>,
) -> Result<web::Json<ResourcesResponse>, PolicyError> {
    let body = body.into_inner();
    let raw_policy = body.backup_policy_id.as_deref().unwrap_or_default();
    if raw_policy.is_empty() {
        return Err(ValidationError::new("backup_policy_id", "is required")
            .with_code(ab::POLICY_ID_EMPTY)
            .into());
    }
    let policy_id = parse_policy_id(raw_policy)?;
    let parsed = resources::parse(body.resources.as_deref(), true)?;
    let project = access.project;
    let max_volumes = state.limits.max_volumes_per_policy;
    let response = state
        .db
        .write(move |conn| {
            let now = Utc::now().naive_utc();
            // Association changes touch several policies; one project lock orders them all.
            store::lock_project(conn, &project, now)?;
            let mut target = locked_policy(conn, &project, policy_id)?;
            let owners = store::owners(conn, &project, &parsed.volumes)?;
            let room = max_volumes - store::volumes_of(conn, *target.id)?.len() as i64;
            let plan = resources::plan_association(parsed, &owners, *target.id, room, max_volumes);
            if !plan.to_attach.is_empty() {
                store::attach(conn, &project, *target.id, &plan.to_attach, now)?;
                for owner in plan.previous_owners {
                    if let Some(mut row) = store::find_policy_for_update(conn, &project, owner)? {
                        save_and_announce(conn, &mut row, now)?;
                    }
                }
                save_and_announce(conn, &mut target, now)?;
            }
            Ok(ResourcesResponse { success_resources: plan.success, fail_resources: plan.fail })
        })
        .await?;
    let placement = &state.placement;
    let response = response.placed(placement.availability_zone.as_deref(), placement.volume_host.as_deref());
    tracing::info!(
        policy_id = %policy_id,
        succeeded = response.success_resources.len(),
        failed = response.fail_resources.len(),
        "volumes associated"
    );
    Ok(web::Json(response))
}
