//! The OpenStack native (Cinder-style) backup API.

pub mod create;
pub mod delete;
pub mod list;
pub mod restore;
pub mod show;
