use super::{ValidationError, ab};

/// `rentention_num`: keep the newest N automatic backups (2–14).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RetentionNum(u8);

impl RetentionNum {
    pub fn parse(n: i64) -> Result<Self, ValidationError> {
        if !(2..=14).contains(&n) {
            return Err(ValidationError::new(
                "scheduled_policy.rentention_num",
                format!("must be an integer from 2 to 14, got {n}"),
            )
            .with_code(ab::RETENTION_INVALID));
        }
        Ok(Self(n as u8))
    }

    pub fn get(self) -> u8 {
        self.0
    }
}

/// `rentention_day`: keep automatic backups younger than D days (2–99999). The wire value may
/// be a float; the vendor rounds it down, so the caller floors it before parsing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RetentionDays(u32);

impl RetentionDays {
    pub fn parse(n: i64) -> Result<Self, ValidationError> {
        if !(2..=99_999).contains(&n) {
            return Err(ValidationError::new(
                "scheduled_policy.rentention_day",
                format!("must be from 2 to 99999 (days), got {n}"),
            )
            .with_code(ab::RETENTION_INVALID));
        }
        Ok(Self(n as u32))
    }

    pub fn get(self) -> u32 {
        self.0
    }
}

/// How many automatic backups a policy keeps. With both wire fields set, the count wins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Retention {
    Count(RetentionNum),
    Days(RetentionDays),
}

impl Retention {
    pub fn choose(num: Option<RetentionNum>, days: Option<RetentionDays>) -> Result<Self, ValidationError> {
        match (num, days) {
            (Some(n), _) => Ok(Self::Count(n)),
            (None, Some(d)) => Ok(Self::Days(d)),
            (None, None) => Err(ValidationError::new(
                "scheduled_policy",
                "either rentention_num or rentention_day must be given",
            )
            .with_code(ab::RETENTION_INVALID)),
        }
    }

    pub fn num(self) -> Option<RetentionNum> {
        match self {
            Self::Count(n) => Some(n),
            Self::Days(_) => None,
        }
    }

    pub fn days(self) -> Option<RetentionDays> {
        match self {
            Self::Days(d) => Some(d),
            Self::Count(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn bounds() {
        assert!(RetentionNum::parse(1).is_err());
        assert!(RetentionNum::parse(2).is_ok());
        assert!(RetentionNum::parse(14).is_ok());
        assert!(RetentionNum::parse(15).is_err());
        assert!(RetentionDays::parse(1).is_err());
        assert!(RetentionDays::parse(2).is_ok());
        assert!(RetentionDays::parse(99_999).is_ok());
        assert!(RetentionDays::parse(100_000).is_err());
    }

    #[test]
    fn count_wins_over_days() {
        let n = RetentionNum::parse(3).unwrap();
        let d = RetentionDays::parse(30).unwrap();
        assert_eq!(Retention::choose(Some(n), Some(d)).unwrap(), Retention::Count(n));
        assert_eq!(Retention::choose(None, Some(d)).unwrap(), Retention::Days(d));
        assert!(Retention::choose(None, None).is_err());
    }

    proptest! {
        #[test]
        fn num_accepts_exactly_2_to_14(n in -1000i64..1000) {
            prop_assert_eq!(RetentionNum::parse(n).is_ok(), (2..=14).contains(&n));
        }

        #[test]
        fn days_accepts_exactly_2_to_99999(n in -10i64..200_000) {
            prop_assert_eq!(RetentionDays::parse(n).is_ok(), (2..=99_999).contains(&n));
        }
    }
}
