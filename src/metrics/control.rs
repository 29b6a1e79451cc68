//! What the daemon's control API reads and sets through the registry: a profile's switches
//! as gauges, and its state as the gauges the engine keeps.

use super::Metrics;

/// A profile's state as its gauges say.
pub struct ProfileStatus {
    pub active: bool,
    pub intended_rps: f64,
    pub virtual_users: i64,
    /// The next scheduled start, RFC 3339; None when none is planned.
    pub next_start: Option<String>,
}

impl Metrics {
    /// Exports profile `name`'s control-API switches.
    pub fn set_profile_control(&self, name: &str, paused: bool, multiplier: f64) {
        self.profile_paused
            .with_label_values(&[name])
            .set(i64::from(paused));
        self.profile_rate_multiplier
            .with_label_values(&[name])
            .set(multiplier);
    }

    /// Drops a removed profile's switch series.
    pub fn forget_profile_control(&self, name: &str) {
        let _ = self.profile_paused.remove_label_values(&[name]);
        let _ = self.profile_rate_multiplier.remove_label_values(&[name]);
    }

    /// Requests profile `name` has completed, over all its endpoints.
    pub fn requests_of(&self, name: &str) -> u64 {
        self.duration.count_where(0, name)
    }

    pub fn profile_status(&self, name: &str) -> ProfileStatus {
        let next = self.next_start.with_label_values(&[name]).get();
        ProfileStatus {
            active: self.profile_active.with_label_values(&[name]).get() == 1,
            intended_rps: self.intended_rps.with_label_values(&[name]).get(),
            virtual_users: self.virtual_users.with_label_values(&[name]).get(),
            next_start: (next > 0.0)
                .then(|| chrono::DateTime::from_timestamp(next as i64, 0))
                .flatten()
                .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
        }
    }
}
