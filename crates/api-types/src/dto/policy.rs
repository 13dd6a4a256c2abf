//! Backup policy bodies (`/v2/{project_id}/backuppolicy…`, `/v2/{project_id}/backuppolicyresources…`).

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};
use utoipa::ToSchema;

use super::tags::{TagInput, TagView};
#[allow(unused_imports, reason = "named in schema attributes only")]
use super::wire_enums::{PolicyResourceType, PolicyStatusName, WeekDayName, YesNo};

/// `POST /v2/{project_id}/backuppolicy`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "backup_policy_name": "policy_01",
    "scheduled_policy": {
        "remain_first_backup_of_curMonth": "Y",
        "rentention_day": 30,
        "week_frequency": ["SUN", "WED"],
        "start_time": "12:00",
        "status": "ON"
    },
    "tags": [{"key": "key", "value": "value"}],
    "time_zone": "UTC+08:00"
}))]
pub struct CreatePolicyRequest {
    /// 1–64 letters, digits, `_` or `-`; must not start with `default`.
    #[schema(min_length = 1, max_length = 64, pattern = r"^(?!default)[A-Za-z0-9_-]{1,64}$")]
    pub backup_policy_name: String,
    pub scheduled_policy: ScheduledPolicyInput,
    /// At most 10 tags with distinct keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_items = 10)]
    pub tags: Option<Vec<TagInput>>,
    /// `UTC±HH:mm`, the local time zone (DST included) that defines which local day a UTC
    /// start time falls on. Between UTC-12:00 and UTC+14:00.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(
        pattern = r"^UTC(\+(0\d|1[0-3]):[0-5]\d|\+14:00|-(0\d|1[01]):[0-5]\d|-12:00)$",
        example = "UTC+08:00"
    )]
    pub time_zone: Option<String>,
}

/// `PUT /v2/{project_id}/backuppolicy/{policy_id}`: every field optional; what is given
/// replaces what was stored, the rest is kept.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "backup_policy_name": "policy_01",
    "scheduled_policy": {
        "remain_first_backup_of_curMonth": "Y",
        "rentention_num": 10,
        "week_frequency": ["MON"],
        "start_time": "12:00",
        "status": "ON"
    },
    "time_zone": "UTC+08:00"
}))]
pub struct UpdatePolicyRequest {
    /// 1–64 letters, digits, `_` or `-`; must not start with `default`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(min_length = 1, max_length = 64, pattern = r"^(?!default)[A-Za-z0-9_-]{1,64}$")]
    pub backup_policy_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheduled_policy: Option<ScheduledPolicyInput>,
    /// `UTC±HH:mm`, between UTC-12:00 and UTC+14:00.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(
        pattern = r"^UTC(\+(0\d|1[0-3]):[0-5]\d|\+14:00|-(0\d|1[01]):[0-5]\d|-12:00)$",
        example = "UTC+08:00"
    )]
    pub time_zone: Option<String>,
    /// Accepted and ignored (otcextensions always sends it); the path names the policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup_policy_id: Option<serde_json::Value>,
}

/// The schedule and retention of a policy. On create `start_time`, `status`, one of
/// `frequency` / `week_frequency` and one of `rentention_num` / `rentention_day` are required.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct ScheduledPolicyInput {
    /// Comma list of whole UTC hours, e.g. `22:00,00:00,02:00`; at most 24, none twice.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(example = "12:00", pattern = r"^\s*([01]\d|2[0-3]):00\s*(,\s*([01]\d|2[0-3]):00\s*){0,23}$")]
    pub start_time: Option<String>,
    /// Back up every N days (1–14), on local days with `(day_of_month - 1) % N == 0`.
    /// Wins over `week_frequency` when both are given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1, maximum = 14)]
    pub frequency: Option<i64>,
    /// Local week days to back up on: `SUN` … `SAT`, none twice.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<WeekDayName>>, min_items = 1, max_items = 7)]
    pub week_frequency: Option<Vec<String>>,
    /// Keep the newest N automatic backups (2–14). Wins over `rentention_day`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 2, maximum = 14)]
    pub rentention_num: Option<i64>,
    /// Keep automatic backups for D days (2–99999); a fraction is rounded down.
    #[serde(default, deserialize_with = "floored_integer", skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 2, maximum = 99999)]
    pub rentention_day: Option<i64>,
    /// `Y` keeps the first backup of the current month.
    #[serde(default, rename = "remain_first_backup_of_curMonth", skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<YesNo>, example = "N")]
    pub remain_first_backup_of_cur_month: Option<String>,
    /// `ON` or `OFF`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<PolicyStatusName>, example = "ON")]
    pub status: Option<String>,
    /// Keys the API does not know. They are ignored, except the correctly spelled
    /// `retention_num` / `retention_day`, which would silently do nothing and are refused.
    #[serde(flatten)]
    #[schema(ignore)]
    pub unknown: BTreeMap<String, serde_json::Value>,
}

