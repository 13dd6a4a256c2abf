//! Selecting policies by tags (`resource_instances/action`), with the semantics of the vendor's
//! tag service: `tags` — every condition holds; `tags_any` — at least one holds; `not_tags` —
//! excluded when every condition holds; `not_tags_any` — excluded when any holds. A condition
//! holds when the policy has the key and, if values are listed, one of them. `matches` with key
//! `resource_name` is a case-insensitive substring match on the policy name.
//!
//! A project has at most ten policies, so the selection runs in memory over all of them.

use api_types::{
    domain::ValidationError,
    dto::{ResourceInstancesRequest, TagFilter},
    error::codes::auto_backup as ab,
};

const MAX_CONDITIONS: usize = 10;
const MAX_VALUES: usize = 10;
pub const MAX_LIMIT: i64 = 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Filter { limit: usize, offset: usize },
    Count,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Condition {
    key: String,
    values: Vec<String>,
}

impl Condition {
    fn holds(&self, tags: &[(String, String)]) -> bool {
        tags.iter().any(|(k, v)| *k == self.key && (self.values.is_empty() || self.values.contains(v)))
    }
}

#[derive(Debug, Clone, Default)]
pub struct TagQuery {
    all: Vec<Condition>,
    any: Vec<Condition>,
    not_all: Vec<Condition>,
    not_any: Vec<Condition>,
    name_contains: Option<String>,
}

impl TagQuery {
    pub fn parse(req: &ResourceInstancesRequest) -> Result<(Self, Action), ValidationError> {
        let action = match req.action.as_str() {
            "filter" => {
                let limit = req.limit.unwrap_or(MAX_LIMIT);
                if !(1..=MAX_LIMIT).contains(&limit) {
                    return Err(ValidationError::new("limit", format!("must be from 1 to {MAX_LIMIT}"))
                        .with_code(ab::MALFORMED_JSON));
                }
                let offset = req.offset.unwrap_or(0);
                if offset < 0 {
                    return Err(
                        ValidationError::new("offset", "must not be negative").with_code(ab::MALFORMED_JSON)
                    );
                }
                Action::Filter { limit: limit as usize, offset: offset as usize }
            }
            "count" => Action::Count,
            other => {
                return Err(ValidationError::new(
                    "action",
                    format!("{other:?} is not supported; use \"filter\" or \"count\""),
                )
                .with_code(ab::ACTION_UNSUPPORTED));
            }
        };
        let mut name_contains = None;
        for m in req.matches.iter().flatten() {
            if m.key != "resource_name" {
                return Err(ValidationError::new(
                    "matches.key",
                    format!("{:?} is not supported; only \"resource_name\" is", m.key),
                )
                .with_code(ab::TAG_INVALID));
            }
            name_contains = Some(m.value.to_lowercase());
        }
        let query = Self {
            all: conditions("tags", req.tags.as_deref())?,
            any: conditions("tags_any", req.tags_any.as_deref())?,
            not_all: conditions("not_tags", req.not_tags.as_deref())?,
            not_any: conditions("not_tags_any", req.not_tags_any.as_deref())?,
            name_contains,
        };
        Ok((query, action))
    }

    pub fn matches(&self, name: &str, tags: &[(String, String)]) -> bool {
        self.all.iter().all(|c| c.holds(tags))
            && (self.any.is_empty() || self.any.iter().any(|c| c.holds(tags)))
            && (self.not_all.is_empty() || !self.not_all.iter().all(|c| c.holds(tags)))
            && !self.not_any.iter().any(|c| c.holds(tags))
            && self.name_contains.as_ref().is_none_or(|n| name.to_lowercase().contains(n))
    }
}

