//! Describing how a worker process ended: "exited with code 99", "was killed by signal 9
//! (SIGKILL)".

use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;

/// The usual name of signal `signal` on Linux, if it is a common one.
pub(crate) fn signal_name(signal: i32) -> Option<&'static str> {
    Some(match signal {
        1 => "SIGHUP",
        2 => "SIGINT",
        3 => "SIGQUIT",
        4 => "SIGILL",
        5 => "SIGTRAP",
        6 => "SIGABRT",
        7 => "SIGBUS",
        8 => "SIGFPE",
        9 => "SIGKILL",
        10 => "SIGUSR1",
        11 => "SIGSEGV",
        12 => "SIGUSR2",
        13 => "SIGPIPE",
        14 => "SIGALRM",
        15 => "SIGTERM",
        24 => "SIGXCPU",
        25 => "SIGXFSZ",
        31 => "SIGSYS",
        _ => return None,
    })
}

/// "exited with code 99", "was killed by signal 9 (SIGKILL)", or "status unknown".
pub(crate) fn describe(status: Option<ExitStatus>) -> String {
    let Some(status) = status else {
        return "ended with an unknown status".to_owned();
    };
    if let Some(code) = status.code() {
        return format!("exited with code {code}");
    }
    match status.signal() {
        Some(signal) => match signal_name(signal) {
            Some(name) => format!("was killed by signal {signal} ({name})"),
            None => format!("was killed by signal {signal}"),
        },
        None => format!("ended with status {status}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describes_codes_and_signals() {
        assert_eq!(
            describe(Some(ExitStatus::from_raw(99 << 8))),
            "exited with code 99"
        );
        assert_eq!(
            describe(Some(ExitStatus::from_raw(9))),
            "was killed by signal 9 (SIGKILL)"
        );
        assert_eq!(describe(None), "ended with an unknown status");
    }
}
