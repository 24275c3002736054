//! The admin console in a real browser (Debian's Chromium, headless, over the DevTools
//! protocol), against the local runner with its dispatcher running: a wrong token is refused,
//! the right one signs in; a webhook channel is created through its form and a test sent; a
//! notification sent from the page reaches `sent`, its title (markup) shown as text; a failure
//! lands in the message center and its dead letter is redriven; nothing breaks the page's
//! Content-Security-Policy. With `HERALD_SCREENSHOTS=DIR`, the overview and a channel form are
//! saved there (`make screenshots` writes the README's, in `docs/`).

#![allow(clippy::unwrap_used)]

use herald_tests::browser::{Browser, chromium};
use herald_tests::servers::{Reply, TestServer};
use herald_tests::{TOKEN, call, start_local};
use serde_json::{Value, json};

const XSS: &str = "<img src=x onerror=alert(1)>";

/// The page's helpers for a test: set a field as a person types (so the page's handlers see
/// it), click, read text.
const HELPERS: &str = r#"
window.__t = {
  q: (s) => { const e = document.querySelector(s); if (!e) throw new Error('no ' + s); return e; },
  fill: (s, v) => { const e = window.__t.q(s); const proto = e.tagName === 'SELECT' ? HTMLSelectElement.prototype : e.tagName === 'TEXTAREA' ? HTMLTextAreaElement.prototype : HTMLInputElement.prototype;
    Object.getOwnPropertyDescriptor(proto, 'value').set.call(e, v); e.dispatchEvent(new Event('input', {bubbles: true})); e.dispatchEvent(new Event('change', {bubbles: true})); return true; },
  click: (s) => { window.__t.q(s).click(); return true; },
  text: (s) => { const e = document.querySelector(s); return e ? e.textContent : null; },
};
"#;

struct Page {
    b: Browser,
    s: String,
}

impl Page {
    async fn run(&mut self, js: &str) -> Value {
        self.b.eval(&self.s, &format!("(() => {{ {HELPERS}; return {js}; }})()")).await
    }

    async fn fill(&mut self, selector: &str, value: &str) {
        let js = format!("__t.fill({}, {})", json!(selector), json!(value));
        self.until(&js, |v| v == true).await;
    }

    async fn click(&mut self, selector: &str) {
        self.until(&format!("__t.click({})", json!(selector)), |v| v == true).await;
    }

    /// Waits until the text of `selector` satisfies `ok`; returns it.
    async fn text_until(&mut self, selector: &str, ok: impl Fn(&str) -> bool) -> String {
        let v = self.until(&format!("__t.text({})", json!(selector)), |v| v.as_str().is_some_and(&ok)).await;
        v.as_str().unwrap().to_owned()
    }

    async fn until(&mut self, js: &str, ok: impl Fn(&Value) -> bool) -> Value {
        self.b.eval_until(&self.s, &format!("(() => {{ {HELPERS}; return {js}; }})()"), ok).await
    }

    async fn go(&mut self, hash: &str) {
        self.run(&format!("(location.hash = {}, true)", json!(hash))).await;
    }

    async fn screenshot(&mut self, name: &str) {
        let Some(dir) = std::env::var_os("HERALD_SCREENSHOTS") else { return };
        tokio::time::sleep(std::time::Duration::from_millis(600)).await;
        let shot = self.b.call(Some(&self.s), "Page.captureScreenshot", json!({"format": "png"})).await;
        use base64::Engine;
        let png = base64::engine::general_purpose::STANDARD.decode(shot["data"].as_str().unwrap()).unwrap();
        std::fs::write(std::path::Path::new(&dir).join(name), png).unwrap();
    }
}

