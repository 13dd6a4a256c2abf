use crate::routes::ProjectPath;
use api_types::openapi::AuthErrors;
use std::collections::HashMap;

use actix_web::web;
use api_types::{
    domain::ResourceId,
    dto::{ResourceInstance, ResourceInstancesRequest, ResourceInstancesResponse, TagView},
    error::ErrorEnvelope,
};

use crate::{
    domain::tag_query::{Action, TagQuery},
    error::PolicyError,
    routes::{Json, ReadAccess},
    startup::AppState,
    store,
};

/// Find (`filter`) or count (`count`) the project's backup policies by tags.
///
/// `tags`: every condition holds; `tags_any`: at least one holds; `not_tags`: excluded when every
/// condition holds; `not_tags_any`: excluded when any holds. A condition holds when the policy
/// has the key and, if `values` is not empty, one of the values. `matches` with key
/// `resource_name` matches policy names containing the value (case-insensitive).
#[utoipa::path(
    post,
    operation_id = "queryPoliciesByTags",
    path = "/v2/{project_id}/backuppolicy/resource_instances/action",
    tag = "Backup policy tags",
    params(ProjectPath),
    request_body = ResourceInstancesRequest,
    responses(
        (status = 200, description = "OK", body = ResourceInstancesResponse),
        (status = 400, description = "Invalid request", body = ErrorEnvelope),
        AuthErrors,
    ),
    security(("token" = []))
)]
pub async fn query_policies_by_tags(
    access: ReadAccess,
    state: web::Data<AppState>,
    body: Json<ResourceInstancesRequest>,
) -> Result<web::Json<ResourceInstancesResponse>, PolicyError> {
    let (query, action) = TagQuery::parse(&body)?;
    let project = access.project;
    let (policies, tag_rows) = state
        .db
        .read(move |conn| {
            Ok((store::list_policies(conn, &project)?, store::tags_of_project(conn, &project)?))
        })
        .await?;
    let mut tags: HashMap<ResourceId, Vec<(String, String)>> = HashMap::new();
    for (policy_id, key, value) in tag_rows {
        tags.entry(policy_id).or_default().push((key, value));
    }
    let matching: Vec<ResourceInstance> = policies
        .into_iter()
        .filter_map(|p| {
            let policy_tags = tags.remove(&*p.id).unwrap_or_default();
            query.matches(&p.name, &policy_tags).then(|| ResourceInstance {
                resource_id: p.id.to_string(),
                resource_name: p.name,
                resource_detail: None,
                tags: policy_tags.into_iter().map(|(key, value)| TagView { key, value }).collect(),
            })
        })
        .collect();
    let total_count = matching.len() as i64;
    Ok(web::Json(match action {
        Action::Count => ResourceInstancesResponse { resources: None, total_count },
        Action::Filter { limit, offset } => ResourceInstancesResponse {
            resources: Some(matching.into_iter().skip(offset).take(limit).collect()),
            total_count,
        },
    }))
}
