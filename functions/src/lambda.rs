//! The Lambda homes: the API's authorizer, a route's (DynamoDB from `TABLE_NAME`, the
//! same `api::dispatch`), the scheduled purge's and the mail sender's.

use std::sync::Arc;

use bytes::Bytes;
use lambda_http::aws_lambda_events::apigw::{
    ApiGatewayV2CustomAuthorizerSimpleResponse, ApiGatewayV2CustomAuthorizerV2Request,
};
use lambda_http::request::RequestContext;
use lambda_http::{Body, Error, Request, RequestExt, Response, service_fn};
use serde_json::Value;
use tenantry::Deps;
use tenantry::access::Principal;
use tenantry::adapters::aws::{CognitoIdentity, DynamoStore, HttpJwks, SdkConfig};
use tenantry::service::auth;
use tenantry::service::tokens::Verifier;

use crate::api::{App, Authorizer, SourceIp, dispatch};
use crate::routes::Route;

/// The DynamoDB-backed dependencies of a function, from `TABLE_NAME`.
async fn deps_from_env() -> Result<Deps, Error> {
    deps_from(aws_config().await)
}

/// The DynamoDB-backed dependencies of `config`, from `TABLE_NAME`.
fn deps_from(config: &SdkConfig) -> Result<Deps, Error> {
    let table = std::env::var("TABLE_NAME").map_err(|_| "TABLE_NAME is not set")?;
    Ok(Deps::new(Arc::new(DynamoStore::from_config(config, table))))
}

/// The process's one AWS configuration: every client of a function shares it (and its
/// HTTPS client and trust store), so a second client costs no second setup at init.
async fn aws_config() -> &'static SdkConfig {
    static CONFIG: tokio::sync::OnceCell<SdkConfig> = tokio::sync::OnceCell::const_new();
    CONFIG
        .get_or_init(tenantry::adapters::aws::sdk_config)
        .await
}

/// The token verifier of the AWS home: each pool's keys from Cognito over HTTPS.
fn token_verifier() -> Arc<Verifier> {
    Arc::new(Verifier::new(Arc::new(HttpJwks::from_env())))
}

/// The `main` of a route's Lambda binary: `functions::lambda_main!(CUSTOMERS_GET);` in
/// `src/bin/customers-get.rs`. The route's constant is named statically, so the binary
/// links its handler and the clients of its declared `needs`, and no other route.
#[macro_export]
macro_rules! lambda_main {
    ($route:ident) => {
        #[tokio::main(flavor = "current_thread")]
        async fn main() -> Result<(), lambda_http::Error> {
            $crate::lambda::serve::<
                { $crate::routes::$route.needs.identity },
                { $crate::routes::$route.needs.vault },
                { $crate::routes::$route.needs.http },
                { $crate::routes::$route.needs.documents },
            >(&$crate::routes::$route)
            .await
        }
    };
}

/// Runs the Lambda that serves `route`. `IDENTITY`, `VAULT`, `HTTP` and `DOCUMENTS` are
/// the route's `needs`, constants, so a route that does not need Cognito, KMS, outbound
/// HTTP or S3 does not link its client, and one that does always has it.
pub async fn serve<
    const IDENTITY: bool,
    const VAULT: bool,
    const HTTP: bool,
    const DOCUMENTS: bool,
>(
    route: &'static Route,
) -> Result<(), Error> {
    crate::init_tracing();
    debug_assert_eq!(IDENTITY, route.needs.identity);
    debug_assert_eq!(VAULT, route.needs.vault);
    debug_assert_eq!(HTTP, route.needs.http);
    debug_assert_eq!(DOCUMENTS, route.needs.documents);
    let deps = route_deps::<IDENTITY, VAULT, HTTP, DOCUMENTS>(aws_config().await)?;
    let app = Arc::new(App::new(deps, &[route]));
    lambda_http::run(service_fn(move |req: Request| {
        let app = app.clone();
        async move { Ok::<_, Error>(handle(&app, req).await) }
    }))
    .await
}

