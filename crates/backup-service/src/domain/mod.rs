//! Pure logic: statuses and their transitions, wire time formats, retention. No I/O.

pub mod retention;

use chrono::NaiveDateTime;

/// A backup's status, as clients see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackupStatus {
    Creating,
    Available,
    Restoring,
    Deleting,
    Error,
    ErrorDeleting,
}

impl BackupStatus {
    pub const ALL: [Self; 6] =
        [Self::Creating, Self::Available, Self::Restoring, Self::Deleting, Self::Error, Self::ErrorDeleting];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Creating => "creating",
            Self::Available => "available",
            Self::Restoring => "restoring",
            Self::Deleting => "deleting",
            Self::Error => "error",
            Self::ErrorDeleting => "error_deleting",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// A backup can be deleted when no work runs on it (Cinder: available or error).
    pub fn deletable(self) -> bool {
        matches!(self, Self::Available | Self::Error | Self::ErrorDeleting)
    }
}

/// What a job does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobType {
    Create,
    Restore,
    Delete,
}

impl JobType {
    /// The vendor's job type names (`bksCreateBackup` is documented; the other two follow it).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Create => "bksCreateBackup",
            Self::Restore => "bksRestoreBackup",
            Self::Delete => "bksDeleteBackup",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Create, Self::Restore, Self::Delete].into_iter().find(|t| t.as_str() == s)
    }
}

/// A job's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobStatus {
    Init,
    Running,
    Success,
    Fail,
}

impl JobStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Init => "INIT",
            Self::Running => "RUNNING",
            Self::Success => "SUCCESS",
            Self::Fail => "FAIL",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Init, Self::Running, Self::Success, Self::Fail].into_iter().find(|t| t.as_str() == s)
    }

    pub fn finished(self) -> bool {
        matches!(self, Self::Success | Self::Fail)
    }
}

/// Native backup times: UTC, microseconds, no zone (`2013-06-27T08:48:03.000000`). The Go SDK
/// parses them with a zone-less layout and fails on a `Z`.
pub fn native_time(t: NaiveDateTime) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.6f").to_string()
}

/// Job times as the vendor writes them: UTC, milliseconds, `Z` (`2016-01-28T16:14:09.466Z`).
pub fn job_time(t: NaiveDateTime) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// `size`: GiB, rounded up (a 1-byte volume is 1 GiB, an empty one 0).
pub fn size_gib(bytes: u64) -> i64 {
    i64::try_from(bytes.div_ceil(1 << 30)).unwrap_or(i64::MAX)
}

/// Percent of `done` in `total`, 0–100 (100 for an empty total).
/// How far `done` is of `total`, in percent; 0 while the total is not known yet (callers say
/// 100 for work that finished).
pub fn percent(done: i64, total: i64) -> i64 {
    if total <= 0 { 0 } else { (done.clamp(0, total) * 100) / total }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_formats() {
        let t = chrono::DateTime::from_timestamp(1_372_322_883, 123_456_789).unwrap().naive_utc();
        assert_eq!(native_time(t), "2013-06-27T08:48:03.123456");
        assert_eq!(job_time(t), "2013-06-27T08:48:03.123Z");
        let whole = chrono::DateTime::from_timestamp(1_372_322_883, 0).unwrap().naive_utc();
        assert_eq!(native_time(whole), "2013-06-27T08:48:03.000000");
    }

    #[test]
    fn sizes_and_percentages() {
        assert_eq!(size_gib(0), 0);
        assert_eq!(size_gib(1), 1);
        assert_eq!(size_gib(1 << 30), 1);
        assert_eq!(size_gib((1 << 30) + 1), 2);
        assert_eq!(percent(0, 0), 0);
        assert_eq!(percent(50, 200), 25);
        assert_eq!(percent(300, 200), 100);
    }

    #[test]
    fn names_round_trip() {
        for s in BackupStatus::ALL {
            assert_eq!(BackupStatus::parse(s.as_str()), Some(s));
        }
        assert!(BackupStatus::Available.deletable() && !BackupStatus::Creating.deletable());
        assert!(!BackupStatus::Restoring.deletable());
        for t in [JobType::Create, JobType::Restore, JobType::Delete] {
            assert_eq!(JobType::parse(t.as_str()), Some(t));
        }
        assert!(JobStatus::Fail.finished() && !JobStatus::Running.finished());
    }
}
