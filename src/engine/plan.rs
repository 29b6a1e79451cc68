//! How one run of a profile maps its own clock onto the profile's pattern: where in the
//! pattern it starts, how fast pattern time passes (`run --speed`), whether the pattern loops,
//! and which share of the load is this instance's (`--shard i/n`).

use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::limits::SafetyLimits;
use crate::pause::Pause;
use crate::schedule::Pattern;

/// This instance's part of a scaled-out deployment: shard `index` of `count` (0-based, like
/// a StatefulSet ordinal). Every instance generates 1/count of each profile's load. In a
/// JSON summary it says which slice the summary covers (`{"index": 1, "count": 3}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

impl Shard {
    pub const WHOLE: Shard = Shard { index: 0, count: 1 };

    pub fn is_whole(&self) -> bool {
        self.count == 1
    }

    /// The open model's share of the rate.
    pub fn share(&self) -> f64 {
        1.0 / f64::from(self.count)
    }

    /// Where this shard's evenly spaced arrivals sit between the whole pattern's: shard i
    /// takes arrivals i, i+n, i+2n, ... of the unsharded schedule.
    pub fn phase(&self) -> f64 {
        f64::from(self.index) / f64::from(self.count)
    }

    /// This shard's users out of `total`: user u belongs to shard u mod n, so the shares add
    /// up to `total` exactly.
    pub fn users(&self, total: u64) -> u64 {
        let (i, n) = (u64::from(self.index), u64::from(self.count));
        if total > i {
            (total - i).div_ceil(n)
        } else {
            0
        }
    }

    /// Resolves `auto/n` with the ordinal at the end of a StatefulSet pod's hostname
    /// (`loadtide-2` -> 2).
    pub fn parse_with_hostname(s: &str, hostname: Option<&str>) -> Result<Shard, String> {
        let (i, n) = s.split_once('/').ok_or_else(|| {
            format!("invalid shard {s:?}: expected INDEX/COUNT such as \"0/3\" (or \"auto/3\")")
        })?;
        let count: u32 = n
            .trim()
            .parse()
            .ok()
            .filter(|&n| n >= 1)
            .ok_or_else(|| format!("invalid shard {s:?}: COUNT must be a whole number >= 1"))?;
        let index: u32 = if i.trim() == "auto" {
            let host = hostname.unwrap_or_default();
            host.rsplit_once('-')
                .and_then(|(_, o)| o.parse().ok())
                .ok_or_else(|| {
                    format!(
                        "invalid shard {s:?}: \"auto\" takes the ordinal from a StatefulSet \
                         pod name ending in -<ordinal>, but the hostname is {host:?}"
                    )
                })?
        } else {
            i.trim().parse().map_err(|_| {
                format!("invalid shard {s:?}: INDEX must be a whole number (0-based) or \"auto\"")
            })?
        };
        if index >= count {
            return Err(format!(
                "invalid shard {s:?}: INDEX is 0-based and must be below COUNT ({count})"
            ));
        }
        Ok(Shard { index, count })
    }
}

impl FromStr for Shard {
    type Err = String;

