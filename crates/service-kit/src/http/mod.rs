//! HTTP mechanics shared by the services: the error envelope of each API family ([`Flavor`]),
//! a JSON body extractor that names the offending field, the middleware that turns every other
//! error response (actix's own plain-text ones included) into the envelope, and request spans.

mod flavor;
mod json;
mod middleware;

pub use flavor::{Cinder, Flavor, Problem, Rejection, Vbs};
pub use json::{Json, JsonLimit};
pub use middleware::{envelope_errors, fallback, query_config, request_span};

use std::net::TcpListener;

use actix_web::{App, HttpServer, dev::Server, middleware::from_fn, web};
use anyhow::Context;

/// Binds `bind` and builds a service's HTTP server with the shared mechanics of flavor `F`: the
/// JSON and query limits, the envelope for every error and unknown route, and request spans.
/// `configure` adds the service's state and routes. Returns the server (not yet awaited) and
/// the port it listens on (`bind` may ask for port 0).
pub fn server<F: Flavor>(
    bind: &str,
    configure: impl Fn(&mut web::ServiceConfig) + Clone + Send + 'static,
) -> anyhow::Result<(Server, u16)> {
    let listener = TcpListener::bind(bind).with_context(|| format!("binding {bind}"))?;
    let port = listener.local_addr()?.port();
    let server = HttpServer::new(move || {
        App::new()
            .app_data(JsonLimit::default())
            .app_data(query_config::<F>())
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
