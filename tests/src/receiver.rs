//! A webhook receiver written with another implementation: a small Python HTTP server
//! that verifies every delivery with the PyPI `standardwebhooks` package (the test
//! virtualenv's) before it accepts it. The test sets its secret and whether it fails
//! (answers 500) through files; it logs every request it got, as one JSON line each:
//! `{"id", "type", "data", "verified"}` or `{"id", "failed": true}`.

use std::path::PathBuf;
use std::process::{Child, Command};

/// The test virtualenv's python with `standardwebhooks`, or `None` (with a note) outside
/// CI when it is not set up; under CI its absence fails.
pub fn python() -> Option<PathBuf> {
    let venv = std::env::var_os("TENANTRY_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.build/venv"));
    let py = venv.join("bin/python");
    let ok = Command::new(&py)
        .args(["-c", "import standardwebhooks"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI is set but {} cannot import standardwebhooks: run scripts/test",
            py.display()
        );
        eprintln!("standardwebhooks is not installed; run scripts/test to check deliveries");
        return None;
    }
    Some(py)
}

const SCRIPT: &str = r#"
import json, sys, threading
from http.server import ThreadingHTTPServer, BaseHTTPRequestHandler
from standardwebhooks.webhooks import Webhook

port, folder = int(sys.argv[1]), sys.argv[2]
lock = threading.Lock()

def read(name, default=""):
    try:
        with open(f"{folder}/{name}") as f:
            return f.read().strip()
    except FileNotFoundError:
        return default

def log(entry):
    with lock, open(f"{folder}/log.jsonl", "a") as f:
        f.write(json.dumps(entry) + "\n")

class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", "0"))).decode("utf-8")
        headers = {k.lower(): v for k, v in self.headers.items()}
        if read("mode", "ok") == "fail":
            log({"id": headers.get("webhook-id"), "failed": True})
            self.send_response(500); self.end_headers(); self.wfile.write(b"down for maintenance")
            return
        try:
            payload = Webhook(read("secret")).verify(body, headers)
        except Exception as e:
            log({"id": headers.get("webhook-id"), "verified": False, "error": type(e).__name__})
            self.send_response(400); self.end_headers()
            return
        log({"id": headers.get("webhook-id"), "type": payload["type"], "data": payload["data"], "verified": True})
        self.send_response(204); self.end_headers()
    def log_message(self, *args):
        pass

ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
"#;

pub struct Receiver {
    pub url: String,
    dir: tempfile::TempDir,
    child: Child,
}

impl Receiver {
    /// Starts the receiver on a free loopback port; `None` where Python with
    /// `standardwebhooks` is not set up (outside CI).
    pub async fn start() -> Option<Self> {
        let py = python()?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let dir = tempfile::tempdir().expect("a folder");
        let mut child = Command::new(py)
            .arg("-c")
            .arg(SCRIPT)
            .arg(port.to_string())
            .arg(dir.path())
            .spawn()
            .expect("python runs");
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                return Some(Self {
                    url: format!("http://127.0.0.1:{port}/hooks"),
                    dir,
                    child,
                });
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("the webhook receiver did not start");
    }

    /// The secret it verifies with.
    pub fn set_secret(&self, secret: &str) {
        std::fs::write(self.dir.path().join("secret"), secret).expect("write the secret");
    }

    /// Answer 500 to everything (true) or verify and accept (false).
    pub fn set_failing(&self, failing: bool) {
        let mode = if failing { "fail" } else { "ok" };
        std::fs::write(self.dir.path().join("mode"), mode).expect("write the mode");
    }

    /// Every request it got, in order.
    pub fn log(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(self.dir.path().join("log.jsonl"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).expect("a JSON line"))
            .collect()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
