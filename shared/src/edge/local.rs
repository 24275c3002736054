//! The local runner: every HTTP function's routes on one address, the dispatcher working the
//! in-process queue, and the periodic jobs, all in one process. The handlers are the very ones
//! the Lambda functions run.

use crate::app::{App, ConfigError, check_api_token};
use crate::dispatch::{Dispatcher, sweep};
use crate::domain::Error;
use crate::domain::secret::Secret;
use crate::edge::router::route;
use crate::http::{IntoResponse, MAX_BODY, Request};
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

/// The API token for a local run: `HERALD_API_TOKEN` if set (and long enough; a set but blank
/// one is refused earlier, by [`crate::app::Config::from_env`]), else the one kept
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
    let token = crate::domain::ids::random_token::<24>();
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

async fn serve_one(
    app: Arc<App>,
    req: hyper::Request<hyper::body::Incoming>,
    body_timeout: Duration,
) -> Result<hyper::Response<Full<Bytes>>, std::convert::Infallible> {
    let (parts, body) = req.into_parts();
    // A declared length past the limit is refused before any of the body is read.
    let declared = parts.headers.get(http::header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY as u64) {
        let mut r = Error::TooLarge.into_response();
        r.headers_mut().insert(http::header::CONNECTION, http::HeaderValue::from_static("close"));
        let (parts, body) = r.into_parts();
        return Ok(hyper::Response::from_parts(parts, Full::new(body)));
    }
    let resp = match tokio::time::timeout(body_timeout, Limited::new(body, MAX_BODY).collect()).await {
        Ok(Ok(b)) => route(&app, Request::new(parts.method, &parts.uri, parts.headers, b.to_bytes())).await,
        Ok(Err(_)) => Error::TooLarge.into_response(),
        Err(_) => {
            let mut r = crate::http::json(http::StatusCode::REQUEST_TIMEOUT, &serde_json::json!({"error": "request_timeout"}));
            r.headers_mut().insert(http::header::CONNECTION, http::HeaderValue::from_static("close"));
            r
        }
    };
    let (parts, body) = resp.into_parts();
    Ok(hyper::Response::from_parts(parts, Full::new(body)))
}

/// How the local runner guards itself against slow or too many clients.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// The longest a client may take to send a request's headers (hyper's header-read
    /// timeout; on expiry the connection is closed). Default 10 s.
    pub header_timeout: Duration,
    /// The longest a client may take to send a request's body, once its headers are in
    /// (answered 408). Default 30 s.
    pub body_timeout: Duration,
    /// Connections open at once; one more is answered `503` and closed. Default 256.
    pub max_connections: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self { header_timeout: Duration::from_secs(10), body_timeout: Duration::from_secs(30), max_connections: 256 }
    }
}

