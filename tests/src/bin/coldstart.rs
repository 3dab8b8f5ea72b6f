//! Cold-start benchmark (issue 5, section 3): runs Lambda bootstrap executables against a
//! minimal local Lambda Runtime API and measures, per process start,
//!
//! - **init**: time from spawning the process to its first `GET .../invocation/next`,
//! - **first invocation**: time from spawning it to its first `POST .../response` (or
//!   `.../error`) for the one API Gateway v2 event it is given,
//! - **peak RSS**: `VmHWM` of `/proc/<pid>/status`, read once the process asks for its
//!   second event (idle after the first answer), just before it is killed.
//!
//! Side by side in one run (interleaved, run i of every subject before run i+1):
//! the given function binaries, a hello-world `lambda_runtime` binary built with the same
//! release profile (`tests/src/bin/hello-lambda.rs`), and a Python process that imports
//! boto3, creates a DynamoDB client and then serves the same Runtime API loop.
//!
//!     scripts/coldstart                     # builds what it needs, then runs this
//!     target/release/coldstart --function target/release/customers-create \
//!         --function target/release/customers-list --hello target/release/hello-lambda
//!
//! Every process gets the variables Lambda sets (`AWS_LAMBDA_RUNTIME_API`,
//! `AWS_LAMBDA_FUNCTION_NAME`, `AWS_LAMBDA_FUNCTION_MEMORY_SIZE=128`, ...), fake
//! credentials, `TABLE_NAME=tenantry-test` and an `AWS_ENDPOINT_URL` on a loopback port
//! nobody listens on: init must not need the network, and the first invocation's store
//! call fails at once (connection refused; `AWS_MAX_ATTEMPTS=1` so no retry back-off is
//! measured), so a function may answer with an error: that is expected here.
//!
//! The binaries are native x86_64 builds: the arm64 bootstraps that are deployed cannot
//! run on an x86_64 host. Figures are relative (same machine, same run), not Lambda's.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, anyhow, bail};
use clap::Parser;
use serde_json::{Value, json};

const NEXT: &str = "/2018-06-01/runtime/invocation/next";
const INVOCATION: &str = "/2018-06-01/runtime/invocation/";
const INIT_ERROR: &str = "/2018-06-01/runtime/init/error";

#[derive(Parser)]
#[command(about = "Cold start of Lambda bootstraps against a local Runtime API")]
struct Args {
    /// A function bootstrap to measure (native release build); repeat for several. The
    /// heaviest (slowest median init) is the one checked against the targets.
    #[arg(long = "function", required = true)]
    functions: Vec<PathBuf>,
    /// The hello-world `lambda_runtime` baseline built with the same profile.
    #[arg(long, default_value = "target/release/hello-lambda")]
    hello: PathBuf,
    /// The Python whose boto3 is measured (a virtualenv's python is fine).
    #[arg(long, default_value = ".build/venv/bin/python")]
    python: PathBuf,
    /// Measured process starts per subject.
    #[arg(long, default_value_t = 20)]
    runs: usize,
    /// Unmeasured starts per subject first (page cache, lazy binding of the loader).
    #[arg(long, default_value_t = 1)]
    warmup: usize,
    /// Directory of `<binary>.json` API Gateway v2 events; a built-in GET event otherwise.
    #[arg(long, default_value = "events")]
    events_dir: PathBuf,
    /// Seconds a start may take to answer its first event before the run fails.
    #[arg(long, default_value_t = 30)]
    timeout: u64,
    /// `AWS_MAX_ATTEMPTS` of every process (1: a refused store call fails without back-off).
    #[arg(long, default_value_t = 1)]
    aws_max_attempts: u32,
    /// Print every measured start.
    #[arg(long)]
    verbose: bool,
}

/// The Python side: what the Lambda Python runtime does for a handler module that creates
/// its boto3 client at import (the usual style), with the same Runtime API loop.
const PYTHON_BOOTSTRAP: &str = r##"
import os, json, http.client
import boto3

TABLE = os.environ["TABLE_NAME"]
dynamodb = boto3.client("dynamodb")  # region, credentials, endpoint: from the environment


