//! The VBS job API.

pub mod show;