/// A route's dependencies: the store and what its `needs` name. Not `async`, and no
/// await inside a branch: a branch on a `false` constant is then dead code that link-time
/// optimisation removes with the clients it builds. An await inside one would be a state
/// of `serve`'s future, reachable for the optimiser from its resume switch, and would
/// link the client (Cognito, KMS, S3) into every route's function, about 0.45 MB of zip.
fn route_deps<const IDENTITY: bool, const VAULT: bool, const HTTP: bool, const DOCUMENTS: bool>(
    config: &SdkConfig,
) -> Result<Deps, Error> {
    let deps = deps_from(config)?;
    let deps = if IDENTITY {
        deps.with_identity_provider(Arc::new(CognitoIdentity::from_config(config)))
    } else {
        deps.without_identity_wired()
    };
    let deps = if VAULT {
        deps.with_vault(kms_vault(config)?)
    } else {
        deps
    };
    let deps = if HTTP {
        deps.with_outbound(Arc::new(tenantry::adapters::http::HttpSender::public_only()))
    } else {
        deps
    };
    Ok(if DOCUMENTS {
        deps.with_documents(s3_documents(config)?)
    } else {
        deps
    })
}

/// The vault of the AWS home: envelope encryption under the stack's key (`KMS_KEY_ID`).
fn kms_vault(config: &SdkConfig) -> Result<Arc<tenantry::adapters::aws::KmsVault>, Error> {
    let key = std::env::var("KMS_KEY_ID").map_err(|_| "KMS_KEY_ID is not set")?;
    Ok(Arc::new(tenantry::adapters::aws::KmsVault::from_config(
        config, key,
    )))
}

/// Runs the HTTP API's Lambda authorizer (REQUEST type, payload 2.0, simple responses).
pub async fn serve_authorizer() -> Result<(), Error> {
    crate::init_tracing();
    let deps = deps_from_env().await?.with_tokens(token_verifier());
    lambda_runtime::run(lambda_runtime::service_fn(
        move |event: lambda_runtime::LambdaEvent<ApiGatewayV2CustomAuthorizerV2Request>| {
            let deps = deps.clone();
            async move { authorizer(&deps, &event.payload).await }
        },
    ))
    .await
}

/// The `kind` of the authorizer context when the request carries no valid credential.
pub const ANONYMOUS: &str = "anonymous";

/// One authorizer decision: `authenticate()` on the Authorization header. A principal
/// travels to the route function as the context (flat strings, see `Principal`).
///
/// A request without a valid credential is let through as `anonymous` rather than
/// refused: an HTTP API answers an authorizer's refusal with its own 403
/// `{"message":"Forbidden"}`, which nothing can reshape, while the route function answers
/// `anonymous` with the API's 401 problem+json at no store cost. A store failure is an
/// error (API Gateway answers 500 and caches nothing).
pub async fn authorizer(
    deps: &Deps,
    event: &ApiGatewayV2CustomAuthorizerV2Request,
) -> Result<ApiGatewayV2CustomAuthorizerSimpleResponse, Error> {
    let header = event
        .headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let context = match auth::authenticate(deps, auth::bearer(header)).await {
        Ok(principal) => serde_json::to_value(&principal)?,
        Err(tenantry::Error::Unauthenticated) => serde_json::json!({ "kind": ANONYMOUS }),
        Err(e) => {
            tracing::error!(
                error = format!("{e:#}"),
                "the authorizer could not authenticate"
            );
            return Err(Error::from("authentication is unavailable; see the log"));
        }
    };
    let mut response = ApiGatewayV2CustomAuthorizerSimpleResponse::default();
    response.is_authorized = true;
    response.context = context;
    Ok(response)
}

/// The principal the authorizer put in the request context; `None` for `anonymous`, for
/// a request that did not pass through it, or for a context that is not a principal.
pub fn principal_of(req: &Request) -> Option<Principal> {
    let Some(RequestContext::ApiGatewayV2(cx)) = req.request_context_ref() else {
        return None;
    };
    let fields = &cx.authorizer.as_ref()?.fields;
    let object: serde_json::Map<String, Value> =
        fields.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    serde_json::from_value(Value::Object(object)).ok()
}

