//! Validated domain types.
//!
//! Every value that crosses the HTTP boundary is parsed into one of these types in the handler
//! ("parse, don't validate"): past that point the services only see values that are known to
//! satisfy the vendor's rules, so storage, scheduling and messaging never re-check them.
//! Each parser returns a [`ValidationError`] naming the wire field and saying what is wrong in
//! words a tenant can act on.

mod backup;
mod ids;
mod policy_name;
mod retention;
mod schedule;
mod tag;
mod time_zone;

pub use backup::{BackupDescription, BackupMetadata, BackupName};
pub use ids::{ProjectId, ResourceId};
pub use policy_name::PolicyName;
pub use retention::{Retention, RetentionDays, RetentionNum};
pub use schedule::{Frequency, Schedule, StartTimes, WeekDay, WeekDays};
pub use tag::{MAX_TAGS_PER_POLICY, Tag, TagKey, TagValue, Tags};
pub use time_zone::TimeZoneOffset;

use crate::error::codes::auto_backup as ab;

/// A value that breaks one of the API's rules.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct ValidationError {
    /// The wire name of the offending field, e.g. `scheduled_policy.start_time`.
    pub field: &'static str,
    /// What is wrong, phrased for the caller.
    pub message: String,
    /// The vendor's error code for this rule, where the vendor has a specific one.
    pub code: Option<&'static str>,
}

impl ValidationError {
    pub fn new(field: &'static str, message: impl Into<String>) -> Self {
        Self { field, message: message.into(), code: None }
    }

    pub fn with_code(mut self, code: &'static str) -> Self {
        self.code = Some(code);
        self
    }
}

/// `true` when every character is an ASCII letter, digit, `_` or `-`: the character set the
/// vendor allows for policy names, tag keys and tag values, and that we use for project ids.
pub(crate) fn is_name_charset(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Policy status: `ON` schedules backups, `OFF` keeps the policy but fires nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum PolicyStatus {
    #[serde(rename = "ON")]
    On,
    #[serde(rename = "OFF")]
    Off,
}

impl PolicyStatus {
    pub fn parse(s: &str) -> Result<Self, ValidationError> {
        match s {
            "ON" => Ok(Self::On),
            "OFF" => Ok(Self::Off),
            other => Err(ValidationError::new(
                "scheduled_policy.status",
                format!("must be \"ON\" or \"OFF\", got {other:?}"),
            )
            .with_code(ab::STATUS_INVALID)),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::On => "ON",
            Self::Off => "OFF",
        }
    }

    pub fn is_on(self) -> bool {
        self == Self::On
    }
}

/// A query flag as the OpenStack clients send it and Cinder reads it
/// (`oslo_utils.strutils.bool_from_string`): `1`, `t`, `true`, `True`, `on`, `y`, `yes`.
pub fn truthy(v: &str) -> bool {
    matches!(v.trim().to_ascii_lowercase().as_str(), "1" | "t" | "true" | "on" | "y" | "yes")
}

/// A free-text filter or field as given, refused when it holds a NUL character (no text column
/// can hold one, and nothing is named with one).
pub fn without_nul(field: &'static str, s: String) -> Result<String, ValidationError> {
    if s.contains('\0') {
        return Err(ValidationError::new(field, "contains a NUL character, which no text may hold"));
    }
    Ok(s)
}

/// Parses the vendor's `"Y"` / `"N"` flags.
pub fn parse_yes_no(field: &'static str, s: &str) -> Result<bool, ValidationError> {
    match s {
        "Y" => Ok(true),
        "N" => Ok(false),
        other => Err(ValidationError::new(field, format!("must be \"Y\" or \"N\", got {other:?}"))
            .with_code(ab::FIRST_OF_MONTH_INVALID)),
    }
}

pub fn yes_no(flag: bool) -> &'static str {
    if flag { "Y" } else { "N" }
}
