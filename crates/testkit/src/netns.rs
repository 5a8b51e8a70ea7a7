//! Tests that need a network namespace of their own (port 53, addresses of their own on the
//! loopback), run by re-running the test binary under `unshare --net --mount`.

use std::process::Command;

/// Runs `f` inside a new network and mount namespace, in a copy of the calling test binary
/// (`test` is the test's name): servers there may listen on port 53 and on any address of their
/// own loopback. Skipped where namespaces are not permitted, unless CLUSTERDNS_REQUIRE_NETNS.
pub fn in_namespace(test: &str, f: impl FnOnce()) {
    const INSIDE: &str = "CLUSTERDNS_TEST_IN_NETNS";
    if std::env::var_os(INSIDE).is_some() {
        return f();
    }
    let usable = Command::new("unshare")
        .args(["--net", "--mount", "true"])
        .status()
        .is_ok_and(|s| s.success());
    if !usable {
        // .ci/run asks for namespaces when it runs as root, where they work: there this test
        // is never skipped.
        assert!(
            std::env::var_os("CLUSTERDNS_REQUIRE_NETNS").is_none(),
            "unshare --net --mount is needed for {test}"
        );
        eprintln!("skipping {test}: unshare --net --mount is not permitted here (not root?)");
        return;
    }
    let exe = std::env::current_exe().expect("test binary");
    let out = Command::new("unshare")
        .args(["--net", "--mount", "--"])
        .arg(exe)
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(INSIDE, "1")
        .output()
        .expect("unshare");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success() && text.contains("1 passed"), "{text}");
}

/// Runs a shell command, which must succeed; its standard output.
pub fn sh(script: &str) -> String {
    let out = Command::new("sh").args(["-c", script]).output().expect("sh");
    assert!(
        out.status.success(),
        "{script}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}
