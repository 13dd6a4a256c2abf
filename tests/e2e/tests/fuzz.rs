//! A bounded property-based fuzz run of the whole public API through the gateway:
//! `scripts/fuzz.sh` (schemathesis) generates valid and invalid requests for every operation of
//! `openapi/vbs.json` and fails on a server error, a status the document does not list, an answer
//! that is not JSON where the document says JSON, or a body that violates its schema.

#![allow(clippy::unwrap_used, reason = "a failed step fails the test loudly")]

use std::{process::Command, time::Instant};

#[allow(dead_code, reason = "each test binary uses part of the harness")]
mod support;

use service_kit::auth::Role;
use support::{Stack, Topology};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_survives_a_bounded_fuzz_run_within_its_document() {
    let stack = Stack::start_with_env(Topology::default(), Vec::new()).await;
    let project = format!("fuzz{}", uuid::Uuid::new_v4().simple());
    let root = support::crate_dir().join("../..");
    let mut cmd = Command::new(root.join("scripts/fuzz.sh"));
    cmd.env("VBS_FUZZ_URL", &stack.base_url)
        .env("VBS_FUZZ_PROJECT", &project)
        // An admin of the project: it may call every operation, the admin-only ones included.
        .env("VBS_FUZZ_TOKEN", stack.token_with_role(&[&project], Role::Admin));
    let started = Instant::now();
    let out = tokio::task::spawn_blocking(move || cmd.output()).await.unwrap().unwrap();
    println!(
        "schemathesis ran for {:.0} s, exit {:?}\n{}\n{}",
        started.elapsed().as_secs_f64(),
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "the fuzz run found failures (above)\n{}", stack.logs());
}
