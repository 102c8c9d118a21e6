//! Peak memory of the processes a benchmark starts (Linux only).
//!
//! A server's peak is its `VmHWM` ("high water mark" of the resident set)
//! in `/proc/<pid>/status`, read while it runs. A command that exits, such
//! as `fhir-server import`, is reaped with `wait4`, whose `rusage` carries
//! the same figure (`ru_maxrss`) exactly; polling `/proc` instead could
//! miss a peak between two polls or after the last one.

use std::io::Read;
use std::process::{Command, Stdio};

/// A `kB` field of `/proc/<pid>/status` (`VmHWM`, `VmRSS`), in KiB.
pub fn status_kib(pid: u32, field: &str) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// The peak resident set of a running process, in KiB.
pub fn peak_kib(pid: u32) -> Option<u64> {
    status_kib(pid, "VmHWM")
}

/// The current resident set of a running process, in KiB.
pub fn rss_kib(pid: u32) -> Option<u64> {
    status_kib(pid, "VmRSS")
}

/// What [`run_measured`] reports.
#[derive(Debug, Clone)]
pub struct Measured {
    /// The exit code; `None` when a signal ended it.
    pub code: Option<i32>,
    /// Everything it wrote to stdout.
    pub stdout: String,
    /// Its peak resident set (`ru_maxrss`), in KiB.
    pub peak_kib: u64,
}

/// Runs `cmd` to its end (stdout captured, stderr inherited) and reports
/// its exit code and peak resident set.
pub fn run_measured(cmd: &mut Command) -> std::io::Result<Measured> {
    let mut child = cmd.stdout(Stdio::piped()).spawn()?;
    let mut stdout = String::new();
    if let Some(mut out) = child.stdout.take() {
        // Until EOF, so the child never blocks on a full pipe.
        out.read_to_string(&mut stdout)?;
    }
    let pid = libc::pid_t::try_from(child.id())
        .map_err(|_| std::io::Error::other("process id out of range"))?;
    let mut status: libc::c_int = 0;
    // SAFETY: `rusage` is plain data, for which all-zero bytes are a valid
    // value; `wait4` only writes into the two out-parameters, which live
    // for the whole call.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let reaped = loop {
        // SAFETY: as above; `pid` is our own child, not yet reaped
        // (`child` is never waited on through std).
        let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        if r >= 0 || std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted {
            break r;
        }
    };
    if reaped < 0 {
        return Err(std::io::Error::last_os_error());
    }
    let code = libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status));
    Ok(Measured {
        code,
        stdout,
        // Linux reports ru_maxrss in KiB.
        peak_kib: u64::try_from(usage.ru_maxrss).unwrap_or(0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process_and_a_child() {
        let me = std::process::id();
        // RSS first: other test threads may allocate in between, and the
        // peak read after it is at least what the RSS was.
        let rss = rss_kib(me).expect("VmRSS of this process");
        let peak = peak_kib(me).expect("VmHWM of this process");
        assert!(peak >= rss && rss > 0, "peak {peak} rss {rss}");
        // dd fills a 64 MiB buffer: the child's peak is at least that.
        let m = run_measured(Command::new("sh").args([
            "-c",
            "dd if=/dev/zero of=/dev/null bs=64M count=1 2>/dev/null && echo done",
        ]))
        .expect("run sh");
        assert_eq!(m.code, Some(0));
        assert_eq!(m.stdout.trim(), "done");
        assert!(m.peak_kib >= 64 * 1024, "peak {} KiB", m.peak_kib);
    }
}
