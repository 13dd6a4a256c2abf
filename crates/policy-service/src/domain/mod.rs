//! Pure policy logic: what a valid policy is, how a modify request changes one, which volumes a
//! request names, and how tag queries select policies. No I/O.

pub mod policy;
pub mod resources;
pub mod tag_query;
