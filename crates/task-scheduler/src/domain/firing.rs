//! Which due slots of a policy run and which are recorded as missed.
//!
//! The scheduler keeps, per policy, the earliest slot it has not handled yet. When it handles
//! the policy at `now` (normally a few seconds after a slot; after downtime, much later), every
//! slot from there up to `until` is due. The latest of them still runs if it is at most `grace`
//! old; every other due slot is recorded as `SKIP`, so that a tenant sees in the task list that
//! a backup was missed, and the workers are not flooded with stale backups after an outage.

use std::collections::VecDeque;

use chrono::{DateTime, TimeDelta, Utc};

use super::schedule::FireSchedule;

/// At most this many missed slots of one policy are recorded in one go (a month of hourly
/// slots is 744); older ones are only counted in the log, so a very long outage cannot turn
/// into one enormous transaction.
pub const MAX_RECORDED_MISSED: usize = 1000;

/// Why a due slot does not run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Missed {
    /// A later slot was also missed, and only the latest one may run late.
    Superseded,
    /// It is the latest missed slot but more than the grace window old.
    PastGrace,
}

/// What to do with one policy's due slots.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotPlan {
    /// The slot that runs now.
    pub run: Option<DateTime<Utc>>,
    /// Slots recorded as `SKIP`, ascending.
    pub missed: Vec<(DateTime<Utc>, Missed)>,
    /// Missed slots older than the recorded ones (see [`MAX_RECORDED_MISSED`]).
    pub unrecorded: usize,
    /// The first slot after `until`: the policy's new earliest unhandled slot.
    pub next: Option<DateTime<Utc>>,
}

/// Plans the slots in `[first, until]` (with `first` the earliest unhandled slot) at `now`.
pub fn plan(
    schedule: &FireSchedule,
    first: DateTime<Utc>,
    until: DateTime<Utc>,
    now: DateTime<Utc>,
    grace: TimeDelta,
) -> SlotPlan {
    let mut due: VecDeque<DateTime<Utc>> = VecDeque::new();
    let mut unrecorded = 0;
    let head = (schedule.is_enabled() && first <= until && schedule.fires_at(first)).then_some(first);
    for slot in head.into_iter().chain(schedule.between(first, until)) {
        if due.len() > MAX_RECORDED_MISSED {
            due.pop_front();
            unrecorded += 1;
        }
        due.push_back(slot);
    }
    let mut run = None;
    let mut missed = Vec::with_capacity(due.len());
    if let Some(latest) = due.pop_back() {
        missed.extend(due.into_iter().map(|s| (s, Missed::Superseded)));
        if now - latest <= grace {
            run = Some(latest);
        } else {
            missed.push((latest, Missed::PastGrace));
        }
    }
    SlotPlan {
        run,
        missed,
        unrecorded,
        next: schedule.next_after(until.max(first - TimeDelta::nanoseconds(1))),
    }
}

