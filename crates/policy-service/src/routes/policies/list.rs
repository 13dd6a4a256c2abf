use crate::routes::ProjectPath;
use actix_web::web;
use api_types::dto::{PolicyListResponse, PolicyView, TagView};
use api_types::openapi::AuthErrors;

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
            store::list_policies_in_full(conn, &project)?
                .into_iter()
                .map(|(row, volumes, tags)| {
                    let settings = row.settings()?;
                    Ok(PolicyView {
                        scheduled_policy: settings.view(),
                        time_zone: row.time_zone.clone(),
                        policy_resource_count: volumes,
                        tags: tags.into_iter().map(|(key, value)| TagView { key, value }).collect(),
                        backup_policy_name: row.name,
                        backup_policy_id: row.id.to_string(),
                    })
                })
                .collect::<Result<Vec<_>, PolicyError>>()
        })
        .await?;
    Ok(web::Json(PolicyListResponse { backup_policies: views }))
}
