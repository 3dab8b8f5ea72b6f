//! The Lambda home of a route runs the same pipeline as the local server: an API Gateway
//! HTTP API (v2) event, with the context of the API's Lambda authorizer, goes through
//! `functions::lambda::handle`. The authorizer runs the same `authenticate()`.

use std::sync::Arc;

use functions::api::App;
use functions::routes;
use lambda_http::Body;
use serde_json::{Value, json};
use tenantry::Deps;
use tenantry::adapters::embedded::EmbeddedStore;
use tenantry::model::tenant::TenantDraft;
use tenantry::service::{api_keys, auth, tenants};
use tenantry_tests::gateway::{authorize, through_gateway};

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
    let scope = tenantry_tests::owner_scope(t.tenant.tenant.id.as_str());
    let k = api_keys::create(deps, &scope, &draft).await.unwrap();
    k.secret
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
    let create = App::new(deps.clone(), &[&routes::CUSTOMERS_CREATE]);
    let body = json!({"company": {"name": "Lambda Co"}, "admin": {"first_name": "A", "last_name": "B", "email": "a@lambda.example.com"}});
    let req = lambda_http::request::from_str(
        &through_gateway(&deps, &event("POST", "/v1/customers", "", &key, Some(body))).await,
    )
    .unwrap();
    let resp = functions::lambda::handle(&create, req).await;
    assert_eq!(resp.status(), 201, "{:?}", resp.body());
    let created = json_of(resp.body());
    assert_eq!(created["company"]["name"], "Lambda Co");

    // The same binary does not serve other routes.
    let req = lambda_http::request::from_str(
        &through_gateway(
            &deps,
            &event("GET", "/v1/customers", "q=lambda", &key, None),
        )
        .await,
    )
    .unwrap();
    assert_eq!(functions::lambda::handle(&create, req).await.status(), 405);
    let req = lambda_http::request::from_str(
        &through_gateway(&deps, &event("GET", "/v1/members", "", &key, None)).await,
    )
    .unwrap();
    assert_eq!(functions::lambda::handle(&create, req).await.status(), 404);

    // The list binary finds it, query string and all; a bad key is 401.
    let list = App::new(deps.clone(), &[&routes::CUSTOMERS_LIST]);
    let req = lambda_http::request::from_str(
        &through_gateway(
            &deps,
            &event("GET", "/v1/customers", "q=lamb&limit=5", &key, None),
        )
        .await,
    )
    .unwrap();
    let resp = functions::lambda::handle(&list, req).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(json_of(resp.body())["data"][0]["id"], created["id"]);
    let req = lambda_http::request::from_str(
        &through_gateway(&deps, &event("GET", "/v1/customers", "", "tk_wrong", None)).await,
    )
    .unwrap();
    let resp = functions::lambda::handle(&list, req).await;
    assert_eq!(resp.status(), 401);
    assert_eq!(resp.headers()["content-type"], "application/problem+json");
}

#[tokio::test]
async fn the_authorizer_turns_the_credential_into_the_principal_the_route_reads() {
    let dir = tempfile::tempdir().unwrap();
    let deps = Deps::new(Arc::new(
        EmbeddedStore::open(dir.path().join("a.redb")).unwrap(),
    ));
    let key = tenant_key(&deps).await;
    let operator = "tk_operator_key_of_the_authorizer_test_000000";
    let operator_id = auth::register_operator_key(&deps, operator).await.unwrap();
    let context_for = async |key: &str| {
        let e: Value = serde_json::from_str(&event("GET", "/v1/customers", "", key, None)).unwrap();
        authorize(&deps, &e).await.expect("a context")
    };

    let staff = context_for(&key).await;
    assert_eq!(staff["kind"], "staff");
    assert_eq!(staff["role"], "owner");
    assert!(staff["tenant_id"].as_str().unwrap().starts_with("ten_"));
    assert!(
        staff.as_object().unwrap().values().all(Value::is_string),
        "simple-response context values are strings: {staff}"
    );
    assert!(
        !staff.to_string().contains(&key),
        "the secret never travels in the context"
    );
    assert_eq!(
        context_for(operator).await,
        json!({"kind": "operator", "key_id": operator_id})
    );
    for bad in ["tk_wrong", "Basic abc", "", &"x".repeat(10_000)] {
        assert_eq!(
            context_for(bad).await,
            json!({"kind": "anonymous"}),
            "{bad:.20}"
        );
    }

    // The route answers `anonymous` with 401 problem+json; it never authenticates the
    // header itself, so a valid key without the authorizer's context is 401 too.
    let list = App::new(deps.clone(), &[&routes::CUSTOMERS_LIST]);
    let bare = event("GET", "/v1/customers", "", &key, None);
    let resp =
        functions::lambda::handle(&list, lambda_http::request::from_str(&bare).unwrap()).await;
    assert_eq!(resp.status(), 401);
    let mut forged: Value = serde_json::from_str(&bare).unwrap();
    forged["requestContext"]["authorizer"] = json!({"lambda": {"kind": "staff", "tenant_id": staff["tenant_id"], "role": "superuser", "actor": "x"}});
    let resp = functions::lambda::handle(
        &list,
        lambda_http::request::from_str(&forged.to_string()).unwrap(),
    )
    .await;
    assert_eq!(
        resp.status(),
        401,
        "a context that is not a principal is no principal"
    );
    let through = through_gateway(&deps, &bare).await;
    let resp =
        functions::lambda::handle(&list, lambda_http::request::from_str(&through).unwrap()).await;
    assert_eq!(resp.status(), 200);

    // A revoked key is anonymous at its next authorization (API Gateway's cache of
    // 30 s aside, which the template states).
    let tenant_id = staff["tenant_id"].as_str().unwrap();
    let draft = serde_json::from_value(json!({"name": "short-lived", "role": "member"})).unwrap();
    let scope = tenantry_tests::owner_scope(tenant_id);
    let short = api_keys::create(&deps, &scope, &draft).await.unwrap();
    let secret = short.secret.as_str();
    assert_eq!(context_for(secret).await["kind"], "staff");
    api_keys::delete(&deps, &scope, &short.key.id)
        .await
        .unwrap();
    assert_eq!(context_for(secret).await, json!({"kind": "anonymous"}));
}

