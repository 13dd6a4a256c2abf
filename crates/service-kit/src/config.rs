//! Reading configuration from the environment.
//!
//! Every setting is an environment variable with a documented default (the README's
//! configuration table), so that a service runs with `make run` on a developer machine and is
//! configured by its deployment in production without a config file format of its own.

use std::{str::FromStr, time::Duration};

use anyhow::{Context, bail};

/// The variable's value, or `default` when it is unset or empty.
pub fn var_or(key: &str, default: &str) -> String {
    match std::env::var(key) {
        Ok(v) if !v.trim().is_empty() => v,
        _ => default.to_owned(),
    }
}

/// The variable's value, or `None` when it is unset or empty.
pub fn var_opt(key: &str) -> Option<String> {
    std::env::var(key).ok().filter(|v| !v.trim().is_empty())
}

/// The variable parsed as `T`, or `default`; a value that does not parse is an error rather than
/// silently ignored.
pub fn parse_or<T>(key: &str, default: T) -> anyhow::Result<T>
where
    T: FromStr,
    T::Err: std::fmt::Display,
{
    match std::env::var(key) {
        Ok(v) if !v.trim().is_empty() => {
            v.trim().parse().map_err(|e| anyhow::anyhow!("{key}={v:?} is invalid: {e}"))
        }
        _ => Ok(default),
    }
}

/// A duration in whole seconds.
pub fn seconds_or(key: &str, default: u64) -> anyhow::Result<Duration> {
    parse_or(key, default).map(Duration::from_secs)
}

/// A required secret: from `KEY`, or from the file named by `KEY_FILE`.
pub fn secret(key: &str) -> anyhow::Result<String> {
    let file_key = format!("{key}_FILE");
    if let Ok(path) = std::env::var(&file_key)
        && !path.trim().is_empty()
    {
        let value =
            std::fs::read_to_string(path.trim()).with_context(|| format!("reading {file_key}={path}"))?;
        return Ok(value.trim().to_owned());
    }
    match std::env::var(key) {
        Ok(v) if !v.trim().is_empty() => Ok(v.trim().to_owned()),
        _ => bail!("{key} (or {file_key}) must be set"),
    }
}