    fn from_str(s: &str) -> Result<Shard, String> {
        let host = std::env::var("HOSTNAME").ok();
        Shard::parse_with_hostname(s, host.as_deref())
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// Gives the exact pattern time at a run's real elapsed seconds, for runs that follow the
/// wall clock (a daemon's `always` schedule follows local time across DST changes).
pub type PatternClock = Arc<dyn Fn(f64) -> f64 + Send + Sync>;

/// How often a run following the wall clock re-reads it.
const RESYNC_EVERY: f64 = 60.0;

/// What a run needs beyond the profile: where it starts in the pattern, how fast pattern
/// time passes, whether the pattern loops, this instance's shard, and how long it lasts.
#[derive(Clone)]
pub struct RunSpec {
    pub shard: Shard,
    pub speed: f64,
    pub offset: Duration,
    pub repeat: bool,
    pub clock: Option<PatternClock>,
    /// Real length of the run (None: until cancelled or the request budget is spent).
    pub length: Option<Duration>,
    /// The daemon's kill switch: nothing is sent while it is on.
    pub pause: Pause,
    /// `[safety]`'s global caps, shared by every profile of the process.
    pub limits: SafetyLimits,
    /// Whether HTTP and gRPC requests carry a `traceparent` when the profile does not say:
    /// the daemon's traffic does, one-shot runs' does not.
    pub trace_by_default: bool,
    /// The control API's factor on the load (1 unless changed).
    pub multiplier: Multiplier,
}

impl RunSpec {
    /// One pass of the pattern from its beginning, lasting `length`.
    pub fn once(length: Option<Duration>) -> RunSpec {
        RunSpec {
            shard: Shard::WHOLE,
            speed: 1.0,
            offset: Duration::ZERO,
            repeat: false,
            clock: None,
            length,
            pause: Pause::default(),
            limits: SafetyLimits::default(),
            trace_by_default: false,
            multiplier: Multiplier::default(),
        }
    }

    /// The plan for `pattern`; `scale` divides its values by the shard count (rates are
    /// split that way; users are split by index instead, see `Shard::users`).
    pub fn plan(&self, pattern: &Pattern, scale: bool) -> Plan {
        let plan = Plan::new(pattern.clone())
            .starting_at(self.offset)
            .with_speed(self.speed)
            .looping(self.repeat)
            .sharded(self.shard, scale)
            .scaled_by(self.multiplier.clone());
        match &self.clock {
            Some(c) => plan.following(c.clone()),
            None => plan,
        }
    }
}

/// One run's view of a pattern.
#[derive(Clone)]
pub struct Plan {
    pattern: Pattern,
    /// Pattern seconds at the run's start.
    offset: f64,
    /// Pattern seconds per real second.
    speed: f64,
    /// Loop the pattern with this period (its length).
    period: Option<f64>,
    share: f64,
    clock: Option<PatternClock>,
    synced_until: f64,
    /// The control API's live factor on the pattern's values.
    multiplier: Option<Multiplier>,
}

/// A live factor on a profile's load (the control API's `rate_multiplier`, 0 to 10), read
/// wherever the plan is: the pacer integrates the scaled rate, so a change takes effect
/// within its look-ahead (a second) and arrivals stay evenly spaced.
#[derive(Clone, Debug)]
pub struct Multiplier(Arc<AtomicU64>);

impl Default for Multiplier {
    fn default() -> Self {
        Multiplier(Arc::new(AtomicU64::new(1.0f64.to_bits())))
    }
}

impl Multiplier {
    pub fn get(&self) -> f64 {
        f64::from_bits(self.0.load(Ordering::Relaxed))
    }

    pub fn set(&self, v: f64) {
        self.0.store(v.to_bits(), Ordering::Relaxed);
    }
}

impl fmt::Debug for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Plan")
            .field("pattern", &self.pattern)
            .field("offset", &self.offset)
            .field("speed", &self.speed)
            .field("period", &self.period)
            .field("share", &self.share)
            .finish()
    }
}

impl Plan {
    /// The whole pattern from its beginning, once, in real time.
    pub fn new(pattern: Pattern) -> Plan {
        Plan {
            pattern,
            offset: 0.0,
            speed: 1.0,
            period: None,
            share: 1.0,
            clock: None,
            synced_until: f64::INFINITY,
            multiplier: None,
        }
    }

    /// Scales every value by `m`'s current factor.
    pub fn scaled_by(mut self, m: Multiplier) -> Plan {
        self.multiplier = Some(m);
        self
    }

    /// Starts `at` into the pattern instead of at its beginning.
    pub fn starting_at(mut self, at: Duration) -> Plan {
        self.offset = at.as_secs_f64();
        self
    }

    /// Pattern time passes `speed` times faster than real time (`run --speed 60` rehearses a
    /// day in 24 minutes). Values are not scaled: the rate at each pattern instant is kept.
    pub fn with_speed(mut self, speed: f64) -> Plan {
        self.speed = speed;
        self
    }

    /// Loops the pattern over its length (a finite pattern under a repeating schedule).
    pub fn looping(mut self, repeat: bool) -> Plan {
        self.period = self
            .pattern
            .length()
            .filter(|l| repeat && !l.is_zero())
            .map(|l| l.as_secs_f64());
        self
    }

    pub fn sharded(mut self, shard: Shard, scale: bool) -> Plan {
        self.share = if scale { shard.share() } else { 1.0 };
        self
    }

    /// Follows `clock` (pattern time as a function of real elapsed time), re-reading it every
    /// minute so wall-clock shifts such as DST changes are picked up while running.
    pub fn following(mut self, clock: PatternClock) -> Plan {
        self.offset = clock(0.0);
        self.synced_until = RESYNC_EVERY;
        self.clock = Some(clock);
        self
    }

