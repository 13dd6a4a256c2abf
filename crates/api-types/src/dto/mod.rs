//! HTTP request and response bodies, field for field as the vendor's API pages give them
//! (misspellings such as `rentention_num` included: clients depend on them).
//!
//! Request DTOs are deliberately loose (optional fields, numbers as `i64`) so that a bad request
//! reaches the parser that knows which rule it broke and which error code that is; the
//! `TryFrom`/`parse` functions beside them produce the domain types. Unknown fields are ignored,
//! as the vendor does: SDKs send extra keys (otcextensions sends `backup_policy_id` on modify).

pub mod backup_changes;
pub mod backups;
pub mod policy;
pub mod sharing;
pub mod tags;
pub mod tasks;
pub mod version;
pub mod volumes;
pub mod wire_enums;

pub use backup_changes::*;
pub use backups::*;
pub use policy::*;
pub use sharing::*;
pub use tags::*;
pub use tasks::*;
pub use version::*;
pub use volumes::*;
pub use wire_enums::*;
