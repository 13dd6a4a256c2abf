//! The fire instants of a scheduled policy.
//!
//! The vendor's rules (DESIGN.md, "Scheduling semantics"), which this module reproduces exactly:
//!
//! * `start_time` names whole **UTC** hours. A *candidate* instant is any UTC day `D` at `H:00:00`
//!   UTC for a listed hour `H`.
//! * `time_zone` is a fixed offset that defines the policy's **local calendar** only: it decides
//!   which *local date* a candidate falls on, never the hour it fires at.
//! * A candidate fires iff its local date satisfies the day rule: for `week_frequency` the local
//!   week day is in the set; for `frequency` N the local day of month satisfies
//!   `(day_of_month - 1) % N == 0` (the 1st, 1+N-th, 1+2N-th … of every month, so the count
//!   restarts each month and e.g. the 31st and the 1st can both fire with N = 3).
//! * A disabled policy (`status` OFF) fires nothing.
//!
//! Example from the vendor: `UTC+02:00`, `22:00,00:00,02:00`, `[MON]`: Sunday 22:00 UTC is
//! Monday 00:00 local and fires; Monday 00:00 and 02:00 UTC fire; Monday 22:00 UTC is already
//! Tuesday locally and does not.
//!
//! Because the offset is fixed, a given UTC hour always lands on the same local day relative to
//! its UTC day (the previous, same or next day). So for one hour, consecutive UTC days map to
//! consecutive local dates, and a search never needs more than a month of days: any 31
//! consecutive dates contain a 1st of the month (which every `frequency` fires on) and any 7
//! contain every week day. [`FireSchedule::next_after`] and
//! [`FireSchedule::latest_at_or_before`] therefore look at no more than
//! `(SEARCH_DAYS + 1) × 24` candidates.
//!
//! Everything here is pure: no clock, no I/O. Date arithmetic is checked, so instants near the
//! ends of chrono's range yield `None` instead of panicking.

use api_types::domain::{Schedule, StartTimes, TimeZoneOffset, WeekDay};
use chrono::{DateTime, Datelike, Days, NaiveDate, Timelike, Utc, Weekday};

/// How many whole UTC days past the day of the reference instant a search may look (see the
/// module doc: 31 consecutive local dates always contain a firing date; one more day covers the
/// reference day itself being only partly searchable, one more is margin).
const SEARCH_DAYS: u64 = 33;

const MINUTES_PER_DAY: i32 = 24 * 60;

/// When a policy fires. Cheap to copy: the start hours are kept as a bit set, which also puts
/// them in ascending UTC order (the tenant's order only matters for display, see
/// [`StartTimes`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FireSchedule {
    /// Bit `h` set ⇔ the policy has a start time at `h:00` UTC.
    hours: u32,
    schedule: Schedule,
    offset: TimeZoneOffset,
    /// `false` for a policy whose `status` is OFF.
    enabled: bool,
}

impl FireSchedule {
    /// The schedule of one policy; `enabled` is `status == ON`.
    pub fn new(start_times: &StartTimes, schedule: Schedule, offset: TimeZoneOffset, enabled: bool) -> Self {
        let hours = start_times
            .hours()
            .iter()
            // `StartTimes` only holds hours 0..24; the filter keeps a corrupt value from
            // overflowing the shift rather than trusting that from afar.
            .filter(|&&h| h < 24)
            .fold(0u32, |set, &h| set | (1 << h));
        Self { hours, schedule, offset, enabled }
    }

    /// `false` when the policy is OFF and fires nothing.
    pub fn is_enabled(&self) -> bool {
        self.enabled
    }

    /// `true` iff `t` is exactly one of the policy's fire instants.
    pub fn fires_at(&self, t: DateTime<Utc>) -> bool {
        let whole_hour = t.minute() == 0 && t.second() == 0 && t.nanosecond() == 0;
        whole_hour && u8::try_from(t.hour()).ok().and_then(|h| self.fire_instant(t.date_naive(), h)).is_some()
    }

