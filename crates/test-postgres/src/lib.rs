//! A private PostgreSQL server for tests.
//!
//! [`database`] hands each test a fresh, empty database on one server
//! shared by the test process: Debian's PostgreSQL binaries
//! (`/usr/lib/postgresql/<version>/bin`, installed by `scripts/setup`),
//! `initdb` into a temporary directory (as the `postgres` user when the
//! tests run as root, which `initdb` refuses), listening on a free
//! loopback port. A watchdog stops the server and removes its directory
//! when the test process ends, however it ends.
//!
//! With `GUST_TEST_POSTGRES` set to a server's URL
//! (`postgres://user:password@host:port/postgres`, a user that may create
//! databases), the tests use that server instead.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The environment variable naming an existing server to test against.
pub const SERVER_VARIABLE: &str = "GUST_TEST_POSTGRES";

/// The URL of a new, empty database on the tests' server.
///
/// # Panics
///
/// When no server can be had: PostgreSQL is not installed (run
/// `scripts/setup`), or the server named by `GUST_TEST_POSTGRES` refuses.
pub fn database() -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let server = shared();
    let name = format!(
        "gust_test_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    server.create_database(&name);
    server.url(&name)
}

/// Every row the database at `url` holds, as `pg_dump` writes them: for
/// tests that look for what must never be stored in the clear.
pub fn dump(url: &str) -> Vec<u8> {
    let pg_dump = match shared() {
        Server::Private(server) => server.bin.join("pg_dump"),
        Server::External { .. } => PathBuf::from("pg_dump"),
    };
    let output = Command::new(pg_dump)
        .args(["--data-only", "--dbname", url])
        .stdin(Stdio::null())
        .output()
        .expect("pg_dump runs");
    assert!(
        output.status.success(),
        "pg_dump failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

/// The server the tests of this process share, started on first use.
fn shared() -> &'static Server {
    static SERVER: OnceLock<Server> = OnceLock::new();
    SERVER.get_or_init(|| match std::env::var(SERVER_VARIABLE) {
        Ok(url) => Server::External { url },
        Err(_) => Server::Private(PrivateServer::start()),
    })
}

/// A PostgreSQL server the tests use.
enum Server {
    /// One this process started and its watchdog stops.
    Private(PrivateServer),
    /// One named by `GUST_TEST_POSTGRES`.
    External {
        /// Its URL.
        url: String,
    },
}

impl Server {
    /// The URL of database `name`.
    fn url(&self, name: &str) -> String {
        match self {
            Self::Private(server) => server.url(name),
            Self::External { url } => {
                let base = url.rsplit_once('/').map_or(url.as_str(), |(base, _)| base);
                format!("{base}/{name}")
            }
        }
    }

    /// Creates database `name`.
    fn create_database(&self, name: &str) {
        match self {
            Self::Private(server) => server.create_database(name),
            Self::External { url } => run(
                Command::new("psql").arg(url).args([
                    "-v",
                    "ON_ERROR_STOP=1",
                    "-q",
                    "-c",
                    &format!("CREATE DATABASE {name}"),
                ]),
                "psql",
            ),
        }
    }
}

/// A PostgreSQL server of one's own: `initdb` in a temporary directory,
/// listening on a free port of 127.0.0.1, stopped and removed when the
/// test process ends (or when it is dropped).
pub struct PrivateServer {
    bin: PathBuf,
    dir: PathBuf,
    data: PathBuf,
    port: u16,
    as_postgres: bool,
}

impl PrivateServer {
    /// Starts a server.
    ///
    /// # Panics
    ///
    /// When PostgreSQL is not installed (run `scripts/setup`) or does not
    /// start.
    pub fn start() -> Self {
        let bin = binaries().unwrap_or_else(|| {
            panic!(
                "PostgreSQL is not installed (no initdb under /usr/lib/postgresql/*/bin or on \
                 PATH): run scripts/setup, or set {SERVER_VARIABLE} to a server's URL"
            )
        });
        // Kept past this value: the watchdog removes it.
        let dir = tempfile::Builder::new()
            .prefix("gust-postgres-")
            .tempdir()
            .expect("a temporary directory")
            .keep();
        let as_postgres = is_root();
        if as_postgres {
            run(Command::new("chown").arg("postgres:").arg(&dir), "chown");
        }
        let data = dir.join("data");
        run(
            command(as_postgres, &bin.join("initdb"))
                .args([
                    "-U",
                    "postgres",
                    "--auth=trust",
                    "-E",
                    "UTF8",
                    "--no-sync",
                    "-D",
                ])
                .arg(&data),
            "initdb",
        );
        watch(as_postgres, &bin, &dir, &data);
        let server = Self {
            bin,
            dir,
            data,
            port: free_port(),
            as_postgres,
        };
        server.resume();
        server
    }

    /// The URL of database `name` on it.
    pub fn url(&self, name: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{name}", self.port)
    }

    /// The URL of a new, empty database on it.
    pub fn database(&self) -> String {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let name = format!("gust_own_{}", NEXT.fetch_add(1, Ordering::Relaxed));
        self.create_database(&name);
        self.url(&name)
    }

    /// Stops it (`pg_ctl stop -m fast`: connections are cut).
    pub fn stop(&self) {
        run(
            command(self.as_postgres, &self.bin.join("pg_ctl"))
                .args(["-w", "-m", "fast", "-D"])
                .arg(&self.data)
                .arg("stop"),
            "pg_ctl stop",
        );
    }

    /// Starts it again after [`PrivateServer::stop`], on the same port.
    pub fn resume(&self) {
        let options = format!(
            "-c listen_addresses=127.0.0.1 -p {} -k {} -c fsync=off \
             -c full_page_writes=off -c max_connections=400",
            self.port,
            self.dir.display()
        );
        run(
            command(self.as_postgres, &self.bin.join("pg_ctl"))
                .args(["-w", "-t", "60", "-o", &options, "-l"])
                .arg(self.dir.join("log"))
                .arg("-D")
                .arg(&self.data)
                .arg("start"),
            "pg_ctl start",
        );
    }

    /// Creates database `name`.
    fn create_database(&self, name: &str) {
        let sql = format!("CREATE DATABASE {name}");
        run(
            Command::new(self.bin.join("psql"))
                .args([
                    "-h",
                    "127.0.0.1",
                    "-p",
                    &self.port.to_string(),
                    "-U",
                    "postgres",
                ])
                .args(["-v", "ON_ERROR_STOP=1", "-q", "-c", &sql, "postgres"]),
            "psql",
        );
    }
}

impl Drop for PrivateServer {
    fn drop(&mut self) {
        let _stopped = command(self.as_postgres, &self.bin.join("pg_ctl"))
            .args(["-m", "immediate", "-D"])
            .arg(&self.data)
            .arg("stop")
            .stdin(Stdio::null())
            .output();
        let _removed = std::fs::remove_dir_all(&self.dir);
    }
}

/// Where PostgreSQL's server binaries are: the newest Debian version, or
/// those on `PATH`.
fn binaries() -> Option<PathBuf> {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return Some(bin);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .find(|dir| dir.join("initdb").exists() && dir.join("pg_ctl").exists())
}

/// Whether this process runs as root.
fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| out.stdout.trim_ascii() == b"0")
}

