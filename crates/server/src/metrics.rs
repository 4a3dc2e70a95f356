//! `/metrics`: what the server did, in the Prometheus text format — requests and their latency per
//! route template, method and status, requests in flight, and predictions per model version and
//! task. Labels are route templates and model ids, never a path with an id in it or anything of a
//! patient's. Each request also leaves one access-log line (`target: "access"`), with the same
//! fields and nothing else.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::AppState;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: String,
    method: String,
    status: u16,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LatencyLabels {
    route: String,
    method: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ModelLabels {
    model: String,
    task: String,
    band: String,
}

/// The server's metrics.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Family<RouteLabels, Counter>,
    latency: Family<LatencyLabels, Histogram>,
    in_flight: Gauge,
    predictions: Family<ModelLabels, Counter>,
}

fn latency_histogram() -> Histogram {
    // 1 ms to ~16 s.
    Histogram::new([0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 16.0])
}

impl Default for Metrics {
    fn default() -> Metrics {
        let mut registry = Registry::with_prefix("longitude");
        let requests = Family::<RouteLabels, Counter>::default();
        let latency = Family::<LatencyLabels, Histogram>::new_with_constructor(latency_histogram as fn() -> Histogram);
        let in_flight = Gauge::default();
        let predictions = Family::<ModelLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests answered, by route template, method and status",
            requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "Time to answer, by route template and method",
            latency.clone(),
        );
        registry.register("http_requests_in_flight", "Requests being answered now", in_flight.clone());
        registry.register("predictions", "Risks returned, by model version, task and band", predictions.clone());
        Metrics { registry, requests, latency, in_flight, predictions }
    }
}

impl Metrics {
    /// Counts a risk returned.
    pub fn prediction(&self, model: &str, task: &str, band: &str) {
        let labels = ModelLabels { model: model.into(), task: task.into(), band: band.into() };
        self.predictions.get_or_create(&labels).inc();
    }

    /// The text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

/// Times and counts every request, and writes its access-log line.
pub async fn track(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = request.extensions().get::<MatchedPath>().map_or("unmatched", |p| p.as_str()).to_string();
    let method = request.method().to_string();
    let metrics = state.metrics();
    metrics.in_flight.inc();
    let response = next.run(request).await;
    metrics.in_flight.dec();
    let elapsed = started.elapsed();
    let status = response.status().as_u16();
    metrics.requests.get_or_create(&RouteLabels { route: route.clone(), method: method.clone(), status }).inc();
    metrics
        .latency
        .get_or_create(&LatencyLabels { route: route.clone(), method: method.clone() })
        .observe(elapsed.as_secs_f64());
    tracing::info!(target: "access", %route, %method, status, latency_us = elapsed.as_micros() as u64);
    response
}

/// `GET /metrics`.
pub async fn exposition(State(state): State<AppState>) -> Response {
    ([("content-type", "application/openmetrics-text; version=1.0.0; charset=utf-8")], state.metrics().encode())
        .into_response()
}
