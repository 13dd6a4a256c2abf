use std::time::Instant;

use actix_web::{
    HttpRequest, HttpResponse, ResponseError,
    body::{BoxBody, MessageBody},
    dev::{ServiceRequest, ServiceResponse},
    http::{
        StatusCode,
        header::{self, HeaderName, HeaderValue},
    },
    middleware::Next,
    web,
};
use tracing::{Instrument, field::Empty};

use super::{Flavor, Problem, Rejection};
use crate::telemetry::set_remote_parent;

/// The safety net: any error response that is not already JSON (actix's 404/405/413, an
/// extractor we did not configure) is replaced by the flavor's envelope, so a client never has
/// to parse plain text. (Handler and extractor errors arrive here already rendered as
/// responses; the request must not be cloned before routing, which needs it unshared.)
pub async fn envelope_errors<F: Flavor, B: MessageBody + 'static>(
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let res = next.call(req).await?.map_into_boxed_body();
    let status = res.status();
    if !(status.is_client_error() || status.is_server_error()) || is_json(res.headers()) {
        return Ok(res);
    }
    let rejection = Rejection::for_status(status);
    let replacement = F::respond(status, F::code(rejection), rejection.default_message());
    Ok(res.into_response(replacement))
}

fn is_json(headers: &header::HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"))
}

/// The app's default service: a path no route matches.
pub async fn fallback<F: Flavor>(req: HttpRequest) -> HttpResponse {
    Problem::<F>::new(
        StatusCode::NOT_FOUND,
        F::code(Rejection::RouteNotFound),
        format!("no resource at {} {}", req.method(), req.path()),
    )
    .error_response()
}

/// Query-string errors in the flavor's envelope.
pub fn query_config<F: Flavor>() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|err, _req| {
        Problem::<F>::rejection_with(Rejection::BadQuery, format!("invalid query string: {err}")).into()
    })
}

static REQUEST_ID: HeaderName = HeaderName::from_static("x-openstack-request-id");

/// One span per request (a child of the caller's `traceparent` when there is one), one log line
/// per response, and an `X-Openstack-Request-Id` header that ties a client's report to the
/// service's logs.
pub async fn request_span<B: MessageBody + 'static>(
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<B>, actix_web::Error> {
    let request_id = format!("req-{}", uuid::Uuid::new_v4());
    let route = req.match_pattern().unwrap_or_else(|| "unmatched".to_owned());
    let span = tracing::info_span!(
        "http.request",
        otel.name = %format!("{} {route}", req.method()),
        http.method = %req.method(),
        http.route = %route,
        http.status = Empty,
        request_id = %request_id,
    );
    let traceparent = req.headers().get("traceparent").and_then(|v| v.to_str().ok());
    set_remote_parent(&span, traceparent);
    let started = Instant::now();
    let path = req.path().to_owned();
    let mut res = next.call(req).instrument(span.clone()).await?;
    let status = res.status().as_u16();
    span.record("http.status", status);
    let elapsed_ms = started.elapsed().as_millis() as u64;
    span.in_scope(|| {
        if status >= 500 {
            tracing::error!(status, elapsed_ms, %path, "request failed");
        } else {
            tracing::info!(status, elapsed_ms, %path, "request");
        }
    });
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        res.headers_mut().insert(REQUEST_ID.clone(), v);
    }
    Ok(res)
}