/// Converts an API Gateway request to the shared pipeline and back. The caller is the
/// one the authorizer established; the credential is not looked at again.
pub async fn handle(app: &App, req: Request) -> Response<Body> {
    let authn = Authorizer(principal_of(&req));
    let source = match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(cx)) => cx.http.source_ip.clone().map(SourceIp),
        _ => None,
    };
    // API Gateway puts a named stage in front of the path; route on the raw path.
    let raw_path = req.raw_http_path().to_owned();
    let (mut parts, body) = req.into_parts();
    if let Some(source) = source {
        parts.extensions.insert(source);
    }
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
    let response = dispatch(app, http::Request::from_parts(parts, bytes), authn).await;
    // Text stays text; anything else (a PDF, an image) goes out as bytes, which API
    // Gateway receives base64-encoded with `isBase64Encoded`.
    let textual = response
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(is_text);
    response.map(|b| {
        if b.is_empty() {
            Body::Empty
        } else if textual && let Ok(text) = String::from_utf8(b.to_vec()) {
            Body::Text(text)
        } else {
            Body::Binary(b.to_vec())
        }
    })
}

/// A media type whose body is text: JSON and problem+json, HTML, `text/*`.
fn is_text(content_type: &str) -> bool {
    let mime = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    mime.starts_with("text/") || mime == "application/json" || mime.ends_with("+json")
}

/// Runs the Lambda of the daily purge (an EventBridge Scheduler target). Purged users'
/// logins leave their tenant's Cognito pool.
pub async fn serve_purge() -> Result<(), Error> {
    crate::init_tracing();
    let deps = deps_from_env()
        .await?
        .with_identity_provider(Arc::new(CognitoIdentity::from_config(aws_config().await)));
    lambda_runtime::run(lambda_runtime::service_fn(
        move |event: lambda_runtime::LambdaEvent<serde_json::Value>| {
            let deps = deps.clone();
            async move { purge(&deps, &event.payload).await }
        },
    ))
    .await
}

/// One purge run. Customers whose purge failed stay due and are retried next run; the
/// run itself fails (and the scheduler retries it) only when the store is unusable.
/// The event `{"backfill_due_index": true}`, sent by hand once after the upgrade to the
/// due-work index, moves purges scheduled before it into the index instead.
pub async fn purge(deps: &Deps, event: &serde_json::Value) -> Result<serde_json::Value, Error> {
    if is_backfill(event) {
        let moved = tenantry::service::purge::backfill_due(deps)
            .await
            .map_err(|e| failed("the purge backfill", &e))?;
        return Ok(serde_json::json!({ "backfilled": moved }));
    }
    let report = tenantry::service::purge::run(deps, deps.clock.now())
        .await
        .map_err(|e| failed("the purge run", &e))?;
    Ok(serde_json::to_value(&report)?)
}

/// Runs the Lambda of the billing jobs (EventBridge Scheduler, every 15 minutes): the
/// month's invoice run once it is due (handed out on the SQS queue, one message per
/// tenant), review windows that ended, dunning steps.
pub async fn serve_billing_jobs() -> Result<(), Error> {
    crate::init_tracing();
    let deps = deps_from_env()
        .await?
        .with_identity_provider(Arc::new(CognitoIdentity::from_config(aws_config().await)))
        .with_work_queue(sqs_queue().await?);
    lambda_runtime::run(lambda_runtime::service_fn(
        move |_: lambda_runtime::LambdaEvent<serde_json::Value>| {
            let deps = deps.clone();
            async move { billing_jobs(&deps).await }
        },
    ))
    .await
}

/// One round of the billing jobs.
pub async fn billing_jobs(deps: &Deps) -> Result<serde_json::Value, Error> {
    let report = tenantry::service::jobs::run_billing(deps, deps.clock.now())
        .await
        .map_err(|e| failed("the billing jobs", &e))?;
    Ok(serde_json::to_value(&report)?)
}

