//! Which automatic backups a policy's retention removes.
//!
//! Retention runs per (policy, volume) after each successful automatic backup (DESIGN.md,
//! "Retention"). The caller passes only that pair's **automatic** backups: manual backups are
//! never pruned, so they must not be passed in and do not take up any of the kept slots.
//!
//! The rule, as the vendor defines it:
//!
//! * `count` N (`rentention_num`) keeps the newest N backups.
//! * `days` D (`rentention_day`) keeps backups younger than D days: `created_at > now - D days`.
//!   A backup exactly D days old is pruned ("younger than", not "at most").
//! * With both set, `count` wins and `days` is ignored entirely (vendor rule; the wire type
//!   allows both, [`api_types::domain::Retention::choose`] resolves it the same way).
//! * With neither set there is no retention: nothing is pruned.
//! * `keep_first_of_month` (`remain_first_backup_of_curMonth`) additionally keeps the earliest
//!   backup of the **current** month, in the policy's local calendar (its fixed `time_zone`
//!   offset), for as long as that month lasts. It is kept *in addition*: it does not use up one
//!   of the N slots. Once the month is over it is an ordinary backup again, so the first backup
//!   of a previous month is not protected.
//!
//! Two choices of ours, beyond the vendor's text:
//!
//! * **The newest backup is never pruned.** Retention runs right after a backup succeeded, so the
//!   newest one is normally the backup just made; a `days` rule applied after a long pause (or a
//!   clock that jumped) must not leave the volume with no automatic backup at all, and deleting
//!   what was just written would be pointless work. For the same reason a `count` of 0, which the
//!   validated [`api_types::domain::RetentionNum`] (2–14) never produces but the message type
//!   could carry, is treated as 1.
//! * **Ties are broken by id.** Backups are ordered by `(created_at, id)`; of two backups created
//!   at the same instant the one with the greater id counts as newer. Any fixed order would do;
//!   what matters is that the answer does not depend on the order the caller listed the backups
//!   in, so two replicas, or a retried run, prune the same backups.
//!
//! Applying the result is idempotent: running retention again on the backups that remain prunes
//! nothing more (until `now` moves on).
//!
//! Pure logic: no clock, no storage. Date arithmetic is checked; an instant too close to the ends
//! of chrono's range to shift is treated conservatively (kept).

use api_types::{domain::TimeZoneOffset, message::RetentionRule};
use chrono::{DateTime, Datelike, NaiveDateTime, TimeDelta, Utc};

/// One automatic backup of a (policy, volume), as retention needs to see it. Ids are assumed
/// unique within one call.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BackupInfo<Id = String> {
    pub id: Id,
    pub created_at: DateTime<Utc>,
}

/// The ids of the backups to delete, oldest first (the order to delete them in, so an
/// interrupted run leaves the newest backups in place).
///
/// `backups` are the automatic backups of one (policy, volume), in any order; `offset` is the
/// policy's `time_zone`, which defines the "current month"; `now` is the injected clock.
pub fn to_prune<Id: Ord + Clone>(
    backups: &[BackupInfo<Id>],
    rule: &RetentionRule,
    offset: TimeZoneOffset,
    now: DateTime<Utc>,
) -> Vec<Id> {
    let Some(base) = BaseRule::of(rule) else {
        return Vec::new();
    };

    let mut oldest_first: Vec<&BackupInfo<Id>> = backups.iter().collect();
    oldest_first.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));

    let mut keep: Vec<bool> = match base {
        BaseRule::Newest(n) => {
            let first_kept = oldest_first.len().saturating_sub(n);
            (0..oldest_first.len()).map(|i| i >= first_kept).collect()
        }
        BaseRule::YoungerThan(age) => {
            // Without a representable cutoff (absurd ages near chrono's range) every backup is
            // younger than it.
            let cutoff = now.checked_sub_signed(age);
            oldest_first.iter().map(|b| cutoff.is_none_or(|c| b.created_at > c)).collect()
        }
    };

    if let Some(newest) = keep.last_mut() {
        *newest = true;
    }

    if rule.keep_first_of_month
        && let Some(current) = local_month(now, offset)
        && let Some(first) =
            oldest_first.iter().position(|b| local_month(b.created_at, offset) == Some(current))
        && let Some(slot) = keep.get_mut(first)
    {
        *slot = true;
    }

    oldest_first.iter().zip(keep).filter(|&(_, kept)| !kept).map(|(b, _)| b.id.clone()).collect()
}