def handler(event):
    try:
        dynamodb.get_item(TableName=TABLE, Key={"PK": {"S": "T#coldstart"}, "SK": {"S": "#"}})
    except Exception as e:  # no table here: answer like a function whose store is down
        return {"statusCode": 503, "body": json.dumps({"error": type(e).__name__})}
    return {"statusCode": 200, "body": "{}"}


host, _, port = os.environ["AWS_LAMBDA_RUNTIME_API"].rpartition(":")
conn = http.client.HTTPConnection(host, int(port))
base = "/2018-06-01/runtime/invocation/"
while True:
    conn.request("GET", base + "next")
    r = conn.getresponse()
    event = json.loads(r.read())
    request_id = r.getheader("Lambda-Runtime-Aws-Request-Id")
    body = json.dumps(handler(event)).encode()
    conn.request("POST", base + request_id + "/response", body=body,
                 headers={"Content-Type": "application/json"})
    conn.getresponse().read()
"##;

fn main() -> Result<()> {
    let args = Args::parse();
    if args.runs == 0 {
        bail!("--runs must be at least 1");
    }
    let python_script = tempfile::Builder::new()
        .prefix("coldstart-")
        .suffix(".py")
        .tempfile()
        .context("writing the Python bootstrap")?;
    std::fs::write(python_script.path(), PYTHON_BOOTSTRAP)?;

    let mut subjects = Vec::new();
    for path in &args.functions {
        subjects.push(Subject::native(path, Kind::Function, &args.events_dir)?);
    }
    subjects.push(Subject::native(&args.hello, Kind::Hello, &args.events_dir)?);
    if !args.python.exists() {
        bail!("no Python at {} (see --python)", args.python.display());
    }
    subjects.push(Subject {
        label: "python + boto3 DynamoDB client".into(),
        kind: Kind::Python,
        program: args.python.clone(),
        args: vec![python_script.path().display().to_string()],
        function_name: "python-boto3".into(),
        event: default_event(),
        size: None,
    });

    let unused_port = unused_loopback_port()?;
    println!(
        "coldstart: {} measured starts per subject (+{} warm-up), interleaved; host {} with {} CPUs; \
         AWS_ENDPOINT_URL=http://127.0.0.1:{unused_port} (nothing listens), AWS_MAX_ATTEMPTS={}",
        args.runs,
        args.warmup,
        std::env::consts::ARCH,
        thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0),
        args.aws_max_attempts,
    );
    let timeout = Duration::from_secs(args.timeout);
    let mut samples: Vec<Vec<Sample>> = vec![Vec::new(); subjects.len()];
    for round in 0..args.warmup + args.runs {
        for (i, subject) in subjects.iter().enumerate() {
            let sample = run_once(subject, unused_port, args.aws_max_attempts, timeout)
                .with_context(|| format!("{} (start {})", subject.label, round + 1))?;
            if round >= args.warmup {
                if args.verbose {
                    println!(
                        "  {:<34} init {:>8.2} ms  first {:>8.2} ms  rss {:>6.1} MiB",
                        subject.label, sample.init_ms, sample.first_ms, sample.rss_mib
                    );
                }
                samples[i].push(sample);
            }
        }
    }

    report(&subjects, &samples, args.runs);
    Ok(())
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Function,
    Hello,
    Python,
}

struct Subject {
    label: String,
    kind: Kind,
    program: PathBuf,
    args: Vec<String>,
    function_name: String,
    event: Value,
    size: Option<u64>,
}

impl Subject {
    fn native(path: &Path, kind: Kind, events_dir: &Path) -> Result<Self> {
        let meta = std::fs::metadata(path)
            .with_context(|| format!("{} (build it first: scripts/coldstart)", path.display()))?;
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| anyhow!("bad binary path {}", path.display()))?
            .to_owned();
        let event_file = events_dir.join(format!("{name}.json"));
        let event = if kind == Kind::Function && event_file.exists() {
            serde_json::from_str(&std::fs::read_to_string(&event_file)?)
                .with_context(|| format!("parsing {}", event_file.display()))?
        } else {
            default_event()
        };
        Ok(Self {
            label: name.clone(),
            kind,
            program: path.to_owned(),
            args: Vec::new(),
            function_name: name,
            event,
            size: Some(meta.len()),
        })
    }
}

