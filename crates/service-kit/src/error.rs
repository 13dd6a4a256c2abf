//! The failures no request can fix, shared by every service's error type.
//!
//! Each service has one error enum for its own rules (a policy that does not exist, a volume
//! that is busy…) and an `Internal` variant holding an [`InternalError`]: the database is
//! unreachable (503, which clients retry) or something unexpected happened (500). Their causes
//! are logged here, once, when the response is rendered, and never shown to the client: the
//! body only says that the service is unavailable or that an internal error occurred.
//! [`internal_error_conversions!`](crate::internal_error_conversions) gives a service's enum the
//! `From` conversions that let handlers use `?` on database and `anyhow` results.

use actix_web::{HttpResponse, http::StatusCode};

use crate::{
    db::DbError,
    http::{Flavor, Rejection},
};

#[derive(Debug, thiserror::Error)]
pub enum InternalError {
    #[error("the database is unavailable")]
    Unavailable(#[source] DbError),
    /// Another backend the request needs (the volume backend, say) cannot be reached: 503.
    #[error("{what} is unavailable: {cause}")]
    BackendUnavailable { what: &'static str, cause: String },
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl From<DbError> for InternalError {
    fn from(e: DbError) -> Self {
        match e {
            // No connection could be had: the database is down or overloaded, not broken.
            DbError::Pool(_) => Self::Unavailable(e),
            other => Self::Unexpected(other.into()),
        }
    }
}

impl From<diesel::result::Error> for InternalError {
    fn from(e: diesel::result::Error) -> Self {
        Self::Unexpected(e.into())
    }
}

impl InternalError {
    pub fn rejection(&self) -> Rejection {
        match self {
            Self::Unavailable(_) | Self::BackendUnavailable { .. } => Rejection::Unavailable,
            Self::Unexpected(_) => Rejection::Internal,
        }
    }

    pub fn status(&self) -> StatusCode {
        self.rejection().status()
    }

    /// Logs the cause and answers in flavor `F`'s envelope without it.
    pub fn respond<F: Flavor>(&self) -> HttpResponse {
        match self {
            Self::Unavailable(e) => tracing::error!(error = %e, "database unavailable"),
            Self::BackendUnavailable { what, cause } => tracing::error!(error = %cause, "{what} unavailable"),
            Self::Unexpected(e) => tracing::error!(error = ?e, "unexpected error"),
        }
        let rejection = self.rejection();
        F::respond(rejection.status(), F::code(rejection), rejection.default_message())
    }
}

/// `From<DbError>`, `From<diesel::result::Error>` and `From<anyhow::Error>` for a service error
/// enum with an `Internal(InternalError)` variant.
#[macro_export]
macro_rules! internal_error_conversions {
    ($error:ty) => {
        impl From<$crate::db::DbError> for $error {
            fn from(e: $crate::db::DbError) -> Self {
                Self::Internal(e.into())
            }
        }

        impl From<$crate::__macro_support::DieselError> for $error {
            fn from(e: $crate::__macro_support::DieselError) -> Self {
                Self::Internal(e.into())
            }
        }

        impl From<$crate::__macro_support::AnyhowError> for $error {
            fn from(e: $crate::__macro_support::AnyhowError) -> Self {
                Self::Internal(e.into())
            }
        }
    };
}
