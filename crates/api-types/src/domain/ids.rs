use std::fmt;

use super::{ValidationError, is_name_charset};

/// A project (tenant) id: 1–64 of `[A-Za-z0-9_-]`. OpenStack uses 32 hex characters; the wider
/// set keeps self-hosted deployments free to pick readable ids while still never being a path.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct ProjectId(String);

impl ProjectId {
    pub const MAX_LEN: usize = 64;

    pub fn parse(s: &str) -> Result<Self, ValidationError> {
        if s.is_empty() || s.len() > Self::MAX_LEN || !is_name_charset(s) {
            return Err(ValidationError::new(
                "project_id",
                "must be 1 to 64 letters, digits, underscores or hyphens",
            ));
        }
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ProjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for ProjectId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// A policy, volume, snapshot, backup, task or job id: a UUID, kept in its canonical lowercase
/// hyphenated text form so that it compares, sorts and stores the same everywhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ResourceId(uuid::Uuid);

impl ResourceId {
    pub fn new_v4() -> Self {
        Self(uuid::Uuid::new_v4())
    }

    /// Parses a UUID in any of the usual spellings (hyphenated, simple, upper case).
    pub fn parse(field: &'static str, s: &str) -> Result<Self, ValidationError> {
        uuid::Uuid::try_parse(s)
            .map(Self)
            .map_err(|_| ValidationError::new(field, format!("{s:?} is not a valid UUID")))
    }

    pub fn uuid(self) -> uuid::Uuid {
        self.0
    }
}

impl From<uuid::Uuid> for ResourceId {
    fn from(u: uuid::Uuid) -> Self {
        Self(u)
    }
}

impl fmt::Display for ResourceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

impl serde::Serialize for ResourceId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0.hyphenated())
    }
}

impl<'de> serde::Deserialize<'de> for ResourceId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        uuid::Uuid::try_parse(&s).map(Self).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn project_ids() {
        for ok in ["a", "5751d8c3f2f6415993ee4326b41630ec", "team_a-1", &"x".repeat(64)] {
            assert!(ProjectId::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["", "../etc", "a/b", "a b", "ä", &"x".repeat(65), "a.b"] {
            assert!(ProjectId::parse(bad).is_err(), "{bad}");
        }
    }

    proptest::proptest! {
        #[test]
        fn project_id_rule(s in "\\PC{0,70}") {
            let expected = (1..=64).contains(&s.len())
                && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
            proptest::prop_assert_eq!(ProjectId::parse(&s).is_ok(), expected);
        }

        #[test]
        fn any_uuid_round_trips(n in proptest::num::u128::ANY) {
            let u = uuid::Uuid::from_u128(n);
            let parsed = ResourceId::parse("id", &u.simple().to_string()).unwrap();
            proptest::prop_assert_eq!(parsed.to_string(), u.hyphenated().to_string());
        }
    }

    #[test]
    fn resource_ids_are_canonical() {
        let id = ResourceId::parse("id", "AF8A20B0-117D-4FC3-AE53-AA3968A4F870").unwrap();
        assert_eq!(id.to_string(), "af8a20b0-117d-4fc3-ae53-aa3968a4f870");
        assert!(ResourceId::parse("id", "not-a-uuid").is_err());
        assert!(ResourceId::parse("id", "../../etc/passwd").is_err());
    }
}
