//! `GET /metrics` of `cubist serve`, in the OpenMetrics text format (which Prometheus scrapes).
//! One [`Metrics`] value, made by the serve process and cloned (cheaply: every family is shared)
//! into the loop, the webhook and the review worker, records at the stage boundaries:
//! - each loop pass (`pass_ended`) and each status commit it writes ([`Metrics::reconciled`],
//!   which reads the commit's `status/summary.yaml` and run records back, so the gauges say
//!   exactly what the status branch says);
//! - each fetch of the repository ([`Metrics::fetched`]);
//! - each webhook delivery ([`Metrics::delivery_observer`]) and pull request review.
//!
//! Every metric is listed in `docs/metrics.md`. Label values that come from the repository
//! (cluster, project and pipeline names) are escaped by the encoder.

mod status;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Path `cubist serve` answers with the metrics.
pub const PATH: &str = "/metrics";

/// Content type of [`Metrics::encode`]'s text.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Upper bounds (seconds) of the reconcile duration buckets: milliseconds for a quiet pass,
/// minutes for a large apply.
const RECONCILE_BUCKETS: [f64; 14] = [
    0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0,
];

/// Upper bounds (seconds) of the git fetch duration buckets.
const FETCH_BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Labels of `cubist_reconciles_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabel {
    result: &'static str,
}

/// Labels of `cubist_run_controller_passes_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PassLabel {
    pass: &'static str,
}

/// Labels of the per-cluster gauges that have a state.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ClusterStateLabels {
    cluster: String,
    state: &'static str,
}

/// Labels of `cubist_cluster_up`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ClusterLabel {
    cluster: String,
}

/// Labels of `cubist_webhook_deliveries_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DeliveryLabels {
    event: &'static str,
    outcome: &'static str,
}

/// Labels of `cubist_pipeline_runs`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RunLabels {
    project: String,
    pipeline: String,
    cluster: String,
    phase: String,
}

/// Every metric of the process, and the registry that encodes them. Clones share everything.
#[derive(Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

struct Inner {
    registry: Registry,
    reconcile_duration: Histogram,
    reconciles: Family<ResultLabel, Counter>,
    last_success: Gauge<f64, AtomicU64>,
    objects: Family<ClusterStateLabels, Gauge>,
    cluster_state: Family<ClusterStateLabels, Gauge>,
    cluster_up: Family<ClusterLabel, Gauge>,
    fetch_duration: Histogram,
    fetch_errors: Counter,
    deliveries: Family<DeliveryLabels, Counter>,
    reviews: Family<ResultLabel, Counter>,
    pipeline_runs: Family<RunLabels, Gauge>,
    controller_passes: Family<PassLabel, Counter>,
    /// What the last status commit read back set, so that a cluster or pipeline that is gone
    /// loses its series (and a commit whose run records did not change is not read again).
    status: Mutex<status::Seen>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics { .. }")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// A registry with every cubist metric (prefix `cubist_`), all at zero.
    pub fn new() -> Self {
        let mut r = Registry::with_prefix("cubist");
        let reconcile_duration = Histogram::new(RECONCILE_BUCKETS);
        // Histograms are named with their unit and have no UNIT line: the OpenMetrics parsers
        // in use (the test's among them) take units on counters and gauges only.
        r.register(
            "reconcile_duration_seconds",
            "Wall time of loop passes that wrote a status commit or failed (fetch included)",
            reconcile_duration.clone(),
        );
        let reconciles = Family::<ResultLabel, Counter>::default();
        r.register(
            "reconciles",
            "Loop passes that wrote a status commit (result success or degraded) or failed \
             (result error)",
            reconciles.clone(),
        );
        let last_success = Gauge::<f64, AtomicU64>::default();
        r.register_with_unit(
            "reconcile_last_success_timestamp",
            "Unix time the last loop pass ended without error (a poll that found nothing new \
             counts)",
            Unit::Seconds,
            last_success.clone(),
        );
        let objects = Family::<ClusterStateLabels, Gauge>::default();
        r.register(
            "objects",
            "Desired and owned objects per cluster and state, as in the latest status commit",
            objects.clone(),
        );
        let cluster_state = Family::<ClusterStateLabels, Gauge>::default();
        r.register(
            "cluster_state",
            "1 for the state each cluster is in (latest status commit), 0 for the others",
            cluster_state.clone(),
        );
        let cluster_up = Family::<ClusterLabel, Gauge>::default();
        r.register(
            "cluster_up",
            "1 when the cluster's target was reached on the last pass, 0 when it was \
             unreachable or is not configured",
            cluster_up.clone(),
        );
        let fetch_duration = Histogram::new(FETCH_BUCKETS);
        r.register(
            "git_fetch_duration_seconds",
            "Wall time of each fetch of the repository, failed ones included",
            fetch_duration.clone(),
        );
        let fetch_errors = Counter::default();
        r.register(
            "git_fetch_errors",
            "Fetches of the repository that failed",
            fetch_errors.clone(),
        );
        let deliveries = Family::<DeliveryLabels, Counter>::default();
        r.register(
            "webhook_deliveries",
            "GitHub webhook deliveries by event and outcome",
            deliveries.clone(),
        );
        let reviews = Family::<ResultLabel, Counter>::default();
        r.register(
            "pr_reviews",
            "Pull request events and merged reconciles handled by the reviewer, by result",
            reviews.clone(),
        );
        let pipeline_runs = Family::<RunLabels, Gauge>::default();
        r.register(
            "pipeline_runs",
            "Run records of the latest status commit per pipeline, cluster and phase",
            pipeline_runs.clone(),
        );
        let controller_passes = Family::<PassLabel, Counter>::default();
        r.register(
            "run_controller_passes",
            "Passes of the run controller: full (it ran; each project whose inputs, clusters, \
             clock or run files changed was looked at, the others kept their records) or \
             quiet (skipped: every project with runs was quiet)",
            controller_passes.clone(),
        );
        Metrics {
            inner: Arc::new(Inner {
                registry: r,
                reconcile_duration,
                reconciles,
                last_success,
                objects,
                cluster_state,
                cluster_up,
                fetch_duration,
                fetch_errors,
                deliveries,
                reviews,
                pipeline_runs,
                controller_passes,
                status: Mutex::new(status::Seen::default()),
            }),
        }
    }