/// What a connection past [`Limits::max_connections`] reads before it is closed.
const BUSY: &[u8] =
    b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: 17\r\nconnection: close\r\n\r\n{\"error\":\"busy\"}\n";

/// Serves HTTP on `listener` until the process ends, with the default [`Limits`].
pub async fn serve(app: Arc<App>, listener: TcpListener) {
    serve_with(app, listener, Limits::default()).await
}

/// Serves HTTP on `listener` until the process ends: each connection must send its headers
/// within `limits.header_timeout` and a body within `limits.body_timeout`; at most
/// `limits.max_connections` are open at once, and one more is told `503` and closed.
pub async fn serve_with(app: Arc<App>, listener: TcpListener, limits: Limits) {
    serve_until(app, listener, limits, std::future::pending()).await
}

/// [`serve_with`] until `stop` resolves; then no connection is accepted any more (the listener
/// is closed), and it returns once the open ones have ended, or after [`STOP_GRACE`] (a client
/// that keeps an idle connection open).
pub async fn serve_until(app: Arc<App>, listener: TcpListener, limits: Limits, stop: impl std::future::Future<Output = ()>) {
    let max = limits.max_connections.max(1);
    let open = Arc::new(tokio::sync::Semaphore::new(max));
    // Open connections finish the request they are on, then close (no keep-alive request more).
    let (closing, closed) = tokio::sync::watch::channel(false);
    tokio::pin!(stop);
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            () = &mut stop => break,
        };
        let (mut stream, _) = match accepted {
            Ok(s) => s,
            Err(e) => {
                warn!(error = %e, "accept failed");
                continue;
            }
        };
        let Ok(permit) = open.clone().try_acquire_owned() else {
            tokio::spawn(async move {
                use tokio::io::AsyncWriteExt;
                let _ = tokio::time::timeout(Duration::from_secs(1), stream.write_all(BUSY)).await;
                let _ = stream.shutdown().await;
            });
            continue;
        };
        let app = app.clone();
        let mut closed = closed.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let service = service_fn(move |req| serve_one(app.clone(), req, limits.body_timeout));
            let mut builder = http1::Builder::new();
            builder.timer(hyper_util::rt::TokioTimer::new()).header_read_timeout(limits.header_timeout);
            let conn = builder.serve_connection(TokioIo::new(stream), service);
            tokio::pin!(conn);
            let ended = tokio::select! {
                r = conn.as_mut() => r,
                () = async { drop(closed.wait_for(|c| *c).await) } => {
                    conn.as_mut().graceful_shutdown();
                    conn.await
                }
            };
            if let Err(e) = ended {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    let _ = closing.send(true);
    let _ = tokio::time::timeout(STOP_GRACE, open.acquire_many(max as u32)).await;
}

/// How long a stopping local runner waits for requests under way (their answers) once it takes
/// no new ones.
pub const STOP_GRACE: Duration = Duration::from_secs(2);

/// Works the queue: receive, dispatch, acknowledge what is done.
pub async fn work(app: Arc<App>, dispatcher: Arc<Dispatcher>) {
    let (_keep, never) = tokio::sync::watch::channel(false);
    work_until(app, dispatcher, never).await
}

/// [`work`] until `stop` says true: a batch under way is finished (its sends made and recorded,
/// its messages acknowledged), then it returns; no new batch is received.
pub async fn work_until(app: Arc<App>, dispatcher: Arc<Dispatcher>, mut stop: tokio::sync::watch::Receiver<bool>) {
    while !*stop.borrow() {
        let received = tokio::select! {
            r = app.queue.receive(10, Duration::from_secs(2)) => r,
            _ = stop.changed() => break,
        };
        let batch = match received {
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
        // Each chat's messages acknowledged as soon as that chat is done.
        dispatcher.process_acking(&app, batch).await;
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

/// SIGINT and SIGTERM (Ctrl-C, `kill`, `docker stop`, systemd), or Ctrl-C elsewhere, listened
/// for from the moment this is made (the process's default, dying at once, no longer applies).
struct StopSignals {
    #[cfg(unix)]
    signals: Option<(tokio::signal::unix::Signal, tokio::signal::unix::Signal)>,
}

impl StopSignals {
    fn listen() -> Self {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Self { signals: signal(SignalKind::interrupt()).ok().zip(signal(SignalKind::terminate()).ok()) }
        }
        #[cfg(not(unix))]
        Self {}
    }

    /// The next one.
    async fn next(&mut self) {
        #[cfg(unix)]
        match &mut self.signals {
            Some((int, term)) => tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
            },
            None => std::future::pending().await,
        }
        #[cfg(not(unix))]
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// The longest a stop waits for the sends under way: inside `docker stop`'s 10 s before its
/// SIGKILL. A send cut there is repeated after the next start, as after a crash.
pub const STOP_DEADLINE: Duration = Duration::from_secs(8);

/// Ends the process (exit code 3, with the reason on stderr) once the store takes no more writes
/// until it is opened again (an I/O error such as a full disk stops redb): everything it answered
/// `202` for is on disk, and a restart (by hand, or a supervisor's) opens it again, rather than a
/// process that answers `503` to everything until someone notices.
async fn watch_store(app: Arc<App>) {
    let mut every = tokio::time::interval(Duration::from_secs(2));
    loop {
        every.tick().await;
        if let Some(why) = app.repo.table.stopped() {
            tracing::error!(reason = %why, "stopping");
            eprintln!("herald-local: {why}");
            std::process::exit(3);
        }
    }
}

/// Starts everything and runs until a stop signal (SIGINT, SIGTERM), then stops in order: no
/// new request or send, the sends under way finished and recorded (at most [`STOP_DEADLINE`]).
pub async fn run(app: App, addr: SocketAddr, workers: usize, every: Duration) -> Result<(), ConfigError> {
    let mut signals = StopSignals::listen();
    let listener = TcpListener::bind(addr).await.map_err(|e| ConfigError::Invalid(format!("cannot listen on {addr}: {e}")))?;
    let app = Arc::new(app);
    let dispatcher = Arc::new(Dispatcher::default());
    let (stopping, stop) = tokio::sync::watch::channel(false);
    let workers: Vec<_> = (0..workers.max(1)).map(|_| tokio::spawn(work_until(app.clone(), dispatcher.clone(), stop.clone()))).collect();
    tokio::spawn(tick(app.clone(), every));
    tokio::spawn(watch_store(app.clone()));
    // Said once the port is really ours, not before.
    println!("Herald is listening on http://{addr} (try: curl http://{addr}/healthz; the console: http://{addr}/console/)");
    info!(%addr, "Herald is listening");
    // Stopped by a signal: no new send is started, the ones under way finish and are recorded,
    // so an ordinary stop repeats nothing; what is still queued waits in the store file for the
    // next start. Requests under way get their answers (for a while: STOP_GRACE).
    let stop = {
        let dispatcher = dispatcher.clone();
        async move {
            signals.next().await;
            info!("stopping: no new requests or sends; finishing those under way (a second Ctrl-C ends it at once)");
            dispatcher.stop();
            let _ = stopping.send(true);
            tokio::spawn(async move {
                signals.next().await;
                warn!("stopped at once: the sends under way are repeated after the next start");
                std::process::exit(130);
            });
        }
    };
    serve_until(app.clone(), listener, Limits::default(), stop).await;
    let workers = futures_util::future::join_all(workers);
    if tokio::time::timeout(STOP_DEADLINE.saturating_sub(STOP_GRACE), workers).await.is_err() {
        warn!("sends still under way at the deadline; they are repeated after the next start");
    }
    info!("stopped");
    Ok(())
}
