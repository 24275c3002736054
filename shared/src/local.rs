//! The local runner: every HTTP function's routes on one address, the dispatcher working the
//! in-process queue, and the periodic jobs, all in one process. The handlers are the very ones
//! the Lambda functions run.

use crate::app::{App, ConfigError, check_api_token};
use crate::dispatch::{Dispatcher, sweep};
use crate::http::{ApiError, MAX_BODY, Request, route};
use crate::secret::Secret;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tracing::{info, warn};

/// The API token for a local run: `HERALD_API_TOKEN` if set (and long enough), else the one kept
/// in `data_dir/api-token`, else a new one written there (readable by this user only).
pub fn api_token(configured: Option<&Secret>, data_dir: &Path) -> Result<(Secret, bool), ConfigError> {
    if let Some(t) = configured {
        check_api_token(t.expose())?;
        return Ok((t.clone(), false));
    }
    let file = data_dir.join("api-token");
    if let Ok(saved) = std::fs::read_to_string(&file)
        && check_api_token(saved.trim()).is_ok()
    {
        return Ok((Secret::new(saved.trim()), false));
    }
    std::fs::create_dir_all(data_dir).map_err(|e| ConfigError::Invalid(format!("cannot create {}: {e}", data_dir.display())))?;
    let token = crate::ids::random_token::<24>();
    write_private(&file, &token).map_err(|e| ConfigError::Invalid(format!("cannot write {}: {e}", file.display())))?;
    Ok((Secret::new(token), true))
}

fn write_private(path: &Path, content: &str) -> std::io::Result<()> {
    use std::io::Write;
    let tmp = path.with_extension("tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut f = options.open(&tmp)?;
    f.write_all(content.as_bytes())?;
    f.sync_all()?;
    std::fs::rename(tmp, path)
}

async fn serve_one(app: Arc<App>, req: hyper::Request<hyper::body::Incoming>) -> Result<hyper::Response<Full<Bytes>>, std::convert::Infallible> {
    let (parts, body) = req.into_parts();
    let resp = match Limited::new(body, MAX_BODY).collect().await {
        Ok(b) => route(&app, Request::new(parts.method, &parts.uri, parts.headers, b.to_bytes())).await,
        Err(_) => ApiError::TooLarge.into_response(),
    };
    let (parts, body) = resp.into_parts();
    Ok(hyper::Response::from_parts(parts, Full::new(body)))
}

/// Serves HTTP on `listener` until the process ends.
pub async fn serve(app: Arc<App>, listener: TcpListener) {
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                warn!(error = %e, "accept failed");
                continue;
            }
        };
        let app = app.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| serve_one(app.clone(), req));
            if let Err(e) = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        });
    }
}

/// Works the queue: receive, dispatch, acknowledge what is done.
pub async fn work(app: Arc<App>, dispatcher: Arc<Dispatcher>) {
    loop {
        let batch = match app.queue.receive(10, Duration::from_secs(2)).await {
            Ok(b) => b,
            Err(e) => {
                warn!(error = %e, "receive failed");
                tokio::time::sleep(Duration::from_secs(2)).await;
                continue;
            }
        };
        if batch.is_empty() {
            continue;
        }
        let failed = dispatcher.process(&app, batch.clone()).await;
        for m in batch.iter().filter(|m| !failed.contains(&m.id)) {
            if let Err(e) = app.queue.delete(&m.receipt).await {
                warn!(error = %e, "acknowledge failed");
            }
        }
    }
}

/// Runs the periodic jobs the scheduler function runs on AWS: the sweeper every half minute,
/// the node check and the daily job every `every`.
pub async fn tick(app: Arc<App>, every: Duration) {
    let mut sweeps = tokio::time::interval(Duration::from_secs(30));
    let mut ticks = tokio::time::interval(every);
    loop {
        tokio::select! {
            _ = sweeps.tick() => {
                if let Err(e) = sweep(&app).await {
                    warn!(error = %e, "sweep failed");
                }
            }
            _ = ticks.tick() => {
                if let Err(e) = crate::jobs::run(&app, "tick", false, None).await {
                    warn!(error = %e, "scheduled jobs failed");
                }
            }
        }
    }
}

/// Starts everything and runs until the process ends.
pub async fn run(app: App, addr: SocketAddr, workers: usize, every: Duration) -> Result<(), ConfigError> {
    let listener = TcpListener::bind(addr).await.map_err(|e| ConfigError::Invalid(format!("cannot listen on {addr}: {e}")))?;
    let app = Arc::new(app);
    let dispatcher = Arc::new(Dispatcher::default());
    for _ in 0..workers.max(1) {
        tokio::spawn(work(app.clone(), dispatcher.clone()));
    }
    tokio::spawn(tick(app.clone(), every));
    info!(%addr, "Herald is listening");
    serve(app, listener).await;
    Ok(())
}
