//! The read-only Cinder volumes API: the volumes the driver sees, for clients that look a volume
//! up before they back it up or restore into it.

pub mod list;
pub mod show;
