//! hickory-resolver's own cache figures, which it reports through the `metrics` facade, as
//! Prometheus metrics beside the node's others: `tern_dns_cache_lookups_total{result}` (hit:
//! answered from the cache, negative answers included; miss: asked upstream) and
//! `tern_dns_cache_entries`. A small [`metrics::Recorder`] keeps only those and drops the
//! rest; [`install`] sets it once per process, before the first resolver is made (hickory
//! takes its handles when a resolver is built).

use std::sync::{Arc, LazyLock, Once};

use metrics::{
    Counter, CounterFn, Gauge, GaugeFn, Histogram, Key, KeyName, Metadata, Recorder, SharedString,
    Unit,
};
use prometheus::{
    IntCounter, IntCounterVec, IntGauge, Opts, register_int_counter_vec, register_int_gauge,
};

static LOOKUPS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    let c = register_int_counter_vec!(
        Opts::new(
            "tern_dns_cache_lookups_total",
            "DNS lookups by the node's resolver, by result (hit: answered from its cache, \
             negative answers included; miss: asked the DNS server)"
        ),
        &["result"]
    )
    .expect("metric registers once");
    for r in ["hit", "miss"] {
        c.with_label_values(&[r]);
    }
    c
});

static ENTRIES: LazyLock<IntGauge> = LazyLock::new(|| {
    register_int_gauge!(
        "tern_dns_cache_entries",
        "Answers in the node's DNS cache, as of its last hit"
    )
    .expect("metric registers once")
});

struct Count(IntCounter);

impl CounterFn for Count {
    fn increment(&self, value: u64) {
        self.0.inc_by(value);
    }

    fn absolute(&self, value: u64) {
        let now = self.0.get();
        if value > now {
            self.0.inc_by(value - now);
        }
    }
}

struct Level(IntGauge);

impl GaugeFn for Level {
    fn increment(&self, value: f64) {
        self.0.add(value as i64);
    }

    fn decrement(&self, value: f64) {
        self.0.sub(value as i64);
    }

    fn set(&self, value: f64) {
        self.0.set(value as i64);
    }
}

/// Keeps hickory's cache figures; drops everything else.
struct Bridge;

impl Recorder for Bridge {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}

    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}

    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}

    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        let result = match key.name() {
            hickory_resolver::metrics::CACHE_HIT_TOTAL => "hit",
            hickory_resolver::metrics::CACHE_MISS_TOTAL => "miss",
            _ => return Counter::noop(),
        };
        Counter::from_arc(Arc::new(Count(LOOKUPS.with_label_values(&[result]))))
    }

    fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
        if key.name() == hickory_resolver::metrics::RESPONSE_CACHE_SIZE {
            return Gauge::from_arc(Arc::new(Level(ENTRIES.clone())));
        }
        Gauge::noop()
    }

    fn register_histogram(&self, _: &Key, _: &Metadata<'_>) -> Histogram {
        Histogram::noop()
    }
}

/// Sets the bridge as the process's recorder (once) and exports its metrics at 0.
pub fn install() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        LazyLock::force(&LOOKUPS);
        LazyLock::force(&ENTRIES);
        if metrics::set_global_recorder(Bridge).is_err() {
            tracing::warn!("another metrics recorder is set; DNS cache figures are not exported");
        }
    });
}
