//! A network namespace of a test's own, joined to this one by a veth pair: the test's
//! servers listen on its side (`ns_ip`), loadtide connects from this side (`host_ip`), and
//! `ip`/`tc` inside it shape the link (blackhole routes, link down, rate limits, netem) without
//! touching any other interface of the machine. Deleted, with its veth pair, when dropped.
//!
//! Creating one needs root and a kernel with netns and veth; [`Netns::create`] says why not
//! when it cannot, so a test can skip with that reason instead of failing.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

/// Namespaces made by this process so far: part of each name and subnet, so tests running in
/// parallel get their own.
static MADE: AtomicU32 = AtomicU32::new(0);

pub struct Netns {
    pub name: String,
    /// The veth end inside the namespace (its address is `ns_ip`).
    pub ns_if: String,
    host_if: String,
    pub host_ip: Ipv4Addr,
    pub ns_ip: Ipv4Addr,
}

impl Netns {
    /// A namespace with `lo` up and a veth pair in 10.213.0.0/16 (a /30 per namespace), or why
    /// this machine cannot make one.
    pub fn create() -> Result<Netns, String> {
        // SAFETY: geteuid has no preconditions and cannot fail.
        if unsafe { libc::geteuid() } != 0 {
            return Err("not root: ip netns needs CAP_SYS_ADMIN".into());
        }
        let n = MADE.fetch_add(1, Ordering::SeqCst);
        let tag = format!("{}{}", std::process::id() % 100_000, n);
        let block = (std::process::id() * 7 + n * 4) % 16_384;
        let base = u32::from(Ipv4Addr::new(10, 213, 0, 0)) + block * 4;
        let ns = Netns {
            name: format!("lt-test-{tag}"),
            ns_if: format!("ltn{tag}"),
            host_if: format!("lth{tag}"),
            host_ip: Ipv4Addr::from(base + 1),
            ns_ip: Ipv4Addr::from(base + 2),
        };
        let host_if = ns.host_if.clone();
        ip(&["netns", "add", &ns.name])?;
        // From here on, dropping `ns` deletes the namespace and with it the veth pair.
        let (host, inner) = (format!("{}/30", ns.host_ip), format!("{}/30", ns.ns_ip));
        ip(&[
            "link", "add", &host_if, "type", "veth", "peer", "name", &ns.ns_if,
        ])?;
        ip(&["link", "set", &ns.ns_if, "netns", &ns.name])?;
        ip(&["addr", "add", &host, "dev", &host_if])?;
        ip(&["link", "set", &host_if, "up"])?;
        ns.ip(&["addr", "add", &inner, "dev", &ns.ns_if])?;
        ns.ip(&["link", "set", &ns.ns_if, "up"])?;
        ns.ip(&["link", "set", "lo", "up"])?;
        Ok(ns)
    }

    /// The file that names the namespace, for `setns`.
    pub fn path(&self) -> PathBuf {
        Path::new("/run/netns").join(&self.name)
    }

    /// `ip -n NAME args…` inside the namespace.
    pub fn ip(&self, args: &[&str]) -> Result<(), String> {
        let mut all = vec!["-n", self.name.as_str()];
        all.extend_from_slice(args);
        ip(&all)
    }

    /// `tc args…` inside the namespace; its error text when it fails (e.g. a qdisc this kernel
    /// does not have).
    pub fn tc(&self, args: &[&str]) -> Result<(), String> {
        run(Command::new("ip")
            .args(["netns", "exec", &self.name, "tc"])
            .args(args))
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = ip(&["netns", "del", &self.name]);
        // Gone with the namespace, unless setting up failed before its peer moved in.
        let _ = ip(&["link", "del", &self.host_if]);
    }
}

/// Moves the calling thread into the namespace `path` names (sockets it makes afterwards,
/// and threads it spawns, are in there).
pub fn enter(path: &Path) {
    let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    use std::os::fd::AsRawFd;
    // SAFETY: a valid open fd of a namespace file; setns only changes this thread.
    let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
    assert_eq!(
        rc,
        0,
        "setns {}: {}",
        path.display(),
        std::io::Error::last_os_error()
    );
}

fn ip(args: &[&str]) -> Result<(), String> {
    run(Command::new("ip").args(args))
}

fn run(cmd: &mut Command) -> Result<(), String> {
    let out = cmd
        .output()
        .map_err(|e| format!("{:?}: {e}", cmd.get_program()))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{:?} {:?}: {}",
            cmd.get_program(),
            cmd.get_args().collect::<Vec<_>>(),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}
