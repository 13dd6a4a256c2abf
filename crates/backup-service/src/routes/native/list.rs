use actix_web::{HttpRequest, web};
use api_types::{
    domain::ResourceId,
    dto::{BackupDetailListResponse, BackupListQuery, BackupListResponse, Link},
};

use crate::{
    app::ListQuery,
    error::NativeResult,
    openapi::CinderFaultDoc,
    routes::{
        NativeRead, base_url, link_root,
        microversion::Microversion,
        next_page_link,
        views::{backup_detail, backup_ref},
    },
    startup::AppState,
};

fn parse(access: &NativeRead, mut query: BackupListQuery, version: Microversion) -> NativeResult<ListQuery> {
    if !version.at_least(45) {
        query.with_count = None;
    }
    Ok(ListQuery::parse(query, access.identity.is_admin())?)
}

fn next_link(req: &HttpRequest, base: &str, marker: Option<ResourceId>, limit: i64) -> Option<Vec<Link>> {
    let marker = marker?;
    Some(vec![next_page_link(req, base, &format!("limit={limit}&marker={marker}"))])
}

/// List backups (id, links, name).
///
/// Filters: `name`, `status`, `volume_id`; paging: `limit` (default and at most 1000),
/// `marker` (start after this backup), `offset`; order: `sort_key` (`created_at` by default)
/// and `sort_dir` (`desc` by default). A `backups_links` `next` link is given while more
/// backups follow. An admin lists every project's backups with `all_tenants=1`. Also served at
/// `/v3/{project_id}/backups` and `/v3/{project_id}/native/backups`.
#[utoipa::path(
    get,
    path = "/v2/{project_id}/backups",
    operation_id = "listNativeBackups",
    tag = "Native backups",
    params(("project_id" = String, Path, description = "Project ID"), BackupListQuery),
    responses(
        (status = 200, description = "A page of backups", body = BackupListResponse),
        (status = 400, description = "Invalid filter or paging", body = CinderFaultDoc),
    ),
    security(("token" = []))
)]
pub async fn list_backups(
    req: HttpRequest,
    access: NativeRead,
    state: web::Data<AppState>,
    query: web::Query<BackupListQuery>,
    version: Microversion,
) -> NativeResult<web::Json<BackupListResponse>> {
    let query = parse(&access, query.into_inner(), version)?;
    let p = state.backups.list_summaries(access.project, query).await?;
    let base = base_url(&req, &state);
    let root = link_root(&req, &state);
    Ok(web::Json(BackupListResponse {
        backups: p.rows.iter().map(|r| backup_ref(r, &root)).collect(),
        backups_links: next_link(&req, &base, p.next_marker, p.limit),
        count: p.count,
    }))
}

/// List backups with every field.
///
/// The same filters, paging and order as the summary list. Also served at
/// `/v3/{project_id}/backups/detail` and `/v3/{project_id}/native/backups/detail`.
#[utoipa::path(
    get,
    path = "/v2/{project_id}/backups/detail",
    operation_id = "listNativeBackupsDetail",
    tag = "Native backups",
    params(("project_id" = String, Path, description = "Project ID"), BackupListQuery),
    responses(
        (status = 200, description = "A page of backups", body = BackupDetailListResponse),
        (status = 400, description = "Invalid filter or paging", body = CinderFaultDoc),
    ),
    security(("token" = []))
)]
pub async fn list_backups_detail(
    req: HttpRequest,
    access: NativeRead,
    state: web::Data<AppState>,
    query: web::Query<BackupListQuery>,
    version: Microversion,
) -> NativeResult<web::Json<BackupDetailListResponse>> {
    let query = parse(&access, query.into_inner(), version)?;
    let p = state.backups.list(access.project, query).await?;
    let base = base_url(&req, &state);
    let root = link_root(&req, &state);
    let az = state.availability_zone.as_deref();
    Ok(web::Json(BackupDetailListResponse {
        backups: p.rows.iter().map(|r| backup_detail(r, &root, az, version)).collect(),
        backups_links: next_link(&req, &base, p.next_marker, p.limit),
        count: p.count,
    }))
}
