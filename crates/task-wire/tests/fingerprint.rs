//! The fingerprint names the build, not the file: a copy of the binary elsewhere (another
//! inode, another mtime, as on another machine) has the same one; another protocol does not.

use std::process::Command;

use task_wire::{Fingerprint, Protocol};

const WIRE: Protocol = Protocol {
    pool: "test-pool",
    version: "1.0.0",
    protocol: 1,
    salt_env: "TASK_WIRE_TEST_SALT",
};

fn probe() {}

fn here() -> String {
    Fingerprint::current(&WIRE, probe).to_string()
}

/// Prints this process's fingerprint when run as the child of the test below.
#[test]
fn print_fingerprint() {
    if std::env::var_os("TASK_WIRE_PRINT").is_some() {
        println!("fingerprint: {}", here());
    }
}

#[test]
fn a_copy_of_the_binary_elsewhere_has_the_same_fingerprint() {
    let exe = std::env::current_exe().unwrap();
    let dir = std::env::temp_dir().join(format!("task-wire-copy-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let copy = dir.join("copy-of-the-test-binary");
    std::fs::copy(&exe, &copy).unwrap();
    let run = |salt: Option<&str>| {
        let mut cmd = Command::new(&copy);
        cmd.args(["--exact", "print_fingerprint", "--nocapture", "-q"])
            .env("TASK_WIRE_PRINT", "1");
        match salt {
            Some(salt) => cmd.env(WIRE.salt_env, salt),
            None => cmd.env_remove(WIRE.salt_env),
        };
        let out = cmd.output().unwrap();
        assert!(out.status.success(), "{out:?}");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        stdout
            .lines()
            .find_map(|l| l.strip_prefix("fingerprint: "))
            .unwrap_or_else(|| panic!("no fingerprint in {stdout:?}"))
            .to_owned()
    };
    let theirs = run(None);
    let salted = run(Some("another build"));
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(theirs, here(), "same build, another file");
    assert!(theirs.contains("build-id"), "{theirs}");
    assert_ne!(salted, here(), "the salt makes it another build");
}

#[test]
fn another_protocol_is_another_fingerprint() {
    let other = Protocol {
        protocol: 2,
        ..WIRE
    };
    assert_ne!(
        Fingerprint::current(&other, probe),
        Fingerprint::current(&WIRE, probe)
    );
}
