//! A headless Chromium for the page tests, driven over the Chrome DevTools protocol.
//!
//! `Browser::launch` starts Debian's `chromium` (or `$CHROMIUM`) headless on a free
//! DevTools port and attaches to its page. Only what the tests need: navigate, evaluate
//! JavaScript in the page or in one of its iframes, read cookies, take a screenshot.
//!
//! Site isolation is switched off (`--disable-site-isolation-trials`,
//! `--disable-features=IsolateOrigins,site-per-process`) so that a cross-site iframe is
//! rendered in its parent's process: it is then in the page's frame tree, and one
//! DevTools session reaches it (no out-of-process iframe targets to attach to). Origins
//! still apply: CSP `frame-ancestors`, the same-origin policy, `postMessage` origins.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use base64::Engine;
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The browser executable: `$CHROMIUM`, else `chromium` on the PATH.
pub fn executable() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("CHROMIUM")
        && !p.is_empty()
    {
        return Some(PathBuf::from(p));
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join("chromium"))
            .find(|p| p.is_file())
    })
}

pub struct Browser {
    child: Child,
    socket: Socket,
    next_id: u64,
    /// The isolated world `eval_in_frame` last made: frame id, the loader id of the
    /// frame's document then, and the world's execution context id.
    frame_world: Option<(String, String, u64)>,
    _profile: tempfile::TempDir,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Browser {
    /// Starts a headless Chromium; on a busy machine a first start that does not come
    /// up in time is tried once more, with a fresh profile.
    pub async fn launch(executable: &Path) -> anyhow::Result<Self> {
        match Self::launch_once(executable).await {
            Ok(b) => Ok(b),
            Err(first) => Self::launch_once(executable)
                .await
                .with_context(|| format!("a second start, after: {first:#}")),
        }
    }

    async fn launch_once(executable: &Path) -> anyhow::Result<Self> {
        let profile = tempfile::tempdir()?;
        let child = Command::new(executable)
            .args([
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                "--window-size=1024,768",
                "--remote-debugging-port=0",
                // Cross-site iframes in the page's process, for `frames`/`eval_in_frame`.
                "--disable-site-isolation-trials",
                "--disable-features=IsolateOrigins,site-per-process",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {}", executable.display()))?;
        // A start that fails past here must not leave its Chromium running.
        struct KillOnError(Option<std::process::Child>);
        impl Drop for KillOnError {
            fn drop(&mut self) {
                if let Some(mut c) = self.0.take() {
                    let _ = c.kill();
                    let _ = c.wait();
                }
            }
        }
        let mut guard = KillOnError(Some(child));
        // Chromium writes the port it chose to DevToolsActivePort.
        let port_file = profile.path().join("DevToolsActivePort");
        let started = Instant::now();
        let port = loop {
            if let Ok(text) = std::fs::read_to_string(&port_file)
                && let Some(port) = text
                    .lines()
                    .next()
                    .and_then(|l| l.trim().parse::<u16>().ok())
            {
                break port;
            }
            if started.elapsed() > Duration::from_secs(30) {
                bail!("chromium did not open its DevTools port within 30 s");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        // On a busy machine the port can be open before the page target is listed.
        let url = loop {
            let targets: Value =
                match reqwest::get(format!("http://127.0.0.1:{port}/json/list")).await {
                    Ok(r) => r.json().await.unwrap_or(Value::Null),
                    Err(_) => Value::Null,
                };
            if let Some(url) = targets
                .as_array()
                .and_then(|t| t.iter().find(|t| t["type"] == "page"))
                .and_then(|t| t["webSocketDebuggerUrl"].as_str())
            {
                break url.to_owned();
            }
            if started.elapsed() > Duration::from_secs(30) {
                bail!("chromium listed no page target within 30 s: {targets}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        let (socket, _) = tokio_tungstenite::connect_async(url).await?;
        let mut browser = Self {
            child: guard.0.take().context("the child is held until here")?,
            socket,
            next_id: 0,
            frame_world: None,
            _profile: profile,
        };
        browser.call("Page.enable", json!({})).await?;
        Ok(browser)
    }

    /// One DevTools command; its result.
    pub async fn call(&mut self, method: &str, params: Value) -> anyhow::Result<Value> {
        self.next_id += 1;
        let id = self.next_id;
        let message = json!({ "id": id, "method": method, "params": params }).to_string();
        self.socket.send(Message::Text(message.into())).await?;
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let frame = tokio::time::timeout(left, self.socket.next())
                .await
                .map_err(|_| anyhow!("{method}: no answer within 30 s"))?
                .ok_or_else(|| anyhow!("the DevTools connection closed"))??;
            let Message::Text(text) = frame else { continue };
            let v: Value = serde_json::from_str(&text)?;
            if v["id"] == id {
                if let Some(e) = v.get("error") {
                    bail!("{method}: {e}");
                }
                return Ok(v["result"].clone());
            }
        }
    }

    /// Evaluates `expression` in the page; its value (JSON).
    pub async fn eval(&mut self, expression: &str) -> anyhow::Result<Value> {
        let r = self
            .call(
                "Runtime.evaluate",
                json!({ "expression": expression, "returnByValue": true, "awaitPromise": true }),
            )
            .await?;
        if let Some(e) = r.get("exceptionDetails") {
            bail!("{expression}: {e}");
        }
        Ok(r["result"]["value"].clone())
    }

    /// Fills the page's form fields (by element id) and submits the form, as a person
    /// typing and pressing the button would (no navigation wait: see `wait_for`).
    pub async fn submit(&mut self, fields: &[(&str, &str)]) -> anyhow::Result<()> {
        let mut script = String::new();
        for (id, value) in fields {
            script.push_str(&format!(
                "document.getElementById({}).value = {};\n",
                serde_json::to_string(id)?,
                serde_json::to_string(value)?
            ));
        }
        script.push_str("document.querySelector('form').submit(); true");
        self.eval(&script).await.map(|_| ())
    }

    /// Waits until `condition` (a JavaScript expression) is true in a loaded page.
    pub async fn wait_for(&mut self, condition: &str) -> anyhow::Result<()> {
        let started = Instant::now();
        let check = format!("document.readyState === 'complete' && !!({condition})");
        loop {
            if let Ok(Value::Bool(true)) = self.eval(&check).await {
                return Ok(());
            }
            if started.elapsed() > Duration::from_secs(20) {
                bail!("timed out waiting for {condition}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Every frame of the page as (frame id, URL): the main frame first, then its
    /// iframes depth first, in document order.
    ///
    /// An iframe whose document was refused (its CSP `frame-ancestors` does not list
    /// the embedding page's origin, or `X-Frame-Options`) gets Chromium's error page:
    /// its URL here is `chrome-error://chromewebdata/` (the refused URL is the frame's
    /// `unreachableUrl` in `Page.getFrameTree`). An iframe that has not committed its
    /// first document yet has an empty URL or `about:blank`, so wait for the page (for
    /// example `wait_for("true")`: the parent's load waits for its iframes) or poll.
    /// Right after `navigate` this can still be the previous page's frames, as
    /// `Page.navigate` answers before the new document commits.
    pub async fn frames(&mut self) -> anyhow::Result<Vec<(String, String)>> {
        Ok(self
            .frame_tree()
            .await?
            .into_iter()
            .map(|(id, url, _)| (id, url))
            .collect())
    }

    /// (frame id, URL, loader id) of every frame, the main frame first.
    async fn frame_tree(&mut self) -> anyhow::Result<Vec<(String, String, String)>> {
        fn walk(node: &Value, out: &mut Vec<(String, String, String)>) {
            let frame = &node["frame"];
            if let Some(id) = frame["id"].as_str() {
                let text = |k: &str| frame[k].as_str().unwrap_or_default().to_owned();
                out.push((id.to_owned(), text("url"), text("loaderId")));
            }
            for child in node["childFrames"].as_array().into_iter().flatten() {
                walk(child, out);
            }
        }
        let r = self.call("Page.getFrameTree", json!({})).await?;
        let mut out = Vec::new();
        walk(&r["frameTree"], &mut out);
        Ok(out)
    }

    /// Evaluates `expression` in the first iframe (not the main frame) whose URL
    /// contains `url_contains`; its value (JSON). It runs in an isolated world of that
    /// frame with universal access: it shares the frame's DOM (read text, set input
    /// values, `form.submit()`, click) but not the page scripts' globals. After the
    /// frame navigates, the next call gets a world in the new document.
    pub async fn eval_in_frame(
        &mut self,
        url_contains: &str,
        expression: &str,
    ) -> anyhow::Result<Value> {
        let frames = self.frame_tree().await?;
        let Some((frame_id, _, loader_id)) = frames
            .iter()
            .skip(1)
            .find(|(_, url, _)| url.contains(url_contains))
            .cloned()
        else {
            let urls: Vec<&str> = frames.iter().map(|(_, url, _)| url.as_str()).collect();
            bail!("no iframe's URL contains {url_contains:?}; the frames: {urls:?}");
        };
        // A world per document: the one made before, while the frame holds the same
        // document; a new one (and once more, if the document went meanwhile) else.
        let mut attempt = 0;
        loop {
            let context = match &self.frame_world {
                Some((f, l, c)) if *f == frame_id && *l == loader_id && attempt == 0 => *c,
                _ => {
                    let w = self
                        .call(
                            "Page.createIsolatedWorld",
                            json!({ "frameId": frame_id, "worldName": "tenantry-tests",
                                "grantUniveralAccess": true }),
                        )
                        .await?;
                    let c = w["executionContextId"]
                        .as_u64()
                        .ok_or_else(|| anyhow!("no execution context for the frame: {w}"))?;
                    self.frame_world = Some((frame_id.clone(), loader_id.clone(), c));
                    c
                }
            };
            let r = self
                .call(
                    "Runtime.evaluate",
                    json!({ "expression": expression, "contextId": context,
                        "returnByValue": true, "awaitPromise": true }),
                )
                .await;
            match r {
                Ok(r) => {
                    if let Some(e) = r.get("exceptionDetails") {
                        bail!("{expression}: {e}");
                    }
                    return Ok(r["result"]["value"].clone());
                }
                Err(e) if attempt > 0 => return Err(e),
                Err(_) => {
                    self.frame_world = None;
                    attempt += 1;
                }
            }
        }
    }

    /// Waits until an iframe whose URL contains `url_contains` exists, its document is
    /// loaded and `condition` (a JavaScript expression, run as by `eval_in_frame`) is
    /// true in it; 20 s at most. The frame is looked up again on every try, so this
    /// follows the frame through a navigation (a form posted in it).
    pub async fn wait_in_frame(
        &mut self,
        url_contains: &str,
        condition: &str,
    ) -> anyhow::Result<()> {
        let started = Instant::now();
        let check = format!("document.readyState === 'complete' && !!({condition})");
        loop {
            let last = match self.eval_in_frame(url_contains, &check).await {
                Ok(Value::Bool(true)) => return Ok(()),
                Ok(v) => format!("{v}"),
                Err(e) => format!("{e:#}"),
            };
            if started.elapsed() > Duration::from_secs(20) {
                bail!("timed out waiting for {condition} in the frame at {url_contains:?}: {last}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn navigate(&mut self, url: &str) -> anyhow::Result<()> {
        self.call("Page.navigate", json!({ "url": url })).await?;
        Ok(())
    }

    /// The browser's cookies for `url`.
    pub async fn cookies(&mut self, url: &str) -> anyhow::Result<Vec<Value>> {
        let r = self
            .call("Network.getCookies", json!({ "urls": [url] }))
            .await?;
        Ok(r["cookies"].as_array().cloned().unwrap_or_default())
    }

    /// A PNG of the viewport, written to `path`.
    pub async fn screenshot(&mut self, path: &Path) -> anyhow::Result<()> {
        let r = self
            .call("Page.captureScreenshot", json!({ "format": "png" }))
            .await?;
        let data = r["data"]
            .as_str()
            .ok_or_else(|| anyhow!("no screenshot data"))?;
        let png = base64::engine::general_purpose::STANDARD.decode(data)?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(path, png)?;
        Ok(())
    }
}