impl ScheduledPolicyInput {
    /// A key that looks like a retention field but is not spelled the way the API spells it.
    pub fn misspelled_retention_key(&self) -> Option<(&str, &'static str)> {
        [("retention_num", "rentention_num"), ("retention_day", "rentention_day")]
            .into_iter()
            .find(|(wrong, _)| self.unknown.contains_key(*wrong))
    }
}

/// Accepts an integer or a float (rounded down, as the vendor documents); `null` is absent.
fn floored_integer<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    let n: Option<serde_json::Number> = Option::deserialize(d)?;
    let Some(n) = n else { return Ok(None) };
    if let Some(i) = n.as_i64() {
        return Ok(Some(i));
    }
    match n.as_f64() {
        Some(f) if f.is_finite() && f.abs() < 1e15 => Ok(Some(f.floor() as i64)),
        _ => Err(serde::de::Error::custom(format!("{n} is out of range"))),
    }
}

/// The response of create and modify.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PolicyIdResponse {
    #[schema(example = "af8a20b0-117d-4fc3-ae53-aa3968a4f870")]
    pub backup_policy_id: String,
}

/// A policy's schedule as the list returns it: exactly the effective fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ScheduledPolicyView {
    pub start_time: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frequency: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub week_frequency: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rentention_num: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rentention_day: Option<u32>,
    #[serde(rename = "remain_first_backup_of_curMonth")]
    pub remain_first_backup_of_cur_month: String,
    pub status: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PolicyView {
    pub backup_policy_id: String,
    pub backup_policy_name: String,
    pub scheduled_policy: ScheduledPolicyView,
    /// Number of volumes associated with the policy.
    pub policy_resource_count: i64,
    pub tags: Vec<TagView>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
}

/// `GET /v2/{project_id}/backuppolicy`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PolicyListResponse {
    pub backup_policies: Vec<PolicyView>,
}

/// One resource in an associate or disassociate request.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct ResourceInput {
    /// The volume's id (a UUID). Ids that are not are reported in `fail_resources`.
    #[serde(default)]
    #[schema(format = Uuid, pattern = r"^[0-9A-Fa-f]{8}(-?[0-9A-Fa-f]{4}){3}-?[0-9A-Fa-f]{12}$")]
    pub resource_id: Option<String>,
    /// Only `volume`. Optional on disassociate.
    #[serde(default)]
    #[schema(value_type = Option<PolicyResourceType>, example = "volume")]
    pub resource_type: Option<String>,
}

/// `POST /v2/{project_id}/backuppolicyresources`.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct AssociateRequest {
    /// The policy (a UUID; required).
    #[serde(default)]
    #[schema(format = Uuid, pattern = r"^[0-9A-Fa-f]{8}(-?[0-9A-Fa-f]{4}){3}-?[0-9A-Fa-f]{12}$")]
    pub backup_policy_id: Option<String>,
    /// 1–200 volumes.
    #[serde(default)]
    #[schema(min_items = 1, max_items = 200)]
    pub resources: Option<Vec<ResourceInput>>,
}

/// `POST /v2/{project_id}/backuppolicyresources/{policy_id}/deleted_resources`.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct DisassociateRequest {
    /// 1–200 volumes.
    #[serde(default)]
    #[schema(min_items = 1, max_items = 200)]
    pub resources: Option<Vec<ResourceInput>>,
}

