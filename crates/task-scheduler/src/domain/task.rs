//! A task's life: what each worker report does to it.
//!
//! ```text
//! WAITING ──▶ RUNNING ──▶ EXECUTE_SUCCESS | EXECUTE_FAIL | SKIP
//!    └───────────────────▶ EXECUTE_SUCCESS | EXECUTE_FAIL | SKIP
//! WAITING | RUNNING ──(deadline passed, sweeper)──▶ EXECUTE_TIMEOUT
//! ```
//!
//! End states are final: a report that arrives after one (a duplicate, or a `RUNNING` overtaken
//! by its own `EXECUTE_SUCCESS`) changes nothing. The one exception is a timed-out task: a late
//! success or failure is still recorded on it (backup id and name, or code and message, and
//! `finished_at`), the status stays `EXECUTE_TIMEOUT`, and the message says what happened.

use api_types::{domain::ResourceId, dto::TaskState, message::TaskOutcome};
use chrono::{DateTime, Utc};

/// The message the sweeper writes on a task it times out.
pub const TIMEOUT_MESSAGE: &str = "the task did not finish before its deadline";

/// The columns a report changes; `None` leaves a column as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TaskPatch {
    pub status: Option<TaskState>,
    pub finished_at: Option<DateTime<Utc>>,
    pub backup_id: Option<ResourceId>,
    pub backup_name: Option<String>,
    pub code: Option<String>,
    pub message: Option<String>,
}

/// What a report does to a task that is in state `current`; `Err` says why it changes nothing.
pub fn on_report(
    current: TaskState,
    outcome: &TaskOutcome,
    at: DateTime<Utc>,
) -> Result<TaskPatch, &'static str> {
    use TaskState as S;
    match (current, outcome) {
        (S::Waiting, TaskOutcome::Running) => {
            Ok(TaskPatch { status: Some(S::Running), ..TaskPatch::default() })
        }
        (S::Running, TaskOutcome::Running) => Err("the task is already running"),
        (S::Waiting | S::Running, TaskOutcome::ExecuteSuccess { backup_id, backup_name, .. }) => {
            Ok(TaskPatch {
                status: Some(S::ExecuteSuccess),
                finished_at: Some(at),
                backup_id: Some(*backup_id),
                backup_name: Some(backup_name.clone()),
                ..TaskPatch::default()
            })
        }
        (S::Waiting | S::Running, TaskOutcome::ExecuteFail { code, message }) => Ok(TaskPatch {
            status: Some(S::ExecuteFail),
            finished_at: Some(at),
            code: Some(code.clone()),
            message: Some(message.clone()),
            ..TaskPatch::default()
        }),
        (S::Waiting | S::Running, TaskOutcome::Skip { message }) => Ok(TaskPatch {
            status: Some(S::Skip),
            finished_at: Some(at),
            message: Some(message.clone()),
            ..TaskPatch::default()
        }),
        (S::ExecuteTimeout, TaskOutcome::ExecuteSuccess { backup_id, backup_name, .. }) => Ok(TaskPatch {
            finished_at: Some(at),
            backup_id: Some(*backup_id),
            backup_name: Some(backup_name.clone()),
            message: Some(format!(
                "{TIMEOUT_MESSAGE}; the backup {backup_name} ({backup_id}) still succeeded at {}",
                at.format("%Y-%m-%dT%H:%M:%SZ")
            )),
            ..TaskPatch::default()
        }),
        (S::ExecuteTimeout, TaskOutcome::ExecuteFail { code, message }) => Ok(TaskPatch {
            finished_at: Some(at),
            code: Some(code.clone()),
            message: Some(format!("{TIMEOUT_MESSAGE}; the backup then failed: {message}")),
            ..TaskPatch::default()
        }),
        (S::ExecuteTimeout, TaskOutcome::Running | TaskOutcome::Skip { .. }) => {
            Err("the task already timed out")
        }
        (S::ExecuteSuccess | S::ExecuteFail | S::Skip, _) => Err("the task already ended"),
    }
}