#[derive(Clone)]
struct Sample {
    init_ms: f64,
    first_ms: f64,
    rss_mib: f64,
    answer: String,
}

/// One process start: fresh Runtime API, spawn, first /next, first answer, idle, VmHWM, kill.
fn run_once(
    subject: &Subject,
    unused_port: u16,
    max_attempts: u32,
    timeout: Duration,
) -> Result<Sample> {
    let api = RuntimeApi::start(subject.event.clone(), &subject.function_name)?;
    let output = tempfile::tempfile()?;
    let mut cmd = Command::new(&subject.program);
    cmd.args(&subject.args)
        .env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env("LANG", "C.UTF-8")
        .env("TZ", ":UTC")
        .env("AWS_LAMBDA_RUNTIME_API", api.addr.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", &subject.function_name)
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env(
            "AWS_LAMBDA_LOG_GROUP_NAME",
            format!("/aws/lambda/{}", subject.function_name),
        )
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "coldstart")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_SESSION_TOKEN", "testing")
        .env(
            "AWS_ENDPOINT_URL",
            format!("http://127.0.0.1:{unused_port}"),
        )
        .env("AWS_MAX_ATTEMPTS", max_attempts.to_string())
        .env("AWS_RETRY_MODE", "standard")
        // No developer profile files: everything comes from the variables above.
        .env("AWS_CONFIG_FILE", "/nonexistent/coldstart/config")
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            "/nonexistent/coldstart/credentials",
        )
        .env("TABLE_NAME", "tenantry-test")
        .stdin(Stdio::null())
        .stdout(Stdio::from(output.try_clone()?))
        .stderr(Stdio::from(output.try_clone()?));

    let started = Instant::now();
    let child = cmd
        .spawn()
        .with_context(|| format!("spawning {}", subject.program.display()))?;
    let mut child = KillOnDrop(child);
    let pid = child.0.id();

    let mut init: Option<Instant> = None;
    let mut first: Option<(Instant, String)> = None;
    let mut deadline = started + timeout;
    let failure = loop {
        let now = Instant::now();
        if now >= deadline {
            break match first {
                // Answered but did not ask for the next event within the grace period:
                // still a valid start; VmHWM is read now.
                Some(_) => None,
                None => Some(format!("no answer within {timeout:?}")),
            };
        }
        match api
            .events
            .recv_timeout((deadline - now).min(Duration::from_millis(50)))
        {
            Ok(ApiEvent::Next(at)) => {
                if first.is_some() {
                    break None; // idle, waiting for its second event
                }
                init.get_or_insert(at);
            }
            Ok(ApiEvent::Answer { at, error, body }) => {
                if first.is_none() {
                    let kind = if error { "error" } else { "response" };
                    first = Some((at, format!("{kind}: {}", summarize(&body))));
                    deadline = Instant::now() + Duration::from_secs(2);
                }
            }
            Ok(ApiEvent::InitError { body }) => break Some(format!("init error: {body}")),
            Ok(ApiEvent::Unexpected(what)) => break Some(format!("unexpected request {what}")),
            Err(RecvTimeoutError::Timeout) => {
                if let Some(status) = child.0.try_wait()? {
                    if first.is_none() {
                        break Some(format!("exited with {status} before answering"));
                    }
                    break None;
                }
            }
            Err(RecvTimeoutError::Disconnected) => break Some("runtime API stopped".into()),
        }
    };
    let rss_kib = if failure.is_none() {
        vm_hwm_kib(pid)
    } else {
        None
    };
    drop(child); // SIGKILL + wait
    api.stop();
    if let Some(why) = failure {
        bail!("{why}\n--- process output ---\n{}", tail(output, 4000));
    }
    let rss_kib = rss_kib.ok_or_else(|| anyhow!("no VmHWM for pid {pid} (exited early?)"))?;
    let init = init.ok_or_else(|| anyhow!("answered without asking for an event"))?;
    let (first_at, answer) = first.expect("checked above");
    Ok(Sample {
        init_ms: ms(init - started),
        first_ms: ms(first_at - started),
        rss_mib: rss_kib as f64 / 1024.0,
        answer,
    })
}

struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn vm_hwm_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn tail(mut file: File, max: usize) -> String {
    let mut buf = Vec::new();
    let _ = file.seek(SeekFrom::Start(0));
    let _ = file.read_to_end(&mut buf);
    let from = buf.len().saturating_sub(max);
    String::from_utf8_lossy(&buf[from..]).into_owned()
}

/// `"statusCode 503: {...}"` for an API Gateway answer, else the start of the body.
fn summarize(body: &str) -> String {
    let short = |s: &str| {
        let s: String = s.chars().take(90).collect();
        s.replace('\n', " ")
    };
    match serde_json::from_str::<Value>(body) {
        Ok(v) if v.get("statusCode").is_some() => {
            let inner = v.get("body").and_then(Value::as_str).unwrap_or("");
            format!("{} {}", v["statusCode"], short(inner))
        }
        _ => short(body),
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn unused_loopback_port() -> Result<u16> {
    // Bind, note the port, close: nothing listens there afterwards (connections are refused).
    let l = TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}

/// An API Gateway HTTP API (payload 2.0) request for functions without their own event.
fn default_event() -> Value {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    json!({
        "version": "2.0",
        "routeKey": "GET /v1/customers",
        "rawPath": "/v1/customers",
        "rawQueryString": "",
        "headers": {
            "accept": "application/json",
            "authorization": "Bearer tk_example_tenant_owner_key_replace_me_000000000000000000000000000000",
            "host": "a1b2c3d4e5.execute-api.us-east-1.amazonaws.com",
            "x-forwarded-proto": "https"
        },
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "a1b2c3d4e5",
            "domainName": "a1b2c3d4e5.execute-api.us-east-1.amazonaws.com",
            "domainPrefix": "a1b2c3d4e5",
            "http": {
                "method": "GET",
                "path": "/v1/customers",
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.24",
                "userAgent": "coldstart"
            },
            "requestId": "coldstart",
            "routeKey": "GET /v1/customers",
            "stage": "$default",
            "time": "01/Jan/2026:00:00:00 +0000",
            "timeEpoch": now.as_millis() as u64
        },
        "isBase64Encoded": false
    })
}

// ---------------------------------------------------------------------------------------
// The local Lambda Runtime API (the subset a runtime client uses), one per process start.

enum ApiEvent {
    Next(Instant),
    Answer {
        at: Instant,
        error: bool,
        body: String,
    },
    InitError {
        body: String,
    },
    Unexpected(String),
}

struct RuntimeApi {
    addr: SocketAddr,
    events: Receiver<ApiEvent>,
    stopping: Arc<AtomicBool>,
    acceptor: JoinHandle<()>,
}

struct ApiState {
    event: Vec<u8>,
    arn: String,
    nexts: AtomicUsize,
    stopping: Arc<AtomicBool>,
    tx: Mutex<Sender<ApiEvent>>,
}

impl ApiState {
    fn send(&self, e: ApiEvent) {
        let _ = self.tx.lock().unwrap().send(e);
    }
}

impl RuntimeApi {
    fn start(event: Value, function_name: &str) -> Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").context("binding the runtime API")?;
        let addr = listener.local_addr()?;
        let (tx, events) = mpsc::channel();
        let stopping = Arc::new(AtomicBool::new(false));
        let state = Arc::new(ApiState {
            event: serde_json::to_vec(&event)?,
            arn: format!("arn:aws:lambda:us-east-1:123456789012:function:{function_name}"),
            nexts: AtomicUsize::new(0),
            stopping: stopping.clone(),
            tx: Mutex::new(tx),
        });
        let acceptor = thread::spawn(move || {
            for conn in listener.incoming() {
                if state.stopping.load(Ordering::SeqCst) {
                    break;
                }
                if let Ok(conn) = conn {
                    let state = state.clone();
                    thread::spawn(move || {
                        let _ = serve_connection(conn, &state);
                    });
                }
            }
        });
        Ok(Self {
            addr,
            events,
            stopping,
            acceptor,
        })
    }

    fn stop(self) {
        self.stopping.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr); // wake the acceptor
        let _ = self.acceptor.join();
    }
}

struct HttpRequest {
    at: Instant,
    method: String,
    path: String,
    body: Vec<u8>,
}