    /// The first fire instant strictly after `t`; `None` when the policy is disabled (or `t` is
    /// so close to the end of chrono's range that no later instant exists).
    pub fn next_after(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        if !self.enabled {
            return None;
        }
        let first_day = t.date_naive();
        for i in 0..=SEARCH_DAYS {
            let day = first_day.checked_add_days(Days::new(i))?;
            for hour in self.hours_ascending() {
                if let Some(fire) = self.fire_instant(day, hour)
                    && fire > t
                {
                    return Some(fire);
                }
            }
        }
        None
    }

    /// All fire instants in `(from, to]`, ascending. Empty when `to <= from` or the policy is
    /// disabled. The iterator owns a copy of the schedule, so it may outlive `self`.
    pub fn between(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> impl Iterator<Item = DateTime<Utc>> + use<> {
        let this = *self;
        std::iter::successors(this.next_after(from), move |&prev| this.next_after(prev))
            .take_while(move |&fire| fire <= to)
    }

    /// The latest fire instant at or before `t` (inclusive, so a slot that is due exactly now
    /// counts): what the scheduler runs when it catches up after downtime. `None` when disabled.
    pub fn latest_at_or_before(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        if !self.enabled {
            return None;
        }
        let last_day = t.date_naive();
        for i in 0..=SEARCH_DAYS {
            let day = last_day.checked_sub_days(Days::new(i))?;
            for hour in self.hours_ascending().rev() {
                if let Some(fire) = self.fire_instant(day, hour)
                    && fire <= t
                {
                    return Some(fire);
                }
            }
        }
        None
    }

    fn has_hour(&self, hour: u8) -> bool {
        1u32.checked_shl(u32::from(hour)).is_some_and(|bit| self.hours & bit != 0)
    }

    fn hours_ascending(&self) -> impl DoubleEndedIterator<Item = u8> + use<> {
        let this = *self;
        (0u8..24).filter(move |&h| this.has_hour(h))
    }

    /// The candidate at `hour`:00 UTC on UTC day `day`, if the day rule lets it fire.
    fn fire_instant(&self, day: NaiveDate, hour: u8) -> Option<DateTime<Utc>> {
        if !self.has_hour(hour) {
            return None;
        }
        let local_date = self.local_date(day, hour)?;
        if !self.fires_on(local_date) {
            return None;
        }
        Some(day.and_hms_opt(u32::from(hour), 0, 0)?.and_utc())
    }

    /// The local calendar date of `hour`:00 UTC on `day`. The offset is at most ±14 h, so the
    /// local date is the UTC date shifted by −1, 0 or +1 day; computing that shift from minutes
    /// keeps half- and quarter-hour offsets exact.
    fn local_date(&self, day: NaiveDate, hour: u8) -> Option<NaiveDate> {
        let local_minutes = i32::from(hour) * 60 + i32::from(self.offset.minutes());
        match local_minutes.div_euclid(MINUTES_PER_DAY) {
            0 => Some(day),
            shift if shift > 0 => day.checked_add_days(Days::new(u64::from(shift.unsigned_abs()))),
            shift => day.checked_sub_days(Days::new(u64::from(shift.unsigned_abs()))),
        }
    }

    /// The day rule, on a local date.
    fn fires_on(&self, local: NaiveDate) -> bool {
        match self.schedule {
            Schedule::Weekly(days) => days.contains(week_day(local.weekday())),
            // The count restarts on the 1st of every month (vendor rule), hence day-of-month
            // rather than days since some epoch. (`is_multiple_of` cannot divide by zero, though
            // `Frequency` never holds 0.)
            Schedule::EveryNDays(n) => (local.day() - 1).is_multiple_of(u32::from(n.days())),
        }
    }
}

fn week_day(d: Weekday) -> WeekDay {
    match d {
        Weekday::Sun => WeekDay::Sun,
        Weekday::Mon => WeekDay::Mon,
        Weekday::Tue => WeekDay::Tue,
        Weekday::Wed => WeekDay::Wed,
        Weekday::Thu => WeekDay::Thu,
        Weekday::Fri => WeekDay::Fri,
        Weekday::Sat => WeekDay::Sat,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use api_types::domain::{Frequency, WeekDays};
    use chrono::{FixedOffset, TimeDelta, TimeZone};
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).expect("test instant").with_timezone(&Utc)
    }

