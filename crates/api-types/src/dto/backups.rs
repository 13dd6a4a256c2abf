//! Backup bodies: the OpenStack native (Cinder-style) API (`/v2/{project_id}/backups…`,
//! `/v3/{project_id}/backups…`, `/v3/{project_id}/native/backups…`) and the VBS API
//! (`/v2/{project_id}/cloudbackups…`).
//!
//! Responses follow spec/05 and the clients that parse them: timestamps are UTC with
//! microseconds and no zone (`2013-06-27T08:48:03.000000`; the Go SDK fails on a `Z`),
//! `service_metadata` is a JSON document *inside a string*, `size` and `object_count` are
//! numbers or null, and the owning project appears under all three keys clients read.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[allow(unused_imports, reason = "named in schema attributes only")]
use super::{tasks::SortDir, wire_enums::BackupSortKey};

/// A link of a backup (`self`, `bookmark`) or of a list page (`next`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Link {
    pub href: String,
    /// `self`, `bookmark` or `next`.
    pub rel: String,
}

/// `POST /v2/{project_id}/backups` (also `/v3/{project_id}/backups` and
/// `/v3/{project_id}/native/backups`).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "backup": {
        "volume_id": "c68ae7fb-0aa5-4a97-ab01-ed02c5b7e768",
        "snapshot_id": "2bb856e1-b3d8-4432-a858-09e4ce939389",
        "name": "backup1",
        "description": "Backup_Demo"
    }
}))]
pub struct CreateNativeBackupRequest {
    pub backup: NativeBackupInput,
}

/// The backup to create.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct NativeBackupInput {
    /// The volume to back up (required).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(format = Uuid, pattern = r"^[0-9A-Fa-f]{8}(-?[0-9A-Fa-f]{4}){3}-?[0-9A-Fa-f]{12}$")]
    pub volume_id: Option<String>,
    /// The snapshot of the volume to read; without one the service takes a snapshot itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(format = Uuid, pattern = r"^[0-9A-Fa-f]{8}(-?[0-9A-Fa-f]{4}){3}-?[0-9A-Fa-f]{12}$")]
    pub snapshot_id: Option<String>,
    /// 1–64 letters, digits, `_` or `-`, not starting with `auto`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(min_length = 1, max_length = 64, pattern = r"^(?!auto)[A-Za-z0-9_-]{1,64}$")]
    pub name: Option<String>,
    /// At most 255 characters, without `<` or `>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 255, pattern = "^[^<>]*$")]
    pub description: Option<String>,
    /// Accepted and ignored (the vendor reserves it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub container: Option<serde_json::Value>,
    /// Accepted and ignored: the first backup of a volume is full, later ones incremental.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<bool>)]
    pub incremental: Option<serde_json::Value>,
    /// Back up a volume that is attached (in use). Default false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub force: Option<bool>,
    /// Accepted and ignored: the path names the project.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub project_id: Option<serde_json::Value>,
    /// Key/value strings kept with the backup (microversion 3.43 under `/v3`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<BTreeMap<String, String>>)]
    pub metadata: Option<serde_json::Value>,
    /// The availability zone to keep the backup in: the deployment's own (microversion 3.51
    /// under `/v3`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub availability_zone: Option<String>,
}

/// The 202 answer to a native create, and one item of the summary list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct BackupRef {
    pub id: String,
    pub links: Vec<Link>,
    pub name: Option<String>,
}

/// `{"backup": {id, links, name}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct BackupCreatedResponse {
    pub backup: BackupRef,
}

/// A backup in full (spec/05).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct BackupDetail {
    pub id: String,
    pub name: Option<String>,
    /// `creating`, `available`, `restoring`, `deleting`, `error` or `error_deleting`.
    #[schema(example = "available")]
    pub status: String,
    pub description: Option<String>,
    pub links: Vec<Link>,
    pub availability_zone: Option<String>,
    pub volume_id: String,
    pub snapshot_id: Option<String>,
    /// Why the backup (or its deletion) failed.
    pub fail_reason: Option<String>,
    /// Size of the backed-up volume in GiB, rounded up.
    pub size: i64,
    /// Objects this backup wrote to the object store (packs and its manifest); null until
    /// it is available.
    pub object_count: Option<i64>,
    pub container: Option<String>,
    /// `2013-06-27T08:48:03.000000` (UTC).
    #[schema(example = "2013-06-27T08:48:03.000000")]
    pub created_at: String,
    #[schema(example = "2013-06-27T08:48:03.000000")]
    pub updated_at: String,
    /// When the backed-up data was captured.
    #[schema(example = "2013-06-27T08:48:03.000000")]
    pub data_timestamp: Option<String>,
    #[serde(rename = "os-backup-project-attr:tenant_id")]
    pub tenant_id: String,
    #[serde(rename = "os-backup-project-attr:project_id")]
    pub project_id: String,
    #[serde(rename = "os-bak-tenant-attr:tenant_id")]
    pub bak_tenant_id: String,
    /// A JSON document in a string: `Type` (1 full, 0 incremental), `progress` (percent, as a
    /// string), `bytes_done`/`bytes_total`, `stored_bytes`, `snap_id`, `crash_consistent`.
    pub service_metadata: String,
    /// Always false: every backup has a complete manifest and restores alone, so deleting
    /// one never breaks another.
    pub has_dependent_backups: bool,
    /// It was taken against a parent and stored only blocks the parent did not have.
    pub is_incremental: bool,
    /// Key/value strings set by the tenant (shown from microversion 3.43 under `/v3`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<BTreeMap<String, String>>,
}