/// `program`, run as the `postgres` user when `as_postgres`.
fn command(as_postgres: bool, program: &Path) -> Command {
    if as_postgres {
        let mut command = Command::new("runuser");
        command.args(["-u", "postgres", "--"]).arg(program);
        command
    } else {
        Command::new(program)
    }
}

/// Runs `command` to its end, panicking with its output if it fails.
fn run(command: &mut Command, what: &str) {
    let output = command
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|error| panic!("{what} could not be started: {error}"));
    assert!(
        output.status.success(),
        "{what} failed ({}):\n{}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A free port on 127.0.0.1 (free when asked; the server takes it at once).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("a free port")
}

/// Starts a watchdog that, once this process is gone, stops the server in
/// `data` and removes `dir`.
#[expect(
    clippy::zombie_processes,
    reason = "the watchdog outlives this process, which it waits for"
)]
fn watch(as_postgres: bool, bin: &Path, dir: &Path, data: &Path) {
    let stop = if as_postgres {
        format!("runuser -u postgres -- '{}'", bin.join("pg_ctl").display())
    } else {
        format!("'{}'", bin.join("pg_ctl").display())
    };
    let script = format!(
        "while kill -0 {pid} 2>/dev/null; do sleep 1; done; \
         {stop} -D '{data}' -m immediate stop; rm -rf '{dir}'",
        pid = std::process::id(),
        data = data.display(),
        dir = dir.display(),
    );
    Command::new("sh")
        .args(["-c", &script])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the PostgreSQL watchdog");
}
