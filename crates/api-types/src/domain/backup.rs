use std::{collections::BTreeMap, fmt};

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

/// A backup's metadata (Cinder 3.43): at most [`BackupMetadata::MAX_ITEMS`] keys of 1–255 of
/// `[A-Za-z0-9-_:. /]`, each with a string value of at most 255 characters, as Cinder's schema
/// allows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BackupMetadata(BTreeMap<String, String>);

impl BackupMetadata {
    pub const MAX_ITEMS: usize = 128;
    pub const MAX_LEN: usize = 255;
    pub const KEY_PATTERN: &'static str = "^[a-zA-Z0-9-_:. /]{1,255}$";

    /// `value` must be a JSON object of strings.
    pub fn parse(field: &'static str, value: &serde_json::Value) -> Result<Self, ValidationError> {
        let object = value
            .as_object()
            .ok_or_else(|| ValidationError::new(field, "must be an object of string values"))?;
        if object.len() > Self::MAX_ITEMS {
            return Err(ValidationError::new(field, format!("at most {} keys", Self::MAX_ITEMS)));
        }
        let mut items = BTreeMap::new();
        for (key, value) in object {
            Self::check_key(field, key)?;
            let value = value.as_str().ok_or_else(|| {
                ValidationError::new(field, format!("the value of {key:?} must be a string"))
            })?;
            Self::check_value(field, key, value)?;
            items.insert(key.clone(), value.to_owned());
        }
        Ok(Self(items))
    }

    pub fn check_key(field: &'static str, key: &str) -> Result<(), ValidationError> {
        let allowed = |c: char| c.is_ascii_alphanumeric() || "-_:. /".contains(c);
        if key.is_empty() || key.len() > Self::MAX_LEN || !key.chars().all(allowed) {
            return Err(ValidationError::new(
                field,
                format!("key {key:?} must be 1 to 255 of letters, digits, '-', '_', ':', '.', ' ' or '/'"),
            ));
        }
        Ok(())
    }

    pub fn check_value(field: &'static str, key: &str, value: &str) -> Result<(), ValidationError> {
        if value.chars().count() > Self::MAX_LEN || value.contains('\0') {
            return Err(ValidationError::new(
                field,
                format!("the value of {key:?} must be at most 255 characters without NUL"),
            ));
        }
        Ok(())
    }

    pub fn into_inner(self) -> BTreeMap<String, String> {
        self.0
    }
}

#[cfg(test)]
mod metadata_tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn metadata_as_cinder_allows() {
        let ok = BackupMetadata::parse("backup.metadata", &json!({"a": "1", "k.e:y/ -_": ""})).unwrap();
        assert_eq!(ok.into_inner().len(), 2);
        for bad in [
            json!([]),
            json!({"": "v"}),
            json!({"a+b": "v"}),
            json!({"k": 1}),
            json!({"k": "v".repeat(256)}),
            json!({"k".repeat(256): "v"}),
        ] {
            assert!(BackupMetadata::parse("backup.metadata", &bad).is_err(), "{bad}");
        }
    }
}
