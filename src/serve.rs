//! `callfold serve`: the webhook endpoints over HTTP.

use crate::app::Store;
use crate::datadir;
use anyhow::{Context, Result};
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use eventlog::EventLog;
use ingest::http::WebhookState;
use ingest::Ingestor;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use std::path::Path;
use std::process::ExitCode;

pub fn run(data_dir: &Path, listen: &str) -> Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("callfold")
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(serve(data_dir, listen))
}

async fn serve(data_dir: &Path, listen: &str) -> Result<ExitCode> {
    let admin_token = datadir::admin_token(data_dir)?;
    let store = Store::open(data_dir, Some(&admin_token))?;
    let log = store.log.clone();
    let token = datadir::webhook_token(data_dir)?;
    let ingestor = Ingestor::new(log.clone(), datadir::ingest_options()?);
    let api = store.api();
    let schema = api::schema(api.clone());
    let metrics = install_metrics()?;
    let ops = Ops {
        metrics,
        projector: store.projector.clone(),
        log: log.clone(),
    };
    let operations = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(render_metrics))
        .with_state(ops);
    let app = Router::new()
        .merge(ingest::http::router(WebhookState::new(ingestor, &token)))
        .merge(api::http::router(schema, &api))
        .merge(operations);
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    let address = listener.local_addr()?;
    // Tests and scripts read these two lines; keep their shape.
    // A closed stdout (the reader went away) must not stop the server.
    {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "listening on {address}");
        let _ = writeln!(
            out,
            "CallGear integration URL: http://{address}/webhooks/callgear/{token}"
        );
        let _ = out.flush();
    }
    tracing::info!(%address, data_dir = %data_dir.display(), "callfold serving");
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await
        .context("server failed")?;
    // In-flight requests have finished: every acknowledged delivery is durable.
    // Dropping the last handle stops the writer after its queue is committed.
    // The projection worker stops first (it reads the log), then the log writer
    // drains its queue when the last handle goes.
    let Store {
        log: store_log,
        projector,
        ..
    } = store;
    projector.shutdown();
    drop(store_log);
    drop(log);
    tracing::info!("callfold stopped");
    Ok(ExitCode::SUCCESS)
}

/// What the operational endpoints read.
#[derive(Clone)]
struct Ops {
    metrics: PrometheusHandle,
    projector: projections::Handle,
    log: std::sync::Arc<eventlog::SledLog>,
}

/// Histogram buckets (seconds) for every latency metric.
const LATENCY_BUCKETS_SECONDS: [f64; 14] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

fn install_metrics() -> Result<PrometheusHandle> {
    let recorder = PrometheusBuilder::new()
        .set_buckets(&LATENCY_BUCKETS_SECONDS)
        .context("metric buckets")?
        .build_recorder();
    let handle = recorder.handle();
    // A second `serve` in one process (tests) keeps the first recorder.
    let _ = metrics::set_global_recorder(recorder);
    Ok(handle)
}

/// Prometheus text format. Projection gauges are read at scrape time.
async fn render_metrics(State(ops): State<Ops>) -> String {
    let head = ops.log.head();
    let checkpoint = ops.projector.checkpoint();
    metrics::gauge!("callfold_log_head").set(head as f64);
    metrics::gauge!("callfold_projection_checkpoint", "projection" => projections::NAME)
        .set(checkpoint as f64);
    metrics::gauge!("callfold_projection_lag_events", "projection" => projections::NAME)
        .set(head.saturating_sub(checkpoint) as f64);
    ops.metrics.render()
}

/// Ready while the projection worker runs; `503` with the reason once it stopped.
async fn readyz(State(ops): State<Ops>) -> (StatusCode, String) {
    let failure = ops.projector.progress().borrow().failure.clone();
    match failure {
        None => (StatusCode::OK, "ready".to_string()),
        Some(reason) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("projection {} stopped: {reason}", projections::NAME),
        ),
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down: finishing in-flight deliveries");
}
