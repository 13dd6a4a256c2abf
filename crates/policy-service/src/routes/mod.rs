//! The HTTP API, one handler per file.
//!
//! Registration order matters: the fixed paths under `/backuppolicy` (`tags`,
//! `resource_instances/action`) come before `/backuppolicy/{policy_id}`, which would otherwise
//! claim them and answer 405.

pub mod policies;
pub mod resources;
pub mod tags;
pub mod versions;

use actix_web::web;
use api_types::{
    domain::{ProjectId, ResourceId},
    error::codes::auto_backup as ab,
};
use chrono::NaiveDateTime;
use diesel::PgConnection;
use service_kit::db::Db;
use utoipa::IntoParams;

use crate::{
    error::{PolicyApi, PolicyError},
    events,
    store::{self, PolicyRow},
};

/// A caller that may read the path's project.
pub type ReadAccess = service_kit::auth::ProjectAccess<PolicyApi, service_kit::auth::Read>;
/// A caller that may change the path's project (member or admin).
pub type WriteAccess = service_kit::auth::ProjectAccess<PolicyApi, service_kit::auth::Write>;
pub type Json<T> = service_kit::http::Json<T, PolicyApi>;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(versions::root))
        .route("/v2", web::get().to(versions::v2))
        .route("/v2/", web::get().to(versions::v2))
        .route("/v3", web::get().to(versions::v3))
        .route("/v3/", web::get().to(versions::v3))
        .service(
            web::scope("/v2/{project_id}")
                .service(
                    web::resource("/backuppolicy/tags")
                        .route(web::get().to(tags::project::list_project_tags)),
                )
                .service(
                    web::resource("/backuppolicy/resource_instances/action")
                        .route(web::post().to(tags::query::query_policies_by_tags)),
                )
                .service(
                    web::resource("/backuppolicy")
                        .route(web::post().to(policies::create::create_policy))
                        .route(web::get().to(policies::list::list_policies)),
                )
                .service(
                    web::resource("/backuppolicy/{policy_id}")
                        .route(web::put().to(policies::update::update_policy))
                        .route(web::delete().to(policies::delete::delete_policy)),
                )
                .service(
                    web::resource("/backuppolicy/{policy_id}/action")
                        .route(web::post().to(policies::execute::execute_policy)),
                )
                .service(
                    web::resource("/backuppolicy/{policy_id}/tags")
                        .route(web::post().to(tags::add::add_tag))
                        .route(web::get().to(tags::list::list_tags)),
                )
                .service(
                    web::resource("/backuppolicy/{policy_id}/tags/action")
                        .route(web::post().to(tags::batch::batch_tags)),
                )
                .service(
                    web::resource("/backuppolicy/{policy_id}/tags/{key}")
                        .route(web::delete().to(tags::delete::delete_tag)),
                )
                .service(
                    web::resource("/backuppolicyresources")
                        .route(web::post().to(resources::associate::associate_resources)),
                )
                .service(
                    web::resource("/backuppolicyresources/{policy_id}/deleted_resources")
                        .route(web::post().to(resources::disassociate::disassociate_resources)),
                ),
        );
}

/// Policy ids are UUIDs; anything else names no policy, and the answer is the vendor's "policy
/// does not exist" rather than a parse error.
pub fn parse_policy_id(raw: &str) -> Result<ResourceId, PolicyError> {
    if raw.trim().is_empty() {
        return Err(api_types::domain::ValidationError::new("policy_id", "is empty")
            .with_code(ab::POLICY_ID_EMPTY)
            .into());
    }
    ResourceId::parse("policy_id", raw).map_err(|_| PolicyError::PolicyNotFound(raw.to_owned()))
}

/// The policy, locked for the rest of the transaction, or 404.
pub fn locked_policy(
    conn: &mut PgConnection,
    project: &ProjectId,
    id: ResourceId,
) -> Result<PolicyRow, PolicyError> {
    store::find_policy_for_update(conn, project, id)?
        .ok_or_else(|| PolicyError::PolicyNotFound(id.to_string()))
}

/// The policy, or 404.
pub fn existing_policy(
    conn: &mut PgConnection,
    project: &ProjectId,
    id: ResourceId,
) -> Result<PolicyRow, PolicyError> {
    store::find_policy(conn, project, id)?.ok_or_else(|| PolicyError::PolicyNotFound(id.to_string()))
}

/// Runs `change` in one write transaction on the project's policy `id`, locked (404 when the
/// project has no such policy).
pub async fn with_locked_policy<T, F>(
    db: &Db<PolicyError>,
    project: ProjectId,
    id: ResourceId,
    change: F,
) -> Result<T, PolicyError>
where
    F: FnOnce(&mut PgConnection, PolicyRow) -> Result<T, PolicyError> + Send + 'static,
    T: Send + 'static,
{
    db.write(move |conn| {
        let policy = locked_policy(conn, &project, id)?;
        change(conn, policy)
    })
    .await
}

/// Writes the changed policy back with its version increased and announces it as it now is.
pub fn save_and_announce(
    conn: &mut PgConnection,
    policy: &mut PolicyRow,
    now: NaiveDateTime,
) -> Result<(), PolicyError> {
    store::save_policy(conn, policy, now)?;
    events::changed(conn, policy)
}

/// `/{project_id}/…`
#[derive(Debug, serde::Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct ProjectPath {
    /// Project ID
    pub project_id: String,
}

/// `/{project_id}/…/{policy_id}…`
#[derive(Debug, serde::Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct PolicyPath {
    /// Project ID
    pub project_id: String,
    /// Backup policy ID
    pub policy_id: String,
}
