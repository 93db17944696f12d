//! Child processes of end-to-end tests: the built `cubist` binary, programs that must be
//! installed, and long-running servers whose output lines the test waits on.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

/// The `cubist` binary, built first if needed. `cargo test -p cubist-tests` builds the
/// `cubist` library but not its binary, so this runs `cargo test --workspace --no-run` (the
/// build `cargo test --workspace` makes, binary included: a no-op there and whenever it is up to
/// date) into the running test's target directory and profile.
pub fn cubist_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("the test executable");
    // <target>/<profile>/deps/<test>
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>");
    let target_dir = profile_dir.parent().expect("target dir");
    let profile = match profile_dir.file_name().and_then(|n| n.to_str()) {
        Some("debug") | None => "test",
        Some("release") => "bench",
        Some(other) => other,
    };
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut build = Command::new(cargo);
    // Cargo sets these for the running test; build scripts (ring's) rerun when they change, so
    // passing them on would rebuild half the tree here and again in the next `cargo test`.
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy();
        let set_by_cargo = [
            "CARGO_PKG_",
            "CARGO_MANIFEST_",
            "CARGO_CRATE_",
            "CARGO_BIN_",
        ]
        .iter()
        .any(|p| key.starts_with(p))
            || ["OUT_DIR", "CARGO_PRIMARY_PACKAGE", "CARGO_TARGET_TMPDIR"].contains(&&*key)
            || key == "CARGO_RUSTC_CURRENT_DIR";
        if set_by_cargo {
            build.env_remove(&*key);
        }
    }
    let status = build
        .args([
            "test",
            "--workspace",
            "--no-run",
            "--quiet",
            "--profile",
            profile,
        ])
        .arg("--target-dir")
        .arg(target_dir)
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .status()
        .expect("run cargo");
    assert!(
        status.success(),
        "cargo test --workspace --no-run failed: {status}"
    );
    profile_dir.join(format!("cubist{}", std::env::consts::EXE_SUFFIX))
}

/// The first of `names` found on `PATH`; fails the test, naming `.ci/run`, when none is.
pub fn require_program(names: &[&str]) -> PathBuf {
    crate::program::find(names).unwrap_or_else(|| {
        panic!(
            "{} is not installed: run `bash .ci/run` (it installs the Debian packages chromium \
             and chromium-driver), or `apt-get install chromium chromium-driver`",
            names.join(" / ")
        )
    })
}

/// A child process killed (and reaped) when dropped.
pub struct Running(Child);

impl Running {
    /// The child's process id.
    pub fn id(&self) -> u32 {
        self.0.id()
    }

    /// Sends SIGTERM and waits up to `patience` for the child to exit; its exit status.
    pub fn terminate(&mut self, patience: Duration) -> std::process::ExitStatus {
        let sent = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status()
            .expect("run kill");
        assert!(sent.success(), "kill -TERM {} failed", self.0.id());
        let deadline = Instant::now() + patience;
        loop {
            if let Some(status) = self.0.try_wait().expect("wait for the child") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "the child did not exit within {patience:?} of SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// `GET path` of the HTTP server at `addr` on a fresh connection, waiting up to `patience` for
/// the answer: status code and body.
pub fn http_get(addr: &str, path: &str, patience: Duration) -> (u16, String) {
    use std::io::Write;
    let mut s =
        std::net::TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect to {addr}: {e}"));
    s.set_read_timeout(Some(patience)).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text)
        .unwrap_or_else(|e| panic!("GET {path}: no answer: {e}"));
    let code = text.get(9..12).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    (code, body.to_string())
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The stdout lines of a child, as they come.
pub struct Lines {
    rx: Receiver<String>,
    /// Lines not yet returned by [`Lines::wait_for`].
    pending: Vec<String>,
    /// Every line so far, for failure messages.
    seen: Vec<String>,
    what: String,
}

impl Lines {
    /// Returns the first line not returned before that matches `want`, in whatever order the
    /// child printed it, waiting up to `patience` for it. Fails the test with the output so far
    /// when the child exits or time runs out.
    pub fn wait_for(&mut self, patience: Duration, want: impl Fn(&str) -> bool) -> String {
        if let Some(i) = self.pending.iter().position(|l| want(l)) {
            return self.pending.remove(i);
        }
        let deadline = Instant::now() + patience;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if want(&line) {
                        return line;
                    }
                    self.pending.push(line);
                }
                Err(e) => panic!(
                    "{}: {} before the expected line; its output:\n{}",
                    self.what,
                    match e {
                        RecvTimeoutError::Timeout => "no such line in time",
                        RecvTimeoutError::Disconnected => "exited",
                    },
                    self.seen.join("\n")
                ),
            }
        }
    }

    /// Every line printed during the next `window` (at most 10,000: more is a runaway loop);
    /// lines printed before it and not yet returned are dropped.
    pub fn lines_during(&mut self, window: Duration) -> Vec<String> {
        while let Ok(line) = self.rx.try_recv() {
            self.seen.push(line);
        }
        self.pending.clear();
        let deadline = Instant::now() + window;
        let mut out = Vec::new();
        while out.len() < 10_000 {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    out.push(line)
                }
                Err(_) => break,
            }
        }
        out
    }

    /// Every line printed so far (by a child that may have exited), in order.
    pub fn printed(&mut self) -> Vec<String> {
        while let Ok(line) = self.rx.try_recv() {
            self.seen.push(line.clone());
            self.pending.push(line);
        }
        self.seen.clone()
    }
}

/// Starts `cmd` with its stdout piped into [`Lines`] (stderr is inherited).
pub fn spawn(cmd: Command) -> (Running, Lines) {
    start(cmd, false)
}

/// Starts `cmd` with its stdout and stderr lines both piped into [`Lines`].
pub fn spawn_all(cmd: Command) -> (Running, Lines) {
    start(cmd, true)
}

fn start(mut cmd: Command, stderr: bool) -> (Running, Lines) {
    let what = format!("{:?}", cmd.get_program());
    if stderr {
        cmd.stderr(Stdio::piped());
    }
    let mut child = cmd
        .stdout(Stdio::piped())
        .stdin(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("start {what}: {e}"));
    let mut streams: Vec<Box<dyn Read + Send>> =
        vec![Box::new(child.stdout.take().expect("piped stdout"))];
    if stderr {
        streams.push(Box::new(child.stderr.take().expect("piped stderr")));
    }
    let (tx, rx) = channel();
    for stream in streams {
        let tx = tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
    }
    let lines = Lines {
        rx,
        pending: Vec::new(),
        seen: Vec::new(),
        what,
    };
    (Running(child), lines)
}
