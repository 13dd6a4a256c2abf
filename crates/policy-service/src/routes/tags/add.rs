use actix_web::{HttpResponse, web};
use api_types::openapi::AuthErrors;
use api_types::{domain::Tag, dto::AddTagRequest, error::ErrorEnvelope};

use crate::{
    domain::policy::parse_tags,
    error::PolicyError,
    routes::{Json, PolicyPath, WriteAccess, parse_policy_id, with_locked_policy},
    startup::AppState,
};

/// Add a tag to a backup policy; an existing key gets the new value. At most 10 tags.
#[utoipa::path(
    post,
    operation_id = "addPolicyTag",
    path = "/v2/{project_id}/backuppolicy/{policy_id}/tags",
    tag = "Backup policy tags",
    params(PolicyPath),
    request_body = AddTagRequest,
    responses(
        (status = 204, description = "Added"),
        (status = 400, description = "Invalid tag or limit reached (AutoBackup.0214, AutoBackup.0215)", body = ErrorEnvelope),
        AuthErrors,
        (status = 404, description = "No such policy (AutoBackup.0205)", body = ErrorEnvelope),
    ),
    security(("token" = []))
)]
pub async fn add_tag(
    access: WriteAccess,
    path: web::Path<PolicyPath>,
    state: web::Data<AppState>,
    body: Json<AddTagRequest>,
) -> Result<HttpResponse, PolicyError> {
    let policy_id = parse_policy_id(&path.policy_id)?;
    let tags: Vec<Tag> = parse_tags(std::slice::from_ref(&body.tag))?.into_vec();
    with_locked_policy(&state.db, access.project, policy_id, move |conn, mut policy| {
        super::put_tags(conn, &mut policy, &tags)
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}
