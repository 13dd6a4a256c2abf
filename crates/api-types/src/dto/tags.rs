//! Backup policy tag bodies.

use serde::{Deserialize, Deserializer, Serialize};
use utoipa::ToSchema;

#[allow(unused_imports, reason = "named in schema attributes only")]
use super::wire_enums::{MatchKey, TagBatchAction, TagQueryAction};

/// A tag in a request. `value` may be empty; on batch delete it may be omitted.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct TagInput {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// 1–36 letters, digits, `_` or `-`.
    #[schema(example = "key", min_length = 1, max_length = 36, pattern = r"^[A-Za-z0-9_-]{1,36}$")]
    pub key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// 0–43 letters, digits, `_` or `-`.
    #[schema(example = "value", max_length = 43, pattern = r"^[A-Za-z0-9_-]{0,43}$")]
    pub value: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TagView {
    pub key: String,
    pub value: String,
}

/// `POST /v2/{project_id}/backuppolicy/{policy_id}/tags`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct AddTagRequest {
    pub tag: TagInput,
}

/// `GET /v2/{project_id}/backuppolicy/{policy_id}/tags`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PolicyTagsResponse {
    pub tags: Vec<TagView>,
}

/// `POST /v2/{project_id}/backuppolicy/{policy_id}/tags/action`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct TagBatchRequest {
    /// `create`, `update` (both add or overwrite) or `delete`.
    #[schema(value_type = TagBatchAction, example = "create")]
    pub action: String,
    #[serde(default)]
    #[schema(max_items = 10)]
    pub tags: Option<Vec<TagInput>>,
}

/// A key with every value it has across the project's policies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TagValues {
    pub key: String,
    pub values: Vec<String>,
}

/// `GET /v2/{project_id}/backuppolicy/tags`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ProjectTagsResponse {
    pub tags: Vec<TagValues>,
}

/// A tag condition: the key, and the values that match (empty: any value).
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct TagFilter {
    /// 1–127 characters.
    #[schema(min_length = 1, max_length = 127)]
    pub key: String,
    /// At most 10 distinct values of at most 255 characters.
    #[serde(default)]
    #[schema(max_items = 10)]
    pub values: Vec<String>,
}

/// A fuzzy match; `key` must be `resource_name`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct MatchInput {
    #[schema(value_type = MatchKey)]
    pub key: String,
    pub value: String,
}

/// `POST /v2/{project_id}/backuppolicy/resource_instances/action`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[schema(example = json!({"limit": "10", "offset": "0", "action": "filter",
    "tags": [{"key": "Tag001", "values": ["Value001", "Value002"]}]}))]
pub struct ResourceInstancesRequest {
    /// `filter` or `count`.
    #[schema(value_type = TagQueryAction)]
    pub action: String,
    /// Policies having every one of these tags.
    #[serde(default)]
    pub tags: Option<Vec<TagFilter>>,
    /// Policies having at least one of these tags.
    #[serde(default)]
    pub tags_any: Option<Vec<TagFilter>>,
    /// Excludes policies having every one of these tags.
    #[serde(default)]
    pub not_tags: Option<Vec<TagFilter>>,
    /// Excludes policies having any of these tags.
    #[serde(default)]
    pub not_tags_any: Option<Vec<TagFilter>>,
    #[serde(default)]
    pub matches: Option<Vec<MatchInput>>,
    /// Page size for `filter` (1–1000, default 1000). Clients send it as a string.
    #[serde(default, deserialize_with = "string_or_integer")]
    #[schema(value_type = Option<String>, example = "10", pattern = r"^\s*\+?0*([1-9][0-9]{0,2}|1000)\s*$")]
    pub limit: Option<i64>,
    /// Offset for `filter` (default 0). Clients send it as a string.
    #[serde(default, deserialize_with = "string_or_integer")]
    #[schema(value_type = Option<String>, example = "0", pattern = r"^\s*\+?[0-9]+\s*$")]
    pub offset: Option<i64>,
}

fn string_or_integer<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Int(i64),
        Text(String),
    }
    match Option::<Raw>::deserialize(d)? {
        None => Ok(None),
        Some(Raw::Int(i)) => Ok(Some(i)),
        Some(Raw::Text(s)) => s
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| serde::de::Error::custom(format!("{s:?} is not an integer"))),
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ResourceInstance {
    pub resource_id: String,
    pub resource_name: String,
    /// Reserved for extension; always `null`.
    #[schema(value_type = Option<Object>)]
    pub resource_detail: Option<serde_json::Value>,
    pub tags: Vec<TagView>,
}

/// The answer to `filter` (with `resources`) or `count` (only `total_count`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ResourceInstancesResponse {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<Vec<ResourceInstance>>,
    pub total_count: i64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn limit_and_offset_accept_strings_and_integers() {
        let r: ResourceInstancesRequest =
            serde_json::from_value(json!({"action": "filter", "limit": "10", "offset": 5})).unwrap();
        assert_eq!((r.limit, r.offset), (Some(10), Some(5)));
        assert!(
            serde_json::from_value::<ResourceInstancesRequest>(json!({"action": "filter", "limit": "ten"}))
                .is_err()
        );
    }
}
