//! Misbehaving servers on 127.0.0.1, written against raw sockets (std threads, no HTTP
//! library) so that they can break the protocol in ways a real server library would not:
//! reset mid-response, never answer, trickle, stream a huge body, garbage status line, bad
//! chunk size, a TLS certificate nobody trusts, a listener that flaps. Each stops (and
//! closes every connection) when dropped.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::{sleep, JoinHandle};
use std::time::Duration;

/// What a connection handler can see: the stream and the server's stop flag.
pub struct Conn {
    pub stream: TcpStream,
    pub stop: Arc<AtomicBool>,
}

impl Conn {
    /// Reads one request head (up to the blank line); false if the client went away or the
    /// server is stopping.
    pub fn read_head(&mut self) -> bool {
        let _ = self
            .stream
            .set_read_timeout(Some(Duration::from_millis(100)));
        let mut head = Vec::new();
        let mut buf = [0u8; 4096];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
            if self.stopped() {
                return false;
            }
            match self.stream.read(&mut buf) {
                Ok(0) => return false,
                Ok(n) => head.extend_from_slice(&buf[..n]),
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(_) => return false,
            }
        }
        true
    }

    pub fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// Keeps the connection open, silent, until the server stops.
    pub fn hold(&self) {
        while !self.stopped() {
            sleep(Duration::from_millis(20));
        }
    }

    /// Closes with a TCP RST (SO_LINGER 0) instead of a FIN.
    pub fn reset(self) {
        use std::os::fd::AsRawFd;
        let linger = libc::linger {
            l_onoff: 1,
            l_linger: 0,
        };
        // SAFETY: a valid socket and a pointer to a correctly sized `linger`.
        unsafe {
            libc::setsockopt(
                self.stream.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_LINGER,
                (&linger as *const libc::linger).cast(),
                std::mem::size_of::<libc::linger>() as libc::socklen_t,
            );
        }
        drop(self.stream);
    }
}

/// A loopback port with nothing listening on it: connecting is refused.
pub fn refused_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    l.local_addr().expect("bound address").port()
}

/// A raw TCP server: every accepted connection goes to `handler` on a thread of its own.
pub struct RawServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    accepted: Arc<AtomicU64>,
    thread: Option<JoinHandle<()>>,
}

impl RawServer {
    pub fn start(handler: impl Fn(Conn) + Send + Sync + 'static) -> RawServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        RawServer::on(listener, Arc::new(handler))
    }

    fn on(listener: TcpListener, handler: Arc<dyn Fn(Conn) + Send + Sync>) -> RawServer {
        let addr = listener.local_addr().expect("bound address");
        listener
            .set_nonblocking(true)
            .expect("nonblocking listener");
        let stop = Arc::new(AtomicBool::new(false));
        let accepted = Arc::new(AtomicU64::new(0));
        let (st, acc) = (stop.clone(), accepted.clone());
        let thread = std::thread::spawn(move || {
            let mut conns = Vec::new();
            while !st.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        acc.fetch_add(1, Ordering::Relaxed);
                        let _ = stream.set_nonblocking(false);
                        let _ = stream.set_nodelay(true);
                        let (h, stop) = (handler.clone(), st.clone());
                        conns.push(std::thread::spawn(move || h(Conn { stream, stop })));
                    }
                    Err(_) => sleep(Duration::from_millis(5)),
                }
                conns.retain(|c: &JoinHandle<()>| !c.is_finished());
            }
            drop(listener);
            for c in conns {
                let _ = c.join();
            }
        });
        RawServer {
            addr,
            stop,
            accepted,
            thread: Some(thread),
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    pub fn accepted(&self) -> u64 {
        self.accepted.load(Ordering::Relaxed)
    }
}

impl Drop for RawServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Reads the request, starts a 1 MB response, sends 1 KB of it, then resets the connection.
pub fn reset_mid_response(mut c: Conn) {
    if c.read_head() {
        let _ = c
            .stream
            .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n");
        let _ = c.stream.write_all(&[b'x'; 1024]);
        let _ = c.stream.flush();
        sleep(Duration::from_millis(20));
        c.reset();
    }
}

/// Accepts and reads the request, then never answers.
pub fn never_answer(mut c: Conn) {
    if c.read_head() {
        c.hold();
    }
}

/// Answers one byte per second (the head first, so the status arrives late too).
pub fn trickle(mut c: Conn) {
    if !c.read_head() {
        return;
    }
    for b in b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok" {
        if c.stopped() || c.stream.write_all(&[*b]).is_err() {
            return;
        }
        for _ in 0..50 {
            if c.stopped() {
                return;
            }
            sleep(Duration::from_millis(20));
        }
    }
}

/// Size of the huge body: 200 MiB.
pub const HUGE: u64 = 200 << 20;

