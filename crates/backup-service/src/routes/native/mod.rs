//! The OpenStack native (Cinder-style) backup API.

pub mod action;
pub mod create;
pub mod delete;
pub mod list;
pub mod metadata;
pub mod record;
pub mod restore;
pub mod show;
pub mod update;
