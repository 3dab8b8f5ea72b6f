//! What API Gateway does in front of a route function: run the HTTP API's Lambda
//! authorizer on the request's `Authorization` header and put its context into the
//! route's event (`requestContext.authorizer.lambda`).

use lambda_http::aws_lambda_events::apigw::ApiGatewayV2CustomAuthorizerV2Request;
use serde_json::{Value, json};
use tenantry::Deps;

/// The authorizer's event (REQUEST, payload 2.0) for a route's event.
pub fn authorizer_event(route_event: &Value) -> Value {
    let mut context = route_event["requestContext"].clone();
    if let Some(c) = context.as_object_mut() {
        c.remove("authorizer");
    }
    let header = route_event["headers"]["authorization"].clone();
    json!({
        "version": "2.0",
        "type": "REQUEST",
        "routeArn": format!(
            "arn:aws:execute-api:us-east-1:123456789012:api/$default/{}{}",
            route_event["requestContext"]["http"]["method"].as_str().unwrap_or("GET"),
            route_event["rawPath"].as_str().unwrap_or("/"),
        ),
        "identitySource": if header.is_null() { json!([]) } else { json!([header]) },
        "routeKey": route_event["routeKey"],
        "rawPath": route_event["rawPath"],
        "rawQueryString": route_event["rawQueryString"],
        "headers": route_event["headers"],
        "requestContext": context,
    })
}

/// Runs the authorizer (`functions::lambda::authorizer`) for a route's event and returns
/// its context. A request without an Authorization header never reaches it (API
/// Gateway answers 401 itself): `None`.
pub async fn authorize(deps: &Deps, route_event: &Value) -> Option<Value> {
    route_event["headers"].get("authorization")?;
    let request: ApiGatewayV2CustomAuthorizerV2Request =
        serde_json::from_value(authorizer_event(route_event)).expect("an authorizer event");
    let response = functions::lambda::authorizer(deps, &request)
        .await
        .expect("the authorizer answers");
    assert!(
        response.is_authorized,
        "the authorizer lets every request with a header through"
    );
    Some(response.context)
}

/// The route's event as its function receives it: the authorizer's context in place.
pub async fn through_gateway(deps: &Deps, route_event: &str) -> String {
    let mut event: Value = serde_json::from_str(route_event).expect("a JSON event");
    if let Some(context) = authorize(deps, &event).await {
        event["requestContext"]["authorizer"] = json!({ "lambda": context });
    }
    event.to_string()
}
