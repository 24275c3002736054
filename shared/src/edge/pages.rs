//! The pages Herald serves itself, their files built into the binary: the Web Push page under
//! `/push/` (the person's link opens it; see [`crate::api`]'s `webpush` routes) and the admin
//! console under `/console/` (it signs in with the API token and calls the API). Static files
//! only, each with a strict Content-Security-Policy (scripts, styles and connections to this
//! origin alone, no inline script), `X-Frame-Options: DENY` and `nosniff`.
//!
//! `HERALD_ASSETS_DIR`, when set, makes the same paths read their files from that folder at
//! each request (the repository's `shared/assets`), for working on a page without rebuilding;
//! only the files listed here are served from it.

use crate::domain::Error;
use crate::http::{IntoResponse, Request, Response, method_not_allowed};
use http::{HeaderValue, StatusCode, header};

const HTML: &str = "text/html; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

/// `(path, file under shared/assets, content type, body)` of every page file.
const FILES: &[(&str, &str, &str, &str)] = &[
    ("/push/", "push/index.html", HTML, include_str!("../../assets/push/index.html")),
    ("/push/app.js", "push/app.js", JS, include_str!("../../assets/push/app.js")),
    ("/push/sw.js", "push/sw.js", JS, include_str!("../../assets/push/sw.js")),
    ("/push/manifest.webmanifest", "push/manifest.webmanifest", "application/manifest+json", include_str!("../../assets/push/manifest.webmanifest")),
    ("/push/icon.svg", "push/icon.svg", "image/svg+xml", include_str!("../../assets/push/icon.svg")),
    ("/console/", "console/index.html", HTML, include_str!("../../assets/console/index.html")),
    ("/console/app.js", "console/app.js", JS, include_str!("../../assets/console/app.js")),
    ("/console/i18n.js", "console/i18n.js", JS, include_str!("../../assets/console/i18n.js")),
    ("/console/kinds.js", "console/kinds.js", JS, include_str!("../../assets/console/kinds.js")),
    ("/console/style.css", "console/style.css", CSS, include_str!("../../assets/console/style.css")),
    ("/console/icon.svg", "push/icon.svg", "image/svg+xml", include_str!("../../assets/push/icon.svg")),
    ("/console/vendor/preact-htm.js", "console/vendor/preact-htm.js", JS, include_str!("../../assets/console/vendor/preact-htm.js")),
    ("/console/vendor/chart.umd.js", "console/vendor/chart.umd.js", JS, include_str!("../../assets/console/vendor/chart.umd.js")),
    ("/console/vendor/qrcode.js", "console/vendor/qrcode.js", JS, include_str!("../../assets/console/vendor/qrcode.js")),
];

/// The pages' roots: a path under one of them is a page path.
const ROOTS: &[&str] = &["/push", "/console"];

/// Whether `path` is one of the pages' paths.
pub fn is_page(path: &str) -> bool {
    ROOTS.iter().any(|r| path == *r || path.strip_prefix(r).is_some_and(|rest| rest.starts_with('/')))
}

/// The Content-Security-Policy of every page: nothing but this origin's own files; the
/// console's styles are a file too, the Web Push page keeps its small inline style.
fn policy(path: &str) -> &'static str {
    if path.starts_with("/console/") {
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; manifest-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
    } else {
        "default-src 'self'; script-src 'self'; connect-src 'self'; img-src 'self' data:; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'"
    }
}

/// Serves a page file (`GET` or `HEAD`). A root without its `/` is redirected to its
/// `index.html`, which an API Gateway route `/ROOT/{proxy+}` matches for certain (a path ending
/// in `/` is served too, as the local runner and function URLs pass it).
pub fn serve(req: &Request) -> Response {
    if !matches!(req.method, http::Method::GET | http::Method::HEAD) {
        return method_not_allowed("GET, HEAD");
    }
    if let Some(root) = ROOTS.iter().find(|r| req.path == **r) {
        let mut r = Response::new(bytes::Bytes::new());
        *r.status_mut() = StatusCode::PERMANENT_REDIRECT;
        r.headers_mut().insert(header::LOCATION, HeaderValue::from_str(&format!("{root}/index.html")).unwrap_or(HeaderValue::from_static("/")));
        return r;
    }
    let path = req.path.strip_suffix("/index.html").map(|root| &req.path[..=root.len()]).unwrap_or(&req.path);
    let Some((_, file, kind, built_in)) = FILES.iter().find(|(p, ..)| *p == path) else { return Error::NotFound.into_response() };
    let body = match std::env::var_os("HERALD_ASSETS_DIR") {
        Some(dir) => match std::fs::read(std::path::Path::new(&dir).join(file)) {
            Ok(b) => bytes::Bytes::from(b),
            Err(_) => return Error::NotFound.into_response(),
        },
        None => bytes::Bytes::from_static(built_in.as_bytes()),
    };
    let mut r = Response::new(if req.method == http::Method::HEAD { bytes::Bytes::new() } else { body });
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(policy(path)));
    if path == "/push/sw.js" {
        h.insert("service-worker-allowed", HeaderValue::from_static("/push/"));
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_paths() {
        assert!(is_page("/console") && is_page("/console/") && is_page("/console/app.js") && is_page("/push/sw.js"));
        assert!(!is_page("/consoles") && !is_page("/pushy") && !is_page("/api/v1/console"));
    }
}
