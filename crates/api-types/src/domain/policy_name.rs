use std::fmt;

use super::{ValidationError, ab, is_name_charset};

/// A backup policy name: 1–64 of `[A-Za-z0-9_-]`, not starting with `default` (the vendor
/// reserves that prefix for its default policy).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PolicyName(String);

impl PolicyName {
    pub const MAX_LEN: usize = 64;
    const FIELD: &'static str = "backup_policy_name";

    pub fn parse(s: &str) -> Result<Self, ValidationError> {
        if s.is_empty() || s.chars().count() > Self::MAX_LEN {
            return Err(ValidationError::new(Self::FIELD, "must be 1 to 64 characters long")
                .with_code(ab::NAME_LENGTH));
        }
        if !is_name_charset(s) {
            return Err(ValidationError::new(
                Self::FIELD,
                "may contain only letters, digits, underscores (_) and hyphens (-)",
            )
            .with_code(ab::NAME_INVALID));
        }
        if s.starts_with("default") {
            return Err(ValidationError::new(Self::FIELD, "must not start with \"default\"")
                .with_code(ab::NAME_INVALID));
        }
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PolicyName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn table() {
        let cases: &[(&str, bool)] = &[
            ("policy_01", true),
            ("a", true),
            ("A-b_9", true),
            ("Default_x", true),
            ("mydefault", true),
            ("", false),
            ("default", false),
            ("default_policy", false),
            ("has space", false),
            ("dot.name", false),
            ("ünïcode", false),
            ("semi;colon", false),
        ];
        for (input, ok) in cases {
            assert_eq!(PolicyName::parse(input).is_ok(), *ok, "{input:?}");
        }
        assert!(PolicyName::parse(&"a".repeat(64)).is_ok());
        assert!(PolicyName::parse(&"a".repeat(65)).is_err());
    }

    proptest! {
        #[test]
        fn valid_names_parse(s in "[A-Za-z0-9_-]{1,64}") {
            prop_assert_eq!(PolicyName::parse(&s).is_ok(), !s.starts_with("default"));
        }

        #[test]
        fn anything_outside_the_charset_fails(prefix in "[a-z]{0,10}", bad in "[^A-Za-z0-9_-]", suffix in "[a-z]{0,10}") {
            let s = format!("{prefix}{bad}{suffix}");
            prop_assert!(PolicyName::parse(&s).is_err());
        }
    }
}
