//! task-scheduler: turns backup policies into backup tasks at exactly the right instants.

pub mod domain;
