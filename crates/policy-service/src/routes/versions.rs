//! OpenStack version discovery.

use actix_web::{HttpRequest, HttpResponse, web};
use api_types::dto::{ApiVersion, VersionDocument, VersionList};

use crate::startup::AppState;

fn base_url(req: &HttpRequest, state: &AppState) -> String {
    service_kit::http::base_url(req, state.public_url.as_deref())
}

/// The versions this API offers.
#[utoipa::path(get, path = "/", operation_id = "listVersions", tag = "Versions", responses((status = 300, description = "The API versions", body = VersionList)))]
pub async fn root(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let base = base_url(&req, &state);
    HttpResponse::MultipleChoices()
        .json(VersionList { versions: vec![ApiVersion::describe(2, &base), ApiVersion::describe(3, &base)] })
}

/// The v2 API.
#[utoipa::path(get, path = "/v2", operation_id = "showVersion2", tag = "Versions", responses((status = 200, description = "OK", body = VersionDocument)))]
pub async fn v2(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().json(VersionDocument { version: ApiVersion::describe(2, &base_url(&req, &state)) })
}

/// The v3 API.
#[utoipa::path(get, path = "/v3", operation_id = "showVersion3", tag = "Versions", responses((status = 200, description = "OK", body = VersionDocument)))]
pub async fn v3(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().json(VersionDocument { version: ApiVersion::describe(3, &base_url(&req, &state)) })
}
