//! The HTTP API: the task query.

pub mod tasks;

use actix_web::web;
use service_kit::http::Vbs;

/// A caller that may read the path's project.
pub type ReadAccess = service_kit::auth::ProjectAccess<Vbs, service_kit::auth::Read>;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::scope("/v2/{project_id}").service(
        web::resource("/backuppolicy/{policy_id}/backuptasks").route(web::get().to(tasks::list::list_tasks)),
    ));
}