/// The part of the rule that selects kept backups by themselves, before the two extras (the
/// newest, the first of the month) are added.
enum BaseRule {
    Newest(usize),
    YoungerThan(TimeDelta),
}

impl BaseRule {
    fn of(rule: &RetentionRule) -> Option<Self> {
        match (rule.count, rule.days) {
            (Some(n), _) => Some(Self::Newest(usize::from(n.max(1)))),
            (None, Some(d)) => Some(Self::YoungerThan(
                // D ≤ 99 999 in practice; a larger value than chrono can hold keeps everything.
                TimeDelta::try_days(i64::from(d)).unwrap_or(TimeDelta::MAX),
            )),
            (None, None) => None,
        }
    }
}

/// The (year, month) of `t` on the local calendar of `offset`.
fn local_month(t: DateTime<Utc>, offset: TimeZoneOffset) -> Option<(i32, u32)> {
    let local: NaiveDateTime =
        t.naive_utc().checked_add_signed(TimeDelta::try_minutes(i64::from(offset.minutes()))?)?;
    Some((local.year(), local.month()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{FixedOffset, TimeZone};
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).expect("test instant").with_timezone(&Utc)
    }

    fn tz(s: &str) -> TimeZoneOffset {
        TimeZoneOffset::parse(s).expect("test time zone")
    }

    /// Backups named by their creation instant, which keeps the expectations readable.
    fn backups(instants: &[&str]) -> Vec<BackupInfo> {
        instants.iter().map(|s| BackupInfo { id: (*s).to_owned(), created_at: at(s) }).collect()
    }

    fn rule(count: Option<u8>, days: Option<u32>, keep_first_of_month: bool) -> RetentionRule {
        RetentionRule { count, days, keep_first_of_month }
    }

    #[test]
    fn count_keeps_the_newest_n() {
        let b = backups(&[
            "2026-11-03T00:00:00Z",
            "2026-11-01T00:00:00Z",
            "2026-11-05T00:00:00Z",
            "2026-11-02T00:00:00Z",
            "2026-11-04T00:00:00Z",
        ]);
        let now = at("2026-11-05T01:00:00Z");
        assert_eq!(
            to_prune(&b, &rule(Some(3), None, false), TimeZoneOffset::UTC, now),
            ["2026-11-01T00:00:00Z", "2026-11-02T00:00:00Z"],
            "oldest first, whatever the input order"
        );
    }

    #[test]
    fn fewer_than_n_or_none_prunes_nothing() {
        let now = at("2026-11-05T01:00:00Z");
        let b = backups(&["2026-11-01T00:00:00Z", "2026-11-02T00:00:00Z"]);
        assert!(to_prune(&b, &rule(Some(3), None, false), TimeZoneOffset::UTC, now).is_empty());
        assert!(to_prune(&b, &rule(Some(2), None, false), TimeZoneOffset::UTC, now).is_empty());
        let empty: Vec<BackupInfo> = Vec::new();
        for r in [rule(Some(2), None, true), rule(None, Some(2), true), rule(None, None, true)] {
            assert!(to_prune(&empty, &r, TimeZoneOffset::UTC, now).is_empty());
        }
    }

    #[test]
    fn days_keeps_strictly_younger_backups() {
        let now = at("2026-11-20T12:00:00Z");
        let b = backups(&[
            "2026-11-10T12:00:00Z",
            // Exactly 7 days old: not younger than 7 days.
            "2026-11-13T12:00:00Z",
            "2026-11-13T12:00:01Z",
            "2026-11-20T11:00:00Z",
        ]);
        assert_eq!(
            to_prune(&b, &rule(None, Some(7), false), TimeZoneOffset::UTC, now),
            ["2026-11-10T12:00:00Z", "2026-11-13T12:00:00Z"]
        );
    }

    #[test]
    fn count_wins_over_days() {
        let now = at("2026-11-20T12:00:00Z");
        let b = backups(&["2026-11-18T00:00:00Z", "2026-11-19T00:00:00Z", "2026-11-20T00:00:00Z"]);
        // Days alone would keep all three; the count keeps two.
        assert!(to_prune(&b, &rule(None, Some(30), false), TimeZoneOffset::UTC, now).is_empty());
        assert_eq!(
            to_prune(&b, &rule(Some(2), Some(30), false), TimeZoneOffset::UTC, now),
            ["2026-11-18T00:00:00Z"]
        );
        // And a count keeps old backups that days would drop.
        assert!(to_prune(&b, &rule(Some(3), Some(2), false), TimeZoneOffset::UTC, now).is_empty());
    }

    #[test]
    fn no_rule_prunes_nothing() {
        let now = at("2026-11-20T12:00:00Z");
        let b = backups(&["2020-01-01T00:00:00Z", "2026-11-20T00:00:00Z"]);
        assert!(to_prune(&b, &rule(None, None, false), TimeZoneOffset::UTC, now).is_empty());
        assert!(to_prune(&b, &rule(None, None, true), TimeZoneOffset::UTC, now).is_empty());
    }

    #[test]
    fn first_of_current_month_is_kept_in_addition() {
        let now = at("2026-11-20T12:00:00Z");
        let b = backups(&[
            "2026-10-31T00:00:00Z",
            "2026-11-01T00:00:00Z",
            "2026-11-05T00:00:00Z",
            "2026-11-10T00:00:00Z",
            "2026-11-15T00:00:00Z",
            "2026-11-20T00:00:00Z",
        ]);
        let pruned = to_prune(&b, &rule(Some(2), None, true), TimeZoneOffset::UTC, now);
        // Kept: the newest two plus 1 November, three in all.
        assert_eq!(pruned, ["2026-10-31T00:00:00Z", "2026-11-05T00:00:00Z", "2026-11-10T00:00:00Z"]);
        // Same with a days rule.
        let pruned = to_prune(&b, &rule(None, Some(7), true), TimeZoneOffset::UTC, now);
        assert_eq!(pruned, ["2026-10-31T00:00:00Z", "2026-11-05T00:00:00Z", "2026-11-10T00:00:00Z"]);
    }

    #[test]
    fn first_of_month_inside_the_newest_n_takes_no_extra_slot() {
        let now = at("2026-11-02T12:00:00Z");
        let b = backups(&[
            "2026-10-30T00:00:00Z",
            "2026-10-31T00:00:00Z",
            "2026-11-01T00:00:00Z",
            "2026-11-02T00:00:00Z",
        ]);
        assert_eq!(
            to_prune(&b, &rule(Some(2), None, true), TimeZoneOffset::UTC, now),
            ["2026-10-30T00:00:00Z", "2026-10-31T00:00:00Z"]
        );
    }

    #[test]
    fn first_of_a_previous_month_is_not_kept() {
        let b = backups(&[
            "2026-11-01T00:00:00Z",
            "2026-11-10T00:00:00Z",
            "2026-11-20T00:00:00Z",
            "2026-11-30T00:00:00Z",
        ]);
        // December has begun and has no backup yet: 1 November is no longer protected.
        let now = at("2026-12-01T06:00:00Z");
        assert_eq!(
            to_prune(&b, &rule(Some(2), None, true), TimeZoneOffset::UTC, now),
            ["2026-11-01T00:00:00Z", "2026-11-10T00:00:00Z"]
        );
        // Once December has a backup, that one is the protected one.
        let mut b = b;
        b.extend(backups(&["2026-12-01T00:00:00Z", "2026-12-01T01:00:00Z", "2026-12-01T02:00:00Z"]));
        assert_eq!(
            to_prune(&b, &rule(Some(2), None, true), TimeZoneOffset::UTC, now),
            ["2026-11-01T00:00:00Z", "2026-11-10T00:00:00Z", "2026-11-20T00:00:00Z", "2026-11-30T00:00:00Z"]
        );
    }

    #[test]
    fn month_boundary_is_local_not_utc() {
        // At UTC+08:00, 2026-11-30T20:00Z is 1 December 04:00 local.
        let now = at("2026-11-30T20:00:00Z");
        let b = backups(&[
            "2026-11-30T15:00:00Z", // 30 November 23:00 local
            "2026-11-30T17:00:00Z", // 1 December 01:00 local: first of the local month
            "2026-11-30T18:00:00Z",
            "2026-11-30T19:00:00Z",
            "2026-11-30T20:00:00Z",
        ]);
        let r = rule(Some(2), None, true);
        assert_eq!(to_prune(&b, &r, tz("UTC+08:00"), now), ["2026-11-30T15:00:00Z", "2026-11-30T18:00:00Z"]);
        // In UTC it is still November, whose first backup here is 15:00Z.
        assert_eq!(
            to_prune(&b, &r, TimeZoneOffset::UTC, now),
            ["2026-11-30T17:00:00Z", "2026-11-30T18:00:00Z"]
        );
        // At UTC-05:00, 2026-12-01T03:00Z is still 30 November 22:00 local: the November backup
        // of 1 November 04:00Z (31 October 23:00 local) is not November's first locally.
        let now = at("2026-12-01T03:00:00Z");
        let b = backups(&[
            "2026-11-01T04:00:00Z",
            "2026-11-01T06:00:00Z", // 1 November 01:00 local
            "2026-11-15T00:00:00Z",
            "2026-12-01T01:00:00Z", // 30 November 20:00 local
            "2026-12-01T02:00:00Z",
        ]);
        assert_eq!(to_prune(&b, &r, tz("UTC-05:00"), now), ["2026-11-01T04:00:00Z", "2026-11-15T00:00:00Z"]);
    }

    #[test]
    fn month_boundary_with_a_half_hour_offset() {
        // At UTC+05:30, 18:30Z on 30 November is 1 December 00:00 local.
        let now = at("2026-12-01T06:00:00Z");
        let b = backups(&[
            "2026-11-30T18:00:00Z", // 23:30 local, still November
            "2026-11-30T18:30:00Z", // 00:00 local on 1 December: the first of the month
            "2026-12-01T01:00:00Z",
            "2026-12-01T02:00:00Z",
            "2026-12-01T03:00:00Z",
        ]);
        assert_eq!(
            to_prune(&b, &rule(Some(2), None, true), tz("UTC+05:30"), now),
            ["2026-11-30T18:00:00Z", "2026-12-01T01:00:00Z"]
        );
    }

    #[test]
    fn ties_are_broken_by_id_whatever_the_input_order() {
        let t = at("2026-11-20T00:00:00Z");
        let now = at("2026-11-20T01:00:00Z");
        let mk = |ids: &[&str]| -> Vec<BackupInfo> {
            ids.iter().map(|id| BackupInfo { id: (*id).to_owned(), created_at: t }).collect()
        };
        let r = rule(Some(2), None, true);
        // "c" counts as the newest, "a" as the oldest and first of the month.
        assert_eq!(to_prune(&mk(&["a", "b", "c", "d"]), &r, TimeZoneOffset::UTC, now), ["b"]);
        assert_eq!(to_prune(&mk(&["d", "b", "a", "c"]), &r, TimeZoneOffset::UTC, now), ["b"]);
    }

    #[test]
    fn newest_is_kept_even_when_stale() {
        let now = at("2026-11-20T00:00:00Z");
        let b = backups(&["2026-01-01T00:00:00Z", "2026-02-01T00:00:00Z"]);
        assert_eq!(
            to_prune(&b, &rule(None, Some(7), false), TimeZoneOffset::UTC, now),
            ["2026-01-01T00:00:00Z"]
        );
        // A count of 0 (impossible once validated) behaves as 1.
        assert_eq!(
            to_prune(&b, &rule(Some(0), None, false), TimeZoneOffset::UTC, now),
            ["2026-01-01T00:00:00Z"]
        );
    }

    #[test]
    fn generic_ids() {
        let now = at("2026-11-20T00:00:00Z");
        let b: Vec<BackupInfo<u32>> =
            (0..5).map(|i| BackupInfo { id: i, created_at: now - TimeDelta::days(i64::from(i)) }).collect();
        assert_eq!(to_prune(&b, &rule(Some(2), None, false), TimeZoneOffset::UTC, now), [4, 3, 2]);
    }

    #[test]
    fn extreme_inputs_do_not_panic() {
        let b = vec![
            BackupInfo { id: 1, created_at: DateTime::<Utc>::MIN_UTC },
            BackupInfo { id: 2, created_at: DateTime::<Utc>::MAX_UTC },
        ];
        for now in [DateTime::<Utc>::MIN_UTC, DateTime::<Utc>::MAX_UTC] {
            for off in [tz("UTC-12:00"), tz("UTC+14:00")] {
                for r in [rule(None, Some(u32::MAX), true), rule(Some(u8::MAX), None, true)] {
                    assert!(to_prune(&b, &r, off, now).is_empty());
                }
            }
        }
    }

    // ---- property tests -------------------------------------------------------------------

    fn offset() -> impl Strategy<Value = TimeZoneOffset> {
        (-720i16..=840).prop_map(|m| TimeZoneOffset::from_minutes(m).expect("offset in range"))
    }

    fn any_rule() -> impl Strategy<Value = RetentionRule> {
        (proptest::option::of(0u8..=16), proptest::option::of(0u32..=120), any::<bool>())
            .prop_map(|(count, days, keep_first_of_month)| RetentionRule { count, days, keep_first_of_month })
    }

    fn tight_rule() -> impl Strategy<Value = RetentionRule> {
        (proptest::option::of(0u8..=3), proptest::option::of(0u32..=2), any::<bool>())
            .prop_map(|(count, days, keep_first_of_month)| RetentionRule { count, days, keep_first_of_month })
    }

    /// `now` somewhere in 2000..2100 and up to 30 backups in the ~100 days before it (a few just
    /// after it, as a skewed clock could produce). Most sit on a 6-hour grid so that equal
    /// timestamps come up often; some are moved by up to 6 hours to the minute, so that backups
    /// land close to local month boundaries of half- and quarter-hour offsets.
    fn scenario() -> impl Strategy<Value = (DateTime<Utc>, Vec<BackupInfo<u16>>)> {
        let lo = at("2000-01-01T00:00:00Z").timestamp();
        let hi = at("2100-01-01T00:00:00Z").timestamp();
        let step = (-400i64..8, prop_oneof![Just(0i64), 0i64..360]);
        (lo..hi, proptest::collection::vec(step, 0..30)).prop_map(|(now, steps)| {
            let now = Utc.timestamp_opt(now, 0).single().expect("in range");
            let backups = steps
                .into_iter()
                .zip(0u16..)
                .map(|((step, minutes), id)| BackupInfo {
                    id,
                    created_at: now + TimeDelta::hours(6 * step) + TimeDelta::minutes(minutes),
                })
                .collect();
            (now, backups)
        })
    }

    /// An offset, and `now` and backups minutes apart around the start of a *local* month, where
    /// getting the offset slightly wrong (e.g. dropping its minutes) changes which backup is the
    /// month's first.
    fn around_a_local_month_start()
    -> impl Strategy<Value = (DateTime<Utc>, Vec<BackupInfo<u16>>, TimeZoneOffset)> {
        let backups = proptest::collection::vec(-120i64..120, 0..8);
        (2000i32..2100, 1u32..=12, offset(), -60i64..600, backups).prop_map(|(y, m, off, now_min, mins)| {
            let local_start = Utc.with_ymd_and_hms(y, m, 1, 0, 0, 0).single().expect("valid date")
                - TimeDelta::minutes(i64::from(off.minutes()));
            let now = local_start + TimeDelta::minutes(now_min);
            let backups = mins
                .into_iter()
                .zip(0u16..)
                .map(|(min, id)| BackupInfo { id, created_at: local_start + TimeDelta::minutes(min) })
                .collect();
            (now, backups, off)
        })
    }

    /// The whole rule restated plainly, with the month taken through chrono's `FixedOffset`.
    fn model_kept(
        b: &[BackupInfo<u16>],
        r: &RetentionRule,
        offset: TimeZoneOffset,
        now: DateTime<Utc>,
    ) -> BTreeSet<u16> {
        if r.count.is_none() && r.days.is_none() {
            return b.iter().map(|b| b.id).collect();
        }
        let mut order: Vec<_> = b.iter().map(|b| (b.created_at, b.id)).collect();
        order.sort();
        let mut kept: BTreeSet<u16> = match (r.count, r.days) {
            (Some(n), _) => order.iter().rev().take(usize::from(n.max(1))).map(|&(_, id)| id).collect(),
            (None, Some(d)) => {
                let cutoff = now - TimeDelta::days(i64::from(d));
                order.iter().filter(|(t, _)| *t > cutoff).map(|&(_, id)| id).collect()
            }
            (None, None) => BTreeSet::new(),
        };
        kept.extend(newest(b));
        if r.keep_first_of_month {
            kept.extend(oracle_first_of_month(b, offset, now));
        }
        kept
    }

    fn newest(b: &[BackupInfo<u16>]) -> Option<u16> {
        b.iter().max_by_key(|b| (b.created_at, b.id)).map(|b| b.id)
    }

    /// The first backup of the current local month, through chrono's own time-zone conversion.
    fn oracle_first_of_month(
        b: &[BackupInfo<u16>],
        offset: TimeZoneOffset,
        now: DateTime<Utc>,
    ) -> Option<u16> {
        let tz = FixedOffset::east_opt(i32::from(offset.minutes()) * 60).expect("offset");
        let month = |t: DateTime<Utc>| {
            let l = t.with_timezone(&tz);
            (l.year(), l.month())
        };
        b.iter()
            .filter(|b| month(b.created_at) == month(now))
            .min_by_key(|b| (b.created_at, b.id))
            .map(|b| b.id)
    }

    proptest! {
        #[test]
        fn partition_and_invariants(
            (now, b) in scenario(),
            r in any_rule(),
            off in offset(),
        ) {
            let pruned = to_prune(&b, &r, off, now);
            let input: BTreeSet<u16> = b.iter().map(|b| b.id).collect();
            let pruned_set: BTreeSet<u16> = pruned.iter().copied().collect();
            prop_assert_eq!(pruned_set.len(), pruned.len(), "no id twice");
            prop_assert!(pruned_set.is_subset(&input));
            let kept: Vec<BackupInfo<u16>> =
                b.iter().filter(|b| !pruned_set.contains(&b.id)).cloned().collect();
            prop_assert_eq!(kept.len() + pruned.len(), b.len());

            // Oldest first.
            let created: Vec<_> = pruned
                .iter()
                .map(|id| b.iter().find(|b| b.id == *id).map(|b| (b.created_at, b.id)))
                .collect();
            prop_assert!(created.windows(2).all(|w| w[0] < w[1]));

            if let Some(n) = newest(&b) {
                prop_assert!(!pruned_set.contains(&n), "newest pruned");
            }
            if r.keep_first_of_month && let Some(first) = oracle_first_of_month(&b, off, now) {
                prop_assert!(!pruned_set.contains(&first), "first of the month pruned");
            }

            match (r.count, r.days) {
                (None, None) => prop_assert!(pruned.is_empty()),
                (Some(n), _) => {
                    let n = usize::from(n.max(1));
                    if b.len() <= n {
                        prop_assert!(pruned.is_empty());
                    }
                    // The newest N are kept; beyond them at most the first of the month.
                    let mut order: Vec<_> = b.iter().map(|b| (b.created_at, b.id)).collect();
                    order.sort();
                    for (_, id) in order.iter().rev().take(n) {
                        prop_assert!(!pruned_set.contains(id));
                    }
                    let extra = usize::from(r.keep_first_of_month);
                    prop_assert!(kept.len() <= n + extra);
                    prop_assert!(kept.len() >= n.min(b.len()));
                }
                (None, Some(d)) => {
                    let cutoff = now - TimeDelta::days(i64::from(d));
                    for x in &b {
                        if x.created_at > cutoff {
                            prop_assert!(!pruned_set.contains(&x.id), "young backup pruned");
                        }
                    }
                }
            }

            // Running again on what is left prunes nothing more.
            prop_assert!(to_prune(&kept, &r, off, now).is_empty());
        }

        #[test]
        fn matches_the_model(
            (now, b, off) in prop_oneof![
                (scenario(), offset()).prop_map(|((now, b), off)| (now, b, off)),
                around_a_local_month_start(),
            ],
            // Small counts and ages, so that the extras (newest, first of the month) decide.
            r in prop_oneof![any_rule(), tight_rule()],
        ) {
            let pruned: BTreeSet<u16> = to_prune(&b, &r, off, now).into_iter().collect();
            let kept: BTreeSet<u16> = b.iter().map(|b| b.id).filter(|id| !pruned.contains(id)).collect();
            prop_assert_eq!(kept, model_kept(&b, &r, off, now));
        }

        #[test]
        fn input_order_does_not_matter(
            ((now, b), shuffled) in scenario().prop_flat_map(|(now, b)| {
                let s = Just(b.clone()).prop_shuffle();
                (Just((now, b)), s)
            }),
            r in any_rule(),
            off in offset(),
        ) {
            prop_assert_eq!(to_prune(&b, &r, off, now), to_prune(&shuffled, &r, off, now));
        }
    }
}
