//! A `loadtide serve` child for integration tests: the config text is written to a temp dir,
//! the daemon listens on a free loopback port, its log goes to a file, and it is killed when
//! the handle drops. `call` is one raw HTTP/1.1 request to it.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::cli::{free_port, KillOnDrop};
use super::scrape::Scrape;

pub struct Daemon {
    _child: KillOnDrop,
    pub addr: SocketAddr,
    pub log: PathBuf,
    pub config: PathBuf,
    _dir: tempfile::TempDir,
}

impl Daemon {
    /// Serves `config` with `flags`; returns once `/-/ready` answers 200 (within 15 s).
    pub fn start(config: &str, flags: &[&str]) -> Daemon {
        let dir = tempfile::tempdir().expect("a temp dir");
        let path = dir.path().join("loadtide.toml");
        std::fs::write(&path, config).expect("write the config");
        let log = dir.path().join("daemon.log");
        let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
        let child = Command::new(env!("CARGO_BIN_EXE_loadtide"))
            .args(["--log-format", "human", "serve", "--config"])
            .arg(&path)
            .args(["--web.listen-address", &addr.to_string()])
            .args(flags)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("create the log"))
            .spawn()
            .expect("start loadtide serve");
        let d = Daemon {
            _child: KillOnDrop(child),
            addr,
            log,
            config: path,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(15);
        while d.call("GET", "/-/ready", "").map(|r| r.0) != Some(200) {
            assert!(
                Instant::now() < deadline,
                "the daemon did not get ready: {}",
                d.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        d
    }

    /// One request to the daemon: (status, body); None when it did not answer.
    pub fn call(&self, method: &str, path: &str, body: &str) -> Option<(u16, String)> {
        let mut s = TcpStream::connect(self.addr).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        write!(
            s,
            "{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .ok()?;
        let mut out = String::new();
        s.read_to_string(&mut out).ok()?;
        let (head, body) = out.split_once("\r\n\r\n")?;
        let status = head.split(' ').nth(1)?.parse().ok()?;
        Some((status, body.to_string()))
    }

    pub fn scrape(&self) -> Scrape {
        Scrape::parse(&self.call("GET", "/metrics", "").expect("a scrape").1)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}
