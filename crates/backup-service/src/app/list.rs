//! Listing a project's backups: filters, order and paging as Cinder does them.

use std::cmp::Ordering;

use api_types::{
    domain::{ProjectId, ResourceId, ValidationError, truthy, without_nul},
    dto::BackupListQuery,
};

use crate::{
    domain::BackupStatus,
    error::BackupError,
    store::{
        BackupRow,
        backups::{BackupFilter, Listed, SortColumn, Window},
    },
};

/// The largest page, and the page size when `limit` is not given (Cinder's `osapi_max_limit`).
const MAX_LIMIT: i64 = 1000;

/// A `sort` / `sort_key` value.
fn sort_column(field: &'static str, s: &str) -> Result<SortColumn, ValidationError> {
    Ok(match s {
        "created_at" => SortColumn::CreatedAt,
        "updated_at" => SortColumn::UpdatedAt,
        "name" => SortColumn::Name,
        "status" => SortColumn::Status,
        "size" => SortColumn::Size,
        "id" => SortColumn::Id,
        other => {
            return Err(ValidationError::new(
                field,
                format!("{other:?} is not one of created_at, updated_at, name, status, size, id"),
            ));
        }
    })
}

/// `desc` (the default) or `asc`.
fn descending(field: &'static str, dir: Option<&str>) -> Result<bool, ValidationError> {
    match dir {
        None | Some("desc") => Ok(true),
        Some("asc") => Ok(false),
        Some(other) => Err(ValidationError::new(field, format!("{other:?} is not asc or desc"))),
    }
}

/// The order of a list: `sort=key[:dir],…` (cinderclient) or `sort_key` + `sort_dir`
/// (openstacksdk), `created_at` descending by default. Ties are broken by id in the direction
/// of the last key, so that pages never overlap or skip.
fn parse_order(
    sort: Option<&str>,
    sort_key: Option<&str>,
    sort_dir: Option<&str>,
) -> Result<Vec<(SortColumn, bool)>, ValidationError> {
    let Some(sort) = sort else {
        let key = sort_column("sort_key", sort_key.unwrap_or("created_at"))?;
        return Ok(vec![(key, descending("sort_dir", sort_dir)?)]);
    };
    if sort_key.is_some() || sort_dir.is_some() {
        return Err(ValidationError::new("sort", "is not allowed together with sort_key or sort_dir"));
    }
    sort.split(',')
        .map(|item| {
            let (key, dir) = match item.split_once(':') {
                Some((k, d)) => (k.trim(), Some(d.trim())),
                None => (item.trim(), None),
            };
            Ok((sort_column("sort", key)?, descending("sort", dir)?))
        })
        .collect()
}

