//! The README is executable: its walk-throughs run, in order and as written, against the whole
//! product (the services, a worker and the gateway as processes), so a README step that fails
//! fails the tests.
//!
//! What runs: every `sh` block from "## Using the API" up to "### Errors" — policies, tags,
//! backup tasks, backups (native and VBS), restores, the rest of the Cinder API, sharing and the
//! admin calls — concatenated into one bash script, in the repository's root, with `make` and
//! `cargo run -p vbsctl` as a reader would run them. Two things differ from a reader's machine,
//! and only these two are rewritten: the gateway's address (`http://127.0.0.1:8080`, `make
//! run`'s) becomes this stack's, and `make run`'s volumes directory (`data/volumes/`) this
//! stack's; `vbsctl` and `make token` get this stack's secret, database and directories through
//! their `VBS_*` variables.
//!
//! Failing means: any command exits non-zero (`set -euo pipefail`), any HTTP answer is 4xx/5xx
//! (`curl` reads `fail-with-body` from the run's own `.curlrc`), or a `sha256sum` of several files finds them different
//! (the walk-throughs compare a source volume with its restore). The other sections' blocks
//! run elsewhere: `make run` is the stack itself, `make test` is this run, "With Docker" is
//! CI's compose run, and "In an OpenStack cloud" is `keystone.rs` (with a real Keystone).

#![allow(clippy::unwrap_used, reason = "a failed step fails the test loudly")]

use std::{fs, os::unix::fs::PermissionsExt, process::Command, time::Instant};

#[allow(dead_code, reason = "each test binary uses part of the harness")]
mod support;

use support::{Stack, TempDir, Topology};

const FIRST: &str = "## Using the API";
const END: &str = "### Errors";
const MAKE_RUN_GATEWAY: &str = "http://127.0.0.1:8080";
const MAKE_RUN_VOLUMES: &str = "data/volumes/";

/// Runs before the README's blocks: strict bash, every command shown.
const PRELUDE: &str = "set -euo pipefail\nPS4='+ README: '\nset -x\n";

/// `curl`'s configuration for the run (`$CURL_HOME/.curlrc`): fail on an HTTP error, still
/// printing the body, and never hang.
const CURLRC: &str = "fail-with-body\nmax-time = 60\n";

/// `sha256sum` for the run (first in `PATH`): prints what the real one prints, and fails when the
/// files it compares differ.
const SHA256SUM: &str = r#"#!/usr/bin/env bash
set -euo pipefail
out=$(/usr/bin/sha256sum "$@")
printf '%s\n' "$out"
if [ "$#" -gt 1 ] && [ "$(printf '%s\n' "$out" | cut -d' ' -f1 | sort -u | wc -l)" -ne 1 ]; then
    echo "README: the files compared differ" >&2
    exit 1
fi
"#;

/// The `sh` blocks between the headings `first` and `end` (exclusive), with the heading each
/// block stands under.
fn shell_blocks<'a>(readme: &'a str, first: &str, end: &str) -> Vec<(&'a str, String)> {
    let mut blocks = Vec::new();
    let mut heading = None;
    // Inside a fenced block: `Some(Some(text))` for an `sh` block, `Some(None)` for another.
    let mut fenced: Option<Option<String>> = None;
    for line in readme.lines() {
        let fence = line.trim_start().strip_prefix("```");
        if let Some(block) = fenced.as_mut() {
            if fence == Some("") {
                if let (Some(h), Some(text)) = (heading, fenced.take().flatten()) {
                    blocks.push((h, text));
                }
            } else if let Some(text) = block.as_mut() {
                text.push_str(line);
                text.push('\n');
            }
        } else if let Some(info) = fence {
            fenced = Some((info == "sh" && heading.is_some()).then(String::new));
        } else if line.starts_with('#') {
            if line == end && heading.is_some() {
                break;
            }
            if line == first || heading.is_some() {
                heading = Some(line);
            }
        }
    }
    blocks
}

#[test]
fn shell_blocks_are_taken_between_the_headings_in_order() {
    let readme = "# T\n```sh\nnot this\n```\n## A\ntext\n```sh\none\n```\n```yaml\n## C\nno: 1\n```\n### B\n```sh\ntwo\nthree\n```\n## C\n```sh\nnot this either\n```\n";
    let blocks = shell_blocks(readme, "## A", "## C");
    assert_eq!(blocks, vec![("## A", "one\n".to_owned()), ("### B", "two\nthree\n".to_owned())]);
    assert!(shell_blocks(readme, "## Missing", "## C").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_walk_throughs_run_as_written() {
    let root = service_kit::testing::repo_file("").canonicalize().unwrap();
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let blocks = shell_blocks(&readme, FIRST, END);
    let headings: Vec<&str> = blocks.iter().map(|(h, _)| *h).collect();
    for section in [FIRST, "### Backup tasks", "### Backups", "### The rest of the Cinder backup API"] {
        assert!(
            headings.iter().any(|h| h.starts_with(section)),
            "no shell block under {section:?}: the README changed, update this test ({headings:?})"
        );
    }

    let stack = Stack::start_with_env(Topology::default(), Vec::new()).await;
    let volumes = format!("{}/", stack.volumes_root.display());
    let mut script = PRELUDE.to_owned();
    for (heading, block) in &blocks {
        script.push_str(&format!("\n# --- {heading}\n"));
        script
            .push_str(&block.replace(MAKE_RUN_GATEWAY, &stack.base_url).replace(MAKE_RUN_VOLUMES, &volumes));
    }

    let tools = TempDir::new("vbs-readme").unwrap();
    fs::create_dir(tools.path().join("bin")).unwrap();
    fs::write(tools.path().join(".curlrc"), CURLRC).unwrap();
    let sha256sum = tools.path().join("bin/sha256sum");
    fs::write(&sha256sum, SHA256SUM).unwrap();
    fs::set_permissions(&sha256sum, fs::Permissions::from_mode(0o755)).unwrap();
    let path =
        format!("{}:{}", tools.path().join("bin").display(), std::env::var("PATH").unwrap_or_default());

    let started = Instant::now();
    let mut cmd = Command::new("timeout");
    cmd.args(["--kill-after=10", "900", "bash", "-c", &script])
        .current_dir(&root)
        .env("CURL_HOME", tools.path())
        .env("PATH", path);
    for (k, v) in stack.tool_env() {
        cmd.env(k, v);
    }
    let out = tokio::task::spawn_blocking(move || cmd.output()).await.unwrap().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprintln!(
        "{} shell blocks ({} lines) ran in {:.1} s, exit {:?}\n--- stdout\n{stdout}\n--- stderr (the commands)\n{stderr}",
        blocks.len(),
        script.lines().count(),
        started.elapsed().as_secs_f64(),
        out.status.code()
    );
    assert!(
        out.status.success(),
        "a README step failed (the last command above, after `+ README:`):\n{}",
        stack.logs()
    );
}
