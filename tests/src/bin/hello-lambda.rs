//! The baseline of the cold-start benchmark (`tests/src/bin/coldstart.rs`): the smallest
//! useful `lambda_runtime` function, answering every event with a static JSON document.
//! Built with the workspace release profile, like the functions it is compared with:
//!
//!     cargo build --release -p tenantry-tests --bin hello-lambda
//!
//! `lambda_runtime` comes through `lambda_http`'s re-export (the same crate and version
//! the functions run on), so the tests crate needs no extra dependency for it.

use lambda_http::lambda_runtime::{self, Error, LambdaEvent, service_fn};
use serde_json::{Value, json};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(|_event: LambdaEvent<Value>| async {
        Ok::<_, Error>(json!({
            "statusCode": 200,
            "headers": { "content-type": "application/json" },
            "body": "{\"hello\":\"world\"}"
        }))
    }))
    .await
}