/// A list request, validated.
#[derive(Debug, Clone)]
pub struct ListQuery {
    pub filter: BackupFilter,
    /// A filter no backup can match (an unknown status, an id that is not one).
    unmatchable: bool,
    /// Keys with their direction (`true`: descending), most significant first.
    order: Vec<(SortColumn, bool)>,
    pub limit: i64,
    offset: i64,
    /// Start after this backup (as given; Cinder answers 400 for one not in the list).
    marker: Option<String>,
    with_count: bool,
    /// Every project's backups (`all_tenants`, an admin's request).
    pub all_projects: bool,
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
        // A status no backup can have, or a volume id that is not one, matches nothing (as
        // Cinder answers: an empty list) and never reaches SQL.
        let status = q.status.as_deref().map(BackupStatus::parse);
        let volume_id = q.volume_id.as_deref().map(|v| ResourceId::parse("volume_id", v).ok());
        let all_projects = admin && q.all_tenants.as_deref().is_some_and(truthy);
        // Cinder reads `project_id` only from an admin listing every project.
        let project = q.project_id.as_deref().filter(|_| all_projects).map(|p| ProjectId::parse(p).ok());
        let order = parse_order(q.sort.as_deref(), q.sort_key.as_deref(), q.sort_dir.as_deref())?;
        Ok(Self {
            filter: BackupFilter {
                name: q.name.map(|n| without_nul("name", n)).transpose()?,
                status: status.flatten(),
                volume_id: volume_id.flatten(),
                project: project.clone().flatten(),
            },
            unmatchable: matches!(volume_id, Some(None))
                || matches!(status, Some(None))
                || matches!(project, Some(None)),
            order,
            limit,
            offset,
            marker: q.marker,
            with_count: q.with_count.as_deref().is_some_and(truthy),
            all_projects,
        })
    }

    /// What of the list the page needs, when the database can cut it: with no total to count,
    /// the first `offset + limit` rows in order after the marker, if any, and one more (which
    /// says whether more follow); the caller sets the marker's row ([`Window::after`]). `None`:
    /// the page needs every matching backup.
    pub fn window(&self) -> Option<Window> {
        if self.with_count {
            return None;
        }
        Some(Window {
            order: self.order.clone(),
            rows: self.offset.saturating_add(self.limit).saturating_add(1),
            after: None,
        })
    }

    /// The marker's id, and the marker as given; one that is not an id is in no list, which
    /// Cinder answers with 400.
    pub fn marker(&self) -> Result<Option<(ResourceId, String)>, BackupError> {
        self.marker
            .as_deref()
            .map(|m| {
                ResourceId::parse("marker", m).map(|id| (id, m.to_owned())).map_err(|_| marker_not_listed(m))
            })
            .transpose()
    }

    /// Whether the query can match no backup whatever is stored.
    pub fn matches_nothing(&self) -> bool {
        self.unmatchable
    }

    /// The page of `rows` the query asks for: every backup the filter matched, or the rows
    /// of its [`Self::window`] (read after the marker, if any).
    pub fn page<R: Listed>(&self, mut rows: Vec<R>, windowed: bool) -> Result<Page<R>, BackupError> {
        let last_desc = self.order.last().is_some_and(|(_, d)| *d);
        rows.sort_by(|a, b| {
            let keys =
                self.order.iter().map(|(k, desc)| if *desc { k.compare(b, a) } else { k.compare(a, b) });
            let tie = if last_desc { b.id().cmp(a.id()) } else { a.id().cmp(b.id()) };
            keys.fold(Ordering::Equal, Ordering::then).then(tie)
        });
        let count = self.with_count.then_some(rows.len() as i64);
        let start = match self.marker.as_deref() {
            Some(m) if !windowed => {
                let marker = ResourceId::parse("marker", m).ok();
                let at = marker.and_then(|m| rows.iter().position(|r| **r.id() == m));
                // Cinder answers 400 for a marker it cannot find.
                at.map(|i| i + 1).ok_or_else(|| marker_not_listed(m))?
            }
            _ => 0,
        };
        let start = start.saturating_add(usize::try_from(self.offset).unwrap_or(usize::MAX)).min(rows.len());
        let end = start.saturating_add(usize::try_from(self.limit).unwrap_or(usize::MAX)).min(rows.len());
        let more = end < rows.len();
        let page: Vec<R> = rows.drain(start..end).collect();
        let next_marker = if more && self.limit > 0 { page.last().map(|r| **r.id()) } else { None };
        Ok(Page { rows: page, next_marker, limit: self.limit, count })
    }
}

/// Cinder's answer to a marker the list does not hold.
pub fn marker_not_listed(marker: &str) -> BackupError {
    ValidationError::new("marker", format!("backup {marker:?} is not in this list")).into()
}

/// One page of a project's backups (whole rows, or what the summary list reads), with the
/// marker of the next page when more follow and the total when asked.
pub struct Page<R = BackupRow> {
    pub rows: Vec<R>,
    pub next_marker: Option<ResourceId>,
    pub limit: i64,
    pub count: Option<i64>,
}

impl<R> Page<R> {
    pub fn empty(query: &ListQuery) -> Self {
        Self { rows: Vec::new(), next_marker: None, limit: query.limit, count: query.with_count.then_some(0) }
    }
}
