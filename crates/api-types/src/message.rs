//! Messages the services exchange over RabbitMQ.
//!
//! Every message travels in an [`Envelope`]: a unique `message_id` (consumers are idempotent on
//! it), the `message_type` (also the routing key on the topic exchange), a `schema_version`
//! (a consumer refuses versions it does not know instead of misreading them), `occurred_at`,
//! and the W3C `traceparent` of the change that caused it (also sent as an AMQP header so that
//! tracing works without parsing the body).
//!
//! | type | producer | consumer |
//! |---|---|---|
//! | `policy.changed` | policy-service | task-scheduler |
//! | `policy.execute` | policy-service | task-scheduler |
//! | `backup.requested` | task-scheduler | backup-service workers |
//! | `task.status` | backup-service | task-scheduler |
//! | `backup.job` | backup-service API and workers | backup-service workers |

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize, de::DeserializeOwned};

use crate::domain::{ProjectId, ResourceId};

/// A payload type with its routing key and schema version.
pub trait Message: Serialize + DeserializeOwned {
    /// The message type, used as the routing key.
    const TYPE: &'static str;
    /// Bumped on any change a consumer of the previous version could misread.
    const SCHEMA_VERSION: u32;
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope<P> {
    pub message_id: uuid::Uuid,
    pub message_type: String,
    pub schema_version: u32,
    pub occurred_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traceparent: Option<String>,
    pub payload: P,
}

impl<P: Message> Envelope<P> {
    pub fn new(payload: P, occurred_at: DateTime<Utc>, traceparent: Option<String>) -> Self {
        Self {
            message_id: uuid::Uuid::now_v7(),
            message_type: P::TYPE.to_owned(),
            schema_version: P::SCHEMA_VERSION,
            occurred_at,
            traceparent,
            payload,
        }
    }

    /// Decodes a message body, refusing another type or an unknown schema version.
    pub fn decode(body: &[u8]) -> Result<Self, DecodeError> {
        let head: EnvelopeHead = serde_json::from_slice(body).map_err(DecodeError::Json)?;
        if head.message_type != P::TYPE {
            return Err(DecodeError::WrongType { expected: P::TYPE, got: head.message_type });
        }
        if head.schema_version != P::SCHEMA_VERSION {
            return Err(DecodeError::UnknownVersion { message_type: P::TYPE, got: head.schema_version });
        }
        serde_json::from_slice(body).map_err(DecodeError::Json)
    }
}

/// The envelope fields without the payload: what a consumer reads first to route a body.
#[derive(Debug, Clone, Deserialize)]
pub struct EnvelopeHead {
    pub message_id: uuid::Uuid,
    pub message_type: String,
    pub schema_version: u32,
}

#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("malformed message: {0}")]
    Json(serde_json::Error),
    #[error("expected a {expected} message, got {got}")]
    WrongType { expected: &'static str, got: String },
    #[error("{message_type} schema version {got} is not supported")]
    UnknownVersion { message_type: &'static str, got: u32 },
}

/// A policy tag as it travels in messages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TagPair {
    pub key: String,
    pub value: String,
}

/// The complete state of a policy after a change: everything the scheduler needs to fire it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicySnapshot {
    pub name: String,
    /// `status` ON.
    pub enabled: bool,
    /// Whole UTC hours from `start_time`, in the order the tenant gave them.
    pub start_hours_utc: Vec<u8>,
    /// `frequency` in days; when set it is the schedule and `week_days` is absent.
    pub frequency_days: Option<u8>,
    /// `week_frequency` as SUN..SAT names, in week order.
    pub week_days: Option<Vec<String>>,
    /// Minutes east of UTC of the policy's `time_zone` (0 when the policy has none).
    pub utc_offset_minutes: i16,
    pub retention: RetentionRule,
    /// Volumes associated with the policy, sorted.
    pub volumes: Vec<ResourceId>,
    pub tags: Vec<TagPair>,
}

/// A policy's retention, applied after every successful automatic backup.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetentionRule {
    /// Keep the newest N automatic backups; wins over `days` when both would be set.
    pub count: Option<u8>,
    /// Keep automatic backups younger than D days.
    pub days: Option<u32>,
    /// Also keep the first backup of the current month while the month lasts.
    pub keep_first_of_month: bool,
}

/// `policy.changed`: a policy was created, modified, (dis)associated, retagged, or deleted.
/// `version` increases with every change of the policy, deletion included, so a consumer keeps
/// the highest version it has seen and ignores anything older that arrives late.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyChanged {
    pub project_id: ProjectId,
    pub policy_id: ResourceId,
    pub version: i64,
    #[serde(flatten)]
    pub change: PolicyChange,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum PolicyChange {
    Upserted {
        policy: PolicySnapshot,
    },
    /// The policy is gone; its backups are kept.
    Deleted,
}

impl Message for PolicyChanged {
    const TYPE: &'static str = "policy.changed";
    const SCHEMA_VERSION: u32 = 1;
}

/// `policy.execute`: run the policy now for every associated volume, whatever the schedule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyExecute {
    pub project_id: ProjectId,
    pub policy_id: ResourceId,
    /// The policy version the request saw.
    pub version: i64,
    pub requested_at: DateTime<Utc>,
}

impl Message for PolicyExecute {
    const TYPE: &'static str = "policy.execute";
    const SCHEMA_VERSION: u32 = 1;
}

