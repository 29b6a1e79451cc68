//! Line and datagram servers for the raw socket tests, on 127.0.0.1: a TCP server that
//! answers each line `PING x` with `PONG x` (and anything else with `ERR`), and a UDP server
//! that echoes each datagram. Each runs on a runtime of its own thread, counts what it got and
//! keeps every distinct payload, and stops when its handle is dropped.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::oneshot;

/// Requests received, and the distinct payloads among them.
type Seen = Arc<Mutex<(u64, HashSet<String>)>>;

pub struct EchoServer {
    pub addr: SocketAddr,
    seen: Seen,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl EchoServer {
    /// A TCP line server: `PING x\n` → `PONG x\n`, anything else → `ERR\n`.
    pub fn tcp() -> EchoServer {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        listener.set_nonblocking(true).expect("nonblocking");
        let addr = listener.local_addr().expect("local addr");
        Self::start(addr, |seen| async move {
            let listener = TcpListener::from_std(listener).expect("tokio listener");
            loop {
                let Ok((socket, _)) = listener.accept().await else {
                    continue;
                };
                let seen = seen.clone();
                tokio::spawn(async move {
                    let (read, mut write) = socket.into_split();
                    let mut lines = BufReader::new(read).lines();
                    while let Ok(Some(line)) = lines.next_line().await {
                        note(&seen, &line);
                        let reply = match line.strip_prefix("PING ") {
                            Some(rest) => format!("PONG {rest}\n"),
                            None => "ERR\n".to_string(),
                        };
                        if write.write_all(reply.as_bytes()).await.is_err() {
                            break;
                        }
                    }
                });
            }
        })
    }

    /// A UDP server that sends each datagram back as it came.
    pub fn udp() -> EchoServer {
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        socket.set_nonblocking(true).expect("nonblocking");
        let addr = socket.local_addr().expect("local addr");
        Self::start(addr, |seen| async move {
            let socket = UdpSocket::from_std(socket).expect("tokio socket");
            let mut buf = vec![0u8; 65_535];
            while let Ok((n, from)) = socket.recv_from(&mut buf).await {
                note(&seen, &String::from_utf8_lossy(&buf[..n]));
                let _ = socket.send_to(&buf[..n], from).await;
            }
        })
    }

    /// Runs what `serve` makes on a thread of its own until the handle is dropped.
    fn start<F, Fut>(addr: SocketAddr, serve: F) -> EchoServer
    where
        F: FnOnce(Seen) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = ()>,
    {
        let seen: Seen = Arc::new(Mutex::new((0, HashSet::new())));
        let (stop, stopped) = oneshot::channel::<()>();
        let shared = seen.clone();
        let thread = std::thread::spawn(move || {
            runtime().block_on(async move {
                tokio::select! {
                    _ = serve(shared) => {}
                    _ = stopped => {}
                }
            });
        });
        EchoServer {
            addr,
            seen,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// Requests received.
    pub fn requests(&self) -> u64 {
        self.seen.lock().expect("lock").0
    }

    /// Distinct payloads received.
    pub fn distinct(&self) -> usize {
        self.seen.lock().expect("lock").1.len()
    }
}

impl Drop for EchoServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn note(seen: &Mutex<(u64, HashSet<String>)>, payload: &str) {
    let mut s = seen.lock().expect("lock");
    s.0 += 1;
    s.1.insert(payload.to_string());
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("test server runtime")
}
