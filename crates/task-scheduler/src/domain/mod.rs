//! Pure scheduling logic: no clock, no I/O. The store and the scheduler feed it values and
//! persist what it decides.

pub mod firing;
pub mod policy;
pub mod query;
pub mod schedule;
pub mod task;