/// The invoice run's SQS queue, `INVOICE_RUN_QUEUE_URL`.
async fn sqs_queue() -> Result<Arc<tenantry::adapters::aws::SqsQueue>, Error> {
    let url =
        std::env::var("INVOICE_RUN_QUEUE_URL").map_err(|_| "INVOICE_RUN_QUEUE_URL is not set")?;
    Ok(Arc::new(tenantry::adapters::aws::SqsQueue::from_config(
        aws_config().await,
        url,
    )))
}

/// Time a worker keeps for itself before its timeout: it starts no step after the
/// invocation's deadline less this, hands the rest on and answers.
const WORKER_RESERVE: std::time::Duration = std::time::Duration::from_secs(30);

/// Runs the invoice run's worker (the SQS queue's consumer): each message bills one
/// tenant's month from its stored cursor until done or out of time.
pub async fn serve_invoices_worker() -> Result<(), Error> {
    crate::init_tracing();
    let deps = deps_from_env().await?.with_work_queue(sqs_queue().await?);
    lambda_runtime::run(lambda_runtime::service_fn(
        move |event: lambda_runtime::LambdaEvent<serde_json::Value>| {
            let deps = deps.clone();
            async move {
                let left = std::time::Duration::from_millis(event.context.deadline)
                    .checked_sub(
                        std::time::SystemTime::now()
                            .duration_since(std::time::UNIX_EPOCH)
                            .unwrap_or_default(),
                    )
                    .unwrap_or_default();
                let until = std::time::Instant::now() + left.saturating_sub(WORKER_RESERVE);
                invoices_worker(&deps, &event.payload, until).await
            }
        },
    ))
    .await
}

/// One SQS batch of the invoice run, its messages worked at once. A message that
/// failed (the store, the queue) or does not read is reported back
/// (`batchItemFailures`): SQS delivers it again after its visibility timeout, and after
/// the queue's last try moves it to the dead-letter queue; the log says why.
pub async fn invoices_worker(
    deps: &Deps,
    event: &serde_json::Value,
    until: std::time::Instant,
) -> Result<serde_json::Value, Error> {
    use tenantry::service::invoice_run::{self, RunMessage, Worked};
    let queue = deps
        .work_queue()
        .ok_or("the invoice run's worker has no work queue")?;
    let records = event
        .get("Records")
        .and_then(|r| r.as_array())
        .ok_or("not an SQS batch: no Records")?;
    let outcomes = futures::future::join_all(records.iter().map(|record| async move {
        let id = record["messageId"].as_str().unwrap_or_default().to_owned();
        let body = record["body"].as_str().unwrap_or_default();
        let outcome = match RunMessage::read(body) {
            Ok((message, tenant, period)) => {
                invoice_run::work(deps, queue.as_ref(), &message, &tenant, period, until)
                    .await
                    .map_err(|e| format!("{e:#}"))
            }
            Err(why) => Err(why),
        };
        if let Err(why) = &outcome {
            tracing::error!(message = %id, error = %why, "an invoice run message failed");
        }
        (id, outcome)
    }))
    .await;
    let mut failures = Vec::new();
    let (mut done, mut continued) = (0u64, 0u64);
    for (id, outcome) in outcomes {
        match outcome {
            Ok(Worked::Done | Worked::Gone) => done += 1,
            Ok(Worked::Continued) => continued += 1,
            Err(_) => failures.push(serde_json::json!({ "itemIdentifier": id })),
        }
    }
    tracing::info!(
        records = records.len(),
        done,
        continued,
        failed = failures.len(),
        "invoice run batch"
    );
    Ok(serde_json::json!({
        "batchItemFailures": failures,
        "done": done,
        "continued": continued,
    }))
}

/// The S3 document store of `DOCUMENTS_BUCKET`.
fn s3_documents(config: &SdkConfig) -> Result<Arc<tenantry::adapters::aws::S3Documents>, Error> {
    let bucket = std::env::var("DOCUMENTS_BUCKET").map_err(|_| "DOCUMENTS_BUCKET is not set")?;
    Ok(Arc::new(tenantry::adapters::aws::S3Documents::from_config(
        config, bucket,
    )))
}