/// `GET …/backups/{backup_id}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct BackupDetailResponse {
    pub backup: BackupDetail,
}

/// `GET …/backups/detail`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct BackupDetailListResponse {
    pub backups: Vec<BackupDetail>,
    /// A `next` link when more backups follow.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backups_links: Option<Vec<Link>>,
    /// With `with_count=true`: how many backups match, all pages together.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<i64>,
}

/// `GET …/backups`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct BackupListResponse {
    pub backups: Vec<BackupRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backups_links: Option<Vec<Link>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<i64>,
}

/// Filters and paging of the backup lists.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct BackupListQuery {
    /// Exact name.
    pub name: Option<String>,
    /// Exact status (a status no backup can have lists nothing, as Cinder).
    pub status: Option<String>,
    /// Backups of this volume.
    #[param(format = Uuid)]
    pub volume_id: Option<String>,
    /// Page size (at most 1000, the default).
    #[param(minimum = 0, maximum = 1000)]
    pub limit: Option<i64>,
    /// Backups to skip (after `marker`, when both are given).
    #[param(minimum = 0)]
    pub offset: Option<i64>,
    /// Start after the backup with this id.
    #[param(format = Uuid)]
    pub marker: Option<String>,
    /// `key[:dir][,key[:dir]…]`, keys as `sort_key`, dirs as `sort_dir` (what cinderclient
    /// sends); not together with `sort_key`/`sort_dir`.
    pub sort: Option<String>,
    /// `created_at` (default), `updated_at`, `name`, `status`, `size` or `id`.
    #[param(value_type = Option<BackupSortKey>)]
    pub sort_key: Option<String>,
    /// `desc` (default) or `asc`.
    #[param(value_type = Option<SortDir>)]
    pub sort_dir: Option<String>,
    /// Add `count`, the number of matching backups (`true`, `True`, `1`, …; microversion 3.45).
    pub with_count: Option<String>,
    /// Admin only (ignored otherwise): `1` or `true` lists the backups of every project.
    pub all_tenants: Option<String>,
    /// Admin only, with `all_tenants`: the backups of this project.
    pub project_id: Option<String>,
}

