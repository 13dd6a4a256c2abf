//! The Python client generated from the gateway's OpenAPI document (openapi/vbs.json, by
//! scripts/client-gen.sh) drives the stack: policies, associations, execution, tasks and native
//! backups, only through the generated code (tests/client/smoke.py).

#![allow(clippy::unwrap_used, reason = "a failed step fails the scenario loudly")]

use std::{
    process::{Command, Stdio},
    time::Instant,
};

#[allow(dead_code, reason = "each test binary uses part of the harness")]
mod support;

use support::{Stack, Topology, mixed_image};

#[tokio::test]
async fn generated_client_drives_the_stack() {
    let started = Instant::now();
    let stack = Stack::start(Topology::default()).await;
    let project = format!("e2e{}", uuid::Uuid::new_v4().simple());
    let volume = stack.create_volume(&project, &mixed_image(4 * 1024 * 1024 + 4321, 42));
    let snapshot = stack.create_snapshot(&project, &volume);
    let up = started.elapsed();

    let script = service_kit::testing::repo_file("scripts/client-smoke.sh");
    let t = Instant::now();
    // The script is synchronous; the stack's processes run on their own, so blocking this
    // task is harmless.
    let output = Command::new("bash")
        .arg(&script)
        .env("VBS_BASE_URL", &stack.base_url)
        .env("VBS_TOKEN", stack.token(&[&project]))
        .env("VBS_PROJECT", &project)
        .env("VBS_VOLUME_ID", &volume)
        .env("VBS_SNAPSHOT_ID", &snapshot)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", script.display()));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}");
    eprintln!("{stderr}");
    assert!(
        output.status.success(),
        "{} failed ({}):\n{stdout}\n{stderr}\n{}",
        script.display(),
        output.status,
        stack.logs()
    );
    assert!(
        stdout.lines().any(|l| l.starts_with("client smoke: ") && l.ends_with(" steps passed")),
        "no closing 'client smoke:' line:\n{stdout}"
    );
    eprintln!(
        "timings: stack up {up:?}, client generation and smoke {:?}, whole test {:?}",
        t.elapsed(),
        started.elapsed()
    );
}
