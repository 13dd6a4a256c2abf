use std::fmt;

use super::{ValidationError, ab};

/// The vendor's `time_zone`: a fixed offset `UTC±HH:mm` that already includes any daylight
/// saving. It defines the policy's *local* calendar (which week day and day of month a UTC fire
/// instant falls on). Real offsets lie between UTC-12:00 and UTC+14:00.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct TimeZoneOffset {
    minutes: i16,
}

impl TimeZoneOffset {
    pub const UTC: Self = Self { minutes: 0 };
    const FIELD: &'static str = "time_zone";

    pub fn parse(s: &str) -> Result<Self, ValidationError> {
        let bad = || {
            ValidationError::new(
                Self::FIELD,
                format!("{s:?} is not of the form UTC+HH:mm or UTC-HH:mm, e.g. UTC+08:00"),
            )
            .with_code(ab::TIME_ZONE_INVALID)
        };
        let rest = s.strip_prefix("UTC").ok_or_else(bad)?;
        let (sign, rest) = match rest.as_bytes().first() {
            Some(b'+') => (1i16, &rest[1..]),
            Some(b'-') => (-1i16, &rest[1..]),
            _ => return Err(bad()),
        };
        let (h, m) = rest.split_once(':').ok_or_else(bad)?;
        let two_digits = |p: &str| p.len() == 2 && p.bytes().all(|b| b.is_ascii_digit());
        if !two_digits(h) || !two_digits(m) {
            return Err(bad());
        }
        let (h, m): (i16, i16) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
        if m >= 60 {
            return Err(bad());
        }
        let minutes = sign * (h * 60 + m);
        if !(-12 * 60..=14 * 60).contains(&minutes) {
            return Err(ValidationError::new(Self::FIELD, format!("{s} is outside UTC-12:00 to UTC+14:00"))
                .with_code(ab::TIME_ZONE_INVALID));
        }
        Ok(Self { minutes })
    }

    pub fn from_minutes(minutes: i16) -> Result<Self, ValidationError> {
        if !(-12 * 60..=14 * 60).contains(&minutes) {
            return Err(ValidationError::new(Self::FIELD, "offset out of range"));
        }
        Ok(Self { minutes })
    }

    /// Offset east of UTC, in minutes.
    pub fn minutes(self) -> i16 {
        self.minutes
    }
}

impl fmt::Display for TimeZoneOffset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.minutes < 0 { '-' } else { '+' };
        let abs = self.minutes.unsigned_abs();
        write!(f, "UTC{sign}{:02}:{:02}", abs / 60, abs % 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn table() {
        let ok: &[(&str, i16)] = &[
            ("UTC+08:00", 480),
            ("UTC-02:00", -120),
            ("UTC+00:00", 0),
            ("UTC-00:00", 0),
            ("UTC+05:30", 330),
            ("UTC+05:45", 345),
            ("UTC+14:00", 840),
            ("UTC-12:00", -720),
        ];
        for (input, minutes) in ok {
            assert_eq!(TimeZoneOffset::parse(input).unwrap().minutes(), *minutes, "{input}");
        }
        for bad in [
            "",
            "UTC",
            "UTC8",
            "UTC+8:00",
            "UTC+08",
            "UTC+0800",
            "utc+08:00",
            "GMT+08:00",
            "+08:00",
            "UTC+08:60",
            "UTC+14:30",
            "UTC-12:30",
            "UTC+15:00",
            "UTC±08:00",
            "UTC+08:00 ",
        ] {
            assert!(TimeZoneOffset::parse(bad).is_err(), "{bad:?}");
        }
    }

    proptest! {
        #[test]
        fn display_round_trips(minutes in -720i16..=840) {
            let tz = TimeZoneOffset::from_minutes(minutes).unwrap();
            prop_assert_eq!(TimeZoneOffset::parse(&tz.to_string()).unwrap(), tz);
        }
    }
}