    fn weekly(days: &[&str]) -> Schedule {
        Schedule::Weekly(WeekDays::parse(days).expect("test week days"))
    }

    fn every(n: i64) -> Schedule {
        Schedule::EveryNDays(Frequency::parse(n).expect("test frequency"))
    }

    fn policy(start: &str, schedule: Schedule, tz: &str) -> FireSchedule {
        FireSchedule::new(
            &StartTimes::parse(start).expect("test start times"),
            schedule,
            TimeZoneOffset::parse(tz).expect("test time zone"),
            true,
        )
    }

    fn next_n(p: &FireSchedule, from: DateTime<Utc>, n: usize) -> Vec<String> {
        std::iter::successors(p.next_after(from), |&t| p.next_after(t))
            .take(n)
            .map(|t| t.format("%Y-%m-%dT%H:%MZ %a").to_string())
            .collect()
    }

    fn assert_next(p: &FireSchedule, from: &str, expected: &[&str]) {
        assert_eq!(next_n(p, at(from), expected.len()), expected, "after {from}");
    }

    #[test]
    #[allow(clippy::print_stdout, reason = "the table is meant to be read with --nocapture")]
    fn spec_example_next_ten() {
        let from = at("2026-11-23T00:00:00Z");
        let cases = [
            (
                "week_frequency [MON]",
                weekly(&["MON"]),
                [
                    // 00:00Z Monday itself is not strictly after `from`.
                    "2026-11-23T02:00Z Mon",
                    // 22:00Z Monday is Tuesday locally: skipped.
                    "2026-11-29T22:00Z Sun",
                    "2026-11-30T00:00Z Mon",
                    "2026-11-30T02:00Z Mon",
                    "2026-12-06T22:00Z Sun",
                    "2026-12-07T00:00Z Mon",
                    "2026-12-07T02:00Z Mon",
                    "2026-12-13T22:00Z Sun",
                    "2026-12-14T00:00Z Mon",
                    "2026-12-14T02:00Z Mon",
                ],
            ),
            (
                "frequency 3",
                every(3),
                [
                    // Local 25th ((25 - 1) % 3 == 0), 28th, then the count restarts on the 1st.
                    "2026-11-24T22:00Z Tue",
                    "2026-11-25T00:00Z Wed",
                    "2026-11-25T02:00Z Wed",
                    "2026-11-27T22:00Z Fri",
                    "2026-11-28T00:00Z Sat",
                    "2026-11-28T02:00Z Sat",
                    "2026-11-30T22:00Z Mon",
                    "2026-12-01T00:00Z Tue",
                    "2026-12-01T02:00Z Tue",
                    "2026-12-03T22:00Z Thu",
                ],
            ),
        ];
        for (name, schedule, expected) in cases {
            let p = policy("22:00,00:00,02:00", schedule, "UTC+02:00");
            let got = next_n(&p, from, 10);
            println!("UTC+02:00, 22:00,00:00,02:00, {name}, after {from}:");
            for t in &got {
                println!("  {t}");
            }
            assert_eq!(got, expected, "{name}");
        }
    }

    #[test]
    fn spec_example_individual_instants() {
        let p = policy("22:00,00:00,02:00", weekly(&["MON"]), "UTC+02:00");
        // 2026-11-22 is a Sunday.
        assert!(p.fires_at(at("2026-11-22T22:00:00Z")), "Sunday 22:00 UTC is Monday 00:00 local");
        assert!(p.fires_at(at("2026-11-23T00:00:00Z")), "Monday 02:00 local");
        assert!(p.fires_at(at("2026-11-23T02:00:00Z")), "Monday 04:00 local");
        assert!(!p.fires_at(at("2026-11-23T22:00:00Z")), "Tuesday 00:00 local");
        assert!(!p.fires_at(at("2026-11-23T01:00:00Z")), "not a start time");
        assert!(!p.fires_at(at("2026-11-23T02:00:01Z")), "not a whole hour");
    }