/// The outcome for one resource. Failed items carry `code` and `message`; successful ones
/// never do (otcextensions treats any item with a `code` as failed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ResourceResult {
    pub resource_id: String,
    pub resource_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The volume's availability zone (`VBS_AVAILABILITY_ZONE`; null when unset). Read by
    /// gophertelekomcloud and otcextensions.
    #[serde(default)]
    pub availability_zone: Option<String>,
    /// The volume's host (`VBS_VOLUME_HOST`; null when unset).
    #[serde(default)]
    pub os_vol_host_attr: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ResourcesResponse {
    pub success_resources: Vec<ResourceResult>,
    pub fail_resources: Vec<ResourceResult>,
}

impl ResourcesResponse {
    /// Every result placed in `availability_zone` on `host`.
    pub fn placed(mut self, availability_zone: Option<&str>, host: Option<&str>) -> Self {
        for r in self.success_resources.iter_mut().chain(self.fail_resources.iter_mut()) {
            r.availability_zone = availability_zone.map(str::to_owned);
            r.os_vol_host_attr = host.map(str::to_owned);
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn seed_create_example_deserializes() {
        let req: CreatePolicyRequest = serde_json::from_value(json!({
            "backup_policy_name": "policy_01",
            "scheduled_policy": {
                "remain_first_backup_of_curMonth": "Y",
                "rentention_day": 30,
                "week_frequency": ["SUN", "WED"],
                "start_time": "12:00",
                "status": "ON"
            },
            "tags": [{"key": "key", "value": "value"}],
            "time_zone": "UTC+08:00"
        }))
        .unwrap();
        assert_eq!(req.backup_policy_name, "policy_01");
        assert_eq!(req.scheduled_policy.rentention_day, Some(30));
        assert_eq!(req.scheduled_policy.remain_first_backup_of_cur_month.as_deref(), Some("Y"));
        assert_eq!(req.time_zone.as_deref(), Some("UTC+08:00"));
    }

    #[test]
    fn rentention_day_floats_are_floored_and_nulls_absent() {
        let s: ScheduledPolicyInput =
            serde_json::from_value(json!({"rentention_day": 30.9, "frequency": null})).unwrap();
        assert_eq!(s.rentention_day, Some(30));
        assert_eq!(s.frequency, None);
        assert!(serde_json::from_value::<ScheduledPolicyInput>(json!({"rentention_day": "30"})).is_err());
    }

    #[test]
    fn misspelled_retention_is_spotted_and_other_unknowns_kept_aside() {
        let s: ScheduledPolicyInput = serde_json::from_value(json!({"retention_num": 3, "id": "x"})).unwrap();
        assert_eq!(s.misspelled_retention_key(), Some(("retention_num", "rentention_num")));
        let s: ScheduledPolicyInput = serde_json::from_value(json!({"id": "x"})).unwrap();
        assert_eq!(s.misspelled_retention_key(), None);
    }

    #[test]
    fn modify_tolerates_backup_policy_id() {
        let req: UpdatePolicyRequest = serde_json::from_value(json!({
            "backup_policy_id": "af8a20b0-117d-4fc3-ae53-aa3968a4f870",
            "scheduled_policy": {"status": "OFF"}
        }))
        .unwrap();
        assert_eq!(req.scheduled_policy.unwrap().status.as_deref(), Some("OFF"));
    }

    #[test]
    fn view_omits_absent_schedule_fields() {
        let v = ScheduledPolicyView {
            start_time: "12:00".into(),
            frequency: Some(1),
            week_frequency: None,
            rentention_num: Some(10),
            rentention_day: None,
            remain_first_backup_of_cur_month: "Y".into(),
            status: "ON".into(),
        };
        assert_eq!(
            serde_json::to_value(v).unwrap(),
            json!({"start_time": "12:00", "frequency": 1, "rentention_num": 10,
                   "remain_first_backup_of_curMonth": "Y", "status": "ON"})
        );
    }
}
