//! HTTP mechanics shared by the services: the error envelope of each API family ([`Flavor`]),
//! a JSON body extractor that names the offending field, the middleware that turns every other
//! error response (actix's own plain-text ones included) into the envelope, request spans, the
//! health check and the OpenAPI document with Swagger UI.

mod flavor;
mod json;
mod middleware;

pub use flavor::{Cinder, Flavor, Problem, Rejection, Vbs};
pub use json::{Json, JsonLimit};
pub use middleware::{envelope_errors, fallback, query_config, request_span};

use std::net::TcpListener;

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, dev::Server, middleware::from_fn, web};
use anyhow::Context;

use crate::{auth::Authenticator, db::PgPool, openapi::Document};

/// What every service serves besides its own API: `/health` (backed by its database), its
/// OpenAPI document with Swagger UI, and the token check its handlers' extractors use.
pub struct Basics {
    pub pool: PgPool,
    pub document: Document,
    pub authenticator: Authenticator,
}

/// Binds `bind` and builds a service's HTTP server with the shared mechanics of flavor `F`: the
/// JSON and query limits, the envelope for every error and unknown route, request spans, the
/// health check and the OpenAPI document. `configure` adds the service's state and routes.
/// Returns the server (not yet awaited) and the port it listens on (`bind` may ask for port 0).
pub fn server<F: Flavor>(
    bind: &str,
    basics: Basics,
    configure: impl Fn(&mut web::ServiceConfig) + Clone + Send + 'static,
) -> anyhow::Result<(Server, u16)> {
    let listener = TcpListener::bind(bind).with_context(|| format!("binding {bind}"))?;
    let port = listener.local_addr()?.port();
    let health = web::Data::new(Health(basics.pool));
    let authenticator = web::Data::new(basics.authenticator);
    let document = basics.document;
    let server = HttpServer::new(move || {
        App::new()
            .app_data(JsonLimit::default())
            .app_data(query_config::<F>())
            .app_data(health.clone())
            .app_data(authenticator.clone())
            .route("/health", web::get().to(health_check))
            .service(document.swagger_ui())
            .configure(configure.clone())
            .default_service(web::to(fallback::<F>))
            .wrap(from_fn(envelope_errors::<F, _>))
            .wrap(from_fn(request_span))
    })
    .listen(listener)?
    .shutdown_timeout(10)
    .run();
    Ok((server, port))
}

struct Health(PgPool);

/// Liveness and readiness: 200 when the database answers, 503 when it does not.
async fn health_check(health: web::Data<Health>) -> HttpResponse {
    let pool = health.0.clone();
    let ok = crate::telemetry::spawn_blocking_in_span(move || {
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

/// The base URL for links and version documents: the configured public URL (`VBS_PUBLIC_URL`),
/// else the request's own scheme and host.
pub fn base_url(req: &HttpRequest, public_url: Option<&str>) -> String {
    match public_url {
        Some(url) => url.trim_end_matches('/').to_owned(),
        None => {
            let info = req.connection_info();
            format!("{}://{}", info.scheme(), info.host())
        }
    }
}
