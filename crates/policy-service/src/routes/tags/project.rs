use crate::routes::ProjectPath;
use actix_web::web;
use api_types::dto::{ProjectTagsResponse, TagValues};
use api_types::openapi::AuthErrors;

use crate::{error::PolicyError, routes::ReadAccess, startup::AppState, store};

/// Every tag key used on the project's policies, with all its values.
#[utoipa::path(
    get,
    operation_id = "listProjectPolicyTags",
    path = "/v2/{project_id}/backuppolicy/tags",
    tag = "Backup policy tags",
    params(ProjectPath),
    responses(
        (status = 200, description = "OK", body = ProjectTagsResponse),
        AuthErrors,
    ),
    security(("token" = []))
)]
pub async fn list_project_tags(
    access: ReadAccess,
    state: web::Data<AppState>,
) -> Result<web::Json<ProjectTagsResponse>, PolicyError> {
    let project = access.project;
    let rows = state.db.read(move |conn| Ok(store::tags_of_project(conn, &project)?)).await?;
    // Rows come sorted by key then value.
    let mut tags: Vec<TagValues> = Vec::new();
    for (_, key, value) in rows {
        match tags.last_mut() {
            Some(last) if last.key == key => {
                if last.values.last() != Some(&value) {
                    last.values.push(value);
                }
            }
            _ => tags.push(TagValues { key, values: vec![value] }),
        }
    }
    Ok(web::Json(ProjectTagsResponse { tags }))
}
