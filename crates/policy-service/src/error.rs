//! The policy API's errors and how they reach the client.
//!
//! Every failure becomes `{"error":{"code":"AutoBackup.XXXX","message":…}}` with the vendor's
//! code where it has one ([`PolicyApi`] holds the field → code table, used both for fields that
//! fail to deserialize and for validation errors). Validation messages name the field and the
//! rule; the database being down and unexpected failures are [`InternalError`]s, logged once
//! and answered without their cause.

use actix_web::{HttpResponse, ResponseError, http::StatusCode};
use api_types::{domain::ValidationError, error::codes::auto_backup as ab};
use service_kit::{
    error::InternalError,
    http::{Flavor, Rejection, Vbs},
};

/// The VBS envelope with the policy API's field codes.
pub struct PolicyApi;

impl Flavor for PolicyApi {
    fn code(rejection: Rejection) -> &'static str {
        Vbs::code(rejection)
    }

    fn field_code(field: &str) -> Option<&'static str> {
        let leaf = field.rsplit('.').next().unwrap_or(field);
        Some(match leaf {
            "backup_policy_name" => ab::NAME_INVALID,
            "start_time" => ab::START_TIME_INVALID,
            "status" => ab::STATUS_INVALID,
            "remain_first_backup_of_curMonth" => ab::FIRST_OF_MONTH_INVALID,
            "frequency" | "week_frequency" => ab::FREQUENCY_INVALID,
            "rentention_num" | "rentention_day" => ab::RETENTION_INVALID,
            "time_zone" => ab::TIME_ZONE_INVALID,
            "tags" | "tag" | "key" | "value" | "values" | "tags_any" | "not_tags" | "not_tags_any" => {
                ab::TAG_INVALID
            }
            "resources" => ab::RESOURCE_EMPTY,
            "resource_id" => ab::RESOURCE_ID_EMPTY,
            "resource_type" => ab::RESOURCE_TYPE_INVALID,
            "action" => ab::ACTION_UNSUPPORTED,
            _ => return None,
        })
    }

    fn respond(status: StatusCode, code: &str, message: &str) -> HttpResponse {
        Vbs::respond(status, code, message)
    }
}

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
    #[error(transparent)]
    Internal(#[from] InternalError),
}

service_kit::internal_error_conversions!(PolicyError);

impl PolicyError {
    fn code(&self) -> &'static str {
        match self {
            Self::Invalid(v) => {
                v.code.or_else(|| PolicyApi::field_code(v.field)).unwrap_or(ab::MALFORMED_JSON)
            }
            Self::PolicyNotFound(_) => ab::POLICY_NOT_FOUND,
            Self::PolicyLimit(_) => ab::POLICY_LIMIT,
            Self::VolumeLimit(_) => ab::VOLUME_LIMIT,
            Self::TagNotFound(_) => ab::TAG_NOT_FOUND,
            Self::Internal(e) => PolicyApi::code(e.rejection()),
        }
    }
}

impl ResponseError for PolicyError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::Invalid(_) | Self::PolicyLimit(_) | Self::VolumeLimit(_) => StatusCode::BAD_REQUEST,
            Self::PolicyNotFound(_) | Self::TagNotFound(_) => StatusCode::NOT_FOUND,
            Self::Internal(e) => e.status(),
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            Self::Internal(e) => e.respond::<PolicyApi>(),
            other => PolicyApi::respond(other.status_code(), other.code(), &other.to_string()),
        }
    }
}
