//! Liveness and readiness: 200 when the database answers, 503 when it does not.

use actix_web::{HttpResponse, web};

use crate::startup::AppState;

pub async fn handler(state: web::Data<AppState>) -> HttpResponse {
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
