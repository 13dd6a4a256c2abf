//! The policy API's errors and how they reach the client.
//!
//! Every failure becomes `{"error":{"code":"AutoBackup.XXXX","message":…}}` with the vendor's
//! code where it has one. Validation messages name the field and the rule; unexpected failures
//! are logged here, once, with their cause chain, and the client only learns that an internal
//! error happened. A database that cannot be reached is a 503, which clients retry.

use actix_web::{HttpResponse, ResponseError, http::StatusCode};
use api_types::{domain::ValidationError, error::codes::auto_backup as ab};
use service_kit::{
    db::DbError,
    http::{Flavor, Rejection, Vbs},
};

#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("{0}")]
    Invalid(#[from] ValidationError),
    #[error("backup policy {0} does not exist")]
    PolicyNotFound(String),
    #[error("the project already has {0} backup policies, the most allowed; delete one first")]
    PolicyLimit(i64),
    #[error("a policy can have at most {0} volumes")]
    VolumeLimit(i64),
    #[error("the policy has no tag with key {0:?}")]
    TagNotFound(String),
    #[error("the database is unavailable")]
    Unavailable(#[source] DbError),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl From<DbError> for PolicyError {
    fn from(e: DbError) -> Self {
        match e {
            DbError::Pool(_) => Self::Unavailable(e),
            other => Self::Unexpected(other.into()),
        }
    }
}

impl From<diesel::result::Error> for PolicyError {
    fn from(e: diesel::result::Error) -> Self {
        Self::Unexpected(e.into())
    }
}

impl PolicyError {
    fn code(&self) -> &str {
        match self {
            Self::Invalid(v) => v.code.or_else(|| Vbs::field_code(v.field)).unwrap_or(ab::MALFORMED_JSON),
            Self::PolicyNotFound(_) => ab::POLICY_NOT_FOUND,
            Self::PolicyLimit(_) => ab::POLICY_LIMIT,
            Self::VolumeLimit(_) => ab::VOLUME_LIMIT,
            Self::TagNotFound(_) => ab::TAG_NOT_FOUND,
            Self::Unavailable(_) => Vbs::code(Rejection::Unavailable),
            Self::Unexpected(_) => Vbs::code(Rejection::Internal),
        }
    }
}

impl ResponseError for PolicyError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::Invalid(_) | Self::PolicyLimit(_) | Self::VolumeLimit(_) => StatusCode::BAD_REQUEST,
            Self::PolicyNotFound(_) | Self::TagNotFound(_) => StatusCode::NOT_FOUND,
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
