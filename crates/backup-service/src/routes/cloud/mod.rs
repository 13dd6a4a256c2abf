//! The VBS backup API: `cloudbackups` create and restore answer a job id to poll.

pub mod create;
pub mod quota;
pub mod restore;
