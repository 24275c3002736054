//! Lambda glue: logging, and the adapters between the Lambda event types and Herald's handlers.
//! A function's `main` builds its [`App`] and calls one of these; nothing else.

use crate::app::App;
use crate::dispatch::Dispatcher;
use crate::http::{Request, Response};
use crate::queue::Received;
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use bytes::Bytes;
use futures_util::future::BoxFuture;
use lambda_runtime::{Error, LambdaEvent, service_fn};

/// An HTTP handler a function serves.
pub type HttpHandler = for<'a> fn(&'a App, Request) -> BoxFuture<'a, Response>;

/// JSON logs to stdout (CloudWatch, which stamps each line with its time), level from
/// `HERALD_LOG` (e.g. `info,herald=debug`). Handlers log with `skip_all` and named fields only:
/// no request, body, token or secret.
pub fn init_logging() {
    init(false);
}

/// [`init_logging`] with each line's time (`"timestamp"`, RFC 3339, UTC) in it: the local
/// runner, whose stdout nobody stamps.
pub fn init_logging_timed() {
    init(true);
}

fn init(timed: bool) {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let filter: tracing_subscriber::filter::Targets =
        std::env::var("HERALD_LOG").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| "info".parse().unwrap_or_default());
    let fmt = tracing_subscriber::fmt::layer().json().flatten_event(true).with_current_span(false).with_span_list(false).with_target(false);
    let registry = tracing_subscriber::registry().with(filter);
    let _ = if timed { registry.with(fmt).try_init() } else { registry.with(fmt.without_time()).try_init() };
}

/// A Lambda deadline (milliseconds since the epoch, from the invocation's context) less
/// `reserve`, as a time on the clock the handlers read (`App::now`).
pub fn stop_by(deadline_ms: u64, reserve: std::time::Duration) -> jiff::Timestamp {
    let deadline = jiff::Timestamp::from_millisecond(deadline_ms.min(i64::MAX as u64) as i64).unwrap_or(jiff::Timestamp::MAX);
    deadline.checked_sub(jiff::SignedDuration::try_from(reserve).unwrap_or(jiff::SignedDuration::ZERO)).unwrap_or(jiff::Timestamp::MIN)
}

pub fn from_lambda(req: lambda_http::Request) -> Request {
    use lambda_http::RequestExt;
    let deadline = req.lambda_context_ref().map(|c| stop_by(c.deadline, std::time::Duration::ZERO));
    let (parts, body) = req.into_parts();
    let body = match body {
        lambda_http::Body::Empty => Bytes::new(),
        lambda_http::Body::Text(s) => Bytes::from(s),
        lambda_http::Body::Binary(b) => Bytes::from(b),
        _ => Bytes::new(),
    };
    Request { deadline, ..Request::new(parts.method, &parts.uri, parts.headers, body) }
}

pub fn to_lambda(resp: Response) -> lambda_http::Response<lambda_http::Body> {
    let (parts, body) = resp.into_parts();
    let textual = parts
        .headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("text/") || t.starts_with("application/json") || t.starts_with("application/xml"));
    let body = if body.is_empty() {
        lambda_http::Body::Empty
    } else if textual {
        match String::from_utf8(body.to_vec()) {
            Ok(s) => lambda_http::Body::Text(s),
            Err(e) => lambda_http::Body::Binary(e.into_bytes()),
        }
    } else {
        lambda_http::Body::Binary(body.to_vec())
    };
    lambda_http::Response::from_parts(parts, body)
}

/// Serves an HTTP function (API Gateway HTTP API, payload 2.0).
pub async fn run_http(app: App, handler: HttpHandler) -> Result<(), Error> {
    crate::dispatch::metrics::enable();
    let app = &app;
    lambda_http::run(service_fn(move |req: lambda_http::Request| async move { Ok::<_, Error>(to_lambda(handler(app, from_lambda(req)).await)) }))
        .await
}

/// The SQS records as queue messages.
pub fn received(event: SqsEvent) -> Vec<Received> {
    event
        .records
        .into_iter()
        .map(|r| Received {
            id: r.message_id.unwrap_or_default(),
            receipt: r.receipt_handle.unwrap_or_default(),
            body: r.body.unwrap_or_default(),
            group: r.attributes.get("MessageGroupId").cloned().unwrap_or_default(),
            receive_count: r.attributes.get("ApproximateReceiveCount").and_then(|c| c.parse().ok()).unwrap_or(1),
        })
        .collect()
}

/// Handles one SQS batch: the response lists only the messages that must come back. No message
/// starts at or after `stop`, so the batch is answered before the function's timeout.
pub async fn handle_sqs(app: &App, dispatcher: &Dispatcher, event: SqsEvent, stop: Option<jiff::Timestamp>) -> SqsBatchResponse {
    let failed = dispatcher.process_until(app, received(event), stop).await;
    let mut response = SqsBatchResponse::default();
    for id in failed {
        response.add_failure(id);
    }
    response
}

/// Serves the dispatcher function (SQS event source, `ReportBatchItemFailures`). A message is
/// started only while one send (`HERALD_HTTP_TIMEOUT_SECS`) and its writes (5 s) still fit
/// before the function's timeout; the rest of the batch comes back at once.
pub async fn run_sqs(app: App) -> Result<(), Error> {
    crate::dispatch::metrics::enable();
    let dispatcher = Dispatcher::default();
    let (app, dispatcher) = (&app, &dispatcher);
    let reserve = app.config.http_timeout + std::time::Duration::from_secs(5);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        let stop = stop_by(event.context.deadline, reserve);
        Ok::<_, Error>(handle_sqs(app, dispatcher, event.payload, Some(stop)).await)
    }))
    .await
}

/// Reads an API Gateway event (as in `events/`) into Herald's request, the way the Lambda
/// runtime does (for tests and tools).
pub fn request_from_event(event: &str) -> Result<Request, String> {
    lambda_http::request::from_str(event).map(from_lambda).map_err(|e| e.to_string())
}

/// Which job a scheduler event asks for: EventBridge Scheduler sends the schedule's input
/// (`{"job": "daily"}`); an EventBridge rule's "Scheduled Event" means the regular tick.
pub fn job_of(event: &serde_json::Value) -> Result<String, String> {
    match event.get("job").and_then(|j| j.as_str()) {
        Some(j) if crate::jobs::JOBS.contains(&j) => Ok(j.to_owned()),
        Some(j) => Err(format!("unknown job {j:?} (known: {})", crate::jobs::JOBS.join(", "))),
        None if event.get("detail-type").and_then(|d| d.as_str()) == Some("Scheduled Event") => Ok("tick".into()),
        None => Err("the event names no job".into()),
    }
}

/// Serves the scheduler function (EventBridge Scheduler).
pub async fn run_scheduler(app: App) -> Result<(), Error> {
    crate::dispatch::metrics::enable();
    let app = &app;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<serde_json::Value>| async move {
        let job = job_of(&event.payload)?;
        // Stop in time: the rest is picked up by the next run.
        let deadline = stop_by(event.context.deadline, std::time::Duration::ZERO);
        let force = event.payload.get("force").and_then(|f| f.as_bool()).unwrap_or(false);
        crate::jobs::run(app, &job, force, Some(deadline)).await.map_err(|e| Error::from(e.to_string()))
    }))
    .await
}