/// `POST …/backups/{backup_id}/restore` and `POST /v2/{project_id}/cloudbackups/{backup_id}/restore`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[schema(example = json!({"restore": {"volume_id": "2748f2f2-4394-4e6e-af8d-8dd34496c024"}}))]
pub struct RestoreRequest {
    pub restore: RestoreInput,
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct RestoreInput {
    /// The volume to write the backup into; it must be at least as large as the backup.
    /// Without one (native API) a new volume of the backup's size is created.
    #[serde(default)]
    #[schema(format = Uuid, pattern = r"^[0-9A-Fa-f]{8}(-?[0-9A-Fa-f]{4}){3}-?[0-9A-Fa-f]{12}$")]
    pub volume_id: Option<String>,
    /// The new volume's name (native API, without `volume_id`); `restore_backup_<backup_id>`
    /// by default, as Cinder. At most 255 characters.
    #[serde(default)]
    pub name: Option<String>,
}

/// The 202 answer of a native restore.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RestoreResponse {
    pub restore: RestoreInfo,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RestoreInfo {
    pub backup_id: String,
    pub volume_id: String,
    pub volume_name: String,
}

/// `POST /v2/{project_id}/cloudbackups`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[schema(example = json!({
    "backup": {
        "volume_id": "c68ae7fb-0aa5-4a97-ab01-ed02c5b7e768",
        "snapshot_id": null,
        "name": "backup1",
        "description": "Backup_Demo",
        "tags": [{"key": "key", "value": "value"}],
        "extend_param": {"FullBackup": "true"}
    }
}))]
pub struct CreateCloudBackupRequest {
    pub backup: CloudBackupInput,
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct CloudBackupInput {
    /// The volume to back up.
    #[serde(default)]
    #[schema(format = Uuid, pattern = r"^[0-9A-Fa-f]{8}(-?[0-9A-Fa-f]{4}){3}-?[0-9A-Fa-f]{12}$")]
    pub volume_id: Option<String>,
    /// A snapshot of the volume to read; without one (absent, null or empty) the service takes its own.
    #[serde(default)]
    #[schema(format = Uuid, pattern = r"^([0-9A-Fa-f]{8}(-?[0-9A-Fa-f]{4}){3}-?[0-9A-Fa-f]{12})?$")]
    pub snapshot_id: Option<String>,
    /// 1–64 letters, digits, `_` or `-`, not starting with `auto` (required).
    #[serde(default)]
    #[schema(min_length = 1, max_length = 64, pattern = r"^(?!auto)[A-Za-z0-9_-]{1,64}$")]
    pub name: Option<String>,
    /// At most 64 characters, without `<` or `>`.
    #[serde(default)]
    #[schema(max_length = 64, pattern = "^[^<>]*$")]
    pub description: Option<String>,
    /// Validated (key 1–36, value 0–43 characters, at most 10) and otherwise ignored.
    #[serde(default)]
    #[schema(max_items = 10)]
    pub tags: Option<Vec<BackupTagInput>>,
    /// `{"FullBackup": "true"}` stores every block again instead of an incremental.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub extend_param: Option<BTreeMap<String, serde_json::Value>>,
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct BackupTagInput {
    /// 1–36 characters, none of `=*<>\,|/`.
    #[serde(default)]
    #[schema(min_length = 1, max_length = 36, pattern = r"^[^=*<>\\,|/]{1,36}$")]
    pub key: Option<String>,
    /// 0–43 characters, none of `=*<>\,|/` (required, may be empty).
    #[serde(default)]
    #[schema(max_length = 43, pattern = r"^[^=*<>\\,|/]{0,43}$")]
    pub value: Option<String>,
}

/// The answer of an asynchronous VBS operation: poll `GET /v1/{project_id}/jobs/{job_id}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct JobIdResponse {
    #[schema(example = "70a599e0-31e7-49b7-b260-868f441e862b")]
    pub job_id: String,
}

/// `GET /v1/{project_id}/jobs/{job_id}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct JobView {
    /// `INIT`, `RUNNING`, `SUCCESS` or `FAIL`.
    #[schema(example = "SUCCESS")]
    pub status: String,
    /// String values only (the Go SDK decodes a `map[string]string`): `backup_id`,
    /// `volume_id`, `snapshot_id`, `bks_create_volume_name` (the backup name), and while it
    /// runs `progress` (percent), `bytes_done`, `bytes_total`.
    pub entities: BTreeMap<String, String>,
    pub job_id: String,
    /// `bksCreateBackup`, `bksRestoreBackup` or `bksDeleteBackup`.
    #[schema(example = "bksCreateBackup")]
    pub job_type: String,
    /// `2016-01-28T16:14:09.466Z` (UTC, as the vendor writes job times).
    #[schema(example = "2016-01-28T16:14:09.466Z")]
    pub begin_time: Option<String>,
    #[schema(example = "2016-01-28T16:25:27.690Z")]
    pub end_time: Option<String>,
    pub error_code: Option<String>,
    pub fail_reason: Option<String>,
    /// Always empty: no job here has sub-jobs.
    #[schema(value_type = Vec<Object>)]
    pub sub_jobs: Vec<serde_json::Value>,
}

/// `GET /v2/{project_id}/cloudbackups/quota`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct QuotaResponse {
    pub quotas: QuotaSet,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct QuotaSet {
    pub resources: Vec<QuotaResource>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct QuotaResource {
    /// `backups` or `backup_gigabytes`.
    #[serde(rename = "type")]
    pub resource_type: String,
    pub used: i64,
    pub reserved: i64,
    /// -1: unlimited.
    pub quota: i64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_spec_request_parses_and_unknown_fields_are_ignored() {
        let r: CreateNativeBackupRequest = serde_json::from_value(json!({"backup": {
            "volume_id": "c68ae7fb-0aa5-4a97-ab01-ed02c5b7e768",
            "snapshot_id": "2bb856e1-b3d8-4432-a858-09e4ce939389",
            "name": "backup1", "description": "Backup_Demo",
            "container": "c", "incremental": true, "force": true, "whatever": 1
        }}))
        .unwrap();
        assert_eq!(r.backup.name.as_deref(), Some("backup1"));
        assert_eq!(r.backup.force, Some(true));
    }

    #[test]
    fn detail_uses_the_client_keys() {
        let d = BackupDetail {
            id: "i".into(),
            name: None,
            status: "available".into(),
            description: None,
            links: vec![],
            availability_zone: None,
            volume_id: "v".into(),
            snapshot_id: None,
            fail_reason: None,
            size: 1,
            object_count: Some(3),
            container: None,
            created_at: "2013-06-27T08:48:03.000000".into(),
            updated_at: "2013-06-27T08:48:03.000000".into(),
            data_timestamp: None,
            tenant_id: "p".into(),
            project_id: "p".into(),
            bak_tenant_id: "p".into(),
            service_metadata: "{}".into(),
            has_dependent_backups: false,
            is_incremental: false,
            metadata: None,
        };
        let v = serde_json::to_value(&d).unwrap();
        for key in [
            "os-backup-project-attr:tenant_id",
            "os-backup-project-attr:project_id",
            "os-bak-tenant-attr:tenant_id",
        ] {
            assert_eq!(v[key], "p", "{key}");
        }
        assert!(v["service_metadata"].is_string());
        assert_eq!(v["object_count"], 3);
    }

    #[test]
    fn quota_type_key() {
        let q = QuotaResource { resource_type: "backups".into(), used: 1, reserved: 0, quota: -1 };
        assert_eq!(
            serde_json::to_value(q).unwrap(),
            json!({"type": "backups", "used": 1, "reserved": 0, "quota": -1})
        );
    }
}
