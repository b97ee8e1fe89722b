//! The build fingerprint: proof, at the handshake, that a worker runs the very binary of
//! its pool, so that function offsets (see `naming.rs`) name the same code on both sides.
//!
//! A worker is the pool's own executable started again (through `/proc/self/exe`, which
//! names the running inode even when the file on disk was replaced since). The fingerprint
//! combines:
//! - this crate's version and the wire protocol's version;
//! - the identity of the running executable: device, inode, size and modification time
//!   of `/proc/self/exe`;
//! - a code-layout probe: the offset of [`crate::init`] from the anchor function, which
//!   differs between two builds that moved code around;
//! - a salt from the `POOL_PROCESS_FINGERPRINT_SALT` environment variable (normally unset):
//!   a test hook that makes a worker look like another build, to prove the check works.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::naming;

/// Bumped whenever the messages of `protocol.rs` change.
const PROTOCOL_VERSION: u32 = 4;

/// The environment variable whose value is mixed into the fingerprint (a test hook).
pub(crate) const SALT_ENV: &str = "POOL_PROCESS_FINGERPRINT_SALT";

/// What the parent and a worker compare at the handshake.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Fingerprint {
    crate_version: String,
    protocol: u32,
    /// (device, inode, size, mtime seconds, mtime nanoseconds) of the running executable.
    exe: Option<(u64, u64, u64, i64, i64)>,
    code_probe: isize,
    salt: Option<String>,
}

impl Fingerprint {
    /// The fingerprint of the running process.
    pub(crate) fn current() -> Fingerprint {
        Fingerprint {
            crate_version: env!("CARGO_PKG_VERSION").to_owned(),
            protocol: PROTOCOL_VERSION,
            exe: exe_identity(),
            code_probe: naming::offset_of(crate::init as fn() as usize),
            salt: std::env::var(SALT_ENV).ok(),
        }
    }
}

#[cfg(unix)]
fn exe_identity() -> Option<(u64, u64, u64, i64, i64)> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata("/proc/self/exe")
        .or_else(|_| std::env::current_exe().and_then(std::fs::metadata))
        .ok()?;
    Some((
        meta.dev(),
        meta.ino(),
        meta.size(),
        meta.mtime(),
        meta.mtime_nsec(),
    ))
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "pool-process {} (protocol {}), executable {:?}, code probe {:#x}",
            self.crate_version, self.protocol, self.exe, self.code_probe
        )?;
        if let Some(salt) = &self.salt {
            write!(f, ", salt {salt:?}")?;
        }
        Ok(())
    }
}
