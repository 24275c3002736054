//! The pages Herald serves itself: the Web Push page under `/push/` (the person's link opens
//! it; see [`crate::api`]'s `webpush` routes), its files built into the binary. Static files
//! only, with a strict Content-Security-Policy: scripts and connections to this origin alone.

use crate::domain::Error;
use crate::http::{IntoResponse, Request, Response, method_not_allowed};
use http::{HeaderValue, StatusCode, header};

/// `(path, content type, body)` of every file under `/push/`.
const PUSH: &[(&str, &str, &str)] = &[
    ("/push/", "text/html; charset=utf-8", include_str!("../../assets/push/index.html")),
    ("/push/app.js", "text/javascript; charset=utf-8", include_str!("../../assets/push/app.js")),
    ("/push/sw.js", "text/javascript; charset=utf-8", include_str!("../../assets/push/sw.js")),
    ("/push/manifest.webmanifest", "application/manifest+json", include_str!("../../assets/push/manifest.webmanifest")),
    ("/push/icon.svg", "image/svg+xml", include_str!("../../assets/push/icon.svg")),
];

/// Whether `path` is one of the pages' paths.
pub fn is_page(path: &str) -> bool {
    path == "/push" || path.starts_with("/push/")
}

/// Serves a page file (`GET` or `HEAD`), `/push` redirected to `/push/`.
pub fn serve(req: &Request) -> Response {
    if !matches!(req.method, http::Method::GET | http::Method::HEAD) {
        return method_not_allowed("GET, HEAD");
    }
    if req.path == "/push" {
        let mut r = Response::new(bytes::Bytes::new());
        *r.status_mut() = StatusCode::PERMANENT_REDIRECT;
        r.headers_mut().insert(header::LOCATION, HeaderValue::from_static("/push/"));
        return r;
    }
    let path = if req.path == "/push/index.html" { "/push/" } else { req.path.as_str() };
    let Some((_, kind, body)) = PUSH.iter().find(|(p, ..)| *p == path) else { return Error::NotFound.into_response() };
    let mut r = Response::new(if req.method == http::Method::HEAD { bytes::Bytes::new() } else { bytes::Bytes::from_static(body.as_bytes()) });
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'self'; script-src 'self'; connect-src 'self'; img-src 'self' data:; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'"),
    );
    if path == "/push/sw.js" {
        h.insert("service-worker-allowed", HeaderValue::from_static("/push/"));
    }
    r
}