/// `autobk_` and four hex digits, from random bits the caller supplies.
pub fn backup_name(random: u16) -> String {
    format!("autobk_{random:04x}")
}

/// The message of a task created as `SKIP` because its volume is still busy.
pub fn busy_message(previous_task: ResourceId, previous_status: TaskState) -> String {
    format!("skipped: the previous task {previous_task} of this volume is still {previous_status}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-23T13:00:00.121Z").unwrap().with_timezone(&Utc)
    }

    fn success() -> TaskOutcome {
        TaskOutcome::ExecuteSuccess {
            backup_id: ResourceId::from(uuid::Uuid::from_u128(7)),
            backup_name: "autobk_e6d2".into(),
            pruned_backup_ids: vec![],
        }
    }

    fn fail() -> TaskOutcome {
        TaskOutcome::ExecuteFail { code: "VolumeBackup.0027".into(), message: "disk read error".into() }
    }

    fn skip() -> TaskOutcome {
        TaskOutcome::Skip { message: "volume not found".into() }
    }

    #[test]
    fn open_tasks_move_forward() {
        use TaskState as S;
        assert_eq!(on_report(S::Waiting, &TaskOutcome::Running, at()).unwrap().status, Some(S::Running));
        for from in [S::Waiting, S::Running] {
            let p = on_report(from, &success(), at()).unwrap();
            assert_eq!(p.status, Some(S::ExecuteSuccess));
            assert_eq!(p.finished_at, Some(at()));
            assert_eq!(p.backup_name.as_deref(), Some("autobk_e6d2"));
            assert_eq!(p.backup_id, Some(ResourceId::from(uuid::Uuid::from_u128(7))));
            let p = on_report(from, &fail(), at()).unwrap();
            assert_eq!(p.status, Some(S::ExecuteFail));
            assert_eq!(
                (p.code.as_deref(), p.message.as_deref()),
                (Some("VolumeBackup.0027"), Some("disk read error"))
            );
            let p = on_report(from, &skip(), at()).unwrap();
            assert_eq!(p.status, Some(S::Skip));
            assert_eq!(p.message.as_deref(), Some("volume not found"));
            assert_eq!(p.finished_at, Some(at()));
        }
        assert!(on_report(S::Running, &TaskOutcome::Running, at()).is_err());
    }

    #[test]
    fn end_states_are_final() {
        for end in [TaskState::ExecuteSuccess, TaskState::ExecuteFail, TaskState::Skip] {
            for report in [TaskOutcome::Running, success(), fail(), skip()] {
                assert!(on_report(end, &report, at()).is_err(), "{end} after {report:?}");
            }
        }
    }

    #[test]
    fn a_late_report_on_a_timed_out_task_is_recorded_but_keeps_the_status() {
        let p = on_report(TaskState::ExecuteTimeout, &success(), at()).unwrap();
        assert_eq!(p.status, None);
        assert_eq!(p.finished_at, Some(at()));
        assert_eq!(p.backup_name.as_deref(), Some("autobk_e6d2"));
        let m = p.message.unwrap();
        assert!(m.contains("deadline") && m.contains("autobk_e6d2") && m.contains("succeeded"), "{m}");
        let p = on_report(TaskState::ExecuteTimeout, &fail(), at()).unwrap();
        assert_eq!(p.status, None);
        assert_eq!(p.code.as_deref(), Some("VolumeBackup.0027"));
        assert!(on_report(TaskState::ExecuteTimeout, &TaskOutcome::Running, at()).is_err());
        assert!(on_report(TaskState::ExecuteTimeout, &skip(), at()).is_err());
    }

    #[test]
    fn backup_names() {
        assert_eq!(backup_name(0xa61d), "autobk_a61d");
        assert_eq!(backup_name(0x000f), "autobk_000f");
    }
}
