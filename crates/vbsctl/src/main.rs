//! `vbsctl`: the operator's command line.
//!
//! - `vbsctl token --project <id>… [--role reader|member|admin]` prints a token for the given
//!   projects (and nothing else, so it can be captured in a shell variable), signed with
//!   `VBS_TOKEN_SECRET` (the `local` auth strategy).
//! - `vbsctl volume create|snapshot …` manages volumes of the `file` driver under
//!   `VBS_VOLUMES_ROOT` (demos and tests; real volumes come from the deployment's storage).
//! - `vbsctl backup verify|gc|usage …` checks and maintains the object store the backup
//!   service configured with `VBS_OBJECT_STORE` uses; `gc` takes the same per-project lock
//!   as the workers (through `VBS_BACKUP_DATABASE_URL`).

use std::{io::Write, path::PathBuf, time::Duration};

use anyhow::Context;
use api_types::domain::{ProjectId, ResourceId};
use backup_engine::Engine;
use backup_service::{config::Settings, engine, project_lock::ProjectLock, volumes::DriverSettings};
use clap::{Parser, Subcommand};
use service_kit::auth::{Role, TokenKeys};

#[derive(Parser)]
#[command(name = "vbsctl", version, about = "Operator commands for the Volume Backup Service")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Mint an X-Auth-Token for one or more projects.
    Token {
        /// A project the token may act on (repeat for several).
        #[arg(long = "project", required = true)]
        projects: Vec<String>,
        /// Lifetime in hours.
        #[arg(long, default_value_t = 24)]
        ttl_hours: u64,
        /// Who the token is for (recorded in the token, for audit logs).
        #[arg(long, default_value = "operator")]
        subject: String,
        /// What the token may do: read, change its projects, or (admin) act on any project.
        #[arg(long, value_enum, default_value = "member")]
        role: RoleArg,
    },
    /// Volumes of the driver VBS_VOLUME_DRIVER names: `file` (under VBS_VOLUMES_ROOT, default
    /// data/volumes) or `rbd` (VBS_RBD_POOL of the cluster VBS_RBD_CONF describes).
    #[command(subcommand)]
    Volume(VolumeCommand),
    /// Backups in the object store (VBS_OBJECT_STORE, default data/objects).
    #[command(subcommand)]
    Backup(BackupCommand),
}

#[derive(Subcommand)]
enum VolumeCommand {
    /// Create a volume; prints its id.
    Create {
        #[arg(long)]
        project: String,
        /// Size: bytes, or with a K, M, G or T suffix (powers of 1024).
        #[arg(long)]
        size: Option<String>,
        /// Copy this image into the volume (the size defaults to the image's).
        #[arg(long)]
        from: Option<PathBuf>,
        /// Display name.
        #[arg(long)]
        name: Option<String>,
        /// Use this id instead of a random one.
        #[arg(long)]
        id: Option<String>,
        /// The volume driver (default: VBS_VOLUME_DRIVER, else `file`). An `rbd` volume is the
        /// image `volume-<id>` with the image metadata `vbs.project_id` set to the project.
        #[arg(long, value_enum)]
        driver: Option<DriverArg>,
    },
    /// Snapshot a volume as it is now; prints the snapshot id.
    Snapshot {
        #[arg(long)]
        project: String,
        #[arg(long)]
        volume: String,
        /// The volume driver (default: VBS_VOLUME_DRIVER, else `file`).
        #[arg(long, value_enum)]
        driver: Option<DriverArg>,
    },
}

