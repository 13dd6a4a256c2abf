pub mod create;
pub mod delete;
pub mod execute;
pub mod list;
pub mod update;
