//! The OpenAPI document, generated from the handlers' annotations. `make openapi` writes it to
//! `openapi/backup-service.json`; a test fails when the committed file differs. The service
//! serves it at `/openapi/backup-service.json` with Swagger UI at `/docs/`.

use api_types::openapi::{CommonAnswers, IdConstraints, PathAliases};
use api_types::{dto, error};
use service_kit::openapi::Document;
use utoipa::{OpenApi, ToSchema};

use crate::routes::{NATIVE_PREFIXES, cloud, jobs, native, sharing, volumes};

/// A Cinder-style fault of the native endpoints: exactly one of these keys, e.g.
/// `{"badRequest":{"code":"VolumeBackup.0013","message":"…"}}` or
/// `{"itemNotFound":{"code":404,"message":"…"}}`.
#[derive(ToSchema)]
#[schema(as = CinderFault)]
#[allow(non_snake_case, dead_code)]
pub struct CinderFaultDoc {
    badRequest: Option<error::FaultBody>,
    unauthorized: Option<error::FaultBody>,
    forbidden: Option<error::FaultBody>,
    itemNotFound: Option<error::FaultBody>,
    computeFault: Option<error::FaultBody>,
    serviceUnavailable: Option<error::FaultBody>,
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "VBS backup service",
        description = "Volume backups of the Volume Backup Service: the OpenStack native (Cinder) backup API and the VBS cloudbackups and job API, wire-compatible with Huawei Cloud / Open Telekom Cloud. Every native operation is described under each prefix it is served at (/v2/{project_id}/backups, /v3/{project_id}/backups, /v3/{project_id}/native/backups), jobs under /v1 and /v2.",
        license(name = "Apache-2.0")
    ),
    paths(
        native::create::create_backup,
        native::list::list_backups,
        native::list::list_backups_detail,
        native::show::show_backup,
        native::delete::delete_backup,
        native::restore::restore_backup,
        native::update::update_backup,
        native::metadata::show_metadata,
        native::metadata::add_metadata,
        native::metadata::replace_metadata,
        native::metadata::show_metadata_item,
        native::metadata::set_metadata_item,
        native::metadata::delete_metadata_item,
        native::action::backup_action,
        native::record::export_record,
        native::record::import_record,
        sharing::create::create_share,
        sharing::list::list_shares,
        sharing::list::count_shares,
        sharing::show::show_share,
        sharing::delete::delete_share,
        cloud::create::create_cloud_backup,
        cloud::restore::restore_cloud_backup,
        cloud::delete::delete_cloud_backup,
        cloud::quota::show_quota,
        jobs::show::show_job,
        volumes::list::list_volumes,
        volumes::list::list_volumes_detail,
        volumes::show::show_volume,
    ),
    components(schemas(
        error::ErrorEnvelope,
        error::ErrorBody,
        error::FaultBody,
        error::FaultCode,
        CinderFaultDoc,
        dto::NativeBackupInput,
        dto::CloudBackupInput,
        dto::BackupTagInput,
        dto::RestoreInput,
        dto::RestoreInfo,
        dto::BackupDetail,
        dto::BackupRef,
        dto::Link,
        dto::QuotaSet,
        dto::QuotaResource,
        dto::SortDir,
        dto::BackupSortKey,
    )),
    modifiers(&COMMON_ANSWERS, &NATIVE_ALIASES, &JOB_ALIASES, &IdConstraints),
    tags(
        (name = "Native backups", description = "OpenStack native (Cinder) backup API: create, show, list, update, metadata, delete, restore; admin actions, export and import"),
        (name = "Backup sharing", description = "VBS backup sharing: share a backup with other projects, list, show, count and end shares"),
        (name = "VBS backups", description = "VBS backup API: create and restore as jobs, quotas"),
        (name = "Jobs", description = "Asynchronous jobs of the VBS API"),
        (name = "Volumes", description = "The volumes the volume driver sees (read-only Cinder volumes API)"),
    )
)]
pub struct ApiDoc;

const COMMON_ANSWERS: CommonAnswers = CommonAnswers { error_schema };

/// Every native operation under each prefix the router serves it at.
const NATIVE_ALIASES: PathAliases = PathAliases { prefixes: &NATIVE_PREFIXES, exact: &[] };

/// The prefixes the router serves the job API at (`routes::configure`).
pub const JOB_PREFIXES: [&str; 2] = ["/v1/{project_id}/jobs", "/v2/{project_id}/jobs"];
const JOB_ALIASES: PathAliases = PathAliases { prefixes: &JOB_PREFIXES, exact: &[] };

/// The native (Cinder) paths answer errors in the Cinder fault, the VBS ones in the `error` envelope.
pub fn error_schema(path: &str) -> &'static str {
    if path.contains("/backups") || path.contains("/volumes") { "CinderFault" } else { "ErrorEnvelope" }
}

pub const DOCUMENT_PATH: &str = "/openapi/backup-service.json";

pub fn document() -> Document {
    Document::new(DOCUMENT_PATH, ApiDoc::openapi())
}
