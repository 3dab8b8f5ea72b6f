//! The Lambda home of a route: DynamoDB from `TABLE_NAME`, the same `api::dispatch`.

use std::sync::Arc;

use bytes::Bytes;
use lambda_http::{Body, Error, Request, RequestExt, Response, service_fn};
use tenantry::Deps;
use tenantry::adapters::aws::DynamoStore;

use crate::api::{App, dispatch};

/// Runs the Lambda that serves the route of `binary`.
pub async fn serve(binary: &str) -> Result<(), Error> {
    crate::init_tracing();
    if crate::routes::by_binary(binary).is_none() {
        return Err(format!("no route is served by {binary}").into());
    }
    let table = std::env::var("TABLE_NAME").map_err(|_| "TABLE_NAME is not set")?;
    let store = DynamoStore::from_env(table).await;
    let app = Arc::new(App::new(Deps::new(Arc::new(store)), Some(binary)));
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
