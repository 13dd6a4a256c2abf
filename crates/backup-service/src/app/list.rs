//! Listing a project's backups: filters, order and paging as Cinder does them.

use api_types::{
    domain::{ResourceId, ValidationError},
    dto::BackupListQuery,
};

use crate::{
    domain::BackupStatus,
    error::BackupError,
    store::{BackupRow, backups::BackupFilter},
};

/// The largest page, and the page size when `limit` is not given (Cinder's `osapi_max_limit`).
const MAX_LIMIT: i64 = 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SortKey {
    CreatedAt,
    UpdatedAt,
    Name,
    Status,
    Size,
    Id,
}

impl SortKey {
    fn parse(s: &str) -> Result<Self, ValidationError> {
        Ok(match s {
            "created_at" => Self::CreatedAt,
            "updated_at" => Self::UpdatedAt,
            "name" => Self::Name,
            "status" => Self::Status,
            "size" => Self::Size,
            "id" => Self::Id,
            other => {
                return Err(ValidationError::new(
                    "sort_key",
                    format!("{other:?} is not one of created_at, updated_at, name, status, size, id"),
                ));
            }
        })
    }

    /// Sorts ascending; ties are broken by id so that pages never overlap or skip.
    fn sort(self, rows: &mut [BackupRow]) {
        match self {
            Self::CreatedAt => rows.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id))),
            Self::UpdatedAt => rows.sort_by(|a, b| (a.updated_at, &a.id).cmp(&(b.updated_at, &b.id))),
            Self::Name => rows.sort_by(|a, b| (&a.name, &a.id).cmp(&(&b.name, &b.id))),
            Self::Status => rows.sort_by(|a, b| (&a.status, &a.id).cmp(&(&b.status, &b.id))),
            Self::Size => rows.sort_by(|a, b| (a.size_gib, &a.id).cmp(&(b.size_gib, &b.id))),
            Self::Id => rows.sort_by_key(|a| a.id),
        }
    }
}

/// A list request, validated.
#[derive(Debug, Clone)]
pub struct ListQuery {
    pub filter: BackupFilter,
    /// A `volume_id` that is not a UUID: it matches no backup (and never reaches SQL).
    volume_unmatchable: bool,
    sort: SortKey,
    descending: bool,
    pub limit: i64,
    offset: i64,
    /// Start after this backup (as given; Cinder answers 400 for one not in the list).
    marker: Option<String>,
    with_count: bool,
    /// Every project's backups (`all_tenants`, an admin's request).
    pub all_projects: bool,
}

/// `all_tenants` as Cinder reads it (`oslo_utils.strutils.bool_from_string`).
fn truthy(v: &str) -> bool {
    matches!(v.trim().to_ascii_lowercase().as_str(), "1" | "t" | "true" | "on" | "y" | "yes")
}

impl ListQuery {
    /// `admin`: the caller is an admin, whose `all_tenants` counts (Cinder ignores it from
    /// anyone else).
    pub fn parse(q: BackupListQuery, admin: bool) -> Result<Self, BackupError> {
        let limit = match q.limit {
            None => MAX_LIMIT,
            Some(n) if (0..=MAX_LIMIT).contains(&n) => n,
            Some(n) => {
                return Err(
                    ValidationError::new("limit", format!("{n} is not within 0 to {MAX_LIMIT}")).into()
                );
            }
        };
        let offset = match q.offset {
            None => 0,
            Some(n) if n >= 0 => n,
            Some(n) => return Err(ValidationError::new("offset", format!("{n} is negative")).into()),
        };
        let status = match q.status.as_deref() {
            None => None,
            Some(s) => Some(
                BackupStatus::parse(s)
                    .ok_or_else(|| ValidationError::new("status", format!("{s:?} is not a backup status")))?,
            ),
        };
        let descending = match q.sort_dir.as_deref() {
            None | Some("desc") => true,
            Some("asc") => false,
            Some(other) => {
                return Err(ValidationError::new("sort_dir", format!("{other:?} is not asc or desc")).into());
            }
        };
        let volume_id = q.volume_id.as_deref().map(|v| ResourceId::parse("volume_id", v).ok());
        Ok(Self {
            filter: BackupFilter { name: q.name, status, volume_id: volume_id.flatten() },
            volume_unmatchable: matches!(volume_id, Some(None)),
            sort: SortKey::parse(q.sort_key.as_deref().unwrap_or("created_at"))?,
            descending,
            limit,
            offset,
            marker: q.marker,
            with_count: q.with_count == Some(true),
            all_projects: admin && q.all_tenants.as_deref().is_some_and(truthy),
        })
    }

    /// Whether the query can match no backup whatever is stored.
    pub fn matches_nothing(&self) -> bool {
        self.volume_unmatchable
    }

    /// The page of `rows` (every backup the filter matched) the query asks for.
    pub fn page(&self, mut rows: Vec<BackupRow>) -> Result<Page, BackupError> {
        self.sort.sort(&mut rows);
        if self.descending {
            rows.reverse();
        }
        let count = self.with_count.then_some(rows.len() as i64);
        let start = match self.marker.as_deref() {
            Some(m) => {
                let marker = ResourceId::parse("marker", m).ok();
                let at = marker.and_then(|m| rows.iter().position(|r| *r.id == m));
                // Cinder answers 400 for a marker it cannot find.
                at.map(|i| i + 1).ok_or_else(|| {
                    ValidationError::new("marker", format!("backup {m:?} is not in this list"))
                })?
            }
            None => 0,
        };
        let start = start.saturating_add(usize::try_from(self.offset).unwrap_or(usize::MAX)).min(rows.len());
        let end = start.saturating_add(usize::try_from(self.limit).unwrap_or(usize::MAX)).min(rows.len());
        let more = end < rows.len();
        let page: Vec<BackupRow> = rows.drain(start..end).collect();
        let next_marker = if more && self.limit > 0 { page.last().map(|r| *r.id) } else { None };
        Ok(Page { rows: page, next_marker, limit: self.limit, count })
    }
}

/// One page of a project's backups, with the marker of the next page when more follow and the
/// total when asked.
pub struct Page {
    pub rows: Vec<BackupRow>,
    pub next_marker: Option<ResourceId>,
    pub limit: i64,
    pub count: Option<i64>,
}

impl Page {
    pub fn empty(query: &ListQuery) -> Self {
        Self { rows: Vec::new(), next_marker: None, limit: query.limit, count: query.with_count.then_some(0) }
    }
}
