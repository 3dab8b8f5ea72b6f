//! The Lambda home of a route runs the same pipeline as the local server: an API Gateway
//! HTTP API (v2) event goes through `functions::lambda::handle`.

use std::sync::Arc;

use functions::api::App;
use lambda_http::Body;
use serde_json::{Value, json};
use tenantry::Deps;
use tenantry::adapters::embedded::EmbeddedStore;
use tenantry::model::tenant::TenantDraft;
use tenantry::service::{api_keys, tenants};

fn event(method: &str, path: &str, query: &str, key: &str, body: Option<Value>) -> String {
    json!({
        "version": "2.0",
        "routeKey": format!("{method} {path}"),
        "rawPath": path,
        "rawQueryString": query,
        "headers": {"authorization": format!("Bearer {key}"), "content-type": "application/json", "host": "api.example.com"},
        "requestContext": {
            "accountId": "123456789012", "apiId": "api", "domainName": "api.example.com", "domainPrefix": "api",
            "http": {"method": method, "path": format!("/prod{path}"), "protocol": "HTTP/1.1", "sourceIp": "192.0.2.1", "userAgent": "test"},
            "requestId": "req-1", "routeKey": format!("{method} {path}"), "stage": "prod", "time": "23/Nov/2026:10:00:00 +0000", "timeEpoch": 1795000000000u64
        },
        "body": body.map(|b| b.to_string()),
        "isBase64Encoded": false
    })
    .to_string()
}

async fn tenant_key(deps: &Deps) -> String {
    let draft: TenantDraft = serde_json::from_value(json!({"name": "L", "slug": "lambda", "kind": "partner", "owner": {"email": "o@l.example.com", "first_name": "O", "last_name": "L"}})).unwrap();
    let t = tenants::create(deps, &draft).await.unwrap();
    let draft = serde_json::from_value(json!({"name": "k", "role": "owner"})).unwrap();
    let k = api_keys::create(deps, t["id"].as_str().unwrap(), &draft)
        .await
        .unwrap();
    k["secret"].as_str().unwrap().to_owned()
}

fn json_of(body: &Body) -> Value {
    match body {
        Body::Text(t) => serde_json::from_str(t).unwrap_or(Value::Null),
        _ => Value::Null,
    }
}

#[tokio::test]
async fn a_lambda_binary_serves_its_route_from_an_api_gateway_event_and_only_that_route() {
    let dir = tempfile::tempdir().unwrap();
    let deps = Deps::new(Arc::new(
        EmbeddedStore::open(dir.path().join("l.redb")).unwrap(),
    ));
    let key = tenant_key(&deps).await;
    let create = App::new(deps.clone(), Some("customers-create"));
    let body = json!({"company": {"name": "Lambda Co"}, "admin": {"first_name": "A", "last_name": "B", "email": "a@lambda.example.com"}});
    let req = lambda_http::request::from_str(&event("POST", "/v1/customers", "", &key, Some(body)))
        .unwrap();
    let resp = functions::lambda::handle(&create, req).await;
    assert_eq!(resp.status(), 201, "{:?}", resp.body());
    let created = json_of(resp.body());
    assert_eq!(created["company"]["name"], "Lambda Co");

    // The same binary does not serve other routes.
    let req =
        lambda_http::request::from_str(&event("GET", "/v1/customers", "q=lambda", &key, None))
            .unwrap();
    assert_eq!(functions::lambda::handle(&create, req).await.status(), 405);
    let req = lambda_http::request::from_str(&event("GET", "/v1/members", "", &key, None)).unwrap();
    assert_eq!(functions::lambda::handle(&create, req).await.status(), 404);

    // The list binary finds it, query string and all; a bad key is 401.
    let list = App::new(deps.clone(), Some("customers-list"));
    let req = lambda_http::request::from_str(&event(
        "GET",
        "/v1/customers",
        "q=lamb&limit=5",
        &key,
        None,
    ))
    .unwrap();
    let resp = functions::lambda::handle(&list, req).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(json_of(resp.body())["data"][0]["id"], created["id"]);
    let req = lambda_http::request::from_str(&event("GET", "/v1/customers", "", "tk_wrong", None))
        .unwrap();
    let resp = functions::lambda::handle(&list, req).await;
    assert_eq!(resp.status(), 401);
    assert_eq!(resp.headers()["content-type"], "application/problem+json");
}
