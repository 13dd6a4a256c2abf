use crate::routes::ProjectPath;
use actix_web::web;
use api_types::openapi::AuthErrors;
use api_types::{
    domain::ResourceId,
    dto::{PolicyListResponse, PolicyView, TagView},
};

use crate::{error::PolicyError, routes::ReadAccess, startup::AppState, store};

/// List the project's backup policies, each with its schedule, time zone, number of
/// associated volumes and tags.
///
/// There is no "show one policy" call in this API: clients list and filter, so the list carries
/// every stored field.
#[utoipa::path(
    get,
    operation_id = "listBackupPolicies",
    path = "/v2/{project_id}/backuppolicy",
    tag = "Backup policies",
    params(ProjectPath),
    responses(
        (status = 200, description = "The policies, oldest first", body = PolicyListResponse),
        AuthErrors,
    ),
    security(("token" = []))
)]
pub async fn list_policies(
    access: ReadAccess,
    state: web::Data<AppState>,
) -> Result<web::Json<PolicyListResponse>, PolicyError> {
    let project = access.project;
    let views = state
        .db
        .read(move |conn| {
            let rows = store::list_policies(conn, &project)?;
            let counts = store::volume_counts(conn, &project)?;
            let mut tags = std::collections::HashMap::<ResourceId, Vec<TagView>>::new();
            for (policy_id, key, value) in store::tags_of_project(conn, &project)? {
                tags.entry(policy_id).or_default().push(TagView { key, value });
            }
            rows.into_iter()
                .map(|row| {
                    let settings = row.settings()?;
                    Ok(PolicyView {
                        scheduled_policy: settings.view(),
                        time_zone: row.time_zone.clone(),
                        policy_resource_count: counts.get(&*row.id).copied().unwrap_or(0),
                        tags: tags.remove(&*row.id).unwrap_or_default(),
                        backup_policy_name: row.name,
                        backup_policy_id: row.id.to_string(),
                    })
                })
                .collect::<Result<Vec<_>, PolicyError>>()
        })
        .await?;
    Ok(web::Json(PolicyListResponse { backup_policies: views }))
}