/// The `SKIP` message of a missed slot.
pub fn missed_message(slot: DateTime<Utc>, why: Missed, grace: TimeDelta) -> String {
    let slot = slot.format("%Y-%m-%dT%H:%M:%SZ");
    match why {
        Missed::Superseded => format!(
            "skipped: the slot {slot} was missed while no scheduler was running; only the latest missed slot runs late"
        ),
        Missed::PastGrace => format!(
            "skipped: the slot {slot} was missed while no scheduler was running and was more than {} minutes past when the scheduler caught up",
            grace.num_minutes()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use api_types::domain::{Frequency, Schedule, StartTimes, TimeZoneOffset};

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn hourly() -> FireSchedule {
        let all: Vec<String> = (0..24).map(|h| format!("{h:02}:00")).collect();
        FireSchedule::new(
            &StartTimes::parse(&all.join(",")).unwrap(),
            Schedule::EveryNDays(Frequency::parse(1).unwrap()),
            TimeZoneOffset::UTC,
            true,
        )
    }

    const GRACE: TimeDelta = TimeDelta::minutes(30);

    #[test]
    fn a_slot_on_time_runs() {
        let s = hourly();
        let p = plan(
            &s,
            at("2026-11-23T12:00:00Z"),
            at("2026-11-23T12:00:05Z"),
            at("2026-11-23T12:00:05Z"),
            GRACE,
        );
        assert_eq!(p.run, Some(at("2026-11-23T12:00:00Z")));
        assert!(p.missed.is_empty());
        assert_eq!(p.next, Some(at("2026-11-23T13:00:00Z")));
    }

    #[test]
    fn nothing_is_due_before_the_slot() {
        let s = hourly();
        let p = plan(
            &s,
            at("2026-11-23T12:00:00Z"),
            at("2026-11-23T11:59:59Z"),
            at("2026-11-23T11:59:59Z"),
            GRACE,
        );
        assert_eq!(
            p,
            SlotPlan { run: None, missed: vec![], unrecorded: 0, next: Some(at("2026-11-23T12:00:00Z")) }
        );
    }

    #[test]
    fn after_downtime_the_latest_slot_inside_grace_runs_and_older_ones_are_missed() {
        let s = hourly();
        let now = at("2026-11-23T15:20:00Z");
        let p = plan(&s, at("2026-11-23T12:00:00Z"), now, now, GRACE);
        assert_eq!(p.run, Some(at("2026-11-23T15:00:00Z")));
        assert_eq!(
            p.missed,
            [
                (at("2026-11-23T12:00:00Z"), Missed::Superseded),
                (at("2026-11-23T13:00:00Z"), Missed::Superseded),
                (at("2026-11-23T14:00:00Z"), Missed::Superseded),
            ]
        );
        assert_eq!(p.next, Some(at("2026-11-23T16:00:00Z")));
    }

    #[test]
    fn the_latest_slot_outside_grace_is_missed_too() {
        let s = hourly();
        let now = at("2026-11-23T13:45:00Z");
        let p = plan(&s, at("2026-11-23T12:00:00Z"), now, now, GRACE);
        assert_eq!(p.run, None);
        assert_eq!(
            p.missed,
            [
                (at("2026-11-23T12:00:00Z"), Missed::Superseded),
                (at("2026-11-23T13:00:00Z"), Missed::PastGrace)
            ]
        );
        // Exactly at the edge of the window it still runs.
        let p = plan(
            &s,
            at("2026-11-23T12:00:00Z"),
            at("2026-11-23T12:30:00Z"),
            at("2026-11-23T12:30:00Z"),
            GRACE,
        );
        assert_eq!(p.run, Some(at("2026-11-23T12:00:00Z")));
    }

    #[test]
    fn a_disabled_policy_plans_nothing() {
        let s = FireSchedule::new(
            &StartTimes::parse("12:00").unwrap(),
            Schedule::EveryNDays(Frequency::parse(1).unwrap()),
            TimeZoneOffset::UTC,
            false,
        );
        let now = at("2026-11-25T00:00:00Z");
        assert_eq!(
            plan(&s, at("2026-11-23T12:00:00Z"), now, now, GRACE),
            SlotPlan { run: None, missed: vec![], unrecorded: 0, next: None }
        );
    }

    #[test]
    fn a_very_long_outage_records_a_bounded_number_of_slots() {
        let s = hourly();
        let now = at("2027-11-23T00:10:00Z");
        let p = plan(&s, at("2026-11-23T00:00:00Z"), now, now, GRACE);
        assert_eq!(p.run, Some(at("2027-11-23T00:00:00Z")));
        assert_eq!(p.missed.len(), MAX_RECORDED_MISSED);
        assert_eq!(p.unrecorded + p.missed.len() + 1, 365 * 24 + 1);
        assert_eq!(p.missed.last().map(|m| m.0), Some(at("2027-11-22T23:00:00Z")));
    }

    #[test]
    fn messages_say_what_happened() {
        let m = missed_message(at("2026-11-23T12:00:00Z"), Missed::PastGrace, GRACE);
        assert!(m.contains("2026-11-23T12:00:00Z") && m.contains("30 minutes"), "{m}");
        assert!(missed_message(at("2026-11-23T12:00:00Z"), Missed::Superseded, GRACE).contains("latest"));
    }
}
