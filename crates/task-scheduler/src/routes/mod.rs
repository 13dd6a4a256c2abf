//! The HTTP API: the task query.

pub mod tasks;

use actix_web::web;
use api_types::error::ErrorEnvelope;
use service_kit::http::Vbs;
use utoipa::IntoResponses;

pub type Access = service_kit::auth::ProjectAccess<Vbs>;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::scope("/v2/{project_id}").service(
        web::resource("/backuppolicy/{policy_id}/backuptasks").route(web::get().to(tasks::list::list_tasks)),
    ));
}

/// The answers every authenticated endpoint may give before it looks at the request.
#[derive(IntoResponses)]
#[allow(dead_code, reason = "only describes responses for the OpenAPI document")]
pub enum AuthErrors {
    /// Missing (AutoBackup.0002), expired (AutoBackup.0003) or invalid (AutoBackup.0005) token
    #[response(status = 401)]
    Unauthorized(ErrorEnvelope),
    /// The token does not grant the path's project (AutoBackup.0213)
    #[response(status = 403)]
    Forbidden(ErrorEnvelope),
}
