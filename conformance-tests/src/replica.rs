//! A real PostgreSQL streaming replica of the test server, for
//! `serve --replica-database` (issue #18): `pg_basebackup` of the primary
//! the tests use (`FHIR_TEST_POSTGRES_URL`, default
//! [`crate::postgres::DEFAULT_URL`]) into a temporary directory, started
//! with Debian's server binaries (`/usr/lib/postgresql/*/bin`) on a free
//! port. The server refuses to run as root, so as root every program runs
//! as the `postgres` user (`runuser`). The replica streams through a
//! replication slot of its own, so the primary keeps the WAL it has not
//! received yet (without one, a busy primary recycles it first and the
//! copy never catches up). Dropping the [`Replica`] stops it, drops its
//! slot and removes its directory; slots left by killed test processes
//! are dropped by the next start.
//!
//! The primary must accept replication connections from 127.0.0.1
//! (`host replication all 127.0.0.1/32 trust` in `pg_hba.conf`; `.ci/run`
//! adds it) from a role with `REPLICATION` (`postgres` has it).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use crate::postgres::admin_url;
use crate::server::unique_suffix;

/// A running streaming replica.
pub struct Replica {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
    running: bool,
    /// The replication slot on the primary, once made.
    slot: Option<String>,
}

/// What every slot of this harness is named with, then `PID_NANOS`.
const SLOT_PREFIX: &str = "fhir_test_replica_";