    #[test]
    fn tenant_order_of_start_times_does_not_matter() {
        let a = policy("22:00,00:00,02:00", every(2), "UTC+02:00");
        let b = policy("00:00,02:00,22:00", every(2), "UTC+02:00");
        let from = at("2026-01-01T00:00:00Z");
        let to = at("2026-03-01T00:00:00Z");
        assert_eq!(a.between(from, to).collect::<Vec<_>>(), b.between(from, to).collect::<Vec<_>>());
    }

    #[test]
    fn negative_offset_puts_early_utc_hours_on_the_previous_local_day() {
        // UTC-05:00: 03:00Z is 22:00 local the day before; 12:00Z is 07:00 the same day.
        let p = policy("03:00,12:00", weekly(&["MON"]), "UTC-05:00");
        assert!(!p.fires_at(at("2026-11-23T03:00:00Z")), "Sunday 22:00 local");
        assert!(p.fires_at(at("2026-11-23T12:00:00Z")), "Monday 07:00 local");
        assert!(p.fires_at(at("2026-11-24T03:00:00Z")), "Tuesday 03:00Z is Monday 22:00 local");
        assert_next(
            &p,
            "2026-11-22T00:00:00Z",
            &[
                "2026-11-23T12:00Z Mon",
                "2026-11-24T03:00Z Tue",
                "2026-11-30T12:00Z Mon",
                "2026-12-01T03:00Z Tue",
            ],
        );
        // Day-of-month counting is on the local date too: 03:00Z on the 2nd is the 1st locally.
        let p = policy("03:00", every(14), "UTC-05:00");
        assert_next(
            &p,
            "2026-12-01T00:00:00Z",
            &["2026-12-02T03:00Z Wed", "2026-12-16T03:00Z Wed", "2026-12-30T03:00Z Wed"],
        );
    }

    #[test]
    fn half_hour_offset() {
        // UTC+05:30: 18:00Z is 23:30 local the same day, 19:00Z is 00:30 local the next day.
        let p = policy("18:00,19:00", weekly(&["MON"]), "UTC+05:30");
        assert!(!p.fires_at(at("2026-11-22T18:00:00Z")), "Sunday 23:30 local");
        assert!(p.fires_at(at("2026-11-22T19:00:00Z")), "Monday 00:30 local");
        assert!(p.fires_at(at("2026-11-23T18:00:00Z")), "Monday 23:30 local");
        assert!(!p.fires_at(at("2026-11-23T19:00:00Z")), "Tuesday 00:30 local");
        assert_next(
            &p,
            "2026-11-22T00:00:00Z",
            &["2026-11-22T19:00Z Sun", "2026-11-23T18:00Z Mon", "2026-11-29T19:00Z Sun"],
        );
    }

    #[test]
    fn extreme_offsets() {
        // UTC+14:00: 10:00Z is already 00:00 the next local day.
        let p = policy("09:00,10:00", weekly(&["MON"]), "UTC+14:00");
        assert_next(
            &p,
            "2026-11-22T00:00:00Z",
            &["2026-11-22T10:00Z Sun", "2026-11-23T09:00Z Mon", "2026-11-29T10:00Z Sun"],
        );
        // UTC-12:00: 11:00Z is 23:00 the previous local day.
        let p = policy("11:00,12:00", weekly(&["MON"]), "UTC-12:00");
        assert_next(
            &p,
            "2026-11-22T00:00:00Z",
            &["2026-11-23T12:00Z Mon", "2026-11-24T11:00Z Tue", "2026-11-30T12:00Z Mon"],
        );
        // UTC+05:45 (Nepal): 18:00Z is 23:45 local, 19:00Z is 00:45 the next local day.
        let p = policy("18:00,19:00", weekly(&["MON"]), "UTC+05:45");
        assert_next(
            &p,
            "2026-11-22T00:00:00Z",
            &["2026-11-22T19:00Z Sun", "2026-11-23T18:00Z Mon", "2026-11-29T19:00Z Sun"],
        );
    }