fn serve_connection(conn: TcpStream, state: &ApiState) -> Result<()> {
    conn.set_nodelay(true)?;
    let mut writer = conn.try_clone()?;
    let mut reader = BufReader::new(conn);
    while let Some(req) = read_request(&mut reader)? {
        let path = req.path.split('?').next().unwrap_or("").to_owned();
        match (req.method.as_str(), path.as_str()) {
            ("GET", NEXT) => {
                let n = state.nexts.fetch_add(1, Ordering::SeqCst);
                state.send(ApiEvent::Next(req.at));
                if n > 0 {
                    // Long poll that never completes: the harness kills the process now.
                    while !state.stopping.load(Ordering::SeqCst) {
                        thread::sleep(Duration::from_millis(5));
                    }
                    let _ = writer.shutdown(Shutdown::Both);
                    return Ok(());
                }
                let now = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .unwrap_or_default();
                let id = request_id();
                let head = format!(
                    "HTTP/1.1 200 OK\r\n\
                     Content-Type: application/json\r\n\
                     Lambda-Runtime-Aws-Request-Id: {id}\r\n\
                     Lambda-Runtime-Deadline-Ms: {}\r\n\
                     Lambda-Runtime-Invoked-Function-Arn: {}\r\n\
                     Lambda-Runtime-Trace-Id: {}\r\n\
                     Content-Length: {}\r\n\r\n",
                    now.as_millis() + 30_000,
                    state.arn,
                    trace_id(now.as_secs()),
                    state.event.len(),
                );
                writer.write_all(head.as_bytes())?;
                writer.write_all(&state.event)?;
                writer.flush()?;
            }
            ("POST", INIT_ERROR) => {
                let body = String::from_utf8_lossy(&req.body).into_owned();
                state.send(ApiEvent::InitError { body });
                accepted(&mut writer)?;
            }
            ("POST", p)
                if p.starts_with(INVOCATION)
                    && (p.ends_with("/response") || p.ends_with("/error")) =>
            {
                let body = String::from_utf8_lossy(&req.body).into_owned();
                state.send(ApiEvent::Answer {
                    at: req.at,
                    error: p.ends_with("/error"),
                    body,
                });
                accepted(&mut writer)?;
            }
            (m, p) => {
                state.send(ApiEvent::Unexpected(format!("{m} {p}")));
                let body = br#"{"errorMessage":"not found","errorType":"NotFound"}"#;
                write!(
                    writer,
                    "HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
                    body.len()
                )?;
                writer.write_all(body)?;
            }
        }
    }
    Ok(())
}

fn accepted(w: &mut TcpStream) -> Result<()> {
    let body = br#"{"status":"OK"}"#;
    write!(
        w,
        "HTTP/1.1 202 Accepted\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )?;
    w.write_all(body)?;
    w.flush()?;
    Ok(())
}

/// Reads one HTTP/1.1 request (Content-Length or chunked body); `None` at end of stream.
fn read_request(r: &mut BufReader<TcpStream>) -> Result<Option<HttpRequest>> {
    let mut line = String::new();
    if r.read_line(&mut line)? == 0 {
        return Ok(None);
    }
    let at = Instant::now();
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or("").to_owned();
    let path = parts.next().unwrap_or("").to_owned();
    let mut length = 0usize;
    let mut chunked = false;
    loop {
        line.clear();
        if r.read_line(&mut line)? == 0 {
            return Ok(None);
        }
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            let value = value.trim();
            if name.eq_ignore_ascii_case("content-length") {
                length = value.parse().context("content-length")?;
            } else if name.eq_ignore_ascii_case("transfer-encoding")
                && value.to_ascii_lowercase().contains("chunked")
            {
                chunked = true;
            }
        }
    }
    let mut body = Vec::new();
    if chunked {
        loop {
            line.clear();
            r.read_line(&mut line)?;
            let size = usize::from_str_radix(line.trim().split(';').next().unwrap_or("0"), 16)
                .context("chunk size")?;
            if size == 0 {
                // Trailers, then the empty line.
                loop {
                    line.clear();
                    if r.read_line(&mut line)? == 0 || line.trim_end().is_empty() {
                        break;
                    }
                }
                break;
            }
            let start = body.len();
            body.resize(start + size, 0);
            r.read_exact(&mut body[start..])?;
            let mut crlf = [0u8; 2];
            r.read_exact(&mut crlf)?;
        }
    } else if length > 0 {
        body.resize(length, 0);
        r.read_exact(&mut body)?;
    }
    Ok(Some(HttpRequest {
        at,
        method,
        path,
        body,
    }))
}

