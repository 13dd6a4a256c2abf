//! The scheduler database (`vbs_scheduler`): the policies' read model and the tasks.
//!
//! Functions take a connection and return `QueryResult`, so the scheduler composes them inside
//! one transaction together with the inbox record of the message being applied and the outbox
//! rows of the `backup.requested` it announces. Ids go in and come out typed (`ProjectId`,
//! `ResourceId`); rows hold them as `DbId` / `DbProjectId`, which are read back as valid ids or
//! fail the query. Queries stay portable (text ids, `TIMESTAMP` columns); the PostgreSQL-only
//! parts are the row locks ([`policies::lock`], [`policies::claim_due`], [`tasks::lock`],
//! [`tasks::time_out`]).

pub mod policies;
pub mod schema;
pub mod tasks;

use chrono::{DateTime, NaiveDateTime, Utc};

/// Times are stored as UTC `TIMESTAMP`.
pub fn naive(t: DateTime<Utc>) -> NaiveDateTime {
    t.naive_utc()
}
