//! The backup tasks a policy triggered
//! (`GET /v2/{project_id}/backuppolicy/{policy_id}/backuptasks`), field for field as spec/04
//! gives them.
//!
//! Query parameters arrive as strings ([`TaskQueryParams`]) so that the handler can say which
//! one is wrong and why, instead of a generic deserialization error.

use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A task's status. `WAITING` until a worker takes it, `RUNNING` while it backs up, then one of
/// the end states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TaskState {
    Waiting,
    Running,
    ExecuteSuccess,
    ExecuteFail,
    /// The task passed its deadline before a worker reported an end.
    ExecuteTimeout,
    /// Not backed up: the volume is missing, unavailable or still busy with its previous task,
    /// or the slot was missed while no scheduler ran.
    Skip,
}

impl TaskState {
    pub const ALL: [TaskState; 6] = [
        Self::Running,
        Self::ExecuteTimeout,
        Self::Waiting,
        Self::ExecuteFail,
        Self::ExecuteSuccess,
        Self::Skip,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Waiting => "WAITING",
            Self::Running => "RUNNING",
            Self::ExecuteSuccess => "EXECUTE_SUCCESS",
            Self::ExecuteFail => "EXECUTE_FAIL",
            Self::ExecuteTimeout => "EXECUTE_TIMEOUT",
            Self::Skip => "SKIP",
        }
    }

    /// The exact wire spelling only.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }

    /// `WAITING` or `RUNNING`: a worker may still act on it.
    pub fn is_open(self) -> bool {
        matches!(self, Self::Waiting | Self::Running)
    }
}

impl std::fmt::Display for TaskState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `sort_dir`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum SortDir {
    Asc,
    /// The default: newest first.
    #[default]
    Desc,
}

/// `sort_key`: the vendor allows only `created_at`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SortKey {
    #[default]
    CreatedAt,
}

/// The query string as received; every field is optional and parsed by the handler.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct TaskQueryParams {
    pub sort_dir: Option<String>,
    pub limit: Option<String>,
    pub marker: Option<String>,
    pub job_id: Option<String>,
    pub status: Option<String>,
    pub sort_key: Option<String>,
    pub offset: Option<String>,
}

/// One backup task ("backup job").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "status": "EXECUTE_SUCCESS",
    "job_id": "c11b5a18-4559-4731-b7b3-58e2bd89cdb9",
    "created_at": "2016-12-02T09:06:46.706",
    "finished_at": "2016-12-02T13:00:00.121",
    "backup_name": "autobk_e6d2",
    "resource_id": "f47a4ab5-11f5-4509-97f5-80ce0dd74e37",
    "resource_type": "volume"
}))]
pub struct TaskView {
    pub status: TaskState,
    /// The task's id, also the `marker` to page after it.
    pub job_id: String,
    /// UTC, milliseconds, no zone: `2016-12-02T09:06:46.706`.
    #[schema(example = "2016-12-02T09:06:46.706")]
    pub created_at: String,
    /// When the task reached its end (same format); absent while it is open.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(example = "2016-12-02T13:00:00.121")]
    pub finished_at: Option<String>,
    /// `autobk_` followed by four hex digits.
    #[schema(example = "autobk_a61d")]
    pub backup_name: String,
    /// The volume backed up.
    pub resource_id: String,
    /// Always `volume`.
    #[schema(example = "volume")]
    pub resource_type: String,
    /// The backup-service job that did the work, once a worker took the task.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vbs_job_id: Option<String>,
    /// Why the task failed, was skipped or timed out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The error code of a failed task.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
}

/// The response: one page of tasks and how many tasks match the filters in all.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TaskListResponse {
    pub tasks: Vec<TaskView>,
    /// The number of tasks matching `status` and `job_id`, not the size of this page.
    pub count: i64,
}

/// The task API's time format: UTC with milliseconds and no zone suffix
/// (`2016-12-02T09:06:46.706`); Go clients fail on a trailing `Z`. Sub-millisecond digits are
/// cut, not rounded, so a time never moves past the instant it describes.
pub fn format_task_time(t: NaiveDateTime) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3f").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn states_round_trip_by_their_wire_names() {
        for s in TaskState::ALL {
            assert_eq!(TaskState::parse(s.as_str()), Some(s));
            assert_eq!(serde_json::to_value(s).unwrap(), json!(s.as_str()));
        }
        assert_eq!(TaskState::parse("running"), None);
        assert_eq!(TaskState::parse(""), None);
        assert!(TaskState::Waiting.is_open() && TaskState::Running.is_open());
        assert!(!TaskState::Skip.is_open() && !TaskState::ExecuteTimeout.is_open());
    }

    #[test]
    fn time_format_has_milliseconds_and_no_zone() {
        let t = chrono::NaiveDate::from_ymd_opt(2016, 12, 2)
            .unwrap()
            .and_hms_micro_opt(9, 6, 46, 706_999)
            .unwrap();
        assert_eq!(format_task_time(t), "2016-12-02T09:06:46.706");
        let whole = chrono::NaiveDate::from_ymd_opt(2016, 12, 2).unwrap().and_hms_opt(13, 0, 0).unwrap();
        assert_eq!(format_task_time(whole), "2016-12-02T13:00:00.000");
    }

    #[test]
    fn optional_fields_are_left_out() {
        let v = TaskView {
            status: TaskState::Running,
            job_id: "j".into(),
            created_at: "2016-12-03T06:24:34.467".into(),
            finished_at: None,
            backup_name: "autobk_a61d".into(),
            resource_id: "r".into(),
            resource_type: "volume".into(),
            vbs_job_id: None,
            message: None,
            code: None,
        };
        assert_eq!(
            serde_json::to_value(&v).unwrap(),
            json!({"status": "RUNNING", "job_id": "j", "created_at": "2016-12-03T06:24:34.467",
                   "backup_name": "autobk_a61d", "resource_id": "r", "resource_type": "volume"})
        );
    }
}
