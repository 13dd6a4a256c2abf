//! The task API's errors and how they reach the client.
//!
//! Every failure becomes `{"error":{"code":"AutoBackup.XXXX","message":…}}`. A bad query
//! parameter is a 400 whose message names the parameter and the rule; an unknown policy (or a
//! deleted one, or one of another project) is the vendor's 404 `AutoBackup.0205`. The database
//! being down and unexpected failures are [`InternalError`]s, logged once and answered without
//! their cause.

use actix_web::{HttpResponse, ResponseError, http::StatusCode};
use api_types::{domain::ValidationError, error::codes::auto_backup as ab};
use service_kit::{
    error::InternalError,
    http::{Flavor, Rejection, Vbs},
};

#[derive(Debug, thiserror::Error)]
pub enum TaskError {
    #[error("{0}")]
    Invalid(#[from] ValidationError),
    #[error("backup policy {0} does not exist")]
    PolicyNotFound(String),
    #[error(transparent)]
    Internal(#[from] InternalError),
}

service_kit::internal_error_conversions!(TaskError);

impl TaskError {
    fn code(&self) -> &'static str {
        match self {
            Self::Invalid(v) => v.code.unwrap_or(Vbs::code(Rejection::BadQuery)),
            Self::PolicyNotFound(_) => ab::POLICY_NOT_FOUND,
            Self::Internal(e) => Vbs::code(e.rejection()),
        }
    }
}

impl ResponseError for TaskError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::Invalid(_) => StatusCode::BAD_REQUEST,
            Self::PolicyNotFound(_) => StatusCode::NOT_FOUND,
            Self::Internal(e) => e.status(),
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            Self::Internal(e) => e.respond::<Vbs>(),
            other => Vbs::respond(other.status_code(), other.code(), &other.to_string()),
        }
    }
}
