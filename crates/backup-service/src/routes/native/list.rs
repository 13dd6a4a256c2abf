use actix_web::{HttpRequest, web};
use api_types::{
    domain::{ResourceId, ValidationError},
    dto::{BackupDetailListResponse, BackupListQuery, BackupListResponse, Link},
};

use crate::{
    domain::BackupStatus,
    error::{BackupError, NativeResult},
    openapi::CinderFaultDoc,
    routes::{NativeAccess, backup_detail, backup_ref, base_url},
    startup::AppState,
    store::{self, BackupRow},
};

/// The largest page, and the page size when `limit` is not given (Cinder's `osapi_max_limit`).
const MAX_LIMIT: i64 = 1000;

/// One page of the project's backups, with the `next` link when more follow and the total
/// when asked.
struct Page {
    rows: Vec<BackupRow>,
    next_marker: Option<String>,
    limit: i64,
    count: Option<i64>,
}

fn sort_rows(rows: &mut [BackupRow], key: &str, desc: bool) -> Result<(), BackupError> {
    // Ties are broken by id so that pages never overlap or skip.
    match key {
        "created_at" => rows.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id))),
        "updated_at" => rows.sort_by(|a, b| (a.updated_at, &a.id).cmp(&(b.updated_at, &b.id))),
        "name" => rows.sort_by(|a, b| (&a.name, &a.id).cmp(&(&b.name, &b.id))),
        "status" => rows.sort_by(|a, b| (&a.status, &a.id).cmp(&(&b.status, &b.id))),
        "size" => rows.sort_by(|a, b| (a.size_gib, &a.id).cmp(&(b.size_gib, &b.id))),
        "id" => rows.sort_by(|a, b| a.id.cmp(&b.id)),
        other => {
            return Err(ValidationError::new(
                "sort_key",
                format!("{other:?} is not one of created_at, updated_at, name, status, size, id"),
            )
            .into());
        }
    }
    if desc {
        rows.reverse();
    }
    Ok(())
}

async fn page(state: &AppState, project: String, q: BackupListQuery) -> Result<Page, BackupError> {
    let limit = match q.limit {
        None => MAX_LIMIT,
        Some(n) if (0..=MAX_LIMIT).contains(&n) => n,
        Some(n) => {
            return Err(ValidationError::new("limit", format!("{n} is not within 0 to {MAX_LIMIT}")).into());
        }
    };
    let offset = match q.offset {
        None => 0,
        Some(n) if n >= 0 => n,
        Some(n) => return Err(ValidationError::new("offset", format!("{n} is negative")).into()),
    };
    if let Some(s) = q.status.as_deref()
        && BackupStatus::parse(s).is_none()
    {
        return Err(ValidationError::new("status", format!("{s:?} is not a backup status")).into());
    }
    let desc = match q.sort_dir.as_deref() {
        None | Some("desc") => true,
        Some("asc") => false,
        Some(other) => {
            return Err(ValidationError::new("sort_dir", format!("{other:?} is not asc or desc")).into());
        }
    };
    // A volume id that is not a UUID matches no backup (and never reaches SQL as anything else).
    let volume = match q.volume_id.as_deref() {
        Some(v) => match ResourceId::parse("volume_id", v) {
            Ok(id) => Some(id.to_string()),
            Err(_) => {
                return Ok(Page {
                    rows: Vec::new(),
                    next_marker: None,
                    limit,
                    count: q.with_count.map(|_| 0),
                });
            }
        },
        None => None,
    };
    let sort_key = q.sort_key.clone().unwrap_or_else(|| "created_at".to_owned());
    let (name, status) = (q.name.clone(), q.status.clone());
    let mut rows = state
        .db
        .read(move |conn| {
            Ok(store::list_backups(conn, &project, name.as_deref(), status.as_deref(), volume.as_deref())?)
        })
        .await?;
    sort_rows(&mut rows, &sort_key, desc)?;
    let count = q.with_count.filter(|w| *w).map(|_| rows.len() as i64);
    let start = match q.marker.as_deref() {
        Some(m) => {
            let marker = ResourceId::parse("marker", m).map(|id| id.to_string()).ok();
            let at = marker.and_then(|m| rows.iter().position(|r| r.id == m));
            // Cinder answers 400 for a marker it cannot find.
            at.map(|i| i + 1)
                .ok_or_else(|| ValidationError::new("marker", format!("backup {m:?} is not in this list")))?
        }
        None => 0,
    };
    let start = start.saturating_add(usize::try_from(offset).unwrap_or(usize::MAX)).min(rows.len());
    let end = start.saturating_add(usize::try_from(limit).unwrap_or(usize::MAX)).min(rows.len());
    let more = end < rows.len();
    let page: Vec<BackupRow> = rows.drain(start..end).collect();
    let next_marker = if more && limit > 0 { page.last().map(|r| r.id.clone()) } else { None };
    Ok(Page { rows: page, next_marker, limit, count })
}

fn next_link(req: &HttpRequest, base: &str, marker: Option<String>, limit: i64) -> Option<Vec<Link>> {
    let marker = marker?;
    // Keep the caller's filters, replace the paging.
    let kept: Vec<String> = req
        .query_string()
        .split('&')
        .filter(|kv| !kv.is_empty())
        .filter(|kv| !["marker", "limit", "offset"].contains(&kv.split('=').next().unwrap_or_default()))
        .map(str::to_owned)
        .collect();
    let mut query = kept.join("&");
    if !query.is_empty() {
        query.push('&');
    }
    query.push_str(&format!("limit={limit}&marker={marker}"));
    Some(vec![Link { href: format!("{base}{}?{query}", req.path()), rel: "next".into() }])
}

/// List backups (id, links, name).
///
/// Filters: `name`, `status`, `volume_id`; paging: `limit` (default and at most 1000),
/// `marker` (start after this backup), `offset`; order: `sort_key` (`created_at` by default)
/// and `sort_dir` (`desc` by default). A `backups_links` `next` link is given while more
/// backups follow. Also served at `/v3/{project_id}/backups` and
/// `/v3/{project_id}/native/backups`.
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
pub async fn summary(
    req: HttpRequest,
    access: NativeAccess,
    state: web::Data<AppState>,
    query: web::Query<BackupListQuery>,
) -> NativeResult<web::Json<BackupListResponse>> {
    let p = page(&state, access.project.as_str().to_owned(), query.into_inner()).await?;
    let base = base_url(&req, &state);
    Ok(web::Json(BackupListResponse {
        backups: p.rows.iter().map(|r| backup_ref(r, &base)).collect(),
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
pub async fn detail(
    req: HttpRequest,
    access: NativeAccess,
    state: web::Data<AppState>,
    query: web::Query<BackupListQuery>,
) -> NativeResult<web::Json<BackupDetailListResponse>> {
    let p = page(&state, access.project.as_str().to_owned(), query.into_inner()).await?;
    let base = base_url(&req, &state);
    let az = state.availability_zone.as_deref();
    Ok(web::Json(BackupDetailListResponse {
        backups: p.rows.iter().map(|r| backup_detail(r, &base, az)).collect(),
        backups_links: next_link(&req, &base, p.next_marker, p.limit),
        count: p.count,
    }))
}