#[tokio::test]
async fn an_operator_signs_in_configures_sends_and_redrives() {
    let Some(path) = chromium() else { return };
    let sink = TestServer::start(|_| Reply::ok("{}")).await;
    let refusing = TestServer::start(|_| Reply::status(400)).await;
    let (_dir, app) = herald_tests::embedded_app();
    let (base, app) = start_local(app).await;

    let mut b = Browser::start(&path).await;
    let s = b.page().await;
    b.call(Some(&s), "Runtime.enable", json!({})).await;
    b.call(Some(&s), "Log.enable", json!({})).await;
    b.call(Some(&s), "Emulation.setDeviceMetricsOverride", json!({"width": 1280, "height": 800, "deviceScaleFactor": 1, "mobile": false})).await;
    b.call(Some(&s), "Page.enable", json!({})).await;
    b.call(Some(&s), "Page.navigate", json!({"url": format!("{base}/console/")})).await;
    let mut p = Page { b, s };

    // A wrong token is told plainly and nothing is kept.
    p.fill("#token", "wrong-token-0123456789").await;
    p.click("#signin").await;
    let said = p.text_until("#signin-error", |t| !t.trim().is_empty()).await;
    assert!(!said.contains("wrong-token"), "{said}");
    assert_eq!(p.run("sessionStorage.length + localStorage.length - (localStorage.getItem('herald.lang') ? 1 : 0)").await, 0);
    // The right one signs in; it is kept for the session only and never in the URL.
    p.fill("#token", TOKEN).await;
    p.click("#signin").await;
    p.until("!!document.querySelector('#overview')", |v| v == true).await;
    assert!(!p.run("location.href").await.as_str().unwrap().contains(TOKEN));
    assert_eq!(p.run("Object.keys(localStorage).some(k => localStorage.getItem(k).includes('test-token'))").await, false);

    // A webhook channel through its form; a test message through the page.
    p.go("#/channels").await;
    p.click("#new-channel").await;
    p.fill("#kind", "webhook").await;
    p.fill("#channel-name", "hook").await;
    p.fill("[name='settings.url']", &sink.url).await;
    p.screenshot("console-channel.png").await;
    p.click("#save-channel").await;
    p.until("!!document.querySelector('#send-test')", |v| v == true).await;
    let (status, ch) = call(&app, "GET", "/api/v1/channels/hook", None).await;
    assert_eq!(status, 200, "{ch}");
    assert_eq!(ch["kind"], "webhook");
    p.click("#send-test").await;
    let result = p.text_until("#test-result", |t| t.contains("sent")).await;
    assert!(!result.contains(&sink.url), "the URL may hold a token: {result}");
    sink.wait_for(1, std::time::Duration::from_secs(10)).await;

    // A notification from the page, its title markup shown as text, reaching `sent`.
    p.go("#/notifications").await;
    p.fill("#notify-form [name='type']", "news").await;
    p.fill("#notify-form [name='title']", XSS).await;
    p.fill("#notify-form [name='text']", "From the console").await;
    p.fill("#notify-form [name='to']", "admins").await;
    p.click("#notify-form [type='submit']").await;
    let said = p.text_until("#notify-result", |t| t.len() > 10).await;
    let id = said.split_whitespace().find(|w| w.len() == 26).map(str::to_owned).unwrap_or_else(|| panic!("no id in {said}"));
    let row = format!("tr[data-id='{id}']");
    p.until(&format!("(document.querySelector({}) || {{}}).textContent || ''", json!(row)), |v| v.as_str().unwrap_or_default().contains("sent"))
        .await;
    // (The list is read again until the delivery is sent; the row must show it.)
    assert!(p.run(&format!("__t.text({})", json!(row))).await.as_str().unwrap().contains(XSS));
    assert_eq!(p.run("document.querySelectorAll('img[src=\"x\"]').length").await, 0);
    sink.wait_for(2, std::time::Duration::from_secs(10)).await;

    // A failure: in the message center, unread; its dead letter redriven.
    let (s, _) =
        call(&app, "PUT", "/api/v1/channels/bad", Some(json!({"kind": "webhook", "types": ["alert"], "settings": {"url": refusing.url}}))).await;
    assert_eq!(s, 201);
    call(&app, "PUT", "/api/v1/settings", Some(json!({"routes": {"alert": "admin"}}))).await;
    let (s, _) = call(&app, "POST", "/api/v1/notify", Some(json!({"type": "alert", "title": "Disk full", "text": "t", "to": "admins"}))).await;
    assert_eq!(s, 202);
    for _ in 0..100 {
        if app.queue.depth().await.unwrap().dead == 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    p.go("#/messages").await;
    p.text_until("#messages li.unread", |t| t.contains("bad")).await;
    p.text_until("#dead-depth", |t| t.contains('1')).await;
    p.click("#redrive").await;
    p.text_until("#redrive-result", |t| t.contains('1')).await;

    p.go("#/").await;
    p.until("!!document.querySelector('#chart-webhook')", |v| v == true).await;
    p.screenshot("console-overview.png").await;

    // Nothing the page did broke its policy or threw.
    let problems: Vec<&Value> = p
        .b
        .events
        .iter()
        .filter(|e| {
            e["method"] == "Runtime.exceptionThrown"
                || (e["method"] == "Log.entryAdded" && e["params"]["entry"]["text"].as_str().unwrap_or_default().contains("Content Security Policy"))
        })
        .collect();
    assert!(problems.is_empty(), "{problems:?}");
}
