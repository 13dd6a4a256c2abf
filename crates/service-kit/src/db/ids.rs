//! Ids as they are stored: text columns that read back as the validated newtypes.
//!
//! [`ResourceId`] and [`ProjectId`] live in api-types, which must not depend on diesel, so they
//! cannot implement diesel's traits themselves; these wrappers do (as Lemmy's `DbUrl` wraps
//! `Url`). A row's id fields are `DbId` / `DbProjectId`: they are parsed once, when the row is
//! loaded, and a value that is not a valid id fails the query that loaded it instead of every
//! caller re-parsing a string. The columns stay `TEXT` (ids in their canonical spelling), so the
//! stored form is unchanged and portable.

use std::{fmt, ops::Deref};

use api_types::domain::{ProjectId, ResourceId};
use diesel::{
    deserialize::{self, FromSql, FromSqlRow},
    expression::AsExpression,
    pg::{Pg, PgValue},
    serialize::{self, Output, ToSql},
    sql_types::Text,
};

/// A UUID-valued id (policy, volume, snapshot, backup, task, job) in a `TEXT` column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, AsExpression, FromSqlRow)]
#[diesel(sql_type = Text)]
pub struct DbId(pub ResourceId);

/// A project id in a `TEXT` column.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, AsExpression, FromSqlRow)]
#[diesel(sql_type = Text)]
pub struct DbProjectId(pub ProjectId);

impl DbId {
    pub fn new_v4() -> Self {
        Self(ResourceId::new_v4())
    }
}

impl Deref for DbId {
    type Target = ResourceId;
    fn deref(&self) -> &ResourceId {
        &self.0
    }
}

impl Deref for DbProjectId {
    type Target = ProjectId;
    fn deref(&self) -> &ProjectId {
        &self.0
    }
}

impl From<ResourceId> for DbId {
    fn from(id: ResourceId) -> Self {
        Self(id)
    }
}

impl From<DbId> for ResourceId {
    fn from(id: DbId) -> Self {
        id.0
    }
}

impl From<ProjectId> for DbProjectId {
    fn from(id: ProjectId) -> Self {
        Self(id)
    }
}

impl From<&ProjectId> for DbProjectId {
    fn from(id: &ProjectId) -> Self {
        Self(id.clone())
    }
}

impl From<DbProjectId> for ProjectId {
    fn from(id: DbProjectId) -> Self {
        id.0
    }
}

impl fmt::Display for DbId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl fmt::Display for DbProjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl ToSql<Text, Pg> for DbId {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
        <String as ToSql<Text, Pg>>::to_sql(&self.0.to_string(), &mut out.reborrow())
    }
}

impl FromSql<Text, Pg> for DbId {
    fn from_sql(value: PgValue<'_>) -> deserialize::Result<Self> {
        let text = <String as FromSql<Text, Pg>>::from_sql(value)?;
        Ok(Self(ResourceId::parse("stored id", &text)?))
    }
}

impl ToSql<Text, Pg> for DbProjectId {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
        <str as ToSql<Text, Pg>>::to_sql(self.0.as_str(), out)
    }
}

impl FromSql<Text, Pg> for DbProjectId {
    fn from_sql(value: PgValue<'_>) -> deserialize::Result<Self> {
        let text = <String as FromSql<Text, Pg>>::from_sql(value)?;
        Ok(Self(ProjectId::parse(&text)?))
    }
}
