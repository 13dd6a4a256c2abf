use std::fmt;

use super::{ValidationError, is_name_charset};
use crate::error::codes::volume_backup as vb;

/// A backup name chosen by a tenant: 1–64 of `[A-Za-z0-9_-]`, not starting with `auto` (the
/// vendor reserves that prefix for the backups its policies create, `autobk_xxxx`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BackupName(String);

impl BackupName {
    pub const MAX_LEN: usize = 64;
    const FIELD: &'static str = "backup.name";

    pub fn parse(s: &str) -> Result<Self, ValidationError> {
        if s.is_empty() {
            return Err(ValidationError::new(Self::FIELD, "is empty").with_code(vb::NAME_EMPTY));
        }
        if s.chars().count() > Self::MAX_LEN {
            return Err(ValidationError::new(Self::FIELD, "must be at most 64 characters long")
                .with_code(vb::NAME_TOO_LONG));
        }
        if !is_name_charset(s) {
            return Err(ValidationError::new(
                Self::FIELD,
                "may contain only letters, digits, underscores (_) and hyphens (-)",
            )
            .with_code(vb::NAME_INVALID));
        }
        if s.starts_with("auto") {
            return Err(ValidationError::new(
                Self::FIELD,
                "must not start with \"auto\" (reserved for backups created by policies)",
            )
            .with_code(vb::NAME_STARTS_WITH_AUTO));
        }
        Ok(Self(s.to_owned()))
    }

    /// The name a policy gives its backups (`autobk_xxxx`), which tenants may not choose.
    /// Only the charset and length are checked.
    pub fn automatic(s: &str) -> Result<Self, ValidationError> {
        if s.is_empty() || s.chars().count() > Self::MAX_LEN || !is_name_charset(s) {
            return Err(ValidationError::new("backup_name", "must be 1 to 64 of [A-Za-z0-9_-]"));
        }
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for BackupName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A backup description: at most `max` characters (255 on the native API, 64 on the VBS one),
/// without `<` or `>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BackupDescription(String);

impl BackupDescription {
    /// The native (Cinder) API's limit.
    pub const NATIVE_MAX_LEN: usize = 255;
    /// The VBS `cloudbackups` API's limit.
    pub const VBS_MAX_LEN: usize = 64;
    const FIELD: &'static str = "backup.description";

    pub fn parse(s: &str, max: usize) -> Result<Self, ValidationError> {
        if s.chars().count() > max {
            return Err(ValidationError::new(Self::FIELD, format!("must be at most {max} characters long"))
                .with_code(vb::DESCRIPTION_INVALID));
        }
        if s.contains(['<', '>']) {
            return Err(ValidationError::new(Self::FIELD, "must not contain < or >")
                .with_code(vb::DESCRIPTION_INVALID));
        }
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn names() {
        let cases: &[(&str, Option<&str>)] = &[
            ("backup1", None),
            ("a", None),
            ("A-b_9", None),
            ("my-auto", None),
            ("Auto", None),
            ("", Some(vb::NAME_EMPTY)),
            (&"x".repeat(65), Some(vb::NAME_TOO_LONG)),
            ("has space", Some(vb::NAME_INVALID)),
            ("../etc", Some(vb::NAME_INVALID)),
            ("ä", Some(vb::NAME_INVALID)),
            ("auto", Some(vb::NAME_STARTS_WITH_AUTO)),
            ("autobk_1234", Some(vb::NAME_STARTS_WITH_AUTO)),
        ];
        for (input, code) in cases {
            let got = BackupName::parse(input).err().and_then(|e| e.code);
            assert_eq!(got, *code, "{input:?}");
        }
        assert_eq!(BackupName::parse(&"x".repeat(64)).unwrap().as_str().len(), 64);
        assert!(BackupName::automatic("autobk_a1b2").is_ok());
        assert!(BackupName::automatic("a/b").is_err());
    }

    #[test]
    fn descriptions() {
        assert!(BackupDescription::parse("", 255).is_ok());
        assert!(BackupDescription::parse(&"é".repeat(255), 255).is_ok());
        assert!(BackupDescription::parse(&"x".repeat(256), 255).is_err());
        assert!(BackupDescription::parse(&"x".repeat(65), BackupDescription::VBS_MAX_LEN).is_err());
        for bad in ["<script>", "a > b", "<"] {
            assert_eq!(BackupDescription::parse(bad, 255).unwrap_err().code, Some(vb::DESCRIPTION_INVALID));
        }
    }

    proptest! {
        #[test]
        fn accepted_names_are_path_safe(s in "\\PC{0,70}") {
            if let Ok(n) = BackupName::parse(&s) {
                prop_assert!(!n.as_str().contains('/') && !n.as_str().contains('.'));
                prop_assert!(!n.as_str().starts_with("auto"));
            }
        }
    }
}
