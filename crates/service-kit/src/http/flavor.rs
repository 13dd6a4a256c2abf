use std::{borrow::Cow, fmt, marker::PhantomData};

use actix_web::{HttpResponse, ResponseError, http::StatusCode};
use api_types::error::{
    CinderFault, CinderFaultKind, ErrorEnvelope, FaultCode,
    codes::{auto_backup as ab, volume_backup as vb},
};

/// A failure detected by shared mechanism rather than by a service's own rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    MissingToken,
    ExpiredToken,
    InvalidToken,
    ForbiddenProject,
    EmptyBody,
    MalformedBody,
    PayloadTooLarge,
    UnsupportedMediaType,
    BadQuery,
    RouteNotFound,
    MethodNotAllowed,
    Unavailable,
    Internal,
}

impl Rejection {
    pub fn status(self) -> StatusCode {
        match self {
            Self::MissingToken | Self::ExpiredToken | Self::InvalidToken => StatusCode::UNAUTHORIZED,
            Self::ForbiddenProject => StatusCode::FORBIDDEN,
            Self::EmptyBody | Self::MalformedBody | Self::BadQuery => StatusCode::BAD_REQUEST,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::RouteNotFound => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The rejection an error status of actix's own maps to, for the safety-net middleware.
    pub fn for_status(status: StatusCode) -> Self {
        match status.as_u16() {
            401 => Self::InvalidToken,
            403 => Self::ForbiddenProject,
            404 => Self::RouteNotFound,
            405 => Self::MethodNotAllowed,
            413 => Self::PayloadTooLarge,
            415 => Self::UnsupportedMediaType,
            503 => Self::Unavailable,
            s if s >= 500 => Self::Internal,
            _ => Self::MalformedBody,
        }
    }

    pub fn default_message(self) -> &'static str {
        match self {
            Self::MissingToken => "the X-Auth-Token header is missing",
            Self::ExpiredToken => "the token has expired",
            Self::InvalidToken => "the token is malformed or not signed by this deployment",
            Self::ForbiddenProject => "the token does not grant access to this project",
            Self::EmptyBody => "the request body is empty",
            Self::MalformedBody => "the request body is not valid JSON for this operation",
            Self::PayloadTooLarge => "the request body is too large",
            Self::UnsupportedMediaType => "the request body must be application/json",
            Self::BadQuery => "the query string is invalid",
            Self::RouteNotFound => "no such resource",
            Self::MethodNotAllowed => "this method is not allowed on this resource",
            Self::Unavailable => "the service is temporarily unavailable, try again",
            Self::Internal => "an internal error occurred",
        }
    }
}

/// An API family's error envelope and codes. Extractors and middleware are generic over it, so
/// the policy API answers `{"error":…}` and the native backup API answers Cinder faults from
/// the same mechanism.
pub trait Flavor: Send + Sync + 'static {
    /// The code for a shared-mechanism failure.
    fn code(rejection: Rejection) -> &'static str;

    /// The code for a body field that failed to deserialize, when the API has a specific one.
    fn field_code(_field: &str) -> Option<&'static str> {
        None
    }

    fn respond(status: StatusCode, code: &str, message: &str) -> HttpResponse;
}

/// `{"error":{"code":"AutoBackup.XXXX","message":…}}` — the policy and task endpoints. Field
/// codes are the policy API's own: policy-service wraps this flavor with its table.
pub struct Vbs;

impl Flavor for Vbs {
    fn code(rejection: Rejection) -> &'static str {
        match rejection {
            Rejection::MissingToken => ab::TOKEN_MISSING,
            Rejection::ExpiredToken => ab::TOKEN_EXPIRED,
            Rejection::InvalidToken => ab::TOKEN_INVALID,
            Rejection::ForbiddenProject => ab::NOT_AUTHORIZED,
            Rejection::EmptyBody => ab::EMPTY_REQUEST,
            Rejection::MalformedBody | Rejection::BadQuery => ab::MALFORMED_JSON,
            Rejection::PayloadTooLarge => ab::BODY_TOO_LARGE,
            Rejection::UnsupportedMediaType => ab::MEDIA_TYPE,
            Rejection::RouteNotFound => ab::ROUTE_NOT_FOUND,
            Rejection::MethodNotAllowed => ab::METHOD_NOT_ALLOWED,
            Rejection::Unavailable => ab::UNAVAILABLE,
            Rejection::Internal => ab::INTERNAL,
        }
    }

    fn respond(status: StatusCode, code: &str, message: &str) -> HttpResponse {
        HttpResponse::build(status).json(ErrorEnvelope::new(code, message))
    }
}

/// Cinder faults — the OpenStack native backup endpoints. `itemNotFound` carries the numeric
/// status as its code, as Cinder does; the others carry a `VolumeBackup.XXXX` code.
pub struct Cinder;

impl Flavor for Cinder {
    fn code(rejection: Rejection) -> &'static str {
        match rejection {
            Rejection::MissingToken | Rejection::ExpiredToken | Rejection::InvalidToken => vb::RIGHTS_INVALID,
            Rejection::ForbiddenProject => vb::NO_RIGHTS,
            Rejection::EmptyBody | Rejection::MalformedBody | Rejection::BadQuery => vb::MALFORMED_REQUEST,
            Rejection::PayloadTooLarge => vb::BODY_TOO_LARGE,
            Rejection::UnsupportedMediaType => vb::MEDIA_TYPE,
            Rejection::RouteNotFound => vb::ROUTE_NOT_FOUND,
            Rejection::MethodNotAllowed => vb::METHOD_NOT_ALLOWED,
            Rejection::Unavailable => vb::SERVICE_UNAVAILABLE,
            Rejection::Internal => vb::INTERNAL,
        }
    }

    fn respond(status: StatusCode, code: &str, message: &str) -> HttpResponse {
        let kind = CinderFaultKind::for_status(status.as_u16());
        let code = if kind == CinderFaultKind::ItemNotFound {
            FaultCode::Status(404)
        } else {
            FaultCode::Text(code.to_owned())
        };
        HttpResponse::build(status).json(CinderFault::new(kind, code, message))
    }
}

/// An error response in flavor `F`'s envelope.
pub struct Problem<F> {
    status: StatusCode,
    code: Cow<'static, str>,
    message: String,
    flavor: PhantomData<fn() -> F>,
}

impl<F: Flavor> Problem<F> {
    pub fn new(status: StatusCode, code: impl Into<Cow<'static, str>>, message: impl Into<String>) -> Self {
        Self { status, code: code.into(), message: message.into(), flavor: PhantomData }
    }

    pub fn rejection(rejection: Rejection) -> Self {
        Self::new(rejection.status(), F::code(rejection), rejection.default_message())
    }

    pub fn rejection_with(rejection: Rejection, message: impl Into<String>) -> Self {
        Self::new(rejection.status(), F::code(rejection), message)
    }

    pub fn code(&self) -> &str {
        &self.code
    }

    pub fn message(&self) -> &str {
        &self.message
    }
}

impl<F> fmt::Debug for Problem<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: {}", self.status.as_u16(), self.code, self.message)
    }
}

impl<F> fmt::Display for Problem<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl<F: Flavor> ResponseError for Problem<F> {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        F::respond(self.status, &self.code, &self.message)
    }
}