/// Bytes that are not UTF-8 (a PDF's binary marker, a NUL, a lone continuation byte).
const NOT_TEXT: &[u8] = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n\x00\xff\xfe\x80 end";

async fn answer_bytes(
    _cx: functions::api::Ctx<'_>,
) -> Result<functions::api::Reply, tenantry::Error> {
    Ok(functions::api::Reply::bytes(
        http::HeaderValue::from_static("application/pdf"),
        bytes::Bytes::from_static(NOT_TEXT),
    ))
}

fn bytes_handler(cx: functions::api::Ctx<'_>) -> routes::Handled<'_> {
    Box::pin(answer_bytes(cx))
}

/// A route of this test's own that answers a document's bytes.
static DOCUMENT: routes::Route = routes::Route {
    name: "DOCUMENT",
    method: http::Method::GET,
    path: "/v1/test-document",
    binary: "test-document",
    permission: tenantry::access::Permission::Public,
    needs: routes::STORE,
    handler: bytes_handler,
};

/// A GET of `path` with no credential, as lambda_http receives it.
fn public_event(path: &str) -> lambda_http::request::LambdaRequest {
    let mut e: Value = serde_json::from_str(&event("GET", path, "", "", None)).unwrap();
    e["headers"]
        .as_object_mut()
        .unwrap()
        .remove("authorization");
    serde_json::from_value(e).unwrap()
}

#[tokio::test]
async fn a_binary_body_leaves_the_lambda_base64_encoded_and_the_local_server_untouched() {
    use base64::Engine;
    use lambda_http::Service;
    let dir = tempfile::tempdir().unwrap();
    let deps = Deps::new(Arc::new(
        EmbeddedStore::open(dir.path().join("b.redb")).unwrap(),
    ));
    let app = Arc::new(App::new(deps.clone(), &[&DOCUMENT]));

    // The Lambda home, through lambda_http's own adapter: the response API Gateway gets.
    let request = public_event("/v1/test-document");
    let served = app.clone();
    let mut adapter = lambda_http::Adapter::from(lambda_http::service_fn(move |req| {
        let app = served.clone();
        async move { Ok::<_, lambda_http::Error>(functions::lambda::handle(&app, req).await) }
    }));
    let response = adapter
        .call(lambda_http::LambdaEvent::new(
            request,
            lambda_http::Context::default(),
        ))
        .await
        .unwrap();
    let wire = serde_json::to_value(&response).unwrap();
    assert_eq!(wire["statusCode"], 200, "{wire}");
    assert_eq!(wire["isBase64Encoded"], true, "{wire}");
    assert_eq!(wire["headers"]["content-type"], "application/pdf", "{wire}");
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(wire["body"].as_str().unwrap())
        .unwrap();
    assert_eq!(decoded, NOT_TEXT);

    // The local server: the same bytes on the wire.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(functions::server::serve(listener, app));
    let resp = reqwest::get(format!("http://{addr}/v1/test-document"))
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "application/pdf");
    assert_eq!(resp.bytes().await.unwrap().as_ref(), NOT_TEXT);

    // JSON stays text on the Lambda side.
    let request = public_event("/v1/nothing-here");
    let response = adapter
        .call(lambda_http::LambdaEvent::new(
            request,
            lambda_http::Context::default(),
        ))
        .await
        .unwrap();
    let wire = serde_json::to_value(&response).unwrap();
    assert_eq!(wire["statusCode"], 404, "{wire}");
    assert_eq!(wire["isBase64Encoded"], false, "{wire}");
    assert!(
        wire["body"].as_str().unwrap().contains("not-found"),
        "{wire}"
    );
}