/// Streams a `HUGE`-byte body (Content-Length), 64 KiB at a time, for every request.
pub fn huge_body(mut c: Conn) {
    let chunk = vec![b'z'; 64 << 10];
    while c.read_head() {
        let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {HUGE}\r\n\r\n");
        if c.stream.write_all(head.as_bytes()).is_err() {
            return;
        }
        let mut left = HUGE;
        while left > 0 {
            let n = left.min(chunk.len() as u64) as usize;
            if c.stopped() || c.stream.write_all(&chunk[..n]).is_err() {
                return;
            }
            left -= n as u64;
        }
    }
}

/// Answers with a status line that is not HTTP.
pub fn garbage_status(mut c: Conn) {
    if c.read_head() {
        let _ = c
            .stream
            .write_all(b"HTTP/1.1 two-hundred OK\r\nContent-Length: 2\r\n\r\nok");
        c.hold();
    }
}

/// A chunked response whose second chunk size is not hexadecimal.
pub fn bad_chunk(mut c: Conn) {
    if c.read_head() {
        let _ = c.stream.write_all(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\nzz\r\nnot a chunk\r\n",
        );
        c.hold();
    }
}

/// A server whose listener is up for `up`, then closed (with every connection) for `down`,
/// then reopened on the same port, over and over; answers 200 while up. Counts the
/// requests answered in each up phase.
pub struct Flapping {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    phases: Arc<std::sync::Mutex<Vec<u64>>>,
    thread: Option<JoinHandle<()>>,
}

impl Flapping {
    pub fn start(up: Duration, down: Duration) -> Flapping {
        let first = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let addr = first.local_addr().expect("bound address");
        let stop = Arc::new(AtomicBool::new(false));
        let phases = Arc::new(std::sync::Mutex::new(Vec::new()));
        let (st, ph) = (stop.clone(), phases.clone());
        let thread = std::thread::spawn(move || {
            let mut listener = Some(first);
            while !st.load(Ordering::Relaxed) {
                // std sets SO_REUSEADDR, so the port can be bound again at once.
                let l = match listener.take() {
                    Some(l) => l,
                    None => match TcpListener::bind(addr) {
                        Ok(l) => l,
                        Err(_) => {
                            sleep(Duration::from_millis(10));
                            continue;
                        }
                    },
                };
                let answered = Arc::new(AtomicU64::new(0));
                let n = answered.clone();
                let server = RawServer::on(
                    l,
                    Arc::new(move |c: Conn| {
                        let mut c = c;
                        while c.read_head() {
                            if c.stream
                                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                                .is_err()
                            {
                                return;
                            }
                            n.fetch_add(1, Ordering::Relaxed);
                        }
                    }),
                );
                sleep_unless(&st, up);
                drop(server); // closes the listener and every connection
                ph.lock()
                    .expect("phases lock")
                    .push(answered.load(Ordering::Relaxed));
                sleep_unless(&st, down);
            }
        });
        Flapping {
            addr,
            stop,
            phases,
            thread: Some(thread),
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    /// Requests answered in each finished up phase.
    pub fn phases(&self) -> Vec<u64> {
        self.phases.lock().expect("phases lock").clone()
    }
}

fn sleep_unless(stop: &AtomicBool, d: Duration) {
    let end = std::time::Instant::now() + d;
    while !stop.load(Ordering::Relaxed) && std::time::Instant::now() < end {
        sleep(Duration::from_millis(10));
    }
}

impl Drop for Flapping {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A TLS server with a certificate for `localhost` signed by nobody, valid or `expired`;
/// completes handshakes when the client accepts it (then answers 200), and counts them.
pub struct BadTls {
    pub raw: RawServer,
    pub handshakes: Arc<AtomicU64>,
}

impl BadTls {
    pub fn start(expired: bool) -> BadTls {
        let mut params =
            rcgen::CertificateParams::new(vec!["localhost".to_string()]).expect("cert params");
        if expired {
            params.not_before = rcgen::date_time_ymd(2000, 1, 1);
            params.not_after = rcgen::date_time_ymd(2001, 1, 1);
        }
        let key = rcgen::KeyPair::generate().expect("key pair");
        let cert = params.self_signed(&key).expect("self-signed certificate");
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_no_client_auth()
        .with_single_cert(
            vec![cert.der().clone()],
            rustls::pki_types::PrivateKeyDer::try_from(key.serialize_der()).expect("key der"),
        )
        .expect("server config");
        let config = Arc::new(config);
        let handshakes = Arc::new(AtomicU64::new(0));
        let hs = handshakes.clone();
        let raw = RawServer::start(move |mut c: Conn| {
            let mut tls = rustls::ServerConnection::new(config.clone()).expect("tls session");
            let _ = c.stream.set_read_timeout(Some(Duration::from_secs(5)));
            let mut stream = rustls::Stream::new(&mut tls, &mut c.stream);
            let mut buf = [0u8; 4096];
            // The handshake happens on the first read; it fails when the client rejects us.
            if let Ok(n) = stream.read(&mut buf) {
                if n > 0 {
                    hs.fetch_add(1, Ordering::Relaxed);
                    let _ = stream.write_all(
                        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
                    );
                    let _ = stream.flush();
                }
            }
        });
        BadTls { raw, handshakes }
    }

    pub fn url(&self) -> String {
        format!("https://{}/", self.raw.addr())
    }
}
