use actix_web::{HttpResponse, web};
use api_types::error::ErrorEnvelope;
use api_types::openapi::AuthErrors;
use chrono::Utc;

use crate::{
    error::PolicyError,
    routes::{WriteAccess, parse_policy_id, save_and_announce, with_locked_policy},
    startup::AppState,
    store,
};

#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub struct TagPath {
    /// Project ID
    pub project_id: String,
    /// Backup policy ID
    pub policy_id: String,
    /// Tag key
    pub key: String,
}

/// Remove a tag from a backup policy. The key is URL-encoded in the path.
#[utoipa::path(
    delete,
    operation_id = "deletePolicyTag",
    path = "/v2/{project_id}/backuppolicy/{policy_id}/tags/{key}",
    tag = "Backup policy tags",
    params(TagPath),
    responses(
        (status = 204, description = "Removed"),
        AuthErrors,
        (status = 404, description = "No such policy, or no such tag (AutoBackup.0216)", body = ErrorEnvelope),
    ),
    security(("token" = []))
)]
pub async fn delete_tag(
    access: WriteAccess,
    path: web::Path<TagPath>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PolicyError> {
    let policy_id = parse_policy_id(&path.policy_id)?;
    let key = path.into_inner().key;
    with_locked_policy(&state.db, access.project, policy_id, move |conn, mut policy| {
        if store::delete_tags(conn, *policy.id, &[key.as_str()])? == 0 {
            return Err(PolicyError::TagNotFound(key));
        }
        save_and_announce(conn, &mut policy, Utc::now().naive_utc())
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}
