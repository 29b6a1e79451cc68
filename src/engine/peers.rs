//! Where an HTTP or gRPC client's new connections go: the target's host, or the instances
//! its `file_sd` files list (round robin), each name resolved through a cache that keeps an
//! answer for its DNS TTL. Both change while a profile runs: when the instances or an answer
//! change, the generation moves on and every connection made before is retired at its next
//! use, so traffic follows the change (and rebalances onto new instances) within one request
//! per connection. Re-resolution and re-reading happen off the request path, in a task
//! spawned when one is due; nothing runs while no request is made.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime};

use hickory_resolver::TokioResolver;

use crate::config::discovery::{FileSd, Instance};
use crate::config::safety::addr_allowed;
use crate::config::Target;
use crate::metrics::connection::ConnProbe;
use crate::outcome::ErrorKind;

/// How long an answer without a TTL (the system resolver's) is kept.
pub const FALLBACK_TTL: Duration = Duration::from_secs(30);
/// Answers are kept at least this long, whatever their TTL (0 would resolve per request).
const MIN_TTL: Duration = Duration::from_secs(1);
/// How often the `file_sd` files are looked at for a change.
const FILE_POLL: Duration = Duration::from_secs(1);

struct Answer {
    ips: Arc<[IpAddr]>,
    valid_until: Instant,
}

/// What the files looked like when last read: a change in any of these re-reads them.
type Stamp = Vec<Option<(SystemTime, u64)>>;

struct Discovery {
    sd: FileSd,
    stamp: Mutex<Stamp>,
    read_at: Mutex<Instant>,
    /// The last read's error: while there is one, every poll reads again (and counts again).
    failing: Mutex<Option<String>>,
}

pub struct Peers {
    target: Arc<Target>,
    resolver: Option<TokioResolver>,
    probe: ConnProbe,
    instances: RwLock<Arc<[Instance]>>,
    /// `instances.len()`, read per request without the lock.
    count: AtomicUsize,
    discovery: Option<Discovery>,
    answers: Mutex<HashMap<String, Answer>>,
    generation: AtomicU64,
    next: AtomicUsize,
    /// Nanoseconds after `base` when the next refresh is due.
    due: AtomicU64,
    refreshing: AtomicBool,
    base: Instant,
}

impl Peers {
    pub fn new(target: Arc<Target>, probe: ConnProbe) -> Arc<Self> {
        let own = Instance {
            host: target.host.clone(),
            port: target.port,
        };
        let (instances, discovery) = match &target.file_sd {
            Some(sd) => (
                sd.initial.clone(),
                Some(Discovery {
                    stamp: Mutex::new(stamp(&sd.files)),
                    read_at: Mutex::new(Instant::now()),
                    failing: Mutex::new(None),
                    sd: sd.clone(),
                }),
            ),
            None => (vec![own], None),
        };
        probe.instances(instances.len());
        let base = Instant::now();
        Arc::new(Peers {
            resolver: resolver(&target),
            probe,
            count: AtomicUsize::new(instances.len()),
            instances: RwLock::new(instances.into()),
            due: AtomicU64::new(if discovery.is_some() {
                nanos(FILE_POLL)
            } else {
                u64::MAX
            }),
            discovery,
            answers: Mutex::new(HashMap::new()),
            generation: AtomicU64::new(0),
            next: AtomicUsize::new(0),
            refreshing: AtomicBool::new(false),
            base,
            target,
        })
    }

