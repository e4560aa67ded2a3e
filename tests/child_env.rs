//! Programs this tool runs never inherit the cloud's `OS_*` variables (issue 13, Low): a
//! test binary of its own, because it sets variables of the test process.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;

use scs_capi::mgmt::runner::{Invocation, ProcessRunner, Runner};
use scs_capi::ui::SilentProgress;

#[test]
fn os_variables_do_not_reach_child_processes() {
    // SAFETY: the only test of this binary; no other thread reads the environment now.
    unsafe {
        std::env::set_var("OS_PASSWORD", "hunter2-parent-secret");
        std::env::set_var("OS_APPLICATION_CREDENTIAL_SECRET", "appcred-parent-secret");
        std::env::set_var("SCS_TEST_UNRELATED", "kept");
    }
    let dir = tempfile::tempdir().unwrap();
    let stub = dir.path().join("clusterctl");
    let mut f = std::fs::File::create(&stub).unwrap();
    f.write_all(b"#!/bin/sh\nenv\n").unwrap();
    drop(f);
    std::fs::set_permissions(&stub, std::fs::Permissions::from_mode(0o755)).unwrap();

    let runner = ProcessRunner::new(Some(dir.path().to_path_buf()));
    let inv = Invocation::new("clusterctl").arg("version");
    let out = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(runner.run(&inv, &SilentProgress))
        .unwrap();
    assert!(
        out.stdout.contains("SCS_TEST_UNRELATED=kept"),
        "{}",
        out.stdout
    );
    assert!(!out.stdout.contains("OS_"), "{}", out.stdout);
    assert!(!out.stdout.contains("parent-secret"), "{}", out.stdout);
}
