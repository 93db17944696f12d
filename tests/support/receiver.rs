//! A local HTTP receiver for alert tests (`tests/runs_kube.rs`, `tests/runs_shared.rs`).

/// A local HTTP receiver standing in for a Slack-compatible webhook: it keeps every POST body.
pub struct Receiver {
    addr: std::net::SocketAddr,
    posts: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl Receiver {
    /// Listens on a free local port, in a thread of its own.
    pub fn start() -> Receiver {
        use std::io::{BufRead, BufReader, Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let posts = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let kept = posts.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut length = 0;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        length = v.trim().parse().unwrap_or(0);
                    }
                }
                let mut body = vec![0; length];
                if reader.read_exact(&mut body).is_ok() {
                    kept.lock()
                        .unwrap()
                        .push(String::from_utf8_lossy(&body).into_owned());
                }
                let mut stream = stream;
                let _ = stream.write_all(
                    b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok",
                );
            }
        });
        Receiver { addr, posts }
    }

    /// Where to post.
    pub fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    /// The bodies received about `pipeline`'s runs.
    pub fn posts_of(&self, pipeline: &str) -> Vec<String> {
        let needle = format!("\"pipeline\":\"{pipeline}\"");
        let posts = self.posts.lock().unwrap();
        posts
            .iter()
            .filter(|p| p.contains(&needle))
            .cloned()
            .collect()
    }
}
