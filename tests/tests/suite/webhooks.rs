//! Standard Webhooks signatures against an independent implementation: the
//! `standardwebhooks` package from PyPI (in the test virtualenv, `scripts/env.sh`)
//! verifies what Tenantry signs, and Tenantry verifies what it signs.

use std::path::PathBuf;
use std::process::Command;

use tenantry::webhooks::{self, Signed, SigningSecret};

use tenantry_tests::receiver::python;

/// Runs the reference library: `verify <secret> <id> <ts> <signature header>` (the body
/// on stdin) prints `ok` or the error; `sign <secret> <id> <ts>` prints the signature.
fn reference(py: &PathBuf, args: &[&str], body: &[u8]) -> String {
    use std::io::Write;
    const SCRIPT: &str = r#"
import sys
from datetime import datetime, timezone
from standardwebhooks.webhooks import Webhook
cmd, secret, msg_id, ts = sys.argv[1:5]
body = sys.stdin.buffer.read().decode("utf-8")
wh = Webhook(secret)
if cmd == "sign":
    print(wh.sign(msg_id, datetime.fromtimestamp(int(ts), tz=timezone.utc), body))
else:
    try:
        wh.verify(body, {"webhook-id": msg_id, "webhook-timestamp": ts, "webhook-signature": sys.argv[5]})
        print("ok")
    except Exception as e:
        print("refused: " + type(e).__name__)
"#;
    let mut child = Command::new(py)
        .arg("-c")
        .arg(SCRIPT)
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python runs");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(body)
        .expect("the body");
    let out = child.wait_with_output().expect("python ends");
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout)
        .expect("UTF-8")
        .trim()
        .to_owned()
}

#[test]
fn the_reference_library_and_tenantry_accept_each_others_signatures() {
    let Some(py) = python() else {
        return;
    };
    let now = chrono::Utc::now().timestamp();
    let ts = now.to_string();
    let body = r#"{"type":"customer.created","data":{"id":"cus_1","name":"Zoë & Co ✓"}}"#;
    let (old, new) = (SigningSecret::generate(), SigningSecret::generate());
    let id = "msg_2b1f0c9e";

    // Tenantry signs, with both secrets during a rotation; the reference verifies with
    // either, and refuses a changed body or another secret.
    let header = webhooks::signature_header(&[new.clone(), old.clone()], id, now, body.as_bytes());
    for s in [&old, &new] {
        let got = reference(
            &py,
            &["verify", &s.expose_text(), id, &ts, &header],
            body.as_bytes(),
        );
        assert_eq!(got, "ok");
    }
    let tampered = body.replace("cus_1", "cus_2");
    assert_ne!(
        reference(
            &py,
            &["verify", &new.expose_text(), id, &ts, &header],
            tampered.as_bytes()
        ),
        "ok"
    );
    let stranger = SigningSecret::generate().expose_text();
    assert_ne!(
        reference(
            &py,
            &["verify", &stranger, id, &ts, &header],
            body.as_bytes()
        ),
        "ok"
    );

    // The reference signs; Tenantry verifies, and refuses it under another secret.
    let theirs = reference(&py, &["sign", &new.expose_text(), id, &ts], body.as_bytes());
    assert!(theirs.starts_with("v1,"), "{theirs}");
    let signed = Signed {
        id: Some(id),
        timestamp: Some(&ts),
        signature: Some(&theirs),
    };
    assert_eq!(
        webhooks::verify(&[old.clone(), new], signed, body.as_bytes(), now),
        Ok(id)
    );
    assert_eq!(
        webhooks::verify(&[old], signed, body.as_bytes(), now),
        Err(webhooks::VerifyError::NoMatch)
    );
}
