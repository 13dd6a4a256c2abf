//! Development tasks of this repository, run as `cargo xtask <task>` (an alias in
//! `.cargo/config.toml`). They need the services' code, which the operator tool `vbsctl` does
//! not, so they live here rather than in it.
//!
//! - `cargo xtask openapi` writes every committed OpenAPI document under `openapi/` (`make
//!   openapi`); `cargo xtask openapi <document>` prints one.

mod openapi;

use std::{io::Write, path::Path};

use anyhow::Context;
use clap::{Parser, Subcommand};

use openapi::Doc;

#[derive(Parser)]
#[command(name = "xtask", about = "Development tasks of the VBS repository")]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Write the OpenAPI documents under openapi/, or print one.
    Openapi {
        /// Print this document instead of writing them all.
        document: Option<Doc>,
    },
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().task {
        Task::Openapi { document: Some(doc) } => {
            std::io::stdout().write_all(doc.json()?.as_bytes())?;
        }
        Task::Openapi { document: None } => {
            let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../openapi");
            for doc in Doc::ALL {
                write_atomically(&dir.join(doc.file_name()), &doc.json()?)?;
            }
        }
    }
    Ok(())
}

/// Writes through a temporary file, so an interrupted run never leaves a truncated document.
fn write_atomically(path: &Path, content: &str) -> anyhow::Result<()> {
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, content).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("renaming {} to {}", tmp.display(), path.display()))
}
