//! A small Lambda Runtime API server, so the real function binaries run here as they do on AWS:
//! they poll `GET /2018-06-01/runtime/invocation/next`, post their answers to `.../response` or
//! `.../error`, or report a failed start to `/runtime/init/error`.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::Value;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::sync::Notify;

#[derive(Default)]
struct State {
    pending: VecDeque<(String, Value)>,
    results: HashMap<String, Result<Value, Value>>,
    init_error: Option<Value>,
    first_next: Option<Instant>,
    next_id: u64,
}

#[derive(Clone)]
pub struct RuntimeApi {
    pub addr: String,
    state: Arc<Mutex<State>>,
    wake: Arc<Notify>,
    done: Arc<Notify>,
}

type Resp = hyper::Response<Full<Bytes>>;

fn resp(status: u16, body: impl Into<Bytes>, headers: &[(&str, String)]) -> Resp {
    let mut r = hyper::Response::new(Full::new(body.into()));
    *r.status_mut() = http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::OK);
    for (k, v) in headers {
        if let (Ok(k), Ok(v)) = (http::HeaderName::from_bytes(k.as_bytes()), http::HeaderValue::from_str(v)) {
            r.headers_mut().insert(k, v);
        }
    }
    r
}

impl RuntimeApi {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr").to_string();
        let api = RuntimeApi { addr, state: Arc::default(), wake: Arc::new(Notify::new()), done: Arc::new(Notify::new()) };
        let server = api.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else { continue };
                let api = server.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req| {
                        let api = api.clone();
                        async move { Ok::<_, std::convert::Infallible>(api.serve(req).await) }
                    });
                    let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
                });
            }
        });
        api
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    async fn serve(&self, req: hyper::Request<hyper::body::Incoming>) -> Resp {
        let path = req.uri().path().to_owned();
        let body = req.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
        let json: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        if path == "/2018-06-01/runtime/invocation/next" {
            {
                let mut st = self.lock();
                st.first_next.get_or_insert_with(Instant::now);
            }
            self.done.notify_waiters();
            loop {
                let notified = self.wake.notified();
                if let Some((id, event)) = self.lock().pending.pop_front() {
                    let deadline = (jiff::Timestamp::now().as_millisecond() + 300_000).to_string();
                    return resp(
                        200,
                        event.to_string(),
                        &[
                            ("lambda-runtime-aws-request-id", id),
                            ("lambda-runtime-deadline-ms", deadline),
                            ("lambda-runtime-invoked-function-arn", "arn:aws:lambda:us-east-1:123456789012:function:herald".into()),
                            ("lambda-runtime-trace-id", "Root=1-5759e988-bd862e3fe1be46a994272793".into()),
                            ("content-type", "application/json".into()),
                        ],
                    );
                }
                notified.await;
            }
        }
        if path == "/2018-06-01/runtime/init/error" {
            self.lock().init_error = Some(json);
            self.done.notify_waiters();
            return resp(202, "{}", &[]);
        }
        let Some(rest) = path.strip_prefix("/2018-06-01/runtime/invocation/") else { return resp(404, "", &[]) };
        let (id, what) = rest.split_once('/').unwrap_or((rest, ""));
        let result = if what == "response" { Ok(json) } else { Err(json) };
        self.lock().results.insert(id.to_owned(), result);
        self.done.notify_waiters();
        resp(202, "{}", &[])
    }

    /// Queues an invocation; returns its request id.
    pub fn invoke(&self, event: Value) -> String {
        let id = {
            let mut st = self.lock();
            st.next_id += 1;
            let id = format!("req-{}", st.next_id);
            st.pending.push_back((id.clone(), event));
            id
        };
        self.wake.notify_waiters();
        id
    }

    /// The function's answer to an invocation (`Err`: it reported an error).
    pub async fn result(&self, id: &str, within: Duration) -> Option<Result<Value, Value>> {
        let until = Instant::now() + within;
        loop {
            let notified = self.done.notified();
            if let Some(r) = self.lock().results.remove(id) {
                return Some(r);
            }
            if tokio::time::timeout(until.saturating_duration_since(Instant::now()), notified).await.is_err() {
                return None;
            }
        }
    }

    /// Invokes and waits for the answer.
    pub async fn call(&self, event: Value) -> Option<Result<Value, Value>> {
        let id = self.invoke(event);
        self.result(&id, Duration::from_secs(30)).await
    }

    /// When the function first asked for work (its start-up is done), or a start-up error.
    pub async fn started(&self, within: Duration) -> Result<Instant, Value> {
        let until = Instant::now() + within;
        loop {
            let notified = self.done.notified();
            {
                let st = self.lock();
                if let Some(e) = &st.init_error {
                    return Err(e.clone());
                }
                if let Some(t) = st.first_next {
                    return Ok(t);
                }
            }
            if tokio::time::timeout(until.saturating_duration_since(Instant::now()), notified).await.is_err() {
                return Err(Value::String("the function did not start".into()));
            }
        }
    }

    /// The environment a function process needs to find this Runtime API.
    pub fn env(&self, function: &str) -> Vec<(String, String)> {
        vec![
            ("AWS_LAMBDA_RUNTIME_API".into(), self.addr.clone()),
            ("AWS_LAMBDA_FUNCTION_NAME".into(), function.into()),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE".into(), "128".into()),
            ("AWS_LAMBDA_FUNCTION_VERSION".into(), "$LATEST".into()),
            ("AWS_LAMBDA_LOG_STREAM_NAME".into(), "local".into()),
            ("AWS_LAMBDA_LOG_GROUP_NAME".into(), format!("/aws/lambda/{function}")),
        ]
    }
}

/// Peak resident memory of a process, in KiB (Linux `VmHWM`).
pub fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find(|l| l.starts_with("VmHWM:"))?.split_whitespace().nth(1)?.parse().ok()
}