fn conditions(field: &'static str, input: Option<&[TagFilter]>) -> Result<Vec<Condition>, ValidationError> {
    let input = input.unwrap_or_default();
    let invalid = |msg: String| ValidationError::new(field, msg).with_code(ab::TAG_INVALID);
    if input.len() > MAX_CONDITIONS {
        return Err(invalid(format!("at most {MAX_CONDITIONS} keys, got {}", input.len())));
    }
    let mut out: Vec<Condition> = Vec::with_capacity(input.len());
    for f in input {
        if f.key.is_empty() || f.key.chars().count() > 127 {
            return Err(invalid("a key must be 1 to 127 characters".into()));
        }
        if out.iter().any(|c| c.key == f.key) {
            return Err(invalid(format!("key {:?} is given twice", f.key)));
        }
        if f.values.len() > MAX_VALUES {
            return Err(invalid(format!("at most {MAX_VALUES} values per key")));
        }
        let mut values: Vec<String> = Vec::with_capacity(f.values.len());
        for v in &f.values {
            if v.chars().count() > 255 {
                return Err(invalid("a value must be at most 255 characters".into()));
            }
            if values.contains(v) {
                return Err(invalid(format!("value {v:?} of key {:?} is given twice", f.key)));
            }
            values.push(v.clone());
        }
        out.push(Condition { key: f.key.clone(), values });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn query(body: serde_json::Value) -> TagQuery {
        let req: ResourceInstancesRequest = serde_json::from_value(body).unwrap();
        TagQuery::parse(&req).unwrap().0
    }

    fn tags(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn semantics_table() {
        let prod_db = tags(&[("env", "prod"), ("tier", "db")]);
        let dev_web = tags(&[("env", "dev"), ("tier", "web")]);
        let none = tags(&[]);
        let cases = [
            (json!({"action": "filter"}), [true, true, true]),
            (json!({"action": "filter", "tags": [{"key": "env", "values": ["prod"]}]}), [true, false, false]),
            (json!({"action": "filter", "tags": [{"key": "env", "values": []}]}), [true, true, false]),
            (
                json!({"action": "filter", "tags": [{"key": "env", "values": ["prod"]}, {"key": "tier", "values": ["web"]}]}),
                [false, false, false],
            ),
            (
                json!({"action": "filter", "tags_any": [{"key": "env", "values": ["prod"]}, {"key": "tier", "values": ["web"]}]}),
                [true, true, false],
            ),
            (
                json!({"action": "filter", "not_tags": [{"key": "env", "values": ["prod"]}, {"key": "tier", "values": ["db"]}]}),
                [false, true, true],
            ),
            (
                json!({"action": "filter", "not_tags": [{"key": "env", "values": ["prod"]}, {"key": "tier", "values": ["web"]}]}),
                [true, true, true],
            ),
            (
                json!({"action": "filter", "not_tags_any": [{"key": "env", "values": ["prod"]}, {"key": "tier", "values": ["web"]}]}),
                [false, false, true],
            ),
            (
                json!({"action": "filter", "matches": [{"key": "resource_name", "value": "DAILY"}]}),
                [true, false, false],
            ),
        ];
        for (body, expected) in cases {
            let q = query(body.clone());
            let got = [q.matches("daily-db", &prod_db), q.matches("weekly", &dev_web), q.matches("x", &none)];
            assert_eq!(got, expected, "{body}");
        }
    }

    #[test]
    fn actions_and_limits() {
        let parse = |b: serde_json::Value| {
            TagQuery::parse(&serde_json::from_value::<ResourceInstancesRequest>(b).unwrap())
        };
        assert_eq!(parse(json!({"action": "count"})).unwrap().1, Action::Count);
        assert_eq!(
            parse(json!({"action": "filter", "limit": "10", "offset": "3"})).unwrap().1,
            Action::Filter { limit: 10, offset: 3 }
        );
        assert_eq!(parse(json!({"action": "delete"})).unwrap_err().code, Some("AutoBackup.0222"));
        assert!(parse(json!({"action": "filter", "limit": "0"})).is_err());
        assert!(parse(json!({"action": "filter", "limit": 1001})).is_err());
        assert!(parse(json!({"action": "filter", "offset": -1})).is_err());
        assert!(parse(json!({"action": "filter", "tags": [{"key": "a"}, {"key": "a"}]})).is_err());
        assert!(parse(json!({"action": "filter", "matches": [{"key": "id", "value": "x"}]})).is_err());
    }
}
