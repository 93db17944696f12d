//! The status page of `cubist serve` at 500 projects (issue #21): the real server, started on
//! a repository whose status branch a `cubist reconcile --once` wrote (4 directory clusters,
//! 18,000 object statuses), asked over HTTP. Prints the first request of a page (it reads the
//! status commit) and the median of the 20 after it, for the overview (goal < 10 ms) and a
//! project page (goal < 20 ms); and, measured in the same run, the old way (the whole status
//! tree read for each request, then the page rendered) with its ratio.
//!
//! The times are the client's (connect, request, whole answer): the server's own time is
//! less.
//!
//! `TMPDIR=/dev/shm cargo bench --workspace --bench page`. Options after `--`:
//! `--projects N` (default 500).

#[path = "support/cli_repo.rs"]
#[allow(dead_code)] // shared with the `once` bench
mod cli_repo;

use cli_repo::{CliRepo, median};
use cubist::report::status_branch::read_status;
use cubist_status_ui::{PageOptions, StatusTree, render_page};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

const REQUESTS: usize = 20;

fn main() {
    let mut projects = 500usize;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--projects" {
            projects = cubist::synth::flag_value(&mut args, "--projects");
        }
    }
    let repo = CliRepo::new(projects);
    repo.reconcile_once();
    let server = Server::start(&repo);
    server.wait_ready();
    let project = format!("/projects/team-{:04}", projects / 2);
    println!(
        "synthetic repository: {projects} projects; `cubist serve` at {}",
        server.addr
    );
    for (path, goal) in [("/", 10.0), (project.as_str(), 20.0)] {
        let (first, code) = server.get(path);
        assert_eq!(code, 200, "GET {path}");
        let mut times: Vec<Duration> = (0..REQUESTS).map(|_| server.get(path).0).collect();
        let m = median(&mut times);
        let old = old_way(&repo, path);
        println!(
            "GET {path:<20} first {:>7.2} ms, median of the next {REQUESTS} {:>6.2} ms (goal < {goal} ms: {}); old way (tree read per request) {:>7.2} ms: {:.0}x faster",
            ms(first),
            ms(m),
            if ms(m) < goal { "within" } else { "OVER" },
            ms(old),
            old.as_secs_f64() / m.as_secs_f64()
        );
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// What the server did per request before: read every file of the status branch, render.
fn old_way(repo: &CliRepo, path: &str) -> Duration {
    let mut times: Vec<Duration> = (0..5)
        .map(|_| {
            let t0 = Instant::now();
            let git = git2::Repository::open_bare(&repo.repo).expect("open");
            let tree = StatusTree::new(read_status(&git, "cubist/status").expect("read"));
            let page = render_page(&tree, path, chrono::Utc::now(), &PageOptions::default());
            assert!(page.is_some_and(|p| p.status == 200));
            t0.elapsed()
        })
        .collect();
    median(&mut times)
}

/// `cubist serve` on the repository, on a free port.
struct Server {
    child: Child,
    addr: String,
}

impl Server {
    fn start(repo: &CliRepo) -> Server {
        let mut child = repo
            .cubist("serve")
            .args(["--listen", "127.0.0.1:0", "--interval", "1h"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start cubist serve");
        let out = BufReader::new(child.stdout.take().expect("stdout"));
        let addr = out
            .lines()
            .map_while(Result::ok)
            .find_map(|l| {
                let rest = l.strip_prefix("status page: http://")?;
                Some(rest.trim_end_matches('/').to_string())
            })
            .expect("cubist serve prints its address");
        Server { child, addr }
    }

    /// Waits until the loop's first pass is done (`/readyz`), so it does not share the CPU.
    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(300);
        while self.get("/readyz").1 != 200 {
            assert!(Instant::now() < deadline, "cubist serve never became ready");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// GET `path`: the time to the end of the answer, and its status code.
    fn get(&self, path: &str) -> (Duration, u16) {
        let t0 = Instant::now();
        let mut s = TcpStream::connect(&self.addr).expect("connect");
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n"
        )
        .expect("send");
        let mut answer = Vec::new();
        s.read_to_end(&mut answer).expect("read");
        let took = t0.elapsed();
        let code = String::from_utf8_lossy(&answer[..answer.len().min(12)])
            .split(' ')
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        (took, code)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
