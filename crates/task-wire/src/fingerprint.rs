//! The build fingerprint: proof, at a worker's handshake, that it runs the very binary of its
//! pool, so that function offsets (see `naming.rs`) name the same code on both sides.
//!
//! It must be equal for two processes of the same executable file, also on two machines
//! (MPI ranks run a copy of the binary at the same path on each node), and differ between
//! two builds. It combines:
//! - the GNU build-id of the running executable, read from its notes in memory (a hash of
//!   the linked output, written by the linker: Debian's and most Linux toolchains do by
//!   default); without one, a hash of the executable code itself;
//! - this crate's version, and the pool's name, version and wire protocol version;
//! - a code-layout probe: the offset of a function of the pool (its `init`) from the anchor,
//!   which differs between two builds that moved code around;
//! - a salt from an environment variable that the pool names (normally unset): a test hook
//!   that makes a worker look like another build, to prove the check works.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::{naming, segments};

/// What a pool puts in its fingerprint besides the build: who it is, which protocol it
/// speaks, and where its salt comes from.
///
/// ```
/// const PROTOCOL: task_wire::Protocol = task_wire::Protocol {
///     pool: "my-pool",
///     version: "0.1.0",
///     protocol: 1,
///     salt_env: "MY_POOL_FINGERPRINT_SALT",
/// };
/// # let _ = PROTOCOL;
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Protocol {
    /// The pool's crate name.
    pub pool: &'static str,
    /// The pool's crate version.
    pub version: &'static str,
    /// The version of the pool's messages, bumped whenever they change.
    pub protocol: u32,
    /// The environment variable whose value is mixed into the fingerprint (a test hook).
    pub salt_env: &'static str,
}

/// The build's identity.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
enum Build {
    /// The executable's GNU build-id.
    GnuBuildId(Vec<u8>),
    /// A hash of the executable's code (no build-id was linked in).
    CodeHash(u64),
}

/// What a pool and its worker compare at the handshake (see the module docs). Serializable,
/// so that the worker sends its own.
///
/// ```
/// use task_wire::{Fingerprint, Protocol};
/// fn init() {}
/// let wire = Protocol { pool: "p", version: "1", protocol: 1, salt_env: "P_SALT" };
/// let here = Fingerprint::current(&wire, init);
/// assert_eq!(here, Fingerprint::current(&wire, init));
/// assert_ne!(here, Fingerprint::current(&Protocol { protocol: 2, ..wire }, init));
/// assert!(here.to_string().contains("build-id"), "{here}");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fingerprint {
    wire_version: String,
    pool: String,
    protocol: u32,
    build: Build,
    code_probe: isize,
    salt: Option<String>,
}

impl Fingerprint {
    /// The fingerprint of the running process for a pool speaking `protocol`, whose code
    /// layout is probed at `probe` (a function of the pool's crate, such as its `init`).
    pub fn current(protocol: &Protocol, probe: fn()) -> Fingerprint {
        Fingerprint {
            wire_version: env!("CARGO_PKG_VERSION").to_owned(),
            pool: format!("{} {}", protocol.pool, protocol.version),
            protocol: protocol.protocol,
            build: match segments::build_id() {
                Some(id) => Build::GnuBuildId(id),
                None => Build::CodeHash(segments::code_hash()),
            },
            code_probe: naming::offset_of(probe as usize),
            salt: std::env::var(protocol.salt_env).ok(),
        }
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} (protocol {}, task-wire {}), ",
            self.pool, self.protocol, self.wire_version
        )?;
        match &self.build {
            Build::GnuBuildId(id) => {
                f.write_str("build-id ")?;
                id.iter().try_for_each(|byte| write!(f, "{byte:02x}"))?;
            }
            Build::CodeHash(hash) => write!(f, "code hash {hash:016x} (no build-id)")?,
        }
        write!(f, ", code probe {:#x}", self.code_probe)?;
        if let Some(salt) = &self.salt {
            write!(f, ", salt {salt:?}")?;
        }
        Ok(())
    }
}