    /// Connections made before a change of this number are retired.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    pub fn instance_count(&self) -> usize {
        self.count.load(Ordering::Relaxed)
    }

    /// Starts a refresh in the background when one is due (cheap otherwise: one load).
    pub fn tick(self: &Arc<Self>, now: Instant) {
        let at = now.saturating_duration_since(self.base).as_nanos() as u64;
        if at < self.due.load(Ordering::Relaxed) || self.refreshing.swap(true, Ordering::AcqRel) {
            return;
        }
        let me = self.clone();
        tokio::spawn(async move {
            me.refresh(Instant::now()).await;
            me.refreshing.store(false, Ordering::Release);
        });
    }

    /// The instance the next request goes to: round robin over the current list.
    pub fn pick(&self) -> usize {
        match self.instance_count() {
            // The common case: no shared counter bouncing between cores.
            0 | 1 => 0,
            n => self.next.fetch_add(1, Ordering::Relaxed) % n,
        }
    }

    /// The addresses to try, in order, for instance `k` of the current list.
    pub async fn addrs_of(&self, k: usize) -> Result<Vec<SocketAddr>, ErrorKind> {
        let instance = {
            let list = self.instances.read().expect("peers lock poisoned");
            if list.is_empty() {
                return Err(ErrorKind::Connect);
            }
            list[k % list.len()].clone()
        };
        let ips = self.lookup(&instance.host, Instant::now()).await?;
        Ok(ips
            .iter()
            .map(|ip| SocketAddr::new(*ip, instance.port))
            .collect())
    }

    /// The addresses of `host`: itself when it is an IP, else the cached answer while its
    /// TTL lasts, else a new one (an error is counted and is a `dns` error to the request).
    async fn lookup(&self, host: &str, now: Instant) -> Result<Arc<[IpAddr]>, ErrorKind> {
        if let Ok(ip) = host.parse::<IpAddr>() {
            return Ok(Arc::from([ip]));
        }
        if let Some(a) = self
            .answers
            .lock()
            .expect("answers lock poisoned")
            .get(host)
        {
            if a.valid_until > now {
                return Ok(a.ips.clone());
            }
        }
        self.resolve(host).await
    }

    /// Asks the resolver, checks the answer against the allowlist, caches it and moves the
    /// generation on when it differs from the last one.
    async fn resolve(&self, host: &str) -> Result<Arc<[IpAddr]>, ErrorKind> {
        let (mut ips, valid_until) = match self.ask(host).await {
            Some(found) if !found.0.is_empty() => found,
            _ => {
                self.probe.dns_error();
                return Err(ErrorKind::Dns);
            }
        };
        if let Some(nets) = &self.target.dns_allow {
            if let Some(bad) = ips.iter().find(|ip| !addr_allowed(nets, **ip)) {
                self.probe.refused.inc();
                tracing::debug!(target = %self.target.name, host, ip = %bad, "refused: resolves outside safety.allowed_hosts");
                return Err(ErrorKind::Dns);
            }
        }
        let valid_until = valid_until.max(Instant::now() + MIN_TTL);
        let mut seen = Vec::with_capacity(ips.len());
        ips.retain(|ip| {
            !seen.contains(ip) && {
                seen.push(*ip);
                true
            }
        });
        seen.sort();
        let sorted = seen;
        let ips: Arc<[IpAddr]> = ips.into();
        let mut answers = self.answers.lock().expect("answers lock poisoned");
        let changed = answers.get(host).is_some_and(|old| {
            let mut before = old.ips.to_vec();
            before.sort();
            before != sorted
        });
        answers.insert(
            host.to_string(),
            Answer {
                ips: ips.clone(),
                valid_until,
            },
        );
        drop(answers);
        self.schedule(valid_until);
        if changed {
            tracing::info!(target = %self.target.name, host, "DNS answer changed; reconnecting");
            self.generation.fetch_add(1, Ordering::AcqRel);
        }
        Ok(ips)
    }

    /// The resolver's answer and until when it holds; None when it found nothing.
    async fn ask(&self, host: &str) -> Option<(Vec<IpAddr>, Instant)> {
        if let Some(r) = &self.resolver {
            match r.lookup_ip(host).await {
                Ok(l) => return Some((l.iter().collect(), l.valid_until())),
                // A resolver of the target's own is the only truth; the system's may miss
                // what the C library finds (nsswitch), so that gets the last word.
                Err(_) if self.target.dns_server.is_some() => return None,
                Err(_) => {}
            }
        }
        let found = tokio::net::lookup_host((host, 0)).await.ok()?;
        Some((
            found.map(|a| a.ip()).collect(),
            Instant::now() + FALLBACK_TTL,
        ))
    }

    /// Makes a refresh due at `at` unless one is due sooner.
    fn schedule(&self, at: Instant) {
        let at = nanos(at.saturating_duration_since(self.base));
        self.due.fetch_min(at, Ordering::AcqRel);
    }

    /// Re-reads changed `file_sd` files and re-resolves expired names that are still used.
    async fn refresh(&self, now: Instant) {
        self.due.store(u64::MAX, Ordering::Release);
        if self.discovery.is_some() {
            self.reread(now);
            self.schedule(now + FILE_POLL);
        }
        let expired: Vec<String> = {
            let used = self.instances.read().expect("peers lock poisoned").clone();
            let mut answers = self.answers.lock().expect("answers lock poisoned");
            answers.retain(|h, _| used.iter().any(|i| i.host == *h));
            for a in answers.values() {
                self.schedule(a.valid_until);
            }
            answers
                .iter()
                .filter(|(_, a)| a.valid_until <= now)
                .map(|(h, _)| h.clone())
                .collect()
        };
        for host in expired {
            if self.resolve(&host).await.is_err() {
                // Kept, so connections stay put; retried a second later.
                self.schedule(now + MIN_TTL);
            }
        }
    }

    /// Reads the files again when they changed or `refresh_interval` passed; a file that
    /// is missing or bad keeps the last good set and counts an error.
    fn reread(&self, now: Instant) {
        let Some(d) = &self.discovery else { return };
        let stamp_now = stamp(&d.sd.files);
        let mut stamp = d.stamp.lock().expect("stamp lock poisoned");
        let mut read_at = d.read_at.lock().expect("read_at lock poisoned");
        let mut failing = d.failing.lock().expect("failing lock poisoned");
        if failing.is_none()
            && *stamp == stamp_now
            && now.duration_since(*read_at) < d.sd.refresh_interval
        {
            return;
        }
        *stamp = stamp_now;
        *read_at = now;
        match d.sd.read(self.target.port) {
            Err(e) => {
                self.probe.discovery_error();
                // Once per problem, not once per retry.
                if failing.as_deref() != Some(e.as_str()) {
                    tracing::warn!(target = %self.target.name, "file_sd: {e}; keeping the last good set of instances");
                }
                *failing = Some(e);
            }
            Ok(list) => {
                *failing = None;
                let mut current = self.instances.write().expect("peers lock poisoned");
                if **current != *list {
                    tracing::info!(target = %self.target.name, instances = list.len(), "file_sd: the instances changed; reconnecting");
                    self.probe.instances(list.len());
                    self.count.store(list.len(), Ordering::Relaxed);
                    *current = list.into();
                    self.generation.fetch_add(1, Ordering::AcqRel);
                }
            }
        }
    }
}

/// The target's own resolver (`dns_server`), else the system's (resolv.conf, hosts file);
/// None when there is no resolv.conf to read (the C library's resolver is used then).
fn resolver(target: &Target) -> Option<TokioResolver> {
    use hickory_resolver::config::{NameServerConfig, ResolverConfig};
    use hickory_resolver::net::runtime::TokioRuntimeProvider;
    let builder = match target.dns_server {
        Some(server) => {
            let mut ns = NameServerConfig::udp_and_tcp(server.ip());
            for c in &mut ns.connections {
                c.port = server.port();
            }
            TokioResolver::builder_with_config(
                ResolverConfig::from_name_servers(vec![ns]),
                TokioRuntimeProvider::default(),
            )
        }
        None => TokioResolver::builder_tokio().ok()?,
    };
    builder.build().ok()
}

fn stamp(files: &[std::path::PathBuf]) -> Stamp {
    files
        .iter()
        .map(|f| {
            let m = std::fs::metadata(f).ok()?;
            Some((m.modified().ok()?, m.len()))
        })
        .collect()
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}