/// Runs the Lambda that renders and stores final documents (EventBridge Scheduler,
/// every minute): the only function that links the PDF writer (the document route
/// serves what it stored).
pub async fn serve_documents_render() -> Result<(), Error> {
    crate::init_tracing();
    let deps = deps_from_env()
        .await?
        .with_documents(s3_documents(aws_config().await)?);
    lambda_runtime::run(lambda_runtime::service_fn(
        move |_: lambda_runtime::LambdaEvent<serde_json::Value>| {
            let deps = deps.clone();
            async move { documents_render(&deps).await }
        },
    ))
    .await
}

/// One sweep of the documents that are due.
pub async fn documents_render(deps: &Deps) -> Result<serde_json::Value, Error> {
    let render = &crate::document::render;
    let report = tenantry::service::documents::store_due(deps, render, deps.clock.now())
        .await
        .map_err(|e| failed("the document sweep", &e))?;
    Ok(serde_json::to_value(&report)?)
}

/// Runs the Lambda that delivers the email outbox: on the table's stream (new pending
/// emails, at once) and on a schedule (retries that have come due). It reads the
/// documents the emails attach from S3.
pub async fn serve_mail_sender() -> Result<(), Error> {
    crate::init_tracing();
    let deps = deps_from_env()
        .await?
        .with_documents(s3_documents(aws_config().await)?);
    let mailer = Arc::new(tenantry::adapters::aws::SesMailer::from_config(
        aws_config().await,
    ));
    let settings = Arc::new(tenantry::service::mail::MailSettings::from_env());
    lambda_runtime::run(lambda_runtime::service_fn(
        move |event: lambda_runtime::LambdaEvent<serde_json::Value>| {
            let (deps, mailer, settings) = (deps.clone(), mailer.clone(), settings.clone());
            async move { mail_sender(&deps, mailer.as_ref(), &settings, &event.payload).await }
        },
    ))
    .await
}

/// One invocation of the mail sender. A DynamoDB stream batch (`Records`): each record
/// of a pending outbox email is delivered; records whose delivery hit a store error are
/// reported back (`batchItemFailures`) so Lambda retries just those. Anything else (the
/// scheduler's event): one sweep of every due email.
pub async fn mail_sender(
    deps: &Deps,
    mailer: &dyn tenantry::ports::Mailer,
    settings: &tenantry::service::mail::MailSettings,
    event: &serde_json::Value,
) -> Result<serde_json::Value, Error> {
    use tenantry::service::mail;
    if is_backfill(event) {
        let written = mail::backfill_due(deps)
            .await
            .map_err(|e| failed("the email backfill", &e))?;
        return Ok(serde_json::json!({ "backfilled": written }));
    }
    let Some(records) = event.get("Records").and_then(|r| r.as_array()) else {
        let report = mail::deliver_due(deps, mailer, settings)
            .await
            .map_err(|e| failed("the email sweep", &e))?;
        return Ok(serde_json::to_value(&report)?);
    };
    let mut failures = Vec::new();
    let mut delivered = 0u64;
    for record in records {
        let ddb = &record["dynamodb"];
        let text = |v: &serde_json::Value| v.get("S").and_then(|s| s.as_str()).map(str::to_owned);
        let (Some(pk), Some(sk)) = (text(&ddb["Keys"]["pk"]), text(&ddb["Keys"]["sk"])) else {
            continue;
        };
        let Some(tenant_id) = tenantry::store::keys::outbox_tenant(&pk) else {
            continue;
        };
        if text(&ddb["NewImage"]["data"]["M"]["state"]).as_deref() != Some("pending") {
            continue;
        }
        let email_id = tenantry::model::ids::EmailId::from_record(sk.as_str());
        match mail::deliver(deps, mailer, settings, &tenant_id, &email_id).await {
            Ok(mail::Outcome::Sent) => delivered += 1,
            Ok(_) => {}
            Err(e) => {
                tracing::error!(error = format!("{e:#}"), email = %sk, "delivering an email failed");
                if let Some(seq) = ddb.get("SequenceNumber") {
                    failures.push(serde_json::json!({ "itemIdentifier": seq }));
                }
            }
        }
    }
    tracing::info!(
        records = records.len(),
        delivered,
        failed = failures.len(),
        "stream batch"
    );
    Ok(serde_json::json!({ "batchItemFailures": failures }))
}

