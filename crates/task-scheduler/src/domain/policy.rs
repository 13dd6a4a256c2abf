//! A policy's schedule as it arrives in `policy.changed`, parsed back through the same domain
//! types that admitted it in policy-service, so that a malformed message is refused rather than
//! half applied.

use api_types::{
    domain::{Frequency, Schedule, StartTimes, TimeZoneOffset, ValidationError, WeekDays},
    message::PolicySnapshot,
};

use super::schedule::FireSchedule;

/// When a policy fires, in the forms the read model stores.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyTiming {
    pub start_times: StartTimes,
    pub schedule: Schedule,
    pub offset: TimeZoneOffset,
    pub enabled: bool,
}

impl PolicyTiming {
    pub fn from_snapshot(p: &PolicySnapshot) -> Result<Self, ValidationError> {
        let frequency = p.frequency_days.map(|d| Frequency::parse(i64::from(d))).transpose()?;
        let week_days = p.week_days.as_deref().map(WeekDays::parse).transpose()?;
        Ok(Self {
            start_times: StartTimes::from_hours(p.start_hours_utc.clone())?,
            // `frequency` wins when both are set (vendor rule).
            schedule: Schedule::choose(frequency, week_days)?,
            offset: TimeZoneOffset::from_minutes(p.utc_offset_minutes)?,
            enabled: p.enabled,
        })
    }

    pub fn fire_schedule(&self) -> FireSchedule {
        FireSchedule::new(&self.start_times, self.schedule, self.offset, self.enabled)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use api_types::message::RetentionRule;

    fn snapshot() -> PolicySnapshot {
        PolicySnapshot {
            name: "p".into(),
            enabled: true,
            start_hours_utc: vec![22, 0, 2],
            frequency_days: None,
            week_days: Some(vec!["MON".into()]),
            utc_offset_minutes: 120,
            retention: RetentionRule { count: Some(3), days: None, keep_first_of_month: false },
            volumes: vec![],
            tags: vec![],
        }
    }

    #[test]
    fn parses_a_snapshot() {
        let t = PolicyTiming::from_snapshot(&snapshot()).unwrap();
        assert_eq!(t.start_times.to_string(), "22:00,00:00,02:00");
        assert_eq!(t.offset.to_string(), "UTC+02:00");
        assert!(matches!(t.schedule, Schedule::Weekly(_)));
    }

    #[test]
    fn frequency_wins_and_bad_snapshots_are_refused() {
        let mut s = snapshot();
        s.frequency_days = Some(3);
        assert!(matches!(PolicyTiming::from_snapshot(&s).unwrap().schedule, Schedule::EveryNDays(_)));
        for broken in [
            PolicySnapshot { start_hours_utc: vec![24], ..snapshot() },
            PolicySnapshot { start_hours_utc: vec![], ..snapshot() },
            PolicySnapshot { week_days: None, ..snapshot() },
            PolicySnapshot { week_days: Some(vec!["XYZ".into()]), ..snapshot() },
            PolicySnapshot { frequency_days: Some(15), ..snapshot() },
            PolicySnapshot { utc_offset_minutes: 15 * 60, ..snapshot() },
        ] {
            assert!(PolicyTiming::from_snapshot(&broken).is_err(), "{broken:?}");
        }
    }
}
