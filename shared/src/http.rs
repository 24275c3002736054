//! HTTP requests and responses as every handler and receiver takes them, the same behind API
//! Gateway, a Lambda function URL and the local runner; and the one place a use case's
//! [`Error`] becomes a status and a body ([`IntoResponse`]).

use crate::domain::{Error, Invalid};
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use serde::Serialize;
use serde_json::json;

/// Largest request body accepted anywhere (Telegram updates, WeCom callbacks and API calls are
/// all far smaller); larger ones get 413.
pub const MAX_BODY: usize = 256 * 1024;

#[derive(Debug, Clone)]
pub struct Request {
    pub method: Method,
    pub path: String,
    pub query: Vec<(String, String)>,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// When the function handling this request is stopped (its Lambda deadline); `None` in the
    /// local runner. Long jobs stop in time and answer what they did.
    pub deadline: Option<jiff::Timestamp>,
}

impl Request {
    pub fn new(method: Method, uri: &http::Uri, headers: HeaderMap, body: Bytes) -> Self {
        let query = uri.query().map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect()).unwrap_or_default();
        Self { method, path: uri.path().to_owned(), query, headers, body, deadline: None }
    }

    pub fn query(&self, name: &str) -> Option<&str> {
        self.query.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Where this request came in: `scheme://host[:port]`, from the `Host` header and
    /// `X-Forwarded-Proto` (API Gateway sets `https`; without it, `http`). `None` when the host
    /// is missing or is not a plain host name or address. Used where Herald must tell a platform
    /// its own URL and `HERALD_PUBLIC_URL` is not set.
    pub fn origin(&self) -> Option<String> {
        let host = self.header("host")?.trim();
        let plain = !host.is_empty() && host.len() <= 255 && host.bytes().all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b));
        let scheme = match self.header("x-forwarded-proto").map(str::trim) {
            Some("https") => "https",
            _ => "http",
        };
        plain.then(|| format!("{scheme}://{host}"))
    }

    /// The body as a JSON object (every API body is one), or 400 naming what is wrong; 413
    /// past [`MAX_BODY`]. An array is refused here: serde would read it field by field, in order.
    pub fn json(&self) -> Result<serde_json::Value, Error> {
        if self.body.len() > MAX_BODY {
            return Err(Error::TooLarge);
        }
        let v: serde_json::Value =
            serde_json::from_slice(&self.body).map_err(|e| Error::Invalid(Invalid::new("", format!("body is not valid JSON: {e}"))))?;
        if !v.is_object() {
            return Err(Error::Invalid(Invalid::new("", "body must be a JSON object")));
        }
        Ok(v)
    }
}

pub type Response = http::Response<Bytes>;

pub fn respond(status: StatusCode, content_type: &'static str, body: impl Into<Bytes>) -> Response {
    let mut r = http::Response::new(body.into());
    *r.status_mut() = status;
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

pub fn json<T: Serialize>(status: StatusCode, value: &T) -> Response {
    match serde_json::to_vec(value) {
        Ok(body) => respond(status, "application/json", body),
        Err(_) => respond(StatusCode::INTERNAL_SERVER_ERROR, "application/json", &b"{\"error\":\"internal\"}"[..]),
    }
}

pub fn text(status: StatusCode, body: impl Into<Bytes>) -> Response {
    respond(status, "text/plain; charset=utf-8", body)
}

pub fn empty(status: StatusCode) -> Response {
    let mut r = http::Response::new(Bytes::new());
    *r.status_mut() = status;
    r
}

/// How the edge answers an error: its status, and a body that never carries an internal cause.
pub trait IntoResponse {
    fn status(&self) -> StatusCode;
    fn body(&self) -> serde_json::Value;
    fn into_response(self) -> Response;
}

impl IntoResponse for Error {
    fn status(&self) -> StatusCode {
        match self {
            Error::Invalid(_) => StatusCode::BAD_REQUEST,
            Error::Unauthorized => StatusCode::UNAUTHORIZED,
            Error::NotFound => StatusCode::NOT_FOUND,
            Error::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Error::Conflict(_) => StatusCode::CONFLICT,
            Error::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Error::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// What a client is told: `{"error": "invalid", "field", "message"}`, `{"error": "conflict",
    /// "message"}`, or `{"error": "<kind>"}`; an internal cause goes to the log only.
    fn body(&self) -> serde_json::Value {
        let status = self.status();
        match self {
            Error::Invalid(i) => json!({"error": "invalid", "field": i.field, "message": i.message}),
            Error::Conflict(m) => json!({"error": "conflict", "message": m}),
            Error::Unavailable(cause) | Error::Internal(cause) => {
                tracing::error!(status = status.as_u16(), cause = %cause, "request failed");
                json!({"error": if status == StatusCode::SERVICE_UNAVAILABLE { "unavailable" } else { "internal" }})
            }
            other => json!({"error": other.to_string().replace(' ', "_")}),
        }
    }

    fn into_response(self) -> Response {
        let mut r = json(self.status(), &self.body());
        if matches!(self, Error::Unauthorized) {
            r.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        r
    }
}

/// `405 Method Not Allowed`, naming the methods the path takes (RFC 9110 §15.5.6).
pub fn method_not_allowed(allow: &str) -> Response {
    let mut r = json(StatusCode::METHOD_NOT_ALLOWED, &json!({"error": "method_not_allowed"}));
    if let Ok(v) = HeaderValue::from_str(allow) {
        r.headers_mut().insert(header::ALLOW, v);
    }
    r
}

/// A handler's result: a response, or an error to map.
pub type HandlerResult = Result<Response, Error>;

pub fn finish(r: HandlerResult) -> Response {
    r.unwrap_or_else(Error::into_response)
}

/// Page parameters: `?cursor=&limit=` (limit 1..=100, default 50).
pub fn page_params(req: &Request) -> Result<(Option<String>, u32), Error> {
    let limit = match req.query("limit") {
        None => 50,
        Some(l) => l.parse::<u32>().ok().filter(|l| (1..=100).contains(l)).ok_or_else(|| Invalid::new("limit", "must be 1 to 100"))?,
    };
    Ok((req.query("cursor").filter(|c| !c.is_empty()).map(str::to_owned), limit))
}
