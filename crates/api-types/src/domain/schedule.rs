use std::fmt;

use super::{ValidationError, ab};

/// The UTC hours at which a policy fires, from the vendor's `start_time`: a comma list of whole
/// hours `HH:00`. The order the tenant gave is kept (the vendor asks for ascending *local* order,
/// which is not ascending UTC order); duplicates are refused, so at most 24 entries.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StartTimes(Vec<u8>);

impl StartTimes {
    const FIELD: &'static str = "scheduled_policy.start_time";

    pub fn parse(s: &str) -> Result<Self, ValidationError> {
        let mut hours = Vec::new();
        for part in s.split(',') {
            let part = part.trim();
            let hour = parse_whole_hour(part).ok_or_else(|| {
                ValidationError::new(
                    Self::FIELD,
                    format!(
                        "{part:?} is not a whole hour in HH:mm form (00:00 to 23:00); separate several times with commas"
                    ),
                )
                .with_code(ab::START_TIME_INVALID)
            })?;
            if hours.contains(&hour) {
                return Err(ValidationError::new(Self::FIELD, format!("{part} is given twice"))
                    .with_code(ab::START_TIME_INVALID));
            }
            hours.push(hour);
        }
        Ok(Self(hours))
    }

    /// Builds from hours already known to be valid (e.g. read back from storage).
    pub fn from_hours(hours: Vec<u8>) -> Result<Self, ValidationError> {
        let text = hours.iter().map(|h| format!("{h:02}:00")).collect::<Vec<_>>().join(",");
        Self::parse(&text)
    }

    pub fn hours(&self) -> &[u8] {
        &self.0
    }
}

fn parse_whole_hour(part: &str) -> Option<u8> {
    let (h, m) = part.split_once(':')?;
    if h.len() != 2 || m != "00" || !h.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let hour: u8 = h.parse().ok()?;
    (hour < 24).then_some(hour)
}

impl fmt::Display for StartTimes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, h) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{h:02}:00")?;
        }
        Ok(())
    }
}

/// `frequency`: fire every N days (1–14), counted as the vendor documents it: on local days
/// whose `(day_of_month - 1) % N == 0`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Frequency(u8);

impl Frequency {
    pub const MIN: i64 = 1;
    pub const MAX: i64 = 14;

    pub fn parse(n: i64) -> Result<Self, ValidationError> {
        if !(Self::MIN..=Self::MAX).contains(&n) {
            return Err(ValidationError::new(
                "scheduled_policy.frequency",
                format!("must be an integer from 1 to 14 (days), got {n}"),
            )
            .with_code(ab::FREQUENCY_INVALID));
        }
        Ok(Self(n as u8))
    }

    pub fn days(self) -> u8 {
        self.0
    }
}

/// A day of the week, spelled as the vendor does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum WeekDay {
    Sun,
    Mon,
    Tue,
    Wed,
    Thu,
    Fri,
    Sat,
}

impl WeekDay {
    pub const ALL: [WeekDay; 7] =
        [Self::Sun, Self::Mon, Self::Tue, Self::Wed, Self::Thu, Self::Fri, Self::Sat];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sun => "SUN",
            Self::Mon => "MON",
            Self::Tue => "TUE",
            Self::Wed => "WED",
            Self::Thu => "THU",
            Self::Fri => "FRI",
            Self::Sat => "SAT",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|d| d.as_str() == s)
    }

    /// 0 for Sunday … 6 for Saturday (chrono's `num_days_from_sunday`).
    pub fn index_from_sunday(self) -> u8 {
        self as u8
    }
}

impl fmt::Display for WeekDay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A non-empty set of week days (`week_frequency`), kept in SUN..SAT order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct WeekDays(u8);

impl WeekDays {
    const FIELD: &'static str = "scheduled_policy.week_frequency";

    pub fn parse<S: AsRef<str>>(days: &[S]) -> Result<Self, ValidationError> {
        if days.is_empty() {
            return Err(ValidationError::new(Self::FIELD, "must name at least one day")
                .with_code(ab::FREQUENCY_INVALID));
        }
        let mut bits = 0u8;
        for day in days {
            let day = day.as_ref();
            let d = WeekDay::parse(day).ok_or_else(|| {
                ValidationError::new(
                    Self::FIELD,
                    format!("{day:?} is not one of SUN, MON, TUE, WED, THU, FRI, SAT"),
                )
                .with_code(ab::FREQUENCY_INVALID)
            })?;
            let bit = 1 << d.index_from_sunday();
            if bits & bit != 0 {
                return Err(ValidationError::new(Self::FIELD, format!("{day} is given twice"))
                    .with_code(ab::FREQUENCY_INVALID));
            }
            bits |= bit;
        }
        Ok(Self(bits))
    }

    pub fn contains(self, day: WeekDay) -> bool {
        self.0 & (1 << day.index_from_sunday()) != 0
    }

    pub fn iter(self) -> impl Iterator<Item = WeekDay> {
        WeekDay::ALL.into_iter().filter(move |d| self.contains(*d))
    }

    pub fn to_strings(self) -> Vec<String> {
        self.iter().map(|d| d.as_str().to_owned()).collect()
    }
}

/// Which local days a policy fires on. When a request gives both, `frequency` wins (vendor rule).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Schedule {
    EveryNDays(Frequency),
    Weekly(WeekDays),
}