/// `backup.requested`: back up the volumes of one policy slot, a task each.
///
/// One message carries the tasks of a slot (at most [`BackupRequested::MAX_TASKS`]; a policy
/// with more volumes sends several), so firing 1,000 policies of 100 volumes costs the broker
/// 1,000 persistent messages, not 100,000. The consumer records every task's job, or its
/// `SKIP` / `EXECUTE_FAIL` status, in one transaction with the message's inbox record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupRequested {
    pub project_id: ProjectId,
    pub policy_id: ResourceId,
    pub retention: RetentionRule,
    /// Minutes east of UTC of the policy's time zone: the calendar in which "the first backup of
    /// the month" is judged.
    pub utc_offset_minutes: i16,
    pub scheduled_at: DateTime<Utc>,
    /// After this instant the scheduler reports the tasks as `EXECUTE_TIMEOUT`.
    pub deadline: DateTime<Utc>,
    /// One to [`BackupRequested::MAX_TASKS`] tasks, each for another volume.
    pub tasks: Vec<RequestedTask>,
}

impl BackupRequested {
    /// The most tasks one message carries: about 13 KB of JSON.
    pub const MAX_TASKS: usize = 100;
}

/// One volume to back up, for one task of a [`BackupRequested`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestedTask {
    pub task_id: ResourceId,
    pub volume_id: ResourceId,
    /// `autobk_` + 4 hex characters.
    pub backup_name: String,
}

impl Message for BackupRequested {
    const TYPE: &'static str = "backup.requested";
    /// 2: a message carries the tasks of a slot (1 carried one task, its fields at the top).
    const SCHEMA_VERSION: u32 = 2;
}

/// `task.status`: a worker's progress on a task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskStatus {
    pub task_id: ResourceId,
    pub project_id: ProjectId,
    pub policy_id: ResourceId,
    pub volume_id: ResourceId,
    pub at: DateTime<Utc>,
    /// The backup-service job doing the work, once there is one (the task's `vbs_job_id`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vbs_job_id: Option<ResourceId>,
    #[serde(flatten)]
    pub outcome: TaskOutcome,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TaskOutcome {
    Running,
    ExecuteSuccess {
        backup_id: ResourceId,
        backup_name: String,
        /// Automatic backups the policy's retention removed after this one.
        #[serde(default)]
        pruned_backup_ids: Vec<ResourceId>,
    },
    ExecuteFail {
        code: String,
        message: String,
    },
    /// Not backed up: the volume is missing or unavailable, or already being backed up.
    Skip {
        message: String,
    },
}

impl Message for TaskStatus {
    const TYPE: &'static str = "task.status";
    const SCHEMA_VERSION: u32 = 1;
}

/// `backup.job`: a backup-service job (create, restore or delete a backup) is ready to run.
///
/// The job row in the backup database is the source of truth (what to do, its lease and
/// attempts); the message only hands it to a worker, so HTTP-created work and policy-triggered
/// work go through the same queue, with the same prefetch, acks and dead-lettering.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupJob {
    pub job_id: ResourceId,
    pub project_id: ProjectId,
}

impl Message for BackupJob {
    const TYPE: &'static str = "backup.job";
    const SCHEMA_VERSION: u32 = 1;
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn id(n: u128) -> ResourceId {
        uuid::Uuid::from_u128(n).into()
    }

    #[test]
    fn envelope_round_trip_and_checks() {
        let msg = PolicyExecute {
            project_id: ProjectId::parse("p1").unwrap(),
            policy_id: id(1),
            version: 3,
            requested_at: DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
        };
        let env = Envelope::new(msg.clone(), Utc::now(), Some("00-abc-def-01".into()));
        let body = serde_json::to_vec(&env).unwrap();
        let back = Envelope::<PolicyExecute>::decode(&body).unwrap();
        assert_eq!(back.payload, msg);
        assert_eq!(back.message_id, env.message_id);
        assert!(matches!(Envelope::<TaskStatus>::decode(&body), Err(DecodeError::WrongType { .. })));
        let mut v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        v["schema_version"] = json!(99);
        assert!(matches!(
            Envelope::<PolicyExecute>::decode(&serde_json::to_vec(&v).unwrap()),
            Err(DecodeError::UnknownVersion { .. })
        ));
        assert!(matches!(Envelope::<PolicyExecute>::decode(b"{"), Err(DecodeError::Json(_))));
    }

    #[test]
    fn policy_changed_shapes() {
        let deleted = PolicyChanged {
            project_id: ProjectId::parse("p").unwrap(),
            policy_id: id(7),
            version: 9,
            change: PolicyChange::Deleted,
        };
        assert_eq!(
            serde_json::to_value(&deleted).unwrap(),
            json!({"project_id": "p", "policy_id": id(7).to_string(), "version": 9, "change": "deleted"})
        );
    }

    #[test]
    fn task_outcome_shapes() {
        let v =
            serde_json::to_value(TaskOutcome::ExecuteFail { code: "X".into(), message: "m".into() }).unwrap();
        assert_eq!(v, json!({"status": "EXECUTE_FAIL", "code": "X", "message": "m"}));
        assert_eq!(serde_json::to_value(TaskOutcome::Running).unwrap(), json!({"status": "RUNNING"}));
    }
}
