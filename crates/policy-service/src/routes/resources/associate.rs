use crate::routes::{AuthErrors, ProjectPath};
use std::collections::BTreeSet;

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
    events,
    routes::{Access, Json, locked_policy, parse_policy_id},
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
pub async fn handler(
    access: Access,
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
            let mut room = max_volumes - store::volumes_of(conn, *target.id)?.len() as i64;

            let mut success = Vec::new();
            let mut fail = parsed.failed;
            let mut to_attach = Vec::new();
            let mut previous_owners = BTreeSet::new();
            for &volume in &parsed.volumes {
                match owners.iter().find(|(v, _)| *v == volume) {
                    Some((_, owner)) if *owner == *target.id => success.push(resources::succeeded(volume)),
                    owner => {
                        if room <= 0 {
                            fail.push(resources::failed(
                                volume,
                                ab::VOLUME_LIMIT,
                                format!("the policy already has {max_volumes} volumes, the most allowed"),
                            ));
                            continue;
                        }
                        room -= 1;
                        if let Some(&(_, owner)) = owner {
                            previous_owners.insert(owner);
                        }
                        to_attach.push(volume);
                        success.push(resources::succeeded(volume));
                    }
                }
            }
            if !to_attach.is_empty() {
                store::attach(conn, &project, *target.id, &to_attach, now)?;
                for owner in previous_owners {
                    if let Some(mut row) = store::find_policy_for_update(conn, &project, owner)? {
                        store::save_policy(conn, &mut row, now)?;
                        events::changed(conn, &row)?;
                    }
                }
                store::save_policy(conn, &mut target, now)?;
                events::changed(conn, &target)?;
            }
            Ok(ResourcesResponse { success_resources: success, fail_resources: fail })
        })
        .await?;
    tracing::info!(
        policy_id = %policy_id,
        succeeded = response.success_resources.len(),
        failed = response.fail_resources.len(),
        "volumes associated"
    );
    Ok(web::Json(response))
}