impl Schedule {
    /// Picks the effective schedule from the two optional wire fields, already parsed.
    pub fn choose(
        frequency: Option<Frequency>,
        week_days: Option<WeekDays>,
    ) -> Result<Self, ValidationError> {
        match (frequency, week_days) {
            (Some(f), _) => Ok(Self::EveryNDays(f)),
            (None, Some(w)) => Ok(Self::Weekly(w)),
            (None, None) => Err(ValidationError::new(
                "scheduled_policy",
                "either frequency or week_frequency must be given",
            )
            .with_code(ab::FREQUENCY_INVALID)),
        }
    }

    pub fn frequency(self) -> Option<Frequency> {
        match self {
            Self::EveryNDays(f) => Some(f),
            Self::Weekly(_) => None,
        }
    }

    pub fn week_days(self) -> Option<WeekDays> {
        match self {
            Self::Weekly(w) => Some(w),
            Self::EveryNDays(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn start_times_table() {
        let ok: &[(&str, &[u8])] = &[
            ("12:00", &[12]),
            ("00:00", &[0]),
            ("23:00", &[23]),
            ("22:00,00:00,02:00", &[22, 0, 2]),
            ("22:00, 00:00 ,02:00", &[22, 0, 2]),
        ];
        for (input, hours) in ok {
            assert_eq!(StartTimes::parse(input).unwrap().hours(), *hours, "{input}");
        }
        for bad in [
            "",
            "12",
            "12:30",
            "24:00",
            "1:00",
            "12:00,",
            ",12:00",
            "12:00,12:00",
            "ab:00",
            "-1:00",
            "12:00:00",
            "12：00",
            "+1:00",
        ] {
            assert!(StartTimes::parse(bad).is_err(), "{bad:?}");
        }
        let all: Vec<String> = (0..24).map(|h| format!("{h:02}:00")).collect();
        assert_eq!(StartTimes::parse(&all.join(",")).unwrap().hours().len(), 24);
    }

    #[test]
    fn start_times_display_round_trips() {
        let t = StartTimes::parse("22:00, 00:00,02:00").unwrap();
        assert_eq!(t.to_string(), "22:00,00:00,02:00");
        assert_eq!(StartTimes::from_hours(vec![22, 0, 2]).unwrap(), t);
        assert!(StartTimes::from_hours(vec![24]).is_err());
    }

    #[test]
    fn frequency_bounds() {
        assert!(Frequency::parse(0).is_err());
        assert!(Frequency::parse(1).is_ok());
        assert!(Frequency::parse(14).is_ok());
        assert!(Frequency::parse(15).is_err());
        assert!(Frequency::parse(-3).is_err());
    }

    #[test]
    fn week_days_table() {
        let w = WeekDays::parse(&["WED", "SUN"]).unwrap();
        assert_eq!(w.to_strings(), ["SUN", "WED"]);
        assert!(w.contains(WeekDay::Sun) && w.contains(WeekDay::Wed) && !w.contains(WeekDay::Mon));
        assert!(WeekDays::parse::<&str>(&[]).is_err());
        assert!(WeekDays::parse(&["MON", "MON"]).is_err());
        assert!(WeekDays::parse(&["mon"]).is_err());
        assert!(WeekDays::parse(&["MONDAY"]).is_err());
        assert_eq!(
            WeekDays::parse(&["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"]).unwrap().iter().count(),
            7
        );
    }

    #[test]
    fn frequency_wins_over_week_days() {
        let f = Frequency::parse(3).unwrap();
        let w = WeekDays::parse(&["MON"]).unwrap();
        assert_eq!(Schedule::choose(Some(f), Some(w)).unwrap(), Schedule::EveryNDays(f));
        assert_eq!(Schedule::choose(None, Some(w)).unwrap(), Schedule::Weekly(w));
        assert!(Schedule::choose(None, None).is_err());
    }

    proptest! {
        #[test]
        fn any_distinct_whole_hours_round_trip(hours in proptest::sample::subsequence((0u8..24).collect::<Vec<_>>(), 1..=24)) {
            let text = hours.iter().map(|h| format!("{h:02}:00")).collect::<Vec<_>>().join(",");
            let parsed = StartTimes::parse(&text).unwrap();
            prop_assert_eq!(parsed.hours(), &hours[..]);
            prop_assert_eq!(parsed.to_string(), text);
        }

        #[test]
        fn frequency_accepts_exactly_1_to_14(n in -100i64..100) {
            prop_assert_eq!(Frequency::parse(n).is_ok(), (1..=14).contains(&n));
        }

        #[test]
        fn minutes_other_than_zero_fail(h in 0u8..24, m in 1u8..60) {
            let text = format!("{h:02}:{m:02}");
            prop_assert!(StartTimes::parse(&text).is_err());
        }

        #[test]
        fn week_day_subsets_round_trip(days in proptest::sample::subsequence(WeekDay::ALL.to_vec(), 1..=7)) {
            let names: Vec<&str> = days.iter().map(|d| d.as_str()).collect();
            let parsed = WeekDays::parse(&names).unwrap();
            prop_assert_eq!(parsed.iter().collect::<Vec<_>>(), days);
        }
    }
}
