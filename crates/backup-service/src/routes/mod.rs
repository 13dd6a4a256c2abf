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
pub mod microversion;
pub mod native;
mod params;
pub mod sharing;
mod views;
pub mod volumes;

use actix_web::{HttpRequest, middleware::from_fn, web};
use service_kit::http::{Cinder, envelope_errors, fallback, query_config};

use crate::{error::VbsBackup, startup::AppState};

use service_kit::auth::{AdminOnly, ProjectAccess, Read, Write};

/// Callers that may read (any role) or change (member or admin) the path's project, refused in
/// the envelope of each API.
pub type NativeRead = ProjectAccess<Cinder, Read>;
pub type NativeWrite = ProjectAccess<Cinder, Write>;
/// The admin-only calls (reset status, force delete, export and import records).
pub type NativeAdmin = ProjectAccess<Cinder, AdminOnly>;
pub type VbsRead = ProjectAccess<VbsBackup, Read>;
pub type VbsWrite = ProjectAccess<VbsBackup, Write>;
pub type NativeJson<T> = service_kit::http::Json<T, Cinder>;
pub type VbsJson<T> = service_kit::http::Json<T, VbsBackup>;

/// The prefixes of the native backup API.
pub const NATIVE_PREFIXES: [&str; 3] =
    ["/v2/{project_id}/backups", "/v3/{project_id}/backups", "/v3/{project_id}/native/backups"];

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(vbs(web::scope("/v2/{project_id}/cloudbackups")
        .service(web::resource("").route(web::post().to(cloud::create::create_cloud_backup)))
        .service(web::resource("/quota").route(web::get().to(cloud::quota::show_quota)))
        .service(web::resource("/{backup_id}").route(web::post().to(cloud::delete::delete_cloud_backup)))
        .service(
            web::resource("/{backup_id}/restore").route(web::post().to(cloud::restore::restore_cloud_backup)),
        )));
    cfg.service(vbs(web::scope("/v2/{project_id}/os-vendor-backup-sharing")
        .service(web::resource("").route(web::post().to(sharing::create::create_share)))
        .service(web::resource("/detail").route(web::get().to(sharing::list::list_shares)))
        .service(web::resource("/count").route(web::get().to(sharing::list::count_shares)))
        .service(
            web::resource("/{share_id}")
                .route(web::get().to(sharing::show::show_share))
                .route(web::delete().to(sharing::delete::delete_share)),
        )));
    for version in ["v1", "v2"] {
        cfg.service(vbs(web::scope(&format!("/{version}/{{project_id}}/jobs"))
            .service(web::resource("/{job_id}").route(web::get().to(jobs::show::show_job)))));
    }
    cfg.service(
        web::scope("/v3/{project_id}/volumes")
            .service(web::resource("").route(web::get().to(volumes::list::list_volumes)))
            .service(web::resource("/detail").route(web::get().to(volumes::list::list_volumes_detail)))
            .service(web::resource("/{volume_id}").route(web::get().to(volumes::show::show_volume)))
            .wrap(from_fn(microversion::negotiate)),
    );
    for prefix in NATIVE_PREFIXES {
        let scope = web::scope(prefix)
            .service(
                web::resource("")
                    .route(web::post().to(native::create::create_backup))
                    .route(web::get().to(native::list::list_backups)),
            )
            .service(web::resource("/detail").route(web::get().to(native::list::list_backups_detail)))
            .service(web::resource("/import_record").route(web::post().to(native::record::import_record)))
            .service(
                web::resource("/{backup_id}")
                    .route(web::get().to(native::show::show_backup))
                    .route(web::put().to(native::update::update_backup))
                    .route(web::delete().to(native::delete::delete_backup)),
            )
            .service(
                web::resource("/{backup_id}/restore").route(web::post().to(native::restore::restore_backup)),
            )
            .service(
                web::resource("/{backup_id}/action").route(web::post().to(native::action::backup_action)),
            )
            .service(
                web::resource("/{backup_id}/export_record")
                    .route(web::get().to(native::record::export_record)),
            )
            .service(
                web::resource("/{backup_id}/metadata")
                    .route(web::get().to(native::metadata::show_metadata))
                    .route(web::post().to(native::metadata::add_metadata))
                    .route(web::put().to(native::metadata::replace_metadata)),
            )
            .service(
                web::resource("/{backup_id}/metadata/{key}")
                    .route(web::get().to(native::metadata::show_metadata_item))
                    .route(web::put().to(native::metadata::set_metadata_item))
                    .route(web::delete().to(native::metadata::delete_metadata_item)),
            );
        // Microversions are the v3 API's; the vendor's v2 API serves all of it.
        if prefix.starts_with("/v3/") {
            cfg.service(scope.wrap(from_fn(microversion::negotiate)));
        } else {
            cfg.service(scope);
        }
    }
}

/// The scope answering in the VBS envelope, even for actix's own errors.
fn vbs(scope: actix_web::Scope) -> impl actix_web::dev::HttpServiceFactory {
    scope
        .app_data(query_config::<VbsBackup>())
        .default_service(web::to(fallback::<VbsBackup>))
        .wrap(from_fn(envelope_errors::<VbsBackup, _>))
}

/// A list's `next` link: the request's own URL with the caller's filters kept and its paging
/// parameters replaced by `paging` (e.g. `limit=10&marker=…`).
fn next_page_link(req: &HttpRequest, base: &str, paging: &str) -> api_types::dto::Link {
    let replaced = ["marker", "limit", "offset"];
    let mut query: Vec<&str> = req
        .query_string()
        .split('&')
        .filter(|kv| !kv.is_empty() && !replaced.contains(&kv.split('=').next().unwrap_or_default()))
        .collect();
    query.push(paging);
    api_types::dto::Link { href: format!("{base}{}?{}", req.path(), query.join("&")), rel: "next".into() }
}

/// Where the links of an answer point: the base URL and the API the request came through.
fn link_root(req: &HttpRequest, state: &AppState) -> views::LinkRoot {
    views::LinkRoot::of(req.path(), base_url(req, state))
}

/// The base URL for links: `VBS_PUBLIC_URL`, else the request's own scheme and host.
fn base_url(req: &HttpRequest, state: &AppState) -> String {
    service_kit::http::base_url(req, state.public_url.as_deref())
}