    #[test]
    fn frequency_restarts_at_month_end() {
        // N = 3 fires on the 31st ((31-1) % 3 == 0) and again on the 1st: the vendor's
        // documented behaviour, two days in a row.
        let p = policy("12:00", every(3), "UTC+00:00");
        assert_next(
            &p,
            "2027-01-27T00:00:00Z",
            &[
                "2027-01-28T12:00Z Thu",
                "2027-01-31T12:00Z Sun",
                "2027-02-01T12:00Z Mon",
                "2027-02-04T12:00Z Thu",
            ],
        );
        // A 30-day month: the 28th, then the 1st (the 31st does not exist).
        assert_next(&p, "2026-11-27T00:00:00Z", &["2026-11-28T12:00Z Sat", "2026-12-01T12:00Z Tue"]);
        // N = 14 in February: the 1st, 15th, then March 1st (13 days later in a common year).
        let p = policy("12:00", every(14), "UTC+00:00");
        assert_next(
            &p,
            "2027-02-01T00:00:00Z",
            &["2027-02-01T12:00Z Mon", "2027-02-15T12:00Z Mon", "2027-03-01T12:00Z Mon"],
        );
        // N = 1 fires every day.
        let p = policy("12:00", every(1), "UTC+00:00");
        assert_eq!(p.between(at("2027-01-01T00:00:00Z"), at("2028-01-01T00:00:00Z")).count(), 365);
    }

    #[test]
    fn leap_day() {
        // N = 7: 1, 8, 15, 22, 29: 29 February fires in a leap year, then March 1st.
        let p = policy("12:00", every(7), "UTC+00:00");
        assert_next(&p, "2028-02-23T00:00:00Z", &["2028-02-29T12:00Z Tue", "2028-03-01T12:00Z Wed"]);
        // In a common year 22 February is followed by March 1st.
        assert_next(&p, "2027-02-23T00:00:00Z", &["2027-03-01T12:00Z Mon"]);
        // The local date can be the leap day while the UTC date is the 28th.
        let p = policy("10:00", every(7), "UTC+14:00");
        assert!(p.fires_at(at("2028-02-28T10:00:00Z")), "29 February 00:00 local");
        assert!(!p.fires_at(at("2028-02-27T10:00:00Z")), "28 February 00:00 local");
        // In a common year the same UTC instant is 1 March locally, which fires for its own
        // reason: (1 - 1) % 7 == 0.
        assert!(p.fires_at(at("2027-02-28T10:00:00Z")), "1 March 00:00 local");
    }

    #[test]
    fn disabled_fires_nothing() {
        let p = FireSchedule::new(
            &StartTimes::parse("00:00,12:00").expect("start times"),
            every(1),
            TimeZoneOffset::UTC,
            false,
        );
        let t = at("2026-11-23T00:00:00Z");
        assert!(!p.is_enabled());
        assert_eq!(p.next_after(t), None);
        assert_eq!(p.latest_at_or_before(t), None);
        assert_eq!(p.between(t, t + TimeDelta::days(30)).count(), 0);
    }

    #[test]
    fn next_after_is_strict_and_latest_is_inclusive() {
        let p = policy("22:00,00:00,02:00", weekly(&["MON"]), "UTC+02:00");
        let fire = at("2026-11-23T02:00:00Z");
        assert_eq!(p.latest_at_or_before(fire), Some(fire));
        assert_eq!(p.next_after(fire), Some(at("2026-11-29T22:00:00Z")));
        // Sub-second precision: just after a fire instant is after it.
        assert_eq!(p.next_after(fire - TimeDelta::nanoseconds(1)), Some(fire));
        assert_eq!(p.latest_at_or_before(fire - TimeDelta::nanoseconds(1)), Some(at("2026-11-23T00:00:00Z")));
        // Catch-up after a week of downtime picks the latest slot only.
        assert_eq!(p.latest_at_or_before(at("2026-11-29T23:59:59Z")), Some(at("2026-11-29T22:00:00Z")));
        // `between` is half-open: (from, to].
        assert_eq!(
            p.between(at("2026-11-23T00:00:00Z"), at("2026-11-30T00:00:00Z")).collect::<Vec<_>>(),
            [at("2026-11-23T02:00:00Z"), at("2026-11-29T22:00:00Z"), at("2026-11-30T00:00:00Z")]
        );
        assert_eq!(p.between(fire, fire).count(), 0);
        assert_eq!(p.between(fire, fire - TimeDelta::days(1)).count(), 0);
    }

