//! The closed sets of strings the API accepts in request fields that the DTOs keep as plain
//! strings (so that the parser can name the broken rule and its vendor code). These types only
//! describe those sets in the OpenAPI documents (`value_type = …`): generated clients and
//! fuzzers then know the allowed values. The parsers in `crate::domain` stay the authority.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A week day of `week_frequency`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum WeekDayName {
    Sun,
    Mon,
    Tue,
    Wed,
    Thu,
    Fri,
    Sat,
}

/// The vendor's flag spelling (`remain_first_backup_of_curMonth`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum YesNo {
    Y,
    N,
}

/// A policy's `status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum PolicyStatusName {
    On,
    Off,
}

/// The `action` of a batch tag request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum TagBatchAction {
    Create,
    Update,
    Delete,
}

/// The `action` of a query by tags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum TagQueryAction {
    Filter,
    Count,
}

/// The only resource type a policy protects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum PolicyResourceType {
    Volume,
}

/// The only key a fuzzy match (`matches`) may name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MatchKey {
    ResourceName,
}

/// `sort_key` of the native backup lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BackupSortKey {
    CreatedAt,
    UpdatedAt,
    Name,
    Status,
    Size,
    Id,
}
