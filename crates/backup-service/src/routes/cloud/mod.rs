//! The VBS backup API: `cloudbackups` create, restore and the deprecated delete answer a job id
//! to poll.

pub mod create;
pub mod delete;
pub mod quota;
pub mod restore;
