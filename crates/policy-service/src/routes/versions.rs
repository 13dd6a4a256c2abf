//! OpenStack version discovery and health.

use actix_web::{HttpRequest, HttpResponse, web};
use api_types::dto::{ApiVersion, VersionDocument, VersionList};

use crate::startup::AppState;

fn base_url(req: &HttpRequest, state: &AppState) -> String {
    match &state.public_url {
        Some(url) => url.trim_end_matches('/').to_owned(),
        None => {
            let info = req.connection_info();
            format!("{}://{}", info.scheme(), info.host())
        }
    }
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

/// Liveness and readiness: 200 when the database answers, 503 when it does not.
pub async fn health(state: web::Data<AppState>) -> HttpResponse {
    let pool = state.pool.clone();
    let ok = service_kit::telemetry::spawn_blocking_in_span(move || {
        pool.get().ok().is_some_and(|mut c| {
            use diesel::RunQueryDsl;
            diesel::sql_query("SELECT 1").execute(&mut *c).is_ok()
        })
    })
    .await
    .unwrap_or(false);
    if ok {
        HttpResponse::Ok().json(serde_json::json!({"status": "ok"}))
    } else {
        HttpResponse::ServiceUnavailable().json(serde_json::json!({"status": "database unavailable"}))
    }
}