    /// Every metric in the OpenMetrics text format (ends with `# EOF`).
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.inner.registry);
        out
    }

    /// A loop pass ended after `took`: without error (`ok`: the last-success time is now) or
    /// with one (a reconcile with result `error`).
    pub fn pass_ended(&self, ok: bool, took: Duration) {
        if ok {
            let now = chrono::Utc::now();
            let secs = now.timestamp() as f64 + f64::from(now.timestamp_subsec_millis()) / 1e3;
            self.inner.last_success.set(secs);
        } else {
            self.count_reconcile("error", took);
        }
    }

    fn count_reconcile(&self, result: &'static str, took: Duration) {
        self.inner.reconcile_duration.observe(took.as_secs_f64());
        self.inner
            .reconciles
            .get_or_create(&ResultLabel { result })
            .inc();
    }

    /// One fetch of the repository took `took` and succeeded or not.
    pub fn fetched(&self, took: Duration, ok: bool) {
        self.inner.fetch_duration.observe(took.as_secs_f64());
        if !ok {
            self.inner.fetch_errors.inc();
        }
    }

    /// A webhook delivery of `event` ended with `outcome` (both from fixed lists, see
    /// `cubist_webhook::DeliveryObserver`).
    pub fn delivery(&self, event: &'static str, outcome: &'static str) {
        self.inner
            .deliveries
            .get_or_create(&DeliveryLabels { event, outcome })
            .inc();
    }

    /// [`Metrics::delivery`] as the webhook router's observer.
    pub fn delivery_observer(&self) -> cubist_webhook::DeliveryObserver {
        let metrics = self.clone();
        Arc::new(move |event, outcome| metrics.delivery(event, outcome))
    }

    /// The run controller made a pass: `full`, or `quiet` (skipped; see
    /// `reconcile::runs_quiet`).
    pub fn controller_pass(&self, pass: &'static str) {
        self.inner
            .controller_passes
            .get_or_create(&PassLabel { pass })
            .inc();
    }

    /// The reviewer handled an event or a reconcile with `result`: `planned`, `reported`,
    /// `ignored` or `failed`.
    pub fn review(&self, result: &'static str) {
        self.inner
            .reviews
            .get_or_create(&ResultLabel { result })
            .inc();
    }
}

/// The router serving `GET /metrics` (and `HEAD`) with `metrics` encoded at each request.
pub fn router(metrics: Metrics) -> axum::Router {
    use axum::http::header;
    let scrape = move || async move {
        (
            [
                (header::CONTENT_TYPE, CONTENT_TYPE),
                (header::CACHE_CONTROL, "no-store"),
            ],
            metrics.encode(),
        )
    };
    axum::Router::new().route(PATH, axum::routing::get(scrape))
}
