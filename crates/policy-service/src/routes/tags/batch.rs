use actix_web::{HttpResponse, web};
use api_types::openapi::AuthErrors;
use api_types::{
    domain::{TagKey, ValidationError},
    dto::TagBatchRequest,
    error::{ErrorEnvelope, codes::auto_backup as ab},
};
use chrono::Utc;

use crate::{
    domain::policy::parse_tags,
    error::PolicyError,
    routes::{Json, PolicyPath, WriteAccess, parse_policy_id, save_and_announce, with_locked_policy},
    startup::AppState,
    store,
};

/// Add, overwrite or remove several tags at once.
///
/// `create` and `update` both add missing keys and overwrite existing ones; `delete` removes the
/// listed keys (their values are not compared; keys the policy lacks are ignored). An empty or
/// missing `tags` list changes nothing.
#[utoipa::path(
    post,
    operation_id = "batchPolicyTags",
    path = "/v2/{project_id}/backuppolicy/{policy_id}/tags/action",
    tag = "Backup policy tags",
    params(PolicyPath),
    request_body = TagBatchRequest,
    responses(
        (status = 204, description = "Done"),
        (status = 400, description = "Unknown action (AutoBackup.0222), invalid tag or limit reached", body = ErrorEnvelope),
        AuthErrors,
        (status = 404, description = "No such policy (AutoBackup.0205)", body = ErrorEnvelope),
    ),
    security(("token" = []))
)]
pub async fn batch_tags(
    access: WriteAccess,
    path: web::Path<PolicyPath>,
    state: web::Data<AppState>,
    body: Json<TagBatchRequest>,
) -> Result<HttpResponse, PolicyError> {
    let policy_id = parse_policy_id(&path.policy_id)?;
    let body = body.into_inner();
    let input = body.tags.unwrap_or_default();
    enum Op {
        Put(Vec<api_types::domain::Tag>),
        Remove(Vec<TagKey>),
    }
    let op = match body.action.as_str() {
        "create" | "update" => Op::Put(parse_tags(&input)?.into_vec()),
        "delete" => Op::Remove(
            input
                .iter()
                .map(|t| TagKey::parse(t.key.as_deref().unwrap_or_default()))
                .collect::<Result<_, _>>()?,
        ),
        other => {
            return Err(ValidationError::new(
                "action",
                format!("{other:?} is not supported; use \"create\", \"update\" or \"delete\""),
            )
            .with_code(ab::ACTION_UNSUPPORTED)
            .into());
        }
    };
    with_locked_policy(&state.db, access.project, policy_id, move |conn, mut policy| match op {
        Op::Put(tags) if tags.is_empty() => Ok(()),
        Op::Put(tags) => super::put_tags(conn, &mut policy, &tags),
        Op::Remove(keys) => {
            let keys: Vec<&str> = keys.iter().map(TagKey::as_str).collect();
            if store::delete_tags(conn, *policy.id, &keys)? > 0 {
                save_and_announce(conn, &mut policy, Utc::now().naive_utc())?;
            }
            Ok(())
        }
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}