#[derive(Subcommand)]
enum BackupCommand {
    /// Read every block of a backup and check its BLAKE3; exits 1 when a block is bad.
    Verify {
        #[arg(long)]
        project: String,
        #[arg(long)]
        backup: String,
    },
    /// Garbage-collect a project now (under the workers' per-project lock).
    Gc {
        #[arg(long)]
        project: String,
        /// Keep unreferenced packs younger than this (default: VBS_BACKUP_GC_GRACE_SECS).
        #[arg(long)]
        grace_secs: Option<u64>,
    },
    /// Storage a project occupies and its committed backups.
    Usage {
        #[arg(long)]
        project: String,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum DriverArg {
    File,
    Rbd,
}

/// The settings of the driver `arg` names, else of VBS_VOLUME_DRIVER's, from the environment.
fn driver_settings(arg: Option<DriverArg>) -> anyhow::Result<DriverSettings> {
    match arg {
        None => DriverSettings::from_env(),
        Some(DriverArg::File) => DriverSettings::named("file"),
        Some(DriverArg::Rbd) => DriverSettings::named("rbd"),
    }
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum RoleArg {
    Reader,
    Member,
    Admin,
}

impl From<RoleArg> for Role {
    fn from(r: RoleArg) -> Self {
        match r {
            RoleArg::Reader => Role::Reader,
            RoleArg::Member => Role::Member,
            RoleArg::Admin => Role::Admin,
        }
    }
}

fn project(p: &str) -> anyhow::Result<ProjectId> {
    ProjectId::parse(p).with_context(|| format!("project {p:?}"))
}

fn resource(field: &'static str, s: &str) -> anyhow::Result<ResourceId> {
    ResourceId::parse(field, s).with_context(|| format!("{field} {s:?}"))
}

/// `4096`, `512M`, `1G`, `2T`.
fn parse_size(s: &str) -> anyhow::Result<u64> {
    let s = s.trim();
    let (digits, shift) = match s.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => {
            let shift = match c.to_ascii_uppercase() {
                'K' => 10,
                'M' => 20,
                'G' => 30,
                'T' => 40,
                _ => anyhow::bail!("unknown size suffix in {s:?}"),
            };
            (&s[..i], shift)
        }
        _ => (s, 0),
    };
    let n: u64 = digits.trim().parse().with_context(|| format!("size {s:?}"))?;
    n.checked_mul(1u64 << shift).with_context(|| format!("size {s:?} is too large"))
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread().enable_all().build()?)
}

fn run(command: Command) -> anyhow::Result<String> {
    match command {
        Command::Token { projects, ttl_hours, subject, role } => {
            let projects = projects.iter().map(|p| project(p)).collect::<anyhow::Result<Vec<_>>>()?;
            let keys = TokenKeys::from_env()?;
            let token = keys.mint(&subject, &projects, role.into(), Duration::from_secs(ttl_hours * 3600))?;
            Ok(format!("{token}\n"))
        }
        Command::Volume(v) => volume(v),
        Command::Backup(b) => {
            let settings = Settings::from_env()?;
            let engine = engine::build(&settings.object_store, settings.worker.engine_threads)?;
            runtime()?.block_on(backup(b, &settings, &engine))
        }
    }
}

fn volume(command: VolumeCommand) -> anyhow::Result<String> {
    match command {
        VolumeCommand::Create { project: p, size, from, name, id, driver } => {
            let volumes = driver_settings(driver)?.build();
            let id = match id {
                Some(id) => resource("volume id", &id)?,
                None => ResourceId::new_v4(),
            };
            let size = match (size, &from) {
                (Some(s), _) => parse_size(&s)?,
                (None, Some(f)) => std::fs::metadata(f).with_context(|| format!("{}", f.display()))?.len(),
                (None, None) => anyhow::bail!("give --size or --from"),
            };
            let vol = volumes.create_volume(&project(&p)?, id, size, name.as_deref(), from.as_deref())?;
            Ok(format!("{}\n", vol.id))
        }
        VolumeCommand::Snapshot { project: p, volume, driver } => {
            let volumes = driver_settings(driver)?.build();
            let snapshot = ResourceId::new_v4();
            volumes.create_snapshot(&project(&p)?, resource("volume id", &volume)?, snapshot)?;
            Ok(format!("{snapshot}\n"))
        }
    }
}

async fn backup(command: BackupCommand, settings: &Settings, engine: &Engine) -> anyhow::Result<String> {
    match command {
        BackupCommand::Verify { project: p, backup } => {
            verify(engine, &project(&p)?, resource("backup id", &backup)?).await
        }
        BackupCommand::Gc { project: p, grace_secs } => {
            let p = project(&p)?;
            let pool = service_kit::db::pool(&settings.database.url, 2)?;
            let mut opts = engine::gc_options(&settings.worker);
            if let Some(g) = grace_secs {
                opts.grace = Duration::from_secs(g);
            }
            let lock = ProjectLock::acquire(&pool, &p, Duration::from_secs(300)).await?;
            let report = engine.gc(p.as_str(), &opts).await;
            lock.release().await;
            Ok(format!("{:#?}\n", report?))
        }
        BackupCommand::Usage { project: p } => usage(engine, &project(&p)?).await,
    }
}

async fn verify(engine: &Engine, project: &ProjectId, id: ResourceId) -> anyhow::Result<String> {
    let report = engine.verify(project.as_str(), &id.to_string()).await?;
    let line = format!(
        "ok blocks {}, bad blocks {}, zero blocks {}{}\n",
        report.ok_blocks,
        report.bad_blocks,
        report.zero_blocks,
        if report.first_bad_offsets.is_empty() {
            String::new()
        } else {
            format!(", first bad offsets {:?}", report.first_bad_offsets)
        }
    );
    if !report.is_ok() {
        std::io::stdout().write_all(line.as_bytes())?;
        anyhow::bail!("backup {id} has {} bad blocks", report.bad_blocks);
    }
    Ok(line)
}

async fn usage(engine: &Engine, project: &ProjectId) -> anyhow::Result<String> {
    let usage = engine.usage(project.as_str()).await?;
    let mut out = format!(
        "packs {} ({} bytes), manifests {} ({} bytes), staging files of killed writes {} ({} bytes)\n",
        usage.packs,
        usage.pack_bytes,
        usage.manifests,
        usage.manifest_bytes,
        usage.staging_files,
        usage.staging_bytes
    );
    for b in engine.list_backups(project.as_str()).await? {
        out.push_str(&format!(
            "{} volume {} bytes, stored {} bytes, parent {}\n",
            b.backup_id,
            b.volume_len,
            b.stats.stored_bytes,
            b.parent.as_deref().unwrap_or("-")
        ));
    }
    Ok(out)
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let output = run(cli.command)?;
    std::io::stdout().write_all(output.as_bytes())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("4096").unwrap(), 4096);
        assert_eq!(parse_size("1K").unwrap(), 1024);
        assert_eq!(parse_size("512m").unwrap(), 512 << 20);
        assert_eq!(parse_size("2G").unwrap(), 2 << 30);
        assert!(parse_size("1X").is_err());
        assert!(parse_size("G").is_err());
        assert!(parse_size("99999999T").is_err());
    }

    #[test]
    fn cli_parses() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
