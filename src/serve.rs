//! `callfold serve`: the webhook endpoints over HTTP.

use crate::app::Store;
use crate::datadir;
use anyhow::{Context, Result};
use axum::routing::get;
use axum::Router;
use ingest::http::WebhookState;
use ingest::Ingestor;
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
    let store = Store::open(data_dir)?;
    let log = store.log.clone();
    let token = datadir::webhook_token(data_dir)?;
    let ingestor = Ingestor::new(log.clone(), datadir::ingest_options()?);
    let admin_token = std::env::var("CALLFOLD_ADMIN_TOKEN")
        .ok()
        .filter(|t| !t.trim().is_empty());
    if admin_token.is_none() {
        tracing::warn!(
            "CALLFOLD_ADMIN_TOKEN is not set: /graphql accepts unauthenticated requests"
        );
    }
    let schema = api::schema(store.api());
    let app = Router::new()
        .merge(ingest::http::router(WebhookState::new(ingestor, &token)))
        .merge(api::http::router(schema, admin_token.as_deref()))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(|| async { "ready" }));
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    let address = listener.local_addr()?;
    // Tests and scripts read these two lines; keep their shape.
    println!("listening on {address}");
    println!("CallGear integration URL: http://{address}/webhooks/callgear/{token}");
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
    } = store;
    projector.shutdown();
    drop(store_log);
    drop(log);
    tracing::info!("callfold stopped");
    Ok(ExitCode::SUCCESS)
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
