//! `loadtide_request_duration_seconds` as one metric family whose series may have different
//! bucket layouts: buckets are configurable per target, which a `HistogramVec` (one layout for
//! every series) cannot express. Series are added when a profile starts; the lock is taken
//! only then and at scrape time, never per request.

use std::collections::BTreeMap;
use std::sync::Mutex;

use prometheus::core::Metric as _;
use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;
use prometheus::{Histogram, HistogramOpts};

use super::totals::SeriesCounts;

pub struct DurationFamily {
    desc: Desc,
    name: String,
    help: String,
    series: Mutex<BTreeMap<Vec<String>, Histogram>>,
}

impl DurationFamily {
    pub fn new(name: &str, help: &str, labels: &[&str]) -> Self {
        let desc = Desc::new(
            name.to_string(),
            help.to_string(),
            labels.iter().map(|s| s.to_string()).collect(),
            Default::default(),
        )
        .expect("static metric definition");
        DurationFamily {
            desc,
            name: name.into(),
            help: help.into(),
            series: Mutex::new(BTreeMap::new()),
        }
    }

    /// The series for these label values, created with `buckets` on first use. A series that
    /// exists keeps its buckets and counts (a reload with the same names keeps its history).
    pub fn series(&self, label_names: &[&str], values: &[&str], buckets: &[f64]) -> Histogram {
        let key: Vec<String> = values.iter().map(|s| s.to_string()).collect();
        let mut series = self.series.lock().expect("duration family lock poisoned");
        if let Some(h) = series.get(&key) {
            return h.clone();
        }
        let labels = label_names
            .iter()
            .zip(values)
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let h = Histogram::with_opts(
            HistogramOpts::new(self.name.clone(), self.help.clone())
                .const_labels(labels)
                .buckets(buckets.to_vec()),
        )
        .expect("buckets were validated with the config");
        series.insert(key, h.clone());
        h
    }
}

impl DurationFamily {
    /// The observations of every series whose label value `at` is `value` (at 0: a profile's).
    pub fn count_where(&self, at: usize, value: &str) -> u64 {
        let series = self.series.lock().expect("duration family lock poisoned");
        series
            .iter()
            .filter(|(k, _)| k.get(at).is_some_and(|v| v == value))
            .map(|(_, h)| h.get_sample_count())
            .sum()
    }

    /// The bucket counts of every series whose label value `at` is `value`, by label values.
    pub fn counts_where(&self, at: usize, value: &str) -> BTreeMap<Vec<String>, SeriesCounts> {
        let series = self.series.lock().expect("duration family lock poisoned");
        series
            .iter()
            .filter(|(k, _)| k.get(at).is_some_and(|v| v == value))
            .map(|(k, h)| {
                let m = h.metric();
                let buckets = m.get_histogram().get_bucket();
                let counts = SeriesCounts {
                    bounds: buckets.iter().map(|b| b.upper_bound()).collect(),
                    cumulative: buckets.iter().map(|b| b.cumulative_count()).collect(),
                    count: m.get_histogram().get_sample_count(),
                };
                (k.clone(), counts)
            })
            .collect()
    }
}

impl Collector for DurationFamily {
    fn desc(&self) -> Vec<&Desc> {
        vec![&self.desc]
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let series = self.series.lock().expect("duration family lock poisoned");
        let mut family: Option<MetricFamily> = None;
        for h in series.values() {
            for mut mf in h.collect() {
                match family.as_mut() {
                    None => family = Some(mf),
                    Some(f) => f.mut_metric().extend(mf.take_metric()),
                }
            }
        }
        // Without series, an empty family still says what it is (as prometheus's own vecs
        // do): the registry leaves it out of the exposition, `Metrics::families` reads its type.
        let family = family.unwrap_or_else(|| {
            let mut f = MetricFamily::default();
            f.set_name(self.desc.fq_name.clone());
            f.set_help(self.desc.help.clone());
            f.set_field_type(prometheus::proto::MetricType::HISTOGRAM);
            f
        });
        vec![family]
    }
}
