use actix_web::web;
use api_types::openapi::AuthErrors;
use api_types::{
    dto::{PolicyTagsResponse, TagView},
    error::ErrorEnvelope,
};

use crate::{
    error::PolicyError,
    routes::{PolicyPath, ReadAccess, existing_policy, parse_policy_id},
    startup::AppState,
    store,
};

/// The tags of a backup policy.
#[utoipa::path(
    get,
    operation_id = "listPolicyTags",
    path = "/v2/{project_id}/backuppolicy/{policy_id}/tags",
    tag = "Backup policy tags",
    params(PolicyPath),
    responses(
        (status = 200, description = "OK", body = PolicyTagsResponse),
        AuthErrors,
        (status = 404, description = "No such policy (AutoBackup.0205)", body = ErrorEnvelope),
    ),
    security(("token" = []))
)]
pub async fn list_tags(
    access: ReadAccess,
    path: web::Path<PolicyPath>,
    state: web::Data<AppState>,
) -> Result<web::Json<PolicyTagsResponse>, PolicyError> {
    let policy_id = parse_policy_id(&path.policy_id)?;
    let project = access.project;
    let tags = state
        .db
        .read(move |conn| {
            let policy = existing_policy(conn, &project, policy_id)?;
            Ok(store::tags_of(conn, *policy.id)?)
        })
        .await?;
    Ok(web::Json(PolicyTagsResponse {
        tags: tags.into_iter().map(|(key, value)| TagView { key, value }).collect(),
    }))
}
