use actix_web::{HttpRequest, web};
use api_types::{
    dto::{ShareCountResponse, ShareListQuery, ShareListResponse},
    error::ErrorEnvelope,
};

use super::{flag, id, project, share_view};
use crate::{
    app::ShareQuery,
    error::{BackupError, VbsResult},
    routes::{VbsRead, base_url, next_page_link},
    startup::AppState,
    store::shares::ShareFilter,
};

const MAX_LIMIT: i64 = 1000;

fn text(field: &'static str, s: String) -> Result<String, BackupError> {
    api_types::domain::without_nul(field, s)
        .map_err(|e| e.with_code(api_types::error::codes::volume_backup::SHARE_INVALID).into())
}

fn parse(q: ShareListQuery) -> Result<ShareQuery, BackupError> {
    let bad = |field: &'static str, m: String| -> BackupError {
        api_types::domain::ValidationError::new(field, m)
            .with_code(api_types::error::codes::volume_backup::SHARE_INVALID)
            .into()
    };
    let limit = match q.limit {
        None => MAX_LIMIT,
        Some(n) if (1..=MAX_LIMIT).contains(&n) => n,
        Some(n) => return Err(bad("limit", format!("{n} is not within 1 to {MAX_LIMIT}"))),
    };
    let offset = match q.offset {
        None => 0,
        Some(n) if n >= 0 => n,
        Some(n) => return Err(bad("offset", format!("{n} is negative"))),
    };
    let descending = match q.sort_dir.as_deref() {
        None | Some("asc") => false,
        Some("desc") => true,
        Some(other) => return Err(bad("sort_dir", format!("{other:?} is not asc or desc"))),
    };
    Ok(ShareQuery {
        to_me: flag(q.share_to_me.as_deref()),
        filter: ShareFilter {
            backup_id: q.backup_id.as_deref().map(|b| id("backup_id", b)).transpose()?,
            to_project: q.to_project_id.as_deref().map(|p| project("to_project_id", p)).transpose()?,
            from_project: q.from_project_id.as_deref().map(|p| project("from_project_id", p)).transpose()?,
            volume_id: q.volume_id.as_deref().map(|v| id("volume_id", v)).transpose()?,
            backup_name: q.name.map(|n| text("name", n)).transpose()?,
            backup_status: q.status.map(|s| text("status", s)).transpose()?,
        },
        availability_zone: q.availability_zone.map(|z| text("availability_zone", z)).transpose()?,
        descending,
        limit: usize::try_from(limit).unwrap_or(usize::MAX),
        offset: usize::try_from(offset).unwrap_or(0),
    })
}

/// List shares with their backups.
///
/// The shares this project made, or with `share_to_me=true` those other projects made to it.
/// Filters: `backup_id`, `to_project_id`, `from_project_id`, and the backup's `volume_id`,
/// `name`, `status`, `availability_zone`; `sort_dir` (`asc`: oldest first, the default),
/// `limit` (1–1000) and `offset`, with a `shared_links` `next` link while more follow.
#[utoipa::path(
    get,
    path = "/v2/{project_id}/os-vendor-backup-sharing/detail",
    operation_id = "listBackupShares",
    tag = "Backup sharing",
    params(("project_id" = String, Path, description = "Project ID"), ShareListQuery),
    responses(
        (status = 200, description = "A page of shares", body = ShareListResponse),
        (status = 400, description = "Invalid filter or paging", body = ErrorEnvelope),
    ),
    security(("token" = []))
)]
pub async fn list_shares(
    req: HttpRequest,
    access: VbsRead,
    state: web::Data<AppState>,
    query: web::Query<ShareListQuery>,
) -> VbsResult<web::Json<ShareListResponse>> {
    let query = parse(query.into_inner())?;
    let (limit, offset) = (query.limit, query.offset);
    let (page, total) = state.backups.shares(access.project, query).await?;
    let zone = state.availability_zone.as_deref();
    let next = offset + page.len();
    let shared_links = (next < total).then(|| {
        vec![next_page_link(&req, &base_url(&req, &state), &format!("limit={limit}&offset={next}"))]
    });
    Ok(web::Json(ShareListResponse {
        shared: page.iter().map(|(s, b)| share_view(s, Some(b), zone)).collect(),
        shared_links,
    }))
}

/// Count the shares the same filters list.
#[utoipa::path(
    get,
    path = "/v2/{project_id}/os-vendor-backup-sharing/count",
    operation_id = "countBackupShares",
    tag = "Backup sharing",
    params(("project_id" = String, Path, description = "Project ID"), ShareListQuery),
    responses(
        (status = 200, description = "How many shares match", body = ShareCountResponse),
        (status = 400, description = "Invalid filter", body = ErrorEnvelope),
    ),
    security(("token" = []))
)]
pub async fn count_shares(
    access: VbsRead,
    state: web::Data<AppState>,
    query: web::Query<ShareListQuery>,
) -> VbsResult<web::Json<ShareCountResponse>> {
    let mut query = parse(query.into_inner())?;
    query.offset = 0;
    let (_, total) = state.backups.shares(access.project, query).await?;
    Ok(web::Json(ShareCountResponse { count: i64::try_from(total).unwrap_or(i64::MAX) }))
}
