//! Debian's Chromium, headless, driven over the DevTools protocol (CDP) for the pages' tests:
//! a page is opened in its own target, scripts are evaluated in it, and events are read as they
//! come. The browser is found through `HERALD_CHROMIUM` (set by the test command, which installs
//! Chromium), else `chromium` on the PATH; without one a test skips itself, unless
//! `HERALD_REQUIRE_BROWSER` says it must run.

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

pub struct Browser {
    child: Child,
    _profile: tempfile::TempDir,
    socket: Socket,
    next: u64,
    /// Events received while waiting for answers, in order.
    pub events: Vec<Value>,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The Chromium to run, or `None` (the test skips) when there is none and none is required.
pub fn chromium() -> Option<String> {
    let found = std::env::var("HERALD_CHROMIUM")
        .ok()
        .filter(|p| !p.is_empty())
        .or_else(|| ["/usr/bin/chromium", "/usr/bin/chromium-browser"].iter().find(|p| std::path::Path::new(p).exists()).map(|p| (*p).to_owned()));
    if found.is_none() {
        if std::env::var_os("HERALD_REQUIRE_BROWSER").is_some() || std::env::var_os("CI").is_some() {
            panic!("no Chromium, but the browser tests are required: run the README's test command (it installs Debian's chromium)");
        }
        eprintln!("skipped: no Chromium (HERALD_CHROMIUM unset, /usr/bin/chromium absent)");
    }
    found
}

impl Browser {
    /// Starts Chromium headless with a fresh profile and connects to it.
    pub async fn start(path: &str) -> Self {
        let profile = tempfile::tempdir().unwrap();
        let mut child = Command::new(path)
            .args(["--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--no-default-browser-check", "--remote-debugging-port=0"])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromium starts");
        // Chromium writes its port and browser path to DevToolsActivePort in the profile.
        let file = profile.path().join("DevToolsActivePort");
        let mut url = None;
        for _ in 0..200 {
            if let Ok(text) = std::fs::read_to_string(&file)
                && let Some((port, path)) = text.split_once('\n')
                && !path.trim().is_empty()
            {
                url = Some(format!("ws://127.0.0.1:{}{}", port.trim(), path.trim()));
                break;
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!("chromium exited: {status}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let (socket, _) = tokio_tungstenite::connect_async(url.expect("chromium told its DevTools port")).await.expect("DevTools connects");
        Browser { child, _profile: profile, socket, next: 0, events: Vec::new() }
    }

    /// Calls `method` (in `session`, or on the browser) and returns its result; an error
    /// answer panics with it.
    pub async fn call(&mut self, session: Option<&str>, method: &str, params: Value) -> Value {
        self.next += 1;
        let id = self.next;
        let mut msg = json!({"id": id, "method": method, "params": params});
        if let Some(s) = session {
            msg["sessionId"] = json!(s);
        }
        self.socket.send(Message::text(msg.to_string())).await.unwrap();
        loop {
            let frame = tokio::time::timeout(Duration::from_secs(30), self.socket.next()).await.expect("DevTools answers").unwrap().unwrap();
            let Message::Text(text) = frame else { continue };
            let v: Value = serde_json::from_str(&text).unwrap();
            if v["id"] == id {
                assert!(v.get("error").is_none(), "{method}: {v}");
                return v["result"].clone();
            }
            self.events.push(v);
        }
    }

    /// Opens a new page and returns its session.
    pub async fn page(&mut self) -> String {
        let target = self.call(None, "Target.createTarget", json!({"url": "about:blank"})).await;
        let attached = self.call(None, "Target.attachToTarget", json!({"targetId": target["targetId"], "flatten": true})).await;
        attached["sessionId"].as_str().unwrap().to_owned()
    }

    /// Evaluates `expression` in the page (awaiting a promise) and returns its value.
    pub async fn eval(&mut self, session: &str, expression: &str) -> Value {
        let r = self.call(Some(session), "Runtime.evaluate", json!({"expression": expression, "awaitPromise": true, "returnByValue": true})).await;
        assert!(r.get("exceptionDetails").is_none(), "{expression}: {r}");
        r["result"]["value"].clone()
    }

    /// Evaluates `expression` until `ok` holds for its value (or ten seconds pass); an exception
    /// (the page still loading, an element not there yet) counts as not yet.
    pub async fn eval_until(&mut self, session: &str, expression: &str, ok: impl Fn(&Value) -> bool) -> Value {
        let mut last = Value::Null;
        for _ in 0..100 {
            let r =
                self.call(Some(session), "Runtime.evaluate", json!({"expression": expression, "awaitPromise": true, "returnByValue": true})).await;
            last = if r.get("exceptionDetails").is_some() { r["exceptionDetails"].clone() } else { r["result"]["value"].clone() };
            if r.get("exceptionDetails").is_none() && ok(&last) {
                return last;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("{expression} never held; last: {last}");
    }

    /// Reads events until one named `method` that `ok` accepts (or ten seconds pass).
    pub async fn event(&mut self, method: &str, ok: impl Fn(&Value) -> bool) -> Value {
        if let Some(i) = self.events.iter().position(|e| e["method"] == method && ok(&e["params"])) {
            return self.events.remove(i)["params"].clone();
        }
        loop {
            let frame = tokio::time::timeout(Duration::from_secs(10), self.socket.next())
                .await
                .unwrap_or_else(|_| panic!("no {method} event"))
                .unwrap()
                .unwrap();
            let Message::Text(text) = frame else { continue };
            let v: Value = serde_json::from_str(&text).unwrap();
            if v["method"] == method && ok(&v["params"]) {
                return v["params"].clone();
            }
            self.events.push(v);
        }
    }
}
