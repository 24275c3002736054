//! The one router of every HTTP route (the API, the receivers, `/healthz`): the same on
//! Lambda (each HTTP function serves it; API Gateway or the function URL sends each its own
//! paths) and in the local runner.

use crate::domain::Error;
use crate::http::{IntoResponse, Request, Response, finish, json, method_not_allowed};
use http::StatusCode;
use serde_json::json;

/// Every route, by path: `/healthz`, the API under [`crate::api::PREFIX`] (its own table, with
/// `405` for a known path and another method), the pages (`/push/`, [`super::pages`]), and
/// `/callback/{kind}` for each platform that receives (the methods its receiver takes, else `405`).
pub async fn route(app: &crate::app::App, req: Request) -> Response {
    let path = req.path.clone();
    match path.as_str() {
        "/healthz" => healthz(app, &req),
        p if p.starts_with(crate::api::PREFIX) => crate::api::handle(app, req).await,
        p if super::pages::is_page(p) => super::pages::serve(&req),
        p => match receiver_kind(p) {
            Some(kind) => receiver(app, kind, req).await,
            None => Error::NotFound.into_response(),
        },
    }
}

/// The API's part of [`route`] (and `/healthz` and the pages), as the API function's Lambda handler. Each
/// function serves only its own part, so each binary links only its own code.
pub fn api_handler(app: &crate::app::App, req: Request) -> futures_util::future::BoxFuture<'_, Response> {
    Box::pin(async move {
        match req.path.as_str() {
            "/healthz" => healthz(app, &req),
            p if p.starts_with(crate::api::PREFIX) => crate::api::handle(app, req).await,
            p if super::pages::is_page(p) => super::pages::serve(&req),
            _ => Error::NotFound.into_response(),
        }
    })
}

/// The receivers' part of [`route`] (and `/healthz`), as a receiver function's Lambda handler.
pub fn receiver_handler(app: &crate::app::App, req: Request) -> futures_util::future::BoxFuture<'_, Response> {
    Box::pin(async move {
        match req.path.as_str() {
            "/healthz" => healthz(app, &req),
            p => match receiver_kind(p) {
                Some(kind) => receiver(app, kind, req).await,
                None => Error::NotFound.into_response(),
            },
        }
    })
}

/// `200 {"ok": true}`, or `503 {"ok": false, "error"}` while the store takes no writes
/// ([`crate::store::Table::stopped`]), so a supervisor's health check sees it.
fn healthz(app: &crate::app::App, req: &Request) -> Response {
    match req.method {
        http::Method::GET | http::Method::HEAD => match app.repo.table.stopped() {
            None => json(StatusCode::OK, &json!({"ok": true})),
            Some(why) => json(StatusCode::SERVICE_UNAVAILABLE, &json!({"ok": false, "error": why})),
        },
        _ => method_not_allowed("GET, HEAD"),
    }
}

/// The platform a `/callback/{kind}` path is for (a trailing `/` allowed, as on the API).
fn receiver_kind(path: &str) -> Option<crate::domain::ChannelKind> {
    path.strip_prefix("/callback/").map(|k| k.trim_end_matches('/')).and_then(crate::domain::ChannelKind::parse)
}

/// A platform's receiver (`/callback/{kind}`), through the one pipeline ([`crate::receive`]).
pub async fn receiver(app: &crate::app::App, kind: crate::domain::ChannelKind, req: Request) -> Response {
    let Some(r) = crate::platforms::receiver(kind) else { return Error::NotFound.into_response() };
    if !r.methods().contains(&req.method) {
        let allow: Vec<&str> = r.methods().iter().map(http::Method::as_str).collect();
        return method_not_allowed(&allow.join(", "));
    }
    finish(crate::receive::handle(app, kind, &req).await)
}
