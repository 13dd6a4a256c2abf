//! The task query's parameters (spec/04), parsed. Every wrong value is refused with the
//! parameter's name and the rule, never silently replaced by a default: a client that asked
//! for something else must learn that it did not get it.

use api_types::{
    domain::{ResourceId, ValidationError},
    dto::{SortDir, TaskQueryParams, TaskState},
};

/// The page size when the client names none (vendor default).
pub const DEFAULT_LIMIT: i64 = 20;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskQuery {
    pub status: Option<TaskState>,
    pub job_id: Option<ResourceId>,
    pub dir: SortDir,
    pub limit: i64,
    pub offset: i64,
    /// The page starts after this task (in the chosen order); `offset` then counts from there.
    pub marker: Option<ResourceId>,
}

impl TaskQuery {
    pub fn parse(p: &TaskQueryParams, max_limit: i64) -> Result<Self, ValidationError> {
        let status = p
            .status
            .as_deref()
            .map(|s| {
                TaskState::parse(s).ok_or_else(|| {
                    let all: Vec<&str> = TaskState::ALL.iter().map(|t| t.as_str()).collect();
                    ValidationError::new("status", format!("{s:?} is not one of {}", all.join(", ")))
                })
            })
            .transpose()?;
        let dir = match p.sort_dir.as_deref() {
            None => SortDir::Desc,
            Some("asc") => SortDir::Asc,
            Some("desc") => SortDir::Desc,
            Some(other) => {
                return Err(ValidationError::new(
                    "sort_dir",
                    format!("{other:?} is not \"asc\" or \"desc\""),
                ));
            }
        };
        if let Some(key) = p.sort_key.as_deref()
            && key != "created_at"
        {
            return Err(ValidationError::new(
                "sort_key",
                format!("{key:?} is not supported; the only sort key is \"created_at\""),
            ));
        }
        let limit = match p.limit.as_deref() {
            None => DEFAULT_LIMIT,
            Some(s) => match s.parse::<i64>() {
                Ok(n) if (1..=max_limit).contains(&n) => n,
                _ => {
                    return Err(ValidationError::new(
                        "limit",
                        format!("{s:?} is not an integer from 1 to {max_limit}"),
                    ));
                }
            },
        };
        let offset = match p.offset.as_deref() {
            None => 0,
            Some(s) => match s.parse::<i64>() {
                Ok(n) if n >= 0 => n,
                _ => {
                    return Err(ValidationError::new(
                        "offset",
                        format!("{s:?} is not a non-negative integer"),
                    ));
                }
            },
        };
        let id = |field: &'static str, v: &Option<String>| {
            v.as_deref()
                .map(|s| {
                    ResourceId::parse(field, s)
                        .map_err(|_| ValidationError::new(field, format!("{s:?} is not a job id (a UUID)")))
                })
                .transpose()
        };
        Ok(Self {
            status,
            job_id: id("job_id", &p.job_id)?,
            dir,
            limit,
            offset,
            marker: id("marker", &p.marker)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> TaskQueryParams {
        let mut p = TaskQueryParams::default();
        for (k, v) in pairs {
            let v = Some((*v).to_owned());
            match *k {
                "status" => p.status = v,
                "sort_dir" => p.sort_dir = v,
                "sort_key" => p.sort_key = v,
                "limit" => p.limit = v,
                "offset" => p.offset = v,
                "marker" => p.marker = v,
                "job_id" => p.job_id = v,
                other => panic!("{other}"),
            }
        }
        p
    }

    #[test]
    fn defaults() {
        let q = TaskQuery::parse(&params(&[]), 1000).unwrap();
        assert_eq!(
            q,
            TaskQuery { status: None, job_id: None, dir: SortDir::Desc, limit: 20, offset: 0, marker: None }
        );
    }

    #[test]
    fn every_parameter() {
        let id = "0781095c-b8ab-4ce5-99f3-4c5f6ff75319";
        let q = TaskQuery::parse(
            &params(&[
                ("status", "EXECUTE_SUCCESS"),
                ("sort_dir", "asc"),
                ("sort_key", "created_at"),
                ("limit", "1000"),
                ("offset", "40"),
                ("marker", id),
                ("job_id", id),
            ]),
            1000,
        )
        .unwrap();
        assert_eq!(q.status, Some(TaskState::ExecuteSuccess));
        assert_eq!(q.dir, SortDir::Asc);
        assert_eq!((q.limit, q.offset), (1000, 40));
        assert_eq!(q.marker.map(|m| m.to_string()).as_deref(), Some(id));
        assert_eq!(q.job_id, q.marker);
    }

    #[test]
    fn bad_values_name_their_parameter() {
        let cases: &[(&str, &str)] = &[
            ("status", "running"),
            ("status", ""),
            ("status", "DONE"),
            ("sort_dir", "ASC"),
            ("sort_dir", "up"),
            ("sort_dir", ""),
            ("sort_key", "updated_at"),
            ("sort_key", ""),
            ("limit", "0"),
            ("limit", "-1"),
            ("limit", "1001"),
            ("limit", "ten"),
            ("limit", "1.5"),
            ("limit", ""),
            ("offset", "-1"),
            ("offset", "x"),
            ("offset", "99999999999999999999"),
            ("marker", "nope"),
            ("marker", ""),
            ("job_id", "../etc"),
        ];
        for (k, v) in cases {
            let err = TaskQuery::parse(&params(&[(k, v)]), 1000).unwrap_err();
            assert_eq!(err.field, *k, "{k}={v:?}");
            assert!(!err.message.is_empty());
        }
    }
}