    #[test]
    fn ends_of_chrono_range_do_not_panic() {
        for p in [
            policy("00:00,23:00", every(14), "UTC+14:00"),
            policy("00:00,23:00", weekly(&["WED"]), "UTC-12:00"),
        ] {
            for t in [DateTime::<Utc>::MAX_UTC, DateTime::<Utc>::MIN_UTC] {
                let _ = p.next_after(t);
                let _ = p.latest_at_or_before(t);
                let _ = p.fires_at(t);
                let _ = p.between(t, DateTime::<Utc>::MAX_UTC).take(3).count();
            }
            // Nothing lies after the last representable instant. (MIN_UTC itself is a whole
            // hour and may legitimately be a fire instant, so only its bound is checked.)
            assert_eq!(p.next_after(DateTime::<Utc>::MAX_UTC), None);
            assert!(
                p.latest_at_or_before(DateTime::<Utc>::MIN_UTC).is_none_or(|t| t == DateTime::<Utc>::MIN_UTC)
            );
        }
    }

    // ---- property tests -------------------------------------------------------------------

    fn start_times() -> impl Strategy<Value = StartTimes> {
        proptest::sample::subsequence((0u8..24).collect::<Vec<_>>(), 1..=24)
            .prop_shuffle()
            .prop_map(|hours| StartTimes::from_hours(hours).expect("distinct whole hours"))
    }

    fn schedule() -> impl Strategy<Value = Schedule> {
        prop_oneof![
            (Frequency::MIN..=Frequency::MAX).prop_map(every),
            proptest::sample::subsequence(WeekDay::ALL.to_vec(), 1..=7).prop_map(|days| {
                let names: Vec<&str> = days.iter().map(|d| d.as_str()).collect();
                weekly(&names)
            }),
        ]
    }

    fn offset() -> impl Strategy<Value = TimeZoneOffset> {
        prop_oneof![
            // Real offsets are whole, half or three-quarter hours; any minute is still legal.
            (-12i16..=14).prop_map(|h| h * 60),
            (-24i16..=28).prop_map(|h| h * 30),
            (-48i16..=56).prop_map(|q| q * 15),
            -720i16..=840,
        ]
        .prop_map(|m| TimeZoneOffset::from_minutes(m).expect("offset in range"))
    }

    fn instant() -> impl Strategy<Value = DateTime<Utc>> {
        let lo = at("2000-01-01T00:00:00Z").timestamp();
        let hi = at("2100-01-01T00:00:00Z").timestamp();
        prop_oneof![
            // Arbitrary instants, and whole hours (which are often fire instants themselves).
            (lo..hi, 0u32..1_000_000_000).prop_map(|(s, ns)| Utc.timestamp_opt(s, ns).single()),
            (lo / 3600..hi / 3600).prop_map(|h| Utc.timestamp_opt(h * 3600, 0).single()),
        ]
        .prop_map(|t| t.expect("in range"))
    }

    fn policy_strategy() -> impl Strategy<Value = (StartTimes, Schedule, TimeZoneOffset)> {
        (start_times(), schedule(), offset())
    }

    /// An independent statement of the vendor's rule, through chrono's own time-zone
    /// conversion rather than the module's day-shift arithmetic.
    fn oracle_fires(hours: &[u8], schedule: Schedule, offset: TimeZoneOffset, t: DateTime<Utc>) -> bool {
        let whole_hour = t.minute() == 0 && t.second() == 0 && t.nanosecond() == 0;
        let listed = hours.iter().any(|&h| u32::from(h) == t.hour());
        let tz = FixedOffset::east_opt(i32::from(offset.minutes()) * 60).expect("offset");
        let local = t.with_timezone(&tz);
        let day_ok = match schedule {
            Schedule::Weekly(days) => days
                .iter()
                .any(|d| u32::from(d.index_from_sunday()) == local.weekday().num_days_from_sunday()),
            Schedule::EveryNDays(n) => (local.day() - 1).is_multiple_of(u32::from(n.days())),
        };
        whole_hour && listed && day_ok
    }