/// `psql -At` of one statement on `url`: its output.
fn psql_at(url: &str, sql: &str) -> Result<String, String> {
    let out = Command::new("psql")
        .args(["-X", "-At", "-v", "ON_ERROR_STOP=1", "-d", url, "-c", sql])
        .env("PGCONNECT_TIMEOUT", "5")
        .output()
        .map_err(|e| format!("cannot run psql: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "psql {url}: {sql}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Drops the inactive slots of this harness whose test process is gone.
fn drop_orphan_slots(primary: &str) -> Result<(), String> {
    let listed = psql_at(
        primary,
        &format!(
            "SELECT slot_name FROM pg_replication_slots \
             WHERE NOT active AND starts_with(slot_name, '{SLOT_PREFIX}')"
        ),
    )?;
    for slot in listed.lines() {
        let pid = slot[SLOT_PREFIX.len()..].split('_').next().unwrap_or("");
        if !pid.is_empty() && !Path::new("/proc").join(pid).exists() {
            psql_at(
                primary,
                &format!("SELECT pg_drop_replication_slot('{slot}')"),
            )?;
        }
    }
    Ok(())
}

/// The newest `/usr/lib/postgresql/N/bin` with the programs needed.
fn server_bin() -> Result<PathBuf, String> {
    let mut found: Vec<(u32, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
        .map_err(|e| format!("no /usr/lib/postgresql ({e}): install Debian's postgresql"))?
        .filter_map(|e| {
            let e = e.ok()?;
            let v: u32 = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            ["pg_basebackup", "pg_ctl", "postgres"]
                .iter()
                .all(|p| bin.join(p).exists())
                .then_some((v, bin))
        })
        .collect();
    found.sort();
    found
        .pop()
        .map(|(_, b)| b)
        .ok_or_else(|| "no /usr/lib/postgresql/*/bin holds pg_basebackup, pg_ctl, postgres".into())
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// `program args…`, as the `postgres` user when this process is root.
fn as_server_user(program: &Path, args: &[&str]) -> Result<Output, String> {
    let mut cmd = if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    };
    cmd.args(args)
        .env("PGCONNECT_TIMEOUT", "10")
        .output()
        .map_err(|e| format!("cannot run {}: {e}", program.display()))
}

fn check(what: &str, out: Result<Output, String>) -> Result<(), String> {
    let out = out?;
    if out.status.success() {
        return Ok(());
    }
    Err(format!(
        "{what} failed ({}): {}{}",
        out.status,
        String::from_utf8_lossy(&out.stderr).trim(),
        String::from_utf8_lossy(&out.stdout).trim()
    ))
}

impl Replica {
    /// Copies the primary and starts the copy as a hot standby streaming
    /// from it; waits until it accepts connections. `Err` says why it
    /// cannot (missing binaries, no replication access).
    pub fn start() -> Result<Replica, String> {
        let bin = server_bin()?;
        let dir = std::env::temp_dir().join(format!("fhir-replica-{}", unique_suffix()));
        let d = dir
            .to_str()
            .ok_or("temporary directory is not UTF-8")?
            .to_owned();
        let d = d.as_str();
        // Made by the server user: the server insists on owning its data.
        check(
            "mkdir",
            as_server_user(Path::new("mkdir"), &["-m", "0700", "-p", d]),
        )?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .map_err(|e| format!("no free port: {e}"))?;
        let mut replica = Replica {
            bin,
            dir,
            port,
            running: false,
            slot: None,
        };
        let primary = admin_url();
        drop_orphan_slots(&primary)?;
        let slot = format!("{SLOT_PREFIX}{}", unique_suffix());
        check(
            "pg_basebackup (does pg_hba.conf allow `host replication all 127.0.0.1/32`? \
             .ci/run adds it)",
            as_server_user(
                &replica.bin.join("pg_basebackup"),
                &[
                    "-d", &primary, "-D", d, "-X", "stream", "-R", "-c", "fast", "-C", "-S", &slot,
                ],
            ),
        )?;
        replica.slot = Some(slot);
        // Debian keeps postgresql.conf and pg_hba.conf in /etc, outside
        // the data directory the backup copied: give the copy its own.
        let conf = format!(
            "listen_addresses = '127.0.0.1'\nport = {port}\nunix_socket_directories = '{d}'\n\
             hot_standby = on\nmax_connections = 100\nshared_buffers = 32MB\n\
             hba_file = '{d}/pg_hba.conf'\nident_file = '{d}/pg_ident.conf'\n"
        );
        let hba = "local all all trust\nhost all all 127.0.0.1/32 trust\n";
        for (name, text) in [
            ("postgresql.conf", conf.as_str()),
            ("pg_hba.conf", hba),
            ("pg_ident.conf", ""),
        ] {
            let path = replica.dir.join(name);
            fs::write(&path, text).map_err(|e| format!("write {}: {e}", path.display()))?;
            if is_root() {
                let out = Command::new("chown")
                    .arg("postgres:postgres")
                    .arg(&path)
                    .output()
                    .map_err(|e| format!("cannot run chown: {e}"));
                check("chown", out)?;
            }
        }
        replica.running = true;
        let log = format!("{d}/server.log");
        check(
            "pg_ctl start",
            as_server_user(
                &replica.bin.join("pg_ctl"),
                &["-D", d, "-l", &log, "-w", "-t", "60", "start"],
            ),
        )
        .map_err(|e| format!("{e}\n--- log ---\n{}", replica.log_text()))?;
        Ok(replica)
    }

    /// The replica's URL of database `name` (the primary's databases are
    /// all there).
    pub fn url(&self, name: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{name}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The replica's server log.
    pub fn log_text(&self) -> String {
        fs::read_to_string(self.dir.join("server.log")).unwrap_or_default()
    }

    /// One SQL statement on the replica (database `postgres`), its output
    /// (`psql -At`).
    pub fn sql(&self, sql: &str) -> Result<String, String> {
        psql_at(&self.url("postgres"), sql)
    }

    /// Waits until the replica has replayed `position` (a `pg_lsn` text).
    pub fn wait_replayed(&self, position: &str, timeout: Duration) -> Result<(), String> {
        self.wait_lsn("pg_last_wal_replay_lsn", position, timeout)
    }

    /// Waits until the replica has received `position` (replayed or not).
    pub fn wait_received(&self, position: &str, timeout: Duration) -> Result<(), String> {
        self.wait_lsn("pg_last_wal_receive_lsn", position, timeout)
    }

    fn wait_lsn(&self, function: &str, position: &str, timeout: Duration) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        let sql = format!("SELECT {function}() >= '{position}'::pg_lsn");
        loop {
            if self.sql(&sql)? == "t" {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "{function}() did not reach {position} in {timeout:?}"
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops the replica now (`immediate`: as if it crashed).
    pub fn stop(&mut self) -> Result<(), String> {
        if !self.running {
            return Ok(());
        }
        self.running = false;
        let d = self.dir.to_string_lossy().into_owned();
        check(
            "pg_ctl stop",
            as_server_user(
                &self.bin.join("pg_ctl"),
                &["-D", &d, "-m", "immediate", "-w", "stop"],
            ),
        )
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        if let Err(e) = self.stop() {
            eprintln!("warning: {e}");
        }
        if let Some(slot) = self.slot.take() {
            // The primary sees the stopped replica's connection end soon
            // after; until then the slot is active and cannot be dropped.
            let deadline = Instant::now() + Duration::from_secs(10);
            let sql = format!("SELECT pg_drop_replication_slot('{slot}')");
            while let Err(e) = psql_at(&admin_url(), &sql) {
                if Instant::now() > deadline {
                    eprintln!("warning: replication slot {slot} not dropped: {e}");
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        if std::thread::panicking() {
            eprintln!("replica kept in {}", self.dir.display());
        } else {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}