    pub fn pattern(&self) -> &Pattern {
        &self.pattern
    }

    /// Pattern time at `real` seconds into the run.
    pub fn pattern_time(&mut self, real: f64) -> f64 {
        if real >= self.synced_until {
            if let Some(clock) = &self.clock {
                self.offset = clock(real) - real * self.speed;
                self.synced_until = real + RESYNC_EVERY;
            }
        }
        let t = self.offset + real * self.speed;
        match self.period {
            Some(p) => t.rem_euclid(p),
            None => t.max(0.0),
        }
    }

    /// This instance's share of the pattern's value at `real` seconds into the run.
    pub fn value_at(&mut self, real: f64) -> f64 {
        let t = self.pattern_time(real);
        // Pattern time is capped at ~31,700 years: `--speed 1e308` made the conversion panic.
        let m = self.multiplier.as_ref().map_or(1.0, Multiplier::get);
        let v = self.pattern.rate_at(Duration::from_secs_f64(t.min(1e12))) * self.share * m;
        if v.is_finite() {
            v.max(0.0)
        } else {
            0.0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_multiplier_scales_the_plan_live_and_shards_share_it() {
        let m = Multiplier::default();
        let spec = RunSpec {
            multiplier: m.clone(),
            ..RunSpec::once(None)
        };
        let mut plan = spec.plan(&Pattern::Constant { value: 40.0 }, true);
        assert_eq!(plan.value_at(1.0), 40.0);
        m.set(2.5);
        assert_eq!(plan.value_at(1.0), 100.0, "read at each call, no restart");
        m.set(0.0);
        assert_eq!(plan.value_at(1.0), 0.0);
    }

    #[test]
    fn shards_split_users_exactly() {
        for total in 0..50u64 {
            for n in 1..7u32 {
                let sum: u64 = (0..n)
                    .map(|i| Shard { index: i, count: n }.users(total))
                    .sum();
                assert_eq!(sum, total, "{total} users over {n} shards");
            }
        }
        assert_eq!(Shard { index: 2, count: 3 }.users(2), 0);
        assert_eq!(Shard { index: 0, count: 3 }.users(4), 2);
    }

    #[test]
    fn shard_strings() {
        let p = |s: &str, h: Option<&str>| Shard::parse_with_hostname(s, h);
        assert_eq!(p("1/3", None), Ok(Shard { index: 1, count: 3 }));
        assert_eq!(
            p("auto/4", Some("loadtide-3")),
            Ok(Shard { index: 3, count: 4 })
        );
        assert_eq!(
            p("3/3", None).expect_err("invalid"),
            "invalid shard \"3/3\": INDEX is 0-based and must be below COUNT (3)"
        );
        assert!(p("auto/2", Some("web"))
            .expect_err("invalid")
            .contains("\"web\""));
        assert!(p("2", None).expect_err("invalid").contains("INDEX/COUNT"));
        assert!(p("0/0", None)
            .expect_err("invalid")
            .contains("COUNT must be"));
    }

    #[test]
    fn speed_offset_and_looping_map_real_time_onto_the_pattern() {
        let ramp = Pattern::Constant { value: 4.0 };
        let mut plan = Plan::new(ramp)
            .starting_at(Duration::from_secs(10))
            .with_speed(60.0);
        assert_eq!(plan.pattern_time(0.0), 10.0);
        assert_eq!(plan.pattern_time(2.0), 130.0);
        let mut half =
            Plan::new(Pattern::Constant { value: 4.0 }).sharded(Shard { index: 1, count: 2 }, true);
        assert_eq!(half.value_at(5.0), 2.0);
    }

    #[test]
    fn a_followed_clock_is_reread_every_minute() {
        // The wall clock jumps an hour forward 90 s into the run (a DST change).
        let clock: PatternClock = Arc::new(|real| if real < 90.0 { real } else { real + 3600.0 });
        let mut plan = Plan::new(Pattern::Constant { value: 1.0 }).following(clock);
        assert_eq!(plan.pattern_time(30.0), 30.0);
        assert_eq!(plan.pattern_time(61.0), 61.0);
        assert_eq!(
            plan.pattern_time(100.0),
            100.0,
            "not re-read within a minute"
        );
        assert_eq!(plan.pattern_time(130.0), 3730.0);
    }
}
