use std::fmt;

use super::{ValidationError, ab, is_name_charset};

/// The vendor allows at most 10 tags on one policy.
pub const MAX_TAGS_PER_POLICY: usize = 10;

/// A tag key: 1–36 of `[A-Za-z0-9_-]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TagKey(String);

impl TagKey {
    pub fn parse(s: &str) -> Result<Self, ValidationError> {
        let len = s.chars().count();
        if !(1..=36).contains(&len) || !is_name_charset(s) {
            return Err(ValidationError::new(
                "tags.key",
                format!("{s:?} must be 1 to 36 letters, digits, underscores or hyphens"),
            )
            .with_code(ab::TAG_INVALID));
        }
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TagKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A tag value: 0–43 of `[A-Za-z0-9_-]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TagValue(String);

impl TagValue {
    pub fn parse(s: &str) -> Result<Self, ValidationError> {
        if s.chars().count() > 43 || !is_name_charset(s) {
            return Err(ValidationError::new(
                "tags.value",
                format!("{s:?} must be 0 to 43 letters, digits, underscores or hyphens"),
            )
            .with_code(ab::TAG_INVALID));
        }
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tag {
    pub key: TagKey,
    pub value: TagValue,
}

impl Tag {
    pub fn parse(key: &str, value: &str) -> Result<Self, ValidationError> {
        Ok(Self { key: TagKey::parse(key)?, value: TagValue::parse(value)? })
    }
}

/// The tags given in one request: distinct keys, at most [`MAX_TAGS_PER_POLICY`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Tags(Vec<Tag>);

impl Tags {
    pub fn parse<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Result<Self, ValidationError> {
        let mut tags: Vec<Tag> = Vec::new();
        for (k, v) in pairs {
            let tag = Tag::parse(k, v)?;
            if tags.iter().any(|t| t.key == tag.key) {
                return Err(ValidationError::new("tags", format!("key {k:?} is given twice"))
                    .with_code(ab::TAG_INVALID));
            }
            tags.push(tag);
        }
        if tags.len() > MAX_TAGS_PER_POLICY {
            return Err(ValidationError::new(
                "tags",
                format!("at most {MAX_TAGS_PER_POLICY} tags are allowed, got {}", tags.len()),
            )
            .with_code(ab::TAG_LIMIT));
        }
        Ok(Self(tags))
    }

    pub fn iter(&self) -> impl Iterator<Item = &Tag> {
        self.0.iter()
    }

    pub fn into_vec(self) -> Vec<Tag> {
        self.0
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn keys_and_values() {
        assert!(TagKey::parse("key").is_ok());
        assert!(TagKey::parse(&"k".repeat(36)).is_ok());
        assert!(TagKey::parse(&"k".repeat(37)).is_err());
        assert!(TagKey::parse("").is_err());
        assert!(TagKey::parse("a b").is_err());
        assert!(TagKey::parse("a=b").is_err());
        assert!(TagValue::parse("").is_ok());
        assert!(TagValue::parse(&"v".repeat(43)).is_ok());
        assert!(TagValue::parse(&"v".repeat(44)).is_err());
        assert!(TagValue::parse("v.1").is_err());
    }

    #[test]
    fn tag_sets() {
        assert_eq!(Tags::parse([("a", "1"), ("b", "")]).unwrap().len(), 2);
        assert!(Tags::parse([("a", "1"), ("a", "2")]).is_err());
        let ten: Vec<(String, String)> = (0..10).map(|i| (format!("k{i}"), "v".into())).collect();
        assert!(Tags::parse(ten.iter().map(|(k, v)| (k.as_str(), v.as_str()))).is_ok());
        let eleven: Vec<(String, String)> = (0..11).map(|i| (format!("k{i}"), "v".into())).collect();
        assert!(Tags::parse(eleven.iter().map(|(k, v)| (k.as_str(), v.as_str()))).is_err());
    }

    proptest! {
        #[test]
        fn key_rule(s in "\\PC{0,40}") {
            let expected = (1..=36).contains(&s.chars().count())
                && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
            prop_assert_eq!(TagKey::parse(&s).is_ok(), expected);
        }

        #[test]
        fn value_rule(s in "\\PC{0,50}") {
            let expected = s.chars().count() <= 43
                && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
            prop_assert_eq!(TagValue::parse(&s).is_ok(), expected);
        }
    }
}
