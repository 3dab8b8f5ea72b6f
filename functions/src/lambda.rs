//! The Lambda homes: a route's (DynamoDB from `TABLE_NAME`, the same `api::dispatch`)
//! and the scheduled purge's.

use std::sync::Arc;

use bytes::Bytes;
use lambda_http::{Body, Error, Request, RequestExt, Response, service_fn};
use tenantry::Deps;
use tenantry::adapters::aws::DynamoStore;

use crate::api::{App, dispatch};

/// The DynamoDB-backed dependencies of a function, from `TABLE_NAME`.
async fn deps_from_env() -> Result<Deps, Error> {
    let table = std::env::var("TABLE_NAME").map_err(|_| "TABLE_NAME is not set")?;
    Ok(Deps::new(Arc::new(DynamoStore::from_env(table).await)))
}

/// Runs the Lambda that serves the route of `binary`.
pub async fn serve(binary: &str) -> Result<(), Error> {
    crate::init_tracing();
    if crate::routes::by_binary(binary).is_none() {
        return Err(format!("no route is served by {binary}").into());
    }
    let app = Arc::new(App::new(deps_from_env().await?, Some(binary)));
    lambda_http::run(service_fn(move |req: Request| {
        let app = app.clone();
        async move { Ok::<_, Error>(handle(&app, req).await) }
    }))
    .await
}

/// Converts an API Gateway request to the shared pipeline and back.
pub async fn handle(app: &App, req: Request) -> Response<Body> {
    // API Gateway puts a named stage in front of the path; route on the raw path.
    let raw_path = req.raw_http_path().to_owned();
    let (mut parts, body) = req.into_parts();
    if !raw_path.is_empty() {
        let pq = match parts.uri.query() {
            Some(q) => format!("{raw_path}?{q}"),
            None => raw_path,
        };
        if let Ok(uri) = pq.parse() {
            parts.uri = uri;
        }
    }
    let bytes = match body {
        Body::Empty => Bytes::new(),
        Body::Text(s) => Bytes::from(s),
        Body::Binary(b) => Bytes::from(b),
        _ => Bytes::new(),
    };
    let response = dispatch(app, http::Request::from_parts(parts, bytes)).await;
    response.map(|b| {
        if b.is_empty() {
            Body::Empty
        } else {
            Body::Text(String::from_utf8_lossy(&b).into_owned())
        }
    })
}

/// Runs the Lambda of the daily purge (an EventBridge Scheduler target).
pub async fn serve_purge() -> Result<(), Error> {
    crate::init_tracing();
    let deps = deps_from_env().await?;
    lambda_runtime::run(lambda_runtime::service_fn(
        move |_event: lambda_runtime::LambdaEvent<serde_json::Value>| {
            let deps = deps.clone();
            async move { purge(&deps).await }
        },
    ))
    .await
}

/// One purge run. Customers whose purge failed stay due and are retried next run; the
/// run itself fails (and the scheduler retries it) only when the store is unusable.
pub async fn purge(deps: &Deps) -> Result<serde_json::Value, Error> {
    let report = tenantry::service::purge::run(deps, deps.clock.now())
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "purge run failed");
            Error::from("the purge run failed; see the log")
        })?;
    Ok(serde_json::to_value(&report)?)
}