    proptest! {
        #[test]
        fn successive_instants_are_valid_and_increasing(
            (times, sched, off) in policy_strategy(),
            t in instant(),
        ) {
            let p = FireSchedule::new(&times, sched, off, true);
            let mut prev = t;
            let mut per_day: BTreeMap<NaiveDate, usize> = BTreeMap::new();
            for _ in 0..60 {
                let next = p.next_after(prev);
                prop_assert!(next.is_some(), "an enabled policy always fires again");
                let Some(next) = next else { break };
                prop_assert!(next > prev);
                prop_assert!(oracle_fires(times.hours(), sched, off, next), "{next} does not satisfy the rule");
                prop_assert!(p.fires_at(next));
                prop_assert_eq!(p.latest_at_or_before(next), Some(next));
                *per_day.entry(next.date_naive()).or_default() += 1;
                prev = next;
            }
            prop_assert!(per_day.values().all(|&n| n <= 24));
        }

        #[test]
        fn next_after_is_strictly_after_and_nothing_is_skipped(
            (times, sched, off) in policy_strategy(),
            t in instant(),
        ) {
            let p = FireSchedule::new(&times, sched, off, true);
            let next = p.next_after(t).expect("fires again");
            prop_assert!(next > t);
            // Nothing fires in (t, next): the latest fire at or before `next - 1ns` is <= t.
            if let Some(before) = p.latest_at_or_before(next - TimeDelta::nanoseconds(1)) {
                prop_assert!(before <= t);
            }
            // And the two searches agree from the other side.
            let latest = p.latest_at_or_before(t).expect("has fired before");
            prop_assert!(latest <= t);
            prop_assert_eq!(p.next_after(latest), Some(next));
        }

        #[test]
        fn between_matches_iterating_next_after(
            (times, sched, off) in policy_strategy(),
            a in instant(),
            span_hours in 0i64..(24 * 40),
        ) {
            let p = FireSchedule::new(&times, sched, off, true);
            let b = a + TimeDelta::hours(span_hours);
            let mut expected = Vec::new();
            let mut cur = a;
            while let Some(next) = p.next_after(cur) {
                if next > b { break; }
                expected.push(next);
                cur = next;
            }
            prop_assert_eq!(p.between(a, b).collect::<Vec<_>>(), expected);
        }

        #[test]
        fn between_matches_brute_force_oracle(
            (times, sched, off) in policy_strategy(),
            a in instant(),
        ) {
            let p = FireSchedule::new(&times, sched, off, true);
            let b = a + TimeDelta::weeks(3);
            let first_hour = Utc.timestamp_opt(a.timestamp().div_euclid(3600) * 3600, 0).single().expect("in range");
            let expected: Vec<_> = (0..=24 * 7 * 3 + 1)
                .map(|i| first_hour + TimeDelta::hours(i))
                .filter(|&c| c > a && c <= b && oracle_fires(times.hours(), sched, off, c))
                .collect();
            let got: Vec<_> = p.between(a, b).collect();
            let mut per_day: BTreeMap<NaiveDate, usize> = BTreeMap::new();
            for t in &got {
                *per_day.entry(t.date_naive()).or_default() += 1;
            }
            prop_assert!(per_day.values().all(|&n| n <= 24));
            prop_assert_eq!(got, expected);
        }

        #[test]
        fn fires_at_matches_oracle(
            (times, sched, off) in policy_strategy(),
            t in instant(),
        ) {
            let p = FireSchedule::new(&times, sched, off, true);
            prop_assert_eq!(p.fires_at(t), oracle_fires(times.hours(), sched, off, t));
        }

        #[test]
        fn disabled_never_fires(
            (times, sched, off) in policy_strategy(),
            t in instant(),
        ) {
            let p = FireSchedule::new(&times, sched, off, false);
            prop_assert_eq!(p.next_after(t), None);
            prop_assert_eq!(p.latest_at_or_before(t), None);
            prop_assert_eq!(p.between(t, t + TimeDelta::weeks(2)).count(), 0);
        }
    }
}