fn request_id() -> String {
    let v: u128 = rand::random();
    let h = format!("{v:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

fn trace_id(epoch_secs: u64) -> String {
    let root: u128 = rand::random::<u128>() & ((1u128 << 96) - 1);
    let parent: u64 = rand::random();
    format!("Root=1-{epoch_secs:08x}-{root:024x};Parent={parent:016x};Sampled=0")
}

// ---------------------------------------------------------------------------------------
// Report.

struct Stats {
    median: f64,
    p90: f64,
    max: f64,
}

fn stats(mut v: Vec<f64>) -> Stats {
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    let median = if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    };
    // Nearest rank.
    let p90 = v[((0.9 * n as f64).ceil() as usize).clamp(1, n) - 1];
    Stats {
        median,
        p90,
        max: v[n - 1],
    }
}

fn report(subjects: &[Subject], samples: &[Vec<Sample>], runs: usize) {
    let init: Vec<Stats> = samples
        .iter()
        .map(|s| stats(s.iter().map(|x| x.init_ms).collect()))
        .collect();
    let first: Vec<Stats> = samples
        .iter()
        .map(|s| stats(s.iter().map(|x| x.first_ms).collect()))
        .collect();
    let rss: Vec<Stats> = samples
        .iter()
        .map(|s| stats(s.iter().map(|x| x.rss_mib).collect()))
        .collect();

    println!();
    println!(
        "| subject | executable | init median | init p90 | first invocation median | first invocation p90 | peak RSS median | peak RSS max | first answer |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---|");
    for (i, s) in subjects.iter().enumerate() {
        let size = match s.size {
            Some(b) => format!("{:.2} MB", b as f64 / 1e6),
            None => "interpreter".into(),
        };
        println!(
            "| {} | {} | {:.1} ms | {:.1} ms | {:.1} ms | {:.1} ms | {:.1} MiB | {:.1} MiB | {} |",
            s.label,
            size,
            init[i].median,
            init[i].p90,
            first[i].median,
            first[i].p90,
            rss[i].median,
            rss[i].max,
            samples[i]
                .last()
                .map(|x| x.answer.replace('|', "\\|"))
                .unwrap_or_default(),
        );
    }
    println!();
    println!(
        "{runs} measured starts each. init = spawn to first GET /next; first invocation = spawn to \
         first POST of a response or error; peak RSS = VmHWM when idle after the first answer."
    );

    let find = |k: Kind| subjects.iter().position(|s| s.kind == k);
    let heaviest = subjects
        .iter()
        .enumerate()
        .filter(|(_, s)| s.kind == Kind::Function)
        .max_by(|(a, _), (b, _)| init[*a].median.total_cmp(&init[*b].median))
        .map(|(i, _)| i);
    let (Some(h), Some(hello), Some(py)) = (heaviest, find(Kind::Hello), find(Kind::Python)) else {
        return;
    };
    let verdict = |ok: bool| if ok { "PASS" } else { "FAIL" };
    let vs_hello = init[h].median / init[hello].median;
    let vs_python = init[py].median / init[h].median;
    let rss_max = subjects
        .iter()
        .enumerate()
        .filter(|(_, s)| s.kind == Kind::Function)
        .map(|(i, _)| rss[i].max)
        .fold(0.0, f64::max);
    println!();
    println!(
        "Targets (issue 5), heaviest function = {} (slowest median init):",
        subjects[h].label
    );
    println!(
        "- init within 1.5x of hello-world: {:.1} ms / {:.1} ms = {:.2}x -> {}",
        init[h].median,
        init[hello].median,
        vs_hello,
        verdict(vs_hello <= 1.5)
    );
    println!(
        "- at least 10x faster than Python + boto3: {:.1} ms / {:.1} ms = {:.1}x -> {}",
        init[py].median,
        init[h].median,
        vs_python,
        verdict(vs_python >= 10.0)
    );
    println!(
        "- peak RSS under 40 MB (max over all function starts): {:.1} MiB -> {}",
        rss_max,
        verdict(rss_max < 40.0)
    );
}
