//! HTTP mechanics shared by the services: the error envelope of each API family ([`Flavor`]),
//! a JSON body extractor that names the offending field, the middleware that turns every other
//! error response (actix's own plain-text ones included) into the envelope, and request spans.

mod flavor;
mod json;
mod middleware;

pub use flavor::{Cinder, Flavor, Problem, Rejection, Vbs};
pub use json::{Json, JsonLimit};
pub use middleware::{envelope_errors, fallback, query_config, request_span};