/// Runs the outbox worker: provisioning requests and webhook messages, on the table's
/// stream (a new one, at once) and on a schedule (retries that have come due). It
/// creates customers (the identity provider), opens signing secrets (KMS) and sends
/// webhooks to public https addresses.
pub async fn serve_outbox_worker() -> Result<(), Error> {
    crate::init_tracing();
    let deps = deps_from_env()
        .await?
        .with_identity_provider(Arc::new(CognitoIdentity::from_config(aws_config().await)))
        .with_vault(kms_vault(aws_config().await)?);
    let sender = Arc::new(tenantry::adapters::http::HttpSender::public_only());
    lambda_runtime::run(lambda_runtime::service_fn(
        move |event: lambda_runtime::LambdaEvent<serde_json::Value>| {
            let (deps, sender) = (deps.clone(), sender.clone());
            async move { outbox_worker(&deps, sender.as_ref(), &event.payload).await }
        },
    ))
    .await
}

/// One invocation of the outbox worker. A DynamoDB stream batch (`Records`): each new
/// provisioning request or webhook message is worked, all at once; those whose work hit
/// a store error are reported back (`batchItemFailures`). Anything else (the
/// scheduler's event): one sweep of each kind's due work.
pub async fn outbox_worker(
    deps: &Deps,
    sender: &dyn tenantry::ports::WebhookSender,
    event: &serde_json::Value,
) -> Result<serde_json::Value, Error> {
    use tenantry::service::{events, provisioning};
    use tenantry::store::keys;
    let Some(records) = event.get("Records").and_then(|r| r.as_array()) else {
        let (requests, messages) = futures::join!(
            provisioning::work_due(deps),
            events::deliver_due(deps, sender)
        );
        let requests = requests.map_err(|e| failed("the provisioning sweep", &e))?;
        let messages = messages.map_err(|e| failed("the webhook sweep", &e))?;
        return Ok(serde_json::json!({ "provisioning": requests, "webhooks": messages }));
    };
    let work = records.iter().map(|record| async move {
        let ddb = &record["dynamodb"];
        let pk = ddb["Keys"]["pk"]["S"].as_str()?;
        let result = if let Some((tenant_id, id)) = keys::provisioning_target(pk) {
            provisioning::work(deps, &tenant_id, &id).await.map(|_| ())
        } else if let Some((tenant_id, id)) = keys::webhook_message_target(pk) {
            events::deliver(deps, sender, &tenant_id, &id)
                .await
                .map(|_| ())
        } else {
            return None;
        };
        match result {
            Ok(()) => None,
            Err(e) => {
                tracing::error!(error = format!("{e:#}"), key = pk, "outbox work failed");
                ddb.get("SequenceNumber")
                    .map(|seq| serde_json::json!({ "itemIdentifier": seq }))
            }
        }
    });
    let failures: Vec<serde_json::Value> = futures::future::join_all(work)
        .await
        .into_iter()
        .flatten()
        .collect();
    tracing::info!(
        records = records.len(),
        failed = failures.len(),
        "stream batch"
    );
    Ok(serde_json::json!({ "batchItemFailures": failures }))
}

/// The one-time upgrade event of a scheduled function: `{"backfill_due_index": true}`.
fn is_backfill(event: &serde_json::Value) -> bool {
    event.get("backfill_due_index") == Some(&serde_json::Value::Bool(true))
}

/// Logs a job's failure with its cause chain and answers an opaque error.
fn failed(what: &str, e: &tenantry::Error) -> Error {
    tracing::error!(error = format!("{e:#}"), "{what} failed");
    Error::from(format!("{what} failed; see the log"))
}
