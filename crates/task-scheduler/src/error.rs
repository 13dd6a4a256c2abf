//! The task API's errors and how they reach the client.
//!
//! Every failure becomes `{"error":{"code":"AutoBackup.XXXX","message":…}}`. A bad query
//! parameter is a 400 whose message names the parameter and the rule; an unknown policy (or a
//! deleted one, or one of another project) is the vendor's 404 `AutoBackup.0205`. Unexpected
//! failures are logged here, once, with their cause chain, and the client only learns that an
//! internal error happened; a database that cannot be reached is a 503, which clients retry.

use actix_web::{HttpResponse, ResponseError, http::StatusCode};
use api_types::{domain::ValidationError, error::codes::auto_backup as ab};
use service_kit::{
    db::DbError,
    http::{Flavor, Rejection, Vbs},
};

#[derive(Debug, thiserror::Error)]
pub enum TaskError {
    #[error("{0}")]
    Invalid(#[from] ValidationError),
    #[error("backup policy {0} does not exist")]
    PolicyNotFound(String),
    #[error("the database is unavailable")]
    Unavailable(#[source] DbError),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl From<DbError> for TaskError {
    fn from(e: DbError) -> Self {
        match e {
            DbError::Pool(_) => Self::Unavailable(e),
            other => Self::Unexpected(other.into()),
        }
    }
}

impl From<diesel::result::Error> for TaskError {
    fn from(e: diesel::result::Error) -> Self {
        Self::Unexpected(e.into())
    }
}

impl TaskError {
    fn code(&self) -> &str {
        match self {
            Self::Invalid(v) => v.code.unwrap_or(Vbs::code(Rejection::BadQuery)),
            Self::PolicyNotFound(_) => ab::POLICY_NOT_FOUND,
            Self::Unavailable(_) => Vbs::code(Rejection::Unavailable),
            Self::Unexpected(_) => Vbs::code(Rejection::Internal),
        }
    }
}

impl ResponseError for TaskError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::Invalid(_) => StatusCode::BAD_REQUEST,
            Self::PolicyNotFound(_) => StatusCode::NOT_FOUND,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Unexpected(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let message = match self {
            Self::Unavailable(e) => {
                tracing::error!(error = %e, "database unavailable");
                Rejection::Unavailable.default_message().to_owned()
            }
            Self::Unexpected(e) => {
                tracing::error!(error = ?e, "unexpected error");
                Rejection::Internal.default_message().to_owned()
            }
            other => other.to_string(),
        };
        Vbs::respond(self.status_code(), self.code(), &message)
    }
}
