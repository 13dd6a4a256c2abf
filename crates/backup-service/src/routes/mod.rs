//! The HTTP API, one handler per file.
//!
//! Native (OpenStack/Cinder) endpoints are served at the three prefixes clients use —
//! `/v2/{project_id}/backups`, `/v3/{project_id}/backups` and `/v3/{project_id}/native/backups`
//! — by the same handlers, and answer Cinder faults. The VBS endpoints (`cloudbackups`, `jobs`
//! at `/v1` and `/v2`) sit in scopes of their own that answer the `{"error":…}` envelope, even
//! for actix's own routing and extractor errors. Within a scope, fixed segments (`detail`,
//! `quota`) are registered before `{backup_id}`.

pub mod cloud;
pub mod jobs;
pub mod native;

use actix_web::{HttpRequest, middleware::from_fn, web};
use api_types::{
    domain::{ResourceId, ValidationError},
    dto::{BackupDetail, BackupRef, Link},
    error::codes::volume_backup as vb,
};
use service_kit::http::{Cinder, envelope_errors, fallback, query_config};

use crate::{
    domain::{BackupStatus, native_time, percent},
    error::{BackupError, VbsBackup},
    startup::AppState,
    store::BackupRow,
};

pub type NativeAccess = service_kit::auth::ProjectAccess<Cinder>;
pub type VbsAccess = service_kit::auth::ProjectAccess<VbsBackup>;
pub type NativeJson<T> = service_kit::http::Json<T, Cinder>;
pub type VbsJson<T> = service_kit::http::Json<T, VbsBackup>;

/// The prefixes of the native backup API.
pub const NATIVE_PREFIXES: [&str; 3] =
    ["/v2/{project_id}/backups", "/v3/{project_id}/backups", "/v3/{project_id}/native/backups"];

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(vbs(web::scope("/v2/{project_id}/cloudbackups")
        .service(web::resource("").route(web::post().to(cloud::create::handler)))
        .service(web::resource("/quota").route(web::get().to(cloud::quota::handler)))
        .service(web::resource("/{backup_id}/restore").route(web::post().to(cloud::restore::handler)))));
    for version in ["v1", "v2"] {
        cfg.service(vbs(web::scope(&format!("/{version}/{{project_id}}/jobs"))
            .service(web::resource("/{job_id}").route(web::get().to(jobs::show::handler)))));
    }
    for prefix in NATIVE_PREFIXES {
        cfg.service(
            web::scope(prefix)
                .service(
                    web::resource("")
                        .route(web::post().to(native::create::handler))
                        .route(web::get().to(native::list::summary)),
                )
                .service(web::resource("/detail").route(web::get().to(native::list::detail)))
                .service(
                    web::resource("/{backup_id}")
                        .route(web::get().to(native::show::handler))
                        .route(web::delete().to(native::delete::handler)),
                )
                .service(
                    web::resource("/{backup_id}/restore").route(web::post().to(native::restore::handler)),
                ),
        );
    }
}

/// The scope answering in the VBS envelope, even for actix's own errors.
fn vbs(scope: actix_web::Scope) -> impl actix_web::dev::HttpServiceFactory {
    scope
        .app_data(query_config::<VbsBackup>())
        .default_service(web::to(fallback::<VbsBackup>))
        .wrap(from_fn(envelope_errors::<VbsBackup, _>))
}

/// The base URL for links: `VBS_PUBLIC_URL`, else the request's own scheme and host.
pub fn base_url(req: &HttpRequest, state: &AppState) -> String {
    service_kit::http::base_url(req, state.public_url.as_deref())
}

/// A backup id from a path. Anything that is not a UUID names no backup: 404, as Cinder
/// answers for an unknown id, and it never reaches the store or the file system.
pub fn path_backup_id(raw: &str) -> Result<ResourceId, BackupError> {
    ResourceId::parse("backup_id", raw).map_err(|_| BackupError::BackupNotFound(raw.to_owned()))
}

/// A required volume id in a body: empty → `empty_code`, not a UUID → `invalid_code`.
pub fn body_volume_id(
    field: &'static str,
    raw: Option<&str>,
    empty_code: &'static str,
    invalid_code: &'static str,
) -> Result<ResourceId, BackupError> {
    let raw = raw.map(str::trim).unwrap_or_default();
    if raw.is_empty() {
        return Err(ValidationError::new(field, "is required").with_code(empty_code).into());
    }
    ResourceId::parse(field, raw).map_err(|e| e.with_code(invalid_code).into())
}

/// A target volume for a restore, from `{"restore":{"volume_id":…}}`.
pub fn restore_target(raw: Option<&str>) -> Result<ResourceId, BackupError> {
    body_volume_id("restore.volume_id", raw, vb::RESTORE_VOLUME_ID_INVALID, vb::RESTORE_VOLUME_ID_INVALID)
}

pub fn links(base: &str, project: &str, id: &str) -> Vec<Link> {
    vec![
        Link { href: format!("{base}/v2/{project}/backups/{id}"), rel: "self".into() },
        Link { href: format!("{base}/{project}/backups/{id}"), rel: "bookmark".into() },
    ]
}

pub fn backup_ref(row: &BackupRow, base: &str) -> BackupRef {
    BackupRef { id: row.id.clone(), links: links(base, &row.project_id, &row.id), name: row.name.clone() }
}

/// A backup as spec/05 shows it.
pub fn backup_detail(row: &BackupRow, base: &str, availability_zone: Option<&str>) -> BackupDetail {
    let available = row.status() == Some(BackupStatus::Available);
    let progress = if available { 100 } else { percent(row.progress_done, row.progress_total) };
    let metadata = serde_json::json!({
        "Type": if row.parent_id.is_some() { 0 } else { 1 },
        "progress": progress.to_string(),
        "bytes_done": row.progress_done,
        "bytes_total": row.progress_total,
        "stored_bytes": row.stored_bytes,
        "snap_id": row.snapshot_id,
        "crash_consistent": row.crash_consistent,
        "bootable": false,
    });
    BackupDetail {
        id: row.id.clone(),
        name: row.name.clone(),
        status: row.status.clone(),
        description: row.description.clone(),
        links: links(base, &row.project_id, &row.id),
        availability_zone: availability_zone.map(str::to_owned),
        volume_id: row.volume_id.clone(),
        snapshot_id: row.snapshot_id.clone(),
        fail_reason: row.fail_reason.clone(),
        size: row.size_gib,
        object_count: row.object_count,
        container: None,
        created_at: native_time(row.created_at),
        updated_at: native_time(row.updated_at),
        data_timestamp: row.data_timestamp.map(native_time),
        tenant_id: row.project_id.clone(),
        project_id: row.project_id.clone(),
        bak_tenant_id: row.project_id.clone(),
        service_metadata: metadata.to_string(),
        has_dependent_backups: false,
        is_incremental: row.parent_id.is_some(),
    }
}
