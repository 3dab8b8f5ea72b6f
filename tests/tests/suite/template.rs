//! The SAM template, the route table and the events agree (issue 5, section 2).
//!
//! - every route of `functions::routes::ROUTES` has exactly one operation in the HTTP
//!   API's `DefinitionBody`, invoking (with `ApiInvokeRole`) the one function of
//!   `infra/template.yaml` with its `Binary`, and the binary's source exists;
//! - every function serves a route (or a schedule, or the outbox stream), is built by
//!   cargo-lambda for provided.al2023 on arm64, and its policy names the table;
//! - no policy statement has a `*` action; DynamoDB statements are scoped with
//!   `dynamodb:LeadingKeys`, and tenant-scoped functions reach only `T#*` and the
//!   API-key lookups `P#APIKEY#*`;
//! - every route has an event, `events/<binary>.json`, a real API Gateway HTTP API (v2)
//!   request that `lambda_http` parses, with the route's method and a path it matches;
//! - replayed through its function over the embedded store, each event succeeds, and
//!   every store call it makes is allowed by that function's policy.
//!
//! The offline linters (cfn-lint, `sam validate --lint`) run in `scripts/check_template`.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use functions::api::App;
use functions::routes::{ROUTES, Route};
use lambda_http::RequestExt;
use lambda_http::request::RequestContext;
use serde_norway::Value;
use tenantry::Deps;
use tenantry::adapters::embedded::EmbeddedStore;
use tenantry::ports::{Condition, Index, Item, ItemStore, Key, Page, Query, StoreError, WriteOp};
use tenantry::service::auth;
use tenantry_tests::counted::{CognitoCall, CountedIdentity, PoolKind};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits in the repository")
        .to_path_buf()
}

fn template() -> Value {
    let path = repo().join("infra/template.yaml");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_norway::from_str(&text).unwrap_or_else(|e| panic!("parsing {}: {e}", path.display()))
}

/// An intrinsic function in either form: `!GetAtt Table.Arn` or `{"Fn::GetAtt": [...]}`.
fn intrinsic(v: &Value) -> Option<(String, &Value)> {
    match v {
        Value::Tagged(t) => Some((
            t.tag.to_string().trim_start_matches('!').to_owned(),
            &t.value,
        )),
        Value::Mapping(m) if m.len() == 1 => {
            let (k, arg) = m.iter().next()?;
            let k = k.as_str()?;
            if k == "Ref" {
                Some(("Ref".into(), arg))
            } else {
                k.strip_prefix("Fn::").map(|name| (name.to_owned(), arg))
            }
        }
        _ => None,
    }
}

/// Does this value refer to the `Table` resource (Ref, GetAtt or Sub), anywhere inside?
fn mentions_table(v: &Value) -> bool {
    if let Some((name, arg)) = intrinsic(v) {
        let hit = match name.as_str() {
            "Ref" => arg.as_str() == Some("Table"),
            "GetAtt" => {
                arg.as_str().is_some_and(|s| s.starts_with("Table."))
                    || arg
                        .as_sequence()
                        .and_then(|s| s.first())
                        .and_then(Value::as_str)
                        == Some("Table")
            }
            "Sub" => {
                let s = arg.as_str().or_else(|| {
                    arg.as_sequence()
                        .and_then(|s| s.first())
                        .and_then(Value::as_str)
                });
                s.is_some_and(|s| s.contains("${Table.") || s.contains("${Table}"))
            }
            _ => false,
        };
        if hit {
            return true;
        }
        return mentions_table(arg);
    }
    match v {
        Value::Sequence(s) => s.iter().any(mentions_table),
        Value::Mapping(m) => m.values().any(mentions_table),
        _ => false,
    }
}

fn strings(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Sequence(items)) => items
            .iter()
            .map(|i| {
                i.as_str()
                    .unwrap_or_else(|| panic!("expected a string, not {i:?}"))
                    .to_owned()
            })
            .collect(),
        None => vec![],
        Some(other) => panic!("expected a string or a list of strings, not {other:?}"),
    }
}

/// One `AWS::Serverless::Function` of the template.
struct Function<'a> {
    logical_id: String,
    binary: String,
    resource: &'a Value,
    globals: Option<&'a Value>,
    /// (METHOD, path) of every operation of the HTTP API that invokes it.
    routes: Vec<(String, String)>,
}

impl<'a> Function<'a> {
    fn own(&self, key: &str) -> Option<&'a Value> {
        self.resource.get("Properties").and_then(|p| p.get(key))
    }
    /// The property as deployed: the function's own, else the template's Globals.
    fn effective(&self, key: &str) -> Option<&'a Value> {
        self.own(key)
            .or_else(|| self.globals.and_then(|g| g.get(key)))
    }
    fn events(&self) -> Vec<(&'a str, &'a Value)> {
        let Some(Value::Mapping(events)) = self.own("Events") else {
            return vec![];
        };
        events
            .values()
            .map(|e| {
                (
                    e.get("Type").and_then(Value::as_str).unwrap_or_default(),
                    e.get("Properties").unwrap_or(&Value::Null),
                )
            })
            .collect()
    }
    /// (METHOD, path) of every operation of the HTTP API that invokes it.
    fn http_routes(&self) -> Vec<(String, String)> {
        self.routes.clone()
    }
    /// Every inline policy statement. Policy templates and managed policies are refused:
    /// they hide which actions a function gets.
    fn statements(&self) -> Vec<&'a Value> {
        let mut out = Vec::new();
        let Some(policies) = self.own("Policies") else {
            return out;
        };
        let list = policies
            .as_sequence()
            .unwrap_or_else(|| panic!("{}: Policies is not a list", self.logical_id));
        for p in list {
            let Some(statement) = p.get("Statement") else {
                panic!(
                    "{}: only inline policy documents (Version + Statement) here, so every action is visible; found {p:?}",
                    self.logical_id
                );
            };
            match statement {
                Value::Sequence(s) => out.extend(s.iter()),
                one => out.push(one),
            }
        }
        out
    }
}

fn functions(t: &Value) -> Vec<Function<'_>> {
    let globals = t.get("Globals").and_then(|g| g.get("Function"));
    let operations = api_operations(t);
    let resources = t
        .get("Resources")
        .and_then(Value::as_mapping)
        .expect("the template has Resources");
    resources
        .iter()
        .filter(|(_, r)| r.get("Type").and_then(Value::as_str) == Some("AWS::Serverless::Function"))
        .map(|(id, r)| {
            let logical_id = id.as_str().unwrap_or_default().to_owned();
            let binary = r
                .get("Metadata")
                .and_then(|m| m.get("BuildProperties"))
                .and_then(|b| b.get("Binary"))
                .and_then(Value::as_str)
                .unwrap_or_else(|| panic!("{logical_id}: no Metadata.BuildProperties.Binary"))
                .to_owned();
            let routes = operations
                .iter()
                .filter(|o| o.function.as_deref() == Some(logical_id.as_str()))
                .map(|o| (o.method.clone(), o.path.clone()))
                .collect();
            Function {
                logical_id,
                binary,
                resource: r,
                globals,
                routes,
            }
        })
        .collect()
}

/// One operation of the HTTP API's `DefinitionBody` (the routes live there, not in
/// functions' events: see `ApiInvokeRole` in the template).
struct Operation<'a> {
    method: String,
    path: String,
    /// The logical id of the function its integration's `uri` invokes.
    function: Option<String>,
    definition: &'a Value,
}

fn api_operations(t: &Value) -> Vec<Operation<'_>> {
    let Some(paths) = t["Resources"]["HttpApi"]["Properties"]
        .get("DefinitionBody")
        .and_then(|b| b.get("paths"))
        .and_then(Value::as_mapping)
    else {
        return vec![];
    };
    let mut out = Vec::new();
    for (path, item) in paths {
        let path = path.as_str().unwrap_or_default().to_owned();
        for (method, definition) in item.as_mapping().into_iter().flatten() {
            let uri = definition
                .get("x-amazon-apigateway-integration")
                .and_then(|i| i.get("uri"));
            let function = uri.and_then(intrinsic).and_then(|(n, v)| {
                let s = v.as_str()?;
                (n == "Sub").then_some(())?;
                let start = s.find("/functions/${")? + "/functions/${".len();
                let end = s[start..].find(".Arn}/invocations")?;
                Some(s[start..start + end].to_owned())
            });
            out.push(Operation {
                method: method.as_str().unwrap_or_default().to_ascii_uppercase(),
                path: path.clone(),
                function,
                definition,
            });
        }
    }
    out
}

fn binary_source(binary: &str) -> PathBuf {
    repo()
        .join("functions/src/bin")
        .join(format!("{binary}.rs"))
}

#[test]
fn every_route_has_exactly_one_function_with_its_method_path_and_binary() {
    let t = template();
    let fns = functions(&t);
    for route in ROUTES {
        let serving: Vec<&Function> = fns
            .iter()
            .filter(|f| {
                f.http_routes()
                    .iter()
                    .any(|(m, p)| m == route.method.as_str() && p == route.path)
            })
            .collect();
        assert_eq!(
            serving.len(),
            1,
            "{} {} is served by {} functions of infra/template.yaml, not exactly one",
            route.method,
            route.path,
            serving.len()
        );
        assert_eq!(
            serving[0].binary, route.binary,
            "{} serves {} {} but builds binary {}",
            serving[0].logical_id, route.method, route.path, serving[0].binary
        );
        assert!(
            binary_source(route.binary).is_file(),
            "{} has no source {}",
            route.binary,
            binary_source(route.binary).display()
        );
    }
}

#[test]
fn every_function_serves_a_route_or_a_schedule_and_is_built_for_lambda() {
    let t = template();
    let fns = functions(&t);
    assert!(!fns.is_empty(), "the template has no functions");
    let mut binaries = BTreeSet::new();
    for f in &fns {
        let id = &f.logical_id;
        assert!(
            binaries.insert(f.binary.clone()),
            "binary {} is built twice",
            f.binary
        );
        assert!(
            binary_source(&f.binary).is_file(),
            "{id}: no source {}",
            binary_source(&f.binary).display()
        );

        let http = f.http_routes();
        let is_authorizer = authorizer_function(&t).as_deref() == Some(id.as_str());
        let scheduled_or_streamed = is_authorizer
            || f.events()
                .iter()
                .any(|(kind, _)| matches!(*kind, "ScheduleV2" | "Schedule" | "DynamoDB" | "SQS"));
        match functions::routes::by_binary(&f.binary) {
            Some(route) => assert_eq!(
                http,
                vec![(route.method.as_str().to_owned(), route.path.to_owned())],
                "{id}: a route binary has exactly its route's HttpApi event"
            ),
            None => assert!(
                http.is_empty() && scheduled_or_streamed,
                "{id} ({}) serves no route of functions/src/routes.rs, has no schedule and is not the authorizer",
                f.binary
            ),
        }
        assert!(
            f.events().iter().all(|(kind, _)| *kind != "HttpApi"),
            "{id}: routes are operations of HttpApi's DefinitionBody, not HttpApi events (each event costs an AWS::Lambda::Permission)"
        );

        let meta = f.resource.get("Metadata");
        assert_eq!(
            meta.and_then(|m| m.get("BuildMethod"))
                .and_then(Value::as_str),
            Some("rust-cargolambda"),
            "{id}: BuildMethod"
        );
        let s = |key: &str| f.effective(key).and_then(Value::as_str);
        assert_eq!(s("Runtime"), Some("provided.al2023"), "{id}: Runtime");
        assert_eq!(s("Handler"), Some("bootstrap"), "{id}: Handler");
        assert_eq!(
            strings(f.effective("Architectures")),
            vec!["arm64".to_owned()],
            "{id}: Architectures"
        );
        let code = s("CodeUri").unwrap_or_else(|| panic!("{id}: no CodeUri"));
        let manifest = repo().join("infra").join(code).join("Cargo.toml");
        let manifest_text = std::fs::read_to_string(&manifest)
            .unwrap_or_else(|e| panic!("{id}: CodeUri {code} has no Cargo.toml ({e})"));
        assert!(
            manifest_text.contains("name = \"functions\""),
            "{id}: CodeUri {code} is not the functions package"
        );
        for key in ["MemorySize", "Timeout"] {
            assert!(
                f.own(key).and_then(Value::as_u64).is_some(),
                "{id}: {key} is set per function"
            );
        }
        assert_eq!(
            f.effective("LoggingConfig")
                .and_then(|l| l.get("LogFormat"))
                .and_then(Value::as_str),
            Some("JSON"),
            "{id}: JSON logs"
        );
        let table_var = f
            .own("Environment")
            .and_then(|e| e.get("Variables"))
            .and_then(|v| v.get("TABLE_NAME"))
            .or_else(|| {
                f.globals
                    .and_then(|g| g.get("Environment"))
                    .and_then(|e| e.get("Variables"))
                    .and_then(|v| v.get("TABLE_NAME"))
            });
        assert!(
            table_var.is_some_and(mentions_table),
            "{id}: TABLE_NAME is !Ref Table"
        );
    }
}

/// A route's declared needs are what its function is given: the environment variable
/// the Lambda home reads for each (`functions::lambda::route_deps`) and the grant its
/// client calls with, and no document store for a route that does not declare one.
#[test]
fn every_routes_needs_have_their_environment_and_grants() {
    let t = template();
    let fns = functions(&t);
    for route in ROUTES {
        let f = fns
            .iter()
            .find(|f| f.binary == route.binary)
            .expect("the route's function");
        let var = |name: &str| {
            f.own("Environment")
                .and_then(|e| e.get("Variables"))
                .and_then(|v| v.get(name))
                .is_some()
        };
        let actions: BTreeSet<String> = f
            .statements()
            .iter()
            .filter(|st| st["Effect"].as_str() == Some("Allow"))
            .flat_map(|st| match &st["Action"] {
                Value::Sequence(a) => a
                    .iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect(),
                Value::String(a) => vec![a.clone()],
                _ => vec![],
            })
            .collect();
        let documents = var("DOCUMENTS_BUCKET")
            && actions.contains("s3:GetObject")
            && actions.contains("s3:ListBucket");
        assert_eq!(
            documents,
            route.needs.documents,
            "{}: needs.documents = {}, but DOCUMENTS_BUCKET with s3:GetObject and s3:ListBucket is {}",
            route.binary,
            route.needs.documents,
            if documents { "there" } else { "missing" }
        );
        if route.needs.vault {
            assert!(
                var("KMS_KEY_ID") && actions.iter().any(|a| a.starts_with("kms:")),
                "{}: needs.vault but no KMS_KEY_ID or no KMS grant",
                route.binary
            );
        }
    }
}

/// The logical id of the function the HTTP API's default authorizer runs.
fn authorizer_function(t: &Value) -> Option<String> {
    let auth = t["Resources"]["HttpApi"]["Properties"].get("Auth")?;
    let name = auth.get("DefaultAuthorizer")?.as_str()?;
    let arn = auth.get("Authorizers")?.get(name)?.get("FunctionArn")?;
    match intrinsic(arn)? {
        (n, v) if n == "GetAtt" => match v {
            Value::String(s) => s.split('.').next().map(str::to_owned),
            Value::Sequence(parts) => parts.first().and_then(Value::as_str).map(str::to_owned),
            _ => None,
        },
        _ => None,
    }
}

#[test]
fn every_route_is_behind_the_lambda_authorizer_on_the_authorization_header() {
    let t = template();
    let auth = &t["Resources"]["HttpApi"]["Properties"]["Auth"];
    let name = auth["DefaultAuthorizer"]
        .as_str()
        .expect("HttpApi.Auth.DefaultAuthorizer");
    let a = &auth["Authorizers"][name];
    assert_eq!(a["AuthorizerPayloadFormatVersion"].as_str(), Some("2.0"));
    assert_eq!(a["EnableSimpleResponses"].as_bool(), Some(true));
    assert_eq!(
        strings(a["Identity"].get("Headers")),
        vec!["Authorization".to_owned()],
        "identity source: the Authorization header"
    );
    let ttl = a["Identity"]["ReauthorizeEvery"]
        .as_u64()
        .expect("a cache TTL (ReauthorizeEvery)");
    assert!(
        (1..=60).contains(&ttl),
        "a short cache TTL bounds how long a revoked credential still works: {ttl} s"
    );
    let deploy = std::fs::read_to_string(repo().join("docs/deploy.md")).expect("docs/deploy.md");
    assert!(
        deploy
            .lines()
            .any(|l| l.contains("authorizer") && l.contains(&format!("{ttl} s"))),
        "docs/deploy.md states the authorizer's cache TTL ({ttl} s) on a line about the authorizer"
    );
    let id = authorizer_function(&t).expect("the authorizer names a function of the template");
    let f = functions(&t)
        .into_iter()
        .find(|f| f.logical_id == id)
        .expect("the authorizer's function");
    assert_eq!(f.binary, "authorizer");
    assert!(f.http_routes().is_empty(), "the authorizer serves no route");
    // No route opts out of it but the public ones, and those do.
    for op in api_operations(&t) {
        let route = format!("{} {}", op.method, op.path);
        let public = ROUTES
            .iter()
            .find(|r| r.method.as_str() == op.method && r.path == op.path)
            .unwrap_or_else(|| {
                panic!("{route} is in the template but not in functions/src/routes.rs")
            })
            .permission
            .is_public();
        match op.definition.get("security") {
            None => assert!(
                !public,
                "{route}: a public route opts out with security: [{{NONE: []}}]"
            ),
            Some(s) => {
                let none = s
                    .as_sequence()
                    .is_some_and(|l| l.len() == 1 && l[0].get("NONE").is_some());
                assert!(
                    public && none,
                    "{route}: only a public route sets `security`, to [{{NONE: []}}]; the others keep the default authorizer"
                );
            }
        }
    }
}

/// Every operation invokes its function through API Gateway's own role, as payload format
/// 2.0, and declares its path parameters; the role may invoke this stage's functions and
/// nothing else.
#[test]
fn every_route_invokes_its_function_with_the_api_role() {
    let t = template();
    let ops = api_operations(&t);
    assert_eq!(ops.len(), ROUTES.len(), "one operation per route");
    let fns: BTreeSet<String> = functions(&t).into_iter().map(|f| f.logical_id).collect();
    for op in &ops {
        let route = format!("{} {}", op.method, op.path);
        let i = &op.definition["x-amazon-apigateway-integration"];
        assert_eq!(i["type"].as_str(), Some("aws_proxy"), "{route}: type");
        assert_eq!(
            i["httpMethod"].as_str(),
            Some("POST"),
            "{route}: Lambda is invoked by POST"
        );
        assert_eq!(
            i["payloadFormatVersion"].as_str(),
            Some("2.0"),
            "{route}: payload format 2.0"
        );
        let role = i.get("credentials").and_then(intrinsic);
        assert!(
            matches!(&role, Some((n, v)) if n == "GetAtt" && v.as_str() == Some("ApiInvokeRole.Arn")),
            "{route}: credentials: !GetAtt ApiInvokeRole.Arn"
        );
        let f = op
            .function
            .as_deref()
            .unwrap_or_else(|| panic!("{route}: uri names no function"));
        assert!(
            fns.contains(f),
            "{route}: {f} is not a function of the template"
        );
        let declared: BTreeSet<&str> = op
            .definition
            .get("parameters")
            .and_then(Value::as_sequence)
            .into_iter()
            .flatten()
            .filter(|p| p["in"].as_str() == Some("path") && p["required"].as_bool() == Some(true))
            .filter_map(|p| p["name"].as_str())
            .collect();
        let in_path: BTreeSet<&str> = op
            .path
            .split('/')
            .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .collect();
        assert_eq!(
            declared, in_path,
            "{route}: its path parameters, each required"
        );
    }
    let role = &t["Resources"]["ApiInvokeRole"]["Properties"];
    let trust = &role["AssumeRolePolicyDocument"]["Statement"];
    assert_eq!(trust.as_sequence().map(Vec::len), Some(1));
    assert_eq!(
        trust[0]["Principal"]["Service"].as_str(),
        Some("apigateway.amazonaws.com"),
        "only API Gateway assumes it"
    );
    let policies = role["Policies"].as_sequence().expect("inline policies");
    assert_eq!(policies.len(), 1);
    let statements = policies[0]["PolicyDocument"]["Statement"]
        .as_sequence()
        .expect("statements");
    assert_eq!(statements.len(), 1);
    assert_eq!(
        strings(statements[0].get("Action")),
        vec!["lambda:InvokeFunction".to_owned()]
    );
    let resource = statements[0].get("Resource").and_then(intrinsic);
    assert!(
        matches!(&resource, Some((n, v)) if n == "Sub"
            && v.as_str().is_some_and(|s| s.ends_with(":function:tenantry-${Stage}-*"))),
        "the role invokes this stage's functions only: {resource:?}"
    );
    // ... and of those the route functions only, by their tag.
    assert_eq!(
        statements[0]["Condition"]["StringEquals"]["aws:ResourceTag/invoked_by"].as_str(),
        Some("api"),
        "the role invokes functions tagged invoked_by: api only"
    );
    for f in functions(&t) {
        let tag = f.own("Tags").and_then(|t| t.get("invoked_by")).or_else(|| {
            f.globals
                .and_then(|g| g.get("Tags"))
                .and_then(|t| t.get("invoked_by"))
        });
        let routed = !f.http_routes().is_empty();
        assert_eq!(
            tag.and_then(Value::as_str) == Some("api"),
            routed,
            "{}: tagged invoked_by: api exactly when it serves a route ({tag:?})",
            f.logical_id
        );
    }
}

#[test]
fn every_function_policy_names_the_table_and_scopes_its_keys() {
    let t = template();
    for f in functions(&t) {
        let id = &f.logical_id;
        let statements = f.statements();
        assert!(
            statements
                .iter()
                .any(|s| s.get("Resource").is_some_and(mentions_table)),
            "{id}: no policy statement names the table"
        );
        let tenant_scoped = functions::routes::by_binary(&f.binary).map(Route::is_tenant_scoped);
        for s in statements {
            let sid = s.get("Sid").and_then(Value::as_str).unwrap_or("?");
            assert!(s.get("NotAction").is_none(), "{id}/{sid}: NotAction");
            let actions = strings(s.get("Action"));
            if !actions.iter().any(|a| a.starts_with("dynamodb:")) {
                continue;
            }
            assert!(
                s.get("Resource").is_some_and(mentions_table),
                "{id}/{sid}: a DynamoDB statement is on the table (or its index)"
            );
            let keys = strings(
                s.get("Condition")
                    .and_then(|c| c.get("ForAllValues:StringLike"))
                    .and_then(|c| c.get("dynamodb:LeadingKeys")),
            );
            assert!(
                !keys.is_empty(),
                "{id}/{sid}: no dynamodb:LeadingKeys condition (ForAllValues:StringLike)"
            );
            for k in &keys {
                assert!(
                    k.starts_with("T#") || k.starts_with("P#"),
                    "{id}/{sid}: leading key {k} is neither a tenant (T#) nor a platform (P#) prefix"
                );
                if tenant_scoped.is_some() && k.starts_with("P#APIKEY#") {
                    assert!(
                        !actions.iter().any(|a| a == "dynamodb:GetItem"),
                        "{id}/{sid}: a route function does not read API-key lookups (the authorizer does)"
                    );
                }
                // The due-work index (P#DUE#<kind>#<shard>) is written by the change that
                // schedules work, in its own transaction, and read only by the platform's
                // jobs: a route may put or delete an entry, never read one.
                let due_write = k.starts_with("P#DUE#")
                    && actions
                        .iter()
                        .all(|a| a == "dynamodb:PutItem" || a == "dynamodb:DeleteItem");
                if tenant_scoped.is_some() && k.starts_with("P#DUE#") {
                    assert!(
                        due_write,
                        "{id}/{sid}: a route function only writes due-work entries, never reads them"
                    );
                }
                // A removed member's staff-subject item (P#STAFFSUB#<sub>: platform-wide,
                // as a staff token names no tenant) goes with it: its removal may delete
                // one, and nothing else may touch them from a tenant's route.
                let staff_subject_delete = k == "P#STAFFSUB#*"
                    && f.binary == "members-delete"
                    && actions.iter().all(|a| a == "dynamodb:DeleteItem");
                // The catalog (metrics, plans and their versions, connectors) is the
                // platform's and every tenant reads it; only the operator's functions
                // write it.
                let catalog_read = ["P#METRICS", "P#PLANS", "P#PLAN#*", "P#CONNECTORS"]
                    .contains(&k.as_str())
                    && actions.iter().all(|a| {
                        [
                            "dynamodb:GetItem",
                            "dynamodb:Query",
                            "dynamodb:BatchGetItem",
                        ]
                        .contains(&a.as_str())
                    });
                // An invoice is found by its id alone for the operator (which tenant's
                // it is: P#INVOICE#<id>, read only); the platform issues partners'
                // invoices, so finalising one takes the platform's next number
                // (P#SEQ, read and written by the approval alone).
                let invoice_owner_read = k == "P#INVOICE#*"
                    && f.binary.starts_with("invoices-")
                    && actions.iter().all(|a| a == "dynamodb:GetItem");
                let platform_counter = k == "P#SEQ"
                    && f.binary == "invoices-approve"
                    && actions
                        .iter()
                        .all(|a| a == "dynamodb:GetItem" || a == "dynamodb:PutItem");
                // An inbound endpoint's owner item (P#INBOUND#<id>: a webhook names its
                // endpoint alone): written with the endpoint, removed with it.
                let endpoint_owner = k == "P#INBOUND#*"
                    && f.binary.starts_with("inbound-endpoints-")
                    && actions
                        .iter()
                        .all(|a| a == "dynamodb:PutItem" || a == "dynamodb:DeleteItem");
                // A support session's token lookup (P#SUPPORTTOKEN#<hash>: a bearer names
                // no tenant): written with the session, removed when it ends.
                let session_token = k == "P#SUPPORTTOKEN#*"
                    && (f.binary.starts_with("support-") || f.binary.starts_with("me-support-"))
                    && actions
                        .iter()
                        .all(|a| a == "dynamodb:PutItem" || a == "dynamodb:DeleteItem");
                // An escalation goes to the platform's list (P#ESCALATIONS), which only the
                // escalating route writes.
                let escalation = k == "P#ESCALATIONS"
                    && f.binary == "support-requests-escalate"
                    && actions.iter().all(|a| a == "dynamodb:PutItem");
                // The audit log's route serves the operator the platform's own log.
                let platform_log_read = k == "P#AUDIT#*"
                    && f.binary == "audit-events-list"
                    && actions.iter().all(|a| a == "dynamodb:Query");
                if tenant_scoped == Some(true) {
                    assert!(
                        k.starts_with("T#")
                            || platform_log_read
                            || session_token
                            || escalation
                            || endpoint_owner
                            || k == "P#APIKEY#*"
                            || due_write
                            || staff_subject_delete
                            || catalog_read
                            || invoice_owner_read
                            || platform_counter,
                        "{id}/{sid}: a tenant-scoped function reaches only tenant keys (T#...), P#APIKEY#*, due-work writes, catalog reads, an endpoint's owner item (and members-delete a staff subject), the platform's log read by its route, not {k}"
                    );
                }
            }
        }
    }
}

/// Every `{Effect, Action}` statement anywhere in the template (function policies, and
/// any IAM or resource policy added later).
fn collect_statements<'a>(v: &'a Value, out: &mut Vec<&'a Value>) {
    match v {
        Value::Mapping(m) => {
            if m.contains_key("Effect") && (m.contains_key("Action") || m.contains_key("NotAction"))
            {
                out.push(v);
            }
            m.values().for_each(|x| collect_statements(x, out));
        }
        Value::Sequence(s) => s.iter().for_each(|x| collect_statements(x, out)),
        Value::Tagged(t) => collect_statements(&t.value, out),
        _ => {}
    }
}

#[test]
fn no_policy_statement_has_a_wildcard_action() {
    let t = template();
    let mut statements = Vec::new();
    collect_statements(&t, &mut statements);
    assert!(
        statements.len() >= ROUTES.len(),
        "found too few policy statements"
    );
    for s in statements {
        assert!(s.get("NotAction").is_none(), "NotAction in {s:?}");
        // A deny takes away (the documents bucket refuses plain HTTP to every action).
        let deny = s.get("Effect").and_then(Value::as_str) == Some("Deny");
        for a in strings(s.get("Action")) {
            assert!(deny || !a.contains('*'), "wildcard action {a} in {s:?}");
            assert!(a.contains(':'), "action {a} names no service");
        }
    }
}

#[test]
fn the_table_keeps_its_protection_stream_ttl_and_index() {
    let t = template();
    let table = t
        .get("Resources")
        .and_then(|r| r.get("Table"))
        .expect("Resources.Table (scripts/create_table.py reads it)");
    assert_eq!(
        table.get("Type").and_then(Value::as_str),
        Some("AWS::DynamoDB::Table")
    );
    assert_eq!(
        table.get("DeletionPolicy").and_then(Value::as_str),
        Some("Retain")
    );
    let p = table.get("Properties").expect("Table.Properties");
    assert_eq!(
        p.get("DeletionProtectionEnabled").and_then(Value::as_bool),
        Some(true)
    );
    assert_eq!(
        p.get("PointInTimeRecoverySpecification")
            .and_then(|x| x.get("PointInTimeRecoveryEnabled"))
            .and_then(Value::as_bool),
        Some(true)
    );
    assert_eq!(
        p.get("StreamSpecification")
            .and_then(|x| x.get("StreamViewType"))
            .and_then(Value::as_str),
        Some("NEW_AND_OLD_IMAGES")
    );
    let ttl = p.get("TimeToLiveSpecification").expect("TTL");
    assert_eq!(
        ttl.get("AttributeName").and_then(Value::as_str),
        Some("expires_at")
    );
    assert_eq!(ttl.get("Enabled").and_then(Value::as_bool), Some(true));
    assert_eq!(
        p.get("BillingMode").and_then(Value::as_str),
        Some("PAY_PER_REQUEST")
    );
    let indexes: Vec<&str> = p
        .get("GlobalSecondaryIndexes")
        .and_then(Value::as_sequence)
        .map(|s| {
            s.iter()
                .filter_map(|i| i.get("IndexName").and_then(Value::as_str))
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(indexes, vec!["gsi1"]);
}

/// Matches a concrete path against a route pattern; returns the `{name}` captures.
fn match_path(pattern: &str, path: &str) -> Option<BTreeMap<String, String>> {
    let (ps, xs): (Vec<&str>, Vec<&str>) =
        (pattern.split('/').collect(), path.split('/').collect());
    if ps.len() != xs.len() {
        return None;
    }
    let mut captures = BTreeMap::new();
    for (p, x) in ps.iter().zip(&xs) {
        match p.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
            Some(name) if !x.is_empty() => {
                captures.insert(name.to_owned(), (*x).to_owned());
            }
            Some(_) => return None,
            None if p == x => {}
            None => return None,
        }
    }
    Some(captures)
}

#[test]
fn every_route_has_an_api_gateway_v2_event_that_lambda_http_parses() {
    let events = repo().join("events");
    for route in ROUTES {
        let file = events.join(format!("{}.json", route.binary));
        let text =
            std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let name = file.display();
        let raw: serde_json::Value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: not JSON: {e}"));
        assert_eq!(raw["version"], "2.0", "{name}: payload format 2.0");
        assert_eq!(
            raw["routeKey"],
            format!("{} {}", route.method, route.path),
            "{name}: routeKey"
        );

        let req = lambda_http::request::from_str(&text)
            .unwrap_or_else(|e| panic!("{name}: lambda_http cannot parse it: {e}"));
        assert!(
            matches!(
                req.request_context_ref(),
                Some(RequestContext::ApiGatewayV2(_))
            ),
            "{name}: parsed, but not as an API Gateway HTTP API (v2) request"
        );
        assert_eq!(req.method(), route.method, "{name}: method");
        let path = req.raw_http_path().to_owned();
        let captures = match_path(route.path, &path)
            .unwrap_or_else(|| panic!("{name}: path {path} does not match {}", route.path));
        let params = req.path_parameters();
        for (k, v) in &captures {
            assert_eq!(
                params.first(k),
                Some(v.as_str()),
                "{name}: pathParameters.{k} is the path's segment"
            );
        }
        assert_eq!(
            req.uri().query().unwrap_or_default(),
            raw["rawQueryString"].as_str().unwrap_or_default(),
            "{name}: the query string reaches the request"
        );
        let auth = req
            .headers()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        if route.permission.is_public() {
            assert!(
                auth.is_empty(),
                "{name}: a public route's event carries no credential"
            );
            assert!(
                functions::lambda::principal_of(&req).is_none(),
                "{name}: a public route is not behind the authorizer"
            );
            continue;
        }
        if route.permission.is_own_company() {
            // A customer's own routes: its admin's token, and the principal it makes.
            assert_eq!(
                auth,
                format!("Bearer {CUSTOMER_TOKEN_PLACEHOLDER}"),
                "{name}: a customer admin's token"
            );
            match functions::lambda::principal_of(&req) {
                Some(tenantry::access::Principal::Customer {
                    tenant_id,
                    customer_id,
                    user_id,
                    role,
                }) => {
                    assert_eq!(tenant_id.as_str(), TENANT_ID, "{name}: tenant_id");
                    assert_eq!(customer_id.as_str(), CUSTOMER_ID, "{name}: customer_id");
                    assert_eq!(user_id.as_str(), ADMIN_USER_ID, "{name}: user_id");
                    assert_eq!(role, tenantry::model::customer::CustomerRole::Admin);
                }
                other => panic!("{name}: a customer admin's principal, not {other:?}"),
            }
            continue;
        }
        assert!(
            auth.starts_with("Bearer tk_"),
            "{name}: an authorization: Bearer tk_... header"
        );
        let principal = functions::lambda::principal_of(&req)
            .unwrap_or_else(|| panic!("{name}: no principal in requestContext.authorizer.lambda"));
        match principal {
            tenantry::access::Principal::Operator { key_id } => {
                assert_eq!(
                    auth,
                    format!("Bearer {OPERATOR_PLACEHOLDER}"),
                    "{name}: operator"
                );
                assert_eq!(key_id, OPERATOR_KEY_ID, "{name}: key_id");
            }
            tenantry::access::Principal::Staff {
                tenant_id, actor, ..
            } => {
                assert_eq!(
                    auth,
                    format!("Bearer {TENANT_PLACEHOLDER}"),
                    "{name}: staff"
                );
                assert_eq!(tenant_id.as_str(), TENANT_ID, "{name}: tenant_id");
                assert_eq!(actor, TENANT_KEY_ID, "{name}: actor");
            }
            other => panic!("{name}: events carry API-key principals, not {other:?}"),
        }
        if matches!(route.method.as_str(), "POST" | "PATCH") {
            let body = match req.body() {
                lambda_http::Body::Text(s) => s.clone(),
                other => panic!(
                    "{name}: a {} carries a JSON text body, not {other:?}",
                    route.method
                ),
            };
            let json: serde_json::Value = serde_json::from_str(&body)
                .unwrap_or_else(|e| panic!("{name}: the body is not JSON: {e}"));
            assert!(json.is_object(), "{name}: the body is a JSON object");
            assert!(
                req.headers()
                    .get("content-type")
                    .and_then(|v| v.to_str().ok())
                    .is_some_and(|c| c.contains("json")),
                "{name}: a JSON content-type"
            );
        }
    }
}

#[test]
fn every_event_file_belongs_to_a_function_of_the_template() {
    let t = template();
    let binaries: BTreeSet<String> = functions(&t).into_iter().map(|f| f.binary).collect();
    let dir = repo().join("events");
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.expect("a directory entry").path();
        if path.extension().and_then(|e| e.to_str()) != Some("json") {
            continue;
        }
        let stem = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default()
            .to_owned();
        assert!(
            binaries.contains(&stem),
            "{} names no function of infra/template.yaml",
            path.display()
        );
    }
}

// ---- the policies allow what the code does ------------------------------------------

/// One store call as IAM sees it: the action, table or gsi1, and the partition key.
#[derive(Clone, Debug)]
struct Call {
    action: &'static str,
    on_index: bool,
    pk: String,
}

/// An `ItemStore` that records every call (while recording is on) and passes it on,
/// and keeps the writes of each transaction that committed.
struct Recorder {
    inner: Arc<dyn ItemStore>,
    on: AtomicBool,
    calls: Mutex<Vec<Call>>,
    committed: Mutex<Vec<Vec<WriteOp>>>,
    /// Items written by a lone `put` (an audit event must never be one).
    lone_puts: Mutex<Vec<Item>>,
}

type Fut<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

impl Recorder {
    fn new(inner: Arc<dyn ItemStore>) -> Self {
        Self {
            inner,
            on: AtomicBool::new(false),
            calls: Mutex::new(Vec::new()),
            committed: Mutex::new(Vec::new()),
            lone_puts: Mutex::new(Vec::new()),
        }
    }

    fn record(&self, action: &'static str, on_index: bool, pk: &str) {
        if self.on.load(Ordering::SeqCst) {
            self.calls.lock().expect("recorder lock").push(Call {
                action,
                on_index,
                pk: pk.to_owned(),
            });
        }
    }
}

// `ItemStore` is an `#[async_trait]` trait; these are the signatures it expands to.
impl ItemStore for Recorder {
    fn get<'a, 'b, 'r>(&'a self, key: &'b Key) -> Fut<'r, Option<Item>>
    where
        'a: 'r,
        'b: 'r,
        Self: 'r,
    {
        self.record("dynamodb:GetItem", false, &key.pk);
        self.inner.get(key)
    }
    fn get_many<'a, 'b, 'r>(&'a self, keys: &'b [Key]) -> Fut<'r, Vec<Item>>
    where
        'a: 'r,
        'b: 'r,
        Self: 'r,
    {
        for k in keys {
            self.record("dynamodb:BatchGetItem", false, &k.pk);
        }
        self.inner.get_many(keys)
    }
    fn put<'a, 'r>(&'a self, item: Item, condition: Condition) -> Fut<'r, ()>
    where
        'a: 'r,
        Self: 'r,
    {
        self.record("dynamodb:PutItem", false, &item.pk);
        if self.on.load(Ordering::SeqCst) {
            self.lone_puts
                .lock()
                .expect("recorder lock")
                .push(item.clone());
        }
        if item.sk
            == tenantry::store::keys::tenant_idempotency(
                &tenantry::model::ids::TenantId::from_record("t"),
                "h",
            )
            .sk
        {
            // Claiming an Idempotency-Key: after a 5xx the same request deletes the
            // claim (`idempotency::finish`), which a successful replay never shows.
            self.record("dynamodb:DeleteItem", false, &item.pk);
        }
        self.inner.put(item, condition)
    }
    fn delete<'a, 'b, 'r>(&'a self, key: &'b Key, condition: Condition) -> Fut<'r, ()>
    where
        'a: 'r,
        'b: 'r,
        Self: 'r,
    {
        self.record("dynamodb:DeleteItem", false, &key.pk);
        self.inner.delete(key, condition)
    }
    fn transact<'a, 'r>(&'a self, ops: Vec<WriteOp>) -> Fut<'r, ()>
    where
        'a: 'r,
        Self: 'r,
    {
        // TransactWriteItems is authorized per action.
        for op in &ops {
            let action = match op {
                WriteOp::Put { .. } => "dynamodb:PutItem",
                WriteOp::Delete { .. } => "dynamodb:DeleteItem",
                WriteOp::Check { .. } => "dynamodb:ConditionCheckItem",
            };
            self.record(action, false, &op.key().pk);
        }
        let kept = self.on.load(Ordering::SeqCst).then(|| ops.clone());
        let done = self.inner.transact(ops);
        Box::pin(async move {
            let r = done.await;
            if let (Ok(()), Some(ops)) = (&r, kept) {
                self.committed.lock().expect("recorder lock").push(ops);
            }
            r
        })
    }
    fn query<'a, 'r>(&'a self, query: Query) -> Fut<'r, Page>
    where
        'a: 'r,
        Self: 'r,
    {
        self.record("dynamodb:Query", query.index == Index::Gsi1, &query.pk);
        self.inner.query(query)
    }
}

/// The calls the statements do not allow, described.
fn denied(statements: &[&Value], calls: &[Call]) -> Vec<String> {
    calls
        .iter()
        .filter(|c| !allows(statements, c))
        .map(|c| {
            format!(
                "{} on {} with partition key {}",
                c.action,
                if c.on_index { "gsi1" } else { "the table" },
                c.pk
            )
        })
        .collect()
}

/// IAM's StringLike: `*` is any run of characters, `?` any one.
fn string_like(pattern: &str, s: &str) -> bool {
    fn go(p: &[char], s: &[char]) -> bool {
        match p.split_first() {
            None => s.is_empty(),
            Some(('*', rest)) => (0..=s.len()).any(|i| go(rest, &s[i..])),
            Some(('?', rest)) => !s.is_empty() && go(rest, &s[1..]),
            Some((c, rest)) => s.first() == Some(c) && go(rest, &s[1..]),
        }
    }
    let (p, s): (Vec<char>, Vec<char>) = (pattern.chars().collect(), s.chars().collect());
    go(&p, &s)
}

fn on_index(resource: &Value) -> bool {
    match intrinsic(resource) {
        Some((name, arg)) if name == "Sub" => arg.as_str().is_some_and(|s| s.contains("/index/")),
        _ => false,
    }
}

/// Does one of these statements allow the call?
fn allows(statements: &[&Value], call: &Call) -> bool {
    statements.iter().any(|s| {
        let resources: Vec<&Value> = match s.get("Resource") {
            Some(Value::Sequence(r)) => r.iter().collect(),
            Some(r) => vec![r],
            None => vec![],
        };
        strings(s.get("Action")).iter().any(|a| a == call.action)
            && resources
                .iter()
                .any(|r| mentions_table(r) && on_index(r) == call.on_index)
            && strings(
                s.get("Condition")
                    .and_then(|c| c.get("ForAllValues:StringLike"))
                    .and_then(|c| c.get("dynamodb:LeadingKeys")),
            )
            .iter()
            .any(|k| string_like(k, &call.pk))
    })
}

/// Does one of these statements allow the Cognito call? On the staff pool: a statement
/// on `!GetAtt StaffUserPool.Arn`. On a customer pool: one on the account's `userpool/*`
/// limited to the stage's pools by their `pool_prefix` tag. With no resource: `*`.
fn allows_cognito(statements: &[&Value], call: &CognitoCall) -> bool {
    statements.iter().any(|s| {
        let resources: Vec<&Value> = match s.get("Resource") {
            Some(Value::Sequence(r)) => r.iter().collect(),
            Some(r) => vec![r],
            None => vec![],
        };
        let tagged = s
            .get("Condition")
            .and_then(|c| c.get("StringEquals"))
            .and_then(|c| c.get("aws:ResourceTag/pool_prefix"))
            .is_some();
        let fits = |r: &Value| match (call.pool, intrinsic(r)) {
            (PoolKind::Any, _) => r.as_str() == Some("*"),
            (PoolKind::Staff, Some((name, arg))) => {
                name == "GetAtt" && arg.as_str() == Some("StaffUserPool.Arn")
            }
            (PoolKind::Customers, Some((name, arg))) => {
                name == "Sub" && arg.as_str().is_some_and(|a| a.ends_with(":userpool/*")) && tagged
            }
            _ => false,
        };
        strings(s.get("Action")).iter().any(|a| a == call.action)
            && resources.iter().any(|r| fits(r))
    })
}

/// More replays of an event, each with its text changed (every (from, to) of the one
/// variant), for code paths the event alone does not take: (binary, changes).
type Changes = &'static [(&'static str, &'static str)];
const VARIANTS: &[(&str, Changes)] = &[
    // The document's HTML view: the invoice's tenant and lines, rendered as it is now.
    (
        "invoices-document",
        &[(
            "\"accept\": \"application/json\"",
            "\"accept\": \"text/html\"",
        )],
    ),
    // A status filter without a search term reads the gsi1 status index.
    (
        "customers-list",
        &[
            ("q=bakery&status=active&limit=20", "status=active&limit=20"),
            ("\"q\": \"bakery\",\n", ""),
        ],
    ),
    // A customer found by the partner's own id: the marker's GetItem.
    (
        "customers-list",
        &[
            (
                "q=bakery&status=active&limit=20",
                "external_id=fixture-bakery",
            ),
            (
                "\"q\": \"bakery\",\n    \"status\": \"active\",\n    \"limit\": \"20\"",
                "\"external_id\": \"fixture-bakery\"",
            ),
        ],
    ),
    // The admin renamed: the customer's profile too, with its customer.updated event.
    (
        "customer-users-update",
        &[
            (USER_ID, ADMIN_USER_ID),
            (
                r#"{\"permission_set\":\"read_only\"}"#,
                r#"{\"first_name\":\"Adelheid Anna\"}"#,
            ),
        ],
    ),
    // A staff member's invitation link: the staff login is made.
    ("password-set", &[(LINK_TOKEN, STAFF_LINK_TOKEN)]),
    // "Forgot your password?": an email alone asks for a reset link (the throttles, the
    // link and its email, in the due-work index).
    (
        "password-set",
        &[(
            "{\\\"token\\\": \\\"feedfacefeedfacefeedfacefeedfacefeedfacefeedfacefeedfacefeedface\\\", \\\"password\\\": \\\"Fixture$ecret3\\\"}",
            "{\\\"email\\\": \\\"user@fixture-bakery.example.com\\\"}",
        )],
    ),
];

const OPERATOR_PLACEHOLDER: &str =
    "tk_example_operator_key_replace_me_0000000000000000000000000000000000";
const TENANT_PLACEHOLDER: &str =
    "tk_example_tenant_owner_key_replace_me_000000000000000000000000000000";
/// Routes that need the identity provider though their replayed event does not reach it.
const IDENTITY_UNUSED_BY_EVENT: &[&str] = &[
    // The event's tenant already has its customer pool (made by its creation), so
    // provisioning again answers the tenant without a call; a tenant still
    // `provisioning` gets its pool from the provider.
    "tenants-provision",
];

/// The replay's identity provider, its calls counted: the embedded one, on a store of its own, as Cognito is
/// a service of its own in AWS (its calls are not the function's DynamoDB calls).
fn with_counted_identity(deps: Deps, dir: &Path) -> (Deps, Arc<CountedIdentity>) {
    let store = Arc::new(EmbeddedStore::open(dir.join("idp.redb")).expect("an identity store"));
    let (idp, verifier) = tenantry_tests::app::embedded_identity(store, dir);
    let counted = Arc::new(CountedIdentity::new(Arc::new(idp)));
    (deps.with_identity(counted.clone(), verifier), counted)
}

/// The ids the events' authorizer contexts name (substituted like the secrets).
const OPERATOR_KEY_ID: &str = "key_0197b2a3b0c17f2e8d9a0b1c2d3e4f50";
const TENANT_KEY_ID: &str = "key_0197b2a5d1f27c3b8e4f5a6b7c8d9e10";
const TENANT_ID: &str = "ten_0197b2a4c3e07d1a9f2b3c4d5e6f7a80";
/// The dead-lettered email `tenant-emails-redrive.json` names.
const EMAIL_ID: &str = "eml_0197b2aab5d49a7f8e8192a3b4c5d6e7";
/// The customer the events name (the fixture customer).
const CUSTOMER_ID: &str = "cus_0197b2a7f3b27e5d8c6f708192a3b4c5";
/// The fixture customer's admin, whose token the customer's own routes' events carry.
const ADMIN_USER_ID: &str = "usr_0197b2ab01c2d3e4f5a6b7c8d9e0f1a2";
const CUSTOMER_TOKEN_PLACEHOLDER: &str = "customer_admin_access_token_replace_me";
/// The customer user the user routes' events name.
const USER_ID: &str = "usr_0197b2a9a4c38f6e9d708192a3b4c5d6";
/// The link token in `password-page.json`, `password-set.json` and the email-change events.
const LINK_TOKEN: &str = "feedfacefeedfacefeedfacefeedfacefeedfacefeedfacefeedfacefeedface";
/// Stands for a staff member's invitation link (the `password-set` variant).
const STAFF_LINK_TOKEN: &str = "5ca1ab1e5ca1ab1e5ca1ab1e5ca1ab1e5ca1ab1e5ca1ab1e5ca1ab1e5ca1ab1e";
/// The emailed code in `register-verify.json`.
const REGISTRATION_CODE: &str = "424242";
/// The invoice the invoice routes' events name (the fixture's real one replaces it).
const INVOICE_ID: &str = "inv_20261200000000000000000000f1f1";
/// The inbound endpoint, provisioning request and webhook timestamp of the events.
const ENDPOINT_ID: &str = "inb_0197b2a7f3b27e5d8c6f708192a3b4d9";
const PROVISIONING_ID: &str = "prv_0197b2a7f3b27e5d8c6f708192a3b4e1";
const WEBHOOK_ENDPOINT_ID: &str = "whe_0197b2a7f3b27e5d8c6f708192a3b4f3";
const CONNECTION_ID: &str = "con_0197b2ac00000000000000000000c0a1";
/// Stands for a support request in the support requests' events.
const SUPPORT_REQUEST_ID: &str = "srq_0197b2ae00000000000000000000c0a3";
/// Stands for a support session in the support sessions' events.
const SUPPORT_SESSION_ID: &str = "sps_0197b2ad00000000000000000000c0a2";
/// The `state` in `connect-callback.json` (its query and its cookie).
const OAUTH_STATE: &str = "c0dec0dec0dec0dec0dec0dec0dec0dec0dec0dec0dec0dec0dec0dec0dec0de";
const WEBHOOK_TIMESTAMP: &str = "1765022466";
const SETUP_OPERATOR_KEY: &str = "tk_setup_operator_key_for_the_fixtures_0000000000";

fn event(method: &str, path: &str, key: &str, body: Option<serde_json::Value>) -> String {
    let (path, query) = path.split_once('?').unwrap_or((path, ""));
    serde_json::json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": query,
        "headers": {"authorization": format!("Bearer {key}"), "content-type": "application/json", "host": "api.example.com"},
        "requestContext": {
            "accountId": "123456789012", "apiId": "api", "domainName": "api.example.com", "domainPrefix": "api",
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "192.0.2.1", "userAgent": "fixtures"},
            "requestId": "setup", "routeKey": "$default", "stage": "$default", "time": "06/Dec/2025:12:00:00 +0000", "timeEpoch": 1765022400000u64
        },
        "body": body.map(|b| b.to_string()),
        "isBase64Encoded": false
    })
    .to_string()
}

/// An event as API Gateway passes it: through the authorizer first.
async fn send(app: &App, text: &str) -> (u16, serde_json::Value) {
    let text = tenantry_tests::gateway::through_gateway(&app.deps, text).await;
    send_as_is(app, &text).await
}

/// An event with the authorizer context it already carries.
async fn send_as_is(app: &App, text: &str) -> (u16, serde_json::Value) {
    let req = lambda_http::request::from_str(text).expect("a well-formed event");
    let resp = functions::lambda::handle(app, req).await;
    let body = match resp.body() {
        lambda_http::Body::Text(t) => serde_json::from_str(t).unwrap_or(serde_json::Value::Null),
        _ => serde_json::Value::Null,
    };
    (resp.status().as_u16(), body)
}

/// Sets up a tenant with everything the events name, through the API (all routes), and
/// returns the placeholder -> real value substitutions for replaying `binary`'s event.
async fn fixtures(all: &App, binary: &str) -> Vec<(String, String)> {
    let op = SETUP_OPERATOR_KEY;
    let ok = async |method: &str, path: &str, key: &str, body: Option<serde_json::Value>| {
        let (status, v) = send(all, &event(method, path, key, body)).await;
        assert!(
            (200..300).contains(&status),
            "fixture {method} {path}: {status} {v}"
        );
        v
    };
    let tenant = ok("POST", "/v1/tenants", op, Some(serde_json::json!({
        "name": "Fixture Partners", "slug": "fixture", "kind": "partner",
        "owner": {"email": "owner@fixture.example.com", "first_name": "Olive", "last_name": "Owner"}})))
    .await;
    let tid = tenant["id"].as_str().expect("tenant id").to_owned();
    let key = |name: &str, role: &str| Some(serde_json::json!({"name": name, "role": role}));
    let keys_path = format!("/v1/tenants/{tid}/api-keys");
    let setup_key = ok("POST", &keys_path, op, key("setup", "owner")).await["secret"]
        .as_str()
        .expect("secret")
        .to_owned();
    // Not used before the replay, so the replay also refreshes its last_used_at.
    let replay = ok("POST", &keys_path, op, key("replay", "owner")).await;
    let replay_key = replay["secret"].as_str().expect("secret").to_owned();
    let replay_id = replay["id"].as_str().expect("key id").to_owned();
    let spare = ok("POST", &keys_path, op, key("spare", "member")).await["id"]
        .as_str()
        .expect("key id")
        .to_owned();
    // A second owner: demoting or removing it checks the first one is still there.
    let member = ok("POST", "/v1/members", &setup_key, Some(serde_json::json!({
        "email": "second@fixture.example.com", "first_name": "Sam", "last_name": "Second", "role": "owner"})))
    .await["id"]
        .as_str()
        .expect("member id")
        .to_owned();
    let created = ok("POST", "/v1/customers", &setup_key, Some(serde_json::json!({
        "company": {"name": "Fixture Bakery"},
        "admin": {"first_name": "Ada", "last_name": "Admin", "email": "ada@fixture-bakery.example.com",
            "password": "Fixture$ecret1"}})))
    .await;
    let customer = created["id"].as_str().expect("customer id").to_owned();
    let admin_id = created["admin"]["id"]
        .as_str()
        .expect("admin id")
        .to_owned();
    let cpath = format!("/v1/customers/{customer}");
    // The second owner's invitation link (with staff logins: an identity provider).
    let staff_link = tenantry_tests::app::pending_link_token(
        &all.deps,
        &tid,
        "second@fixture.example.com",
        "staff_invitation",
    )
    .await;
    let staff_link = || staff_link.clone().expect("the staff invitation's link");
    let mut extra = Vec::new();
    // The catalog the billing routes work with: a metric and a plan (`growth`).
    if [
        "metrics-",
        "plans-",
        "price-overrides-",
        "subscription-",
        "usage-",
        "customer-usage",
        "me-usage",
        "default-plan-",
        "invoices-",
        "me-invoices",
        "commission-statements",
        "customer-templates-",
    ]
    .iter()
    .any(|p| binary.starts_with(p))
    {
        ok("POST", "/v1/billable-metrics", op, Some(serde_json::json!({
            "code": "ai_operations", "name": "AI operations", "unit": "operation", "aggregation": "sum"})))
        .await;
        ok("POST", "/v1/plans", op, Some(serde_json::json!({
            "code": "growth", "name": "Growth", "currency": "EUR", "base_amount": 4900,
            "included_seats": 3, "seat_amount": 500,
            "charges": [{"metric": "ai_operations", "model": "package", "package_size": 1000, "package_amount": 100}]})))
        .await;
    }
    if binary.starts_with("me-") {
        // The customer's own routes: its admin signs in (the token the events carry).
        let signed = ok(
            "POST",
            "/t/fixture/login",
            "",
            Some(serde_json::json!({
                "email": "ada@fixture-bakery.example.com", "password": "Fixture$ecret1"})),
        )
        .await;
        let token = signed["access_token"].as_str().expect("a token").to_owned();
        extra.push((CUSTOMER_TOKEN_PLACEHOLDER.into(), token));
        extra.push((ADMIN_USER_ID.into(), admin_id.clone()));
    }
    if binary == "customer-users-update" {
        extra.push((ADMIN_USER_ID.into(), admin_id.clone()));
    }
    match binary {
        "subscription-get" | "subscription-update" | "subscription-cancel" => {
            ok(
                "POST",
                "/v1/plans",
                op,
                Some(serde_json::json!({
                "code": "scale", "name": "Scale", "currency": "EUR", "base_amount": 19900})),
            )
            .await;
            ok(
                "POST",
                &format!("{cpath}/subscription"),
                &setup_key,
                Some(serde_json::json!({"plan": "growth"})),
            )
            .await;
        }
        "price-overrides-delete" => {
            ok(
                "PUT",
                &format!("/v1/tenants/{tid}/price-overrides/growth"),
                op,
                Some(serde_json::json!({"base_amount": 3900})),
            )
            .await;
        }
        "customers-restore" => {
            ok("DELETE", &format!("{cpath}?confirm=true"), &setup_key, None).await;
        }
        "customers-reactivate" => {
            ok("POST", &format!("{cpath}/deactivate"), &setup_key, None).await;
        }
        "register-page" | "register" | "register-verify" => {
            let branding =
                serde_json::json!({"product_name": "Fixture", "registration_enabled": true});
            ok(
                "PUT",
                &format!("/v1/tenants/{tid}/branding"),
                op,
                Some(branding),
            )
            .await;
            if binary == "register-verify" {
                let email = "rita@fixture-florist.example.com";
                ok("POST", "/t/fixture/register", op, Some(serde_json::json!({
                    "company_name": "Fixture Florist", "first_name": "Rita", "last_name": "Registrant",
                    "email": email})))
                .await;
                let code = tenantry_tests::app::pending_registration_code(&all.deps, &tid, email)
                    .await
                    .expect("the registration's code in the outbox");
                extra.push((REGISTRATION_CODE.into(), code));
            }
        }
        "tenant-emails-redrive" => {
            // Every queued email rejected once: dead letters to redrive.
            struct Rejects;
            #[async_trait::async_trait]
            impl tenantry::ports::Mailer for Rejects {
                async fn send(
                    &self,
                    _: &tenantry::ports::Email,
                ) -> Result<(), tenantry::ports::MailError> {
                    Err(tenantry::ports::MailError::Rejected(anyhow::anyhow!(
                        "rejected by the fixture"
                    )))
                }
            }
            let settings = tenantry::service::mail::MailSettings {
                sender_domain: "fixture.example.com".into(),
                public_url: "https://fixture.example.com".into(),
            };
            tenantry::service::mail::deliver_due(&all.deps, &Rejects, &settings)
                .await
                .expect("delivery");
            let dead = ok(
                "GET",
                &format!("/v1/tenants/{tid}/emails?state=dead"),
                op,
                None,
            )
            .await;
            // One without a link (the staff invitations' links were dropped).
            let id = dead["data"]
                .as_array()
                .and_then(|d| d.iter().find(|e| e["template"] == "customer_welcome"))
                .and_then(|e| e["id"].as_str())
                .expect("a dead welcome email")
                .to_owned();
            extra.push((EMAIL_ID.into(), id));
        }
        "email-change-page" | "email-change-confirm" => {
            // The admin asks for a new email: a link goes to the new address.
            let new = "ada.new@fixture-bakery.example.com";
            ok(
                "PATCH",
                &cpath,
                &setup_key,
                Some(serde_json::json!({"admin": {"email": new}})),
            )
            .await;
            let token =
                tenantry_tests::app::pending_link_token(&all.deps, &tid, new, "email_change")
                    .await
                    .expect("the email change's link");
            extra.push((LINK_TOKEN.into(), token));
        }
        b if b.starts_with("invoices-") => {
            // This month billed for the fixture tenant: a draft (a final one to pay).
            ok(
                "POST",
                &format!("{cpath}/subscription"),
                &setup_key,
                Some(serde_json::json!({"plan": "growth"})),
            )
            .await;
            let period = tenantry::model::billing::Period::of(chrono::Utc::now().date_naive());
            let t = tenantry::model::ids::TenantId::from_record(tid.clone());
            tenantry::service::invoice_run::run_tenant(&all.deps, &t, period)
                .await
                .expect("the fixture's run");
            let list = ok("GET", "/v1/invoices", &setup_key, None).await;
            let id = list["data"][0]["id"]
                .as_str()
                .expect("the fixture's invoice")
                .to_owned();
            if b == "invoices-pay" || b == "invoices-credit" || b == "invoices-document" {
                ok(
                    "POST",
                    &format!("/v1/invoices/{id}/approve"),
                    &setup_key,
                    None,
                )
                .await;
            }
            if b == "invoices-document" {
                // The final invoice's PDF, stored as `documents-render` stores it.
                let report = tenantry::service::documents::store_due(
                    &all.deps,
                    &functions::document::render,
                    chrono::Utc::now(),
                )
                .await
                .expect("the document sweep");
                assert_eq!(report.stored, 1, "the fixture's PDF: {report:?}");
            }
            extra.push((INVOICE_ID.into(), id));
        }
        "operator-keys-delete" => {
            // Another operator key, to revoke (a key cannot revoke itself).
            let other = auth::register_operator_key(
                &all.deps,
                "tk_fixture_second_operator_key_0000000000000000",
            )
            .await
            .expect("a second operator key");
            extra.push(("key_0197b2a9c4d57e1f8a2b3c4d5e6f7081".into(), other));
        }
        "members-delete" | "members-reset-password" | "staff-sign-in" => {
            // The second owner sets its password: it has a staff login.
            ok(
                "POST",
                "/t/fixture/password",
                op,
                Some(serde_json::json!({
                "token": staff_link(), "password": "Staff$ecret-42"})),
            )
            .await;
        }
        b if b.starts_with("customer-users-") || b.starts_with("password-") => {
            let email = "user@fixture-bakery.example.com";
            let user = ok("POST", &format!("{cpath}/users"), &setup_key, Some(serde_json::json!({
                "email": email, "first_name": "Uma", "last_name": "User", "permission_set": "full"})))
            .await;
            let user_id = user["id"].as_str().expect("user id").to_owned();
            if b == "customer-users-reactivate" {
                ok(
                    "POST",
                    &format!("{cpath}/users/{user_id}/deactivate"),
                    &setup_key,
                    None,
                )
                .await;
            }
            let token =
                tenantry_tests::app::pending_link_token(&all.deps, &tid, email, "user_invitation")
                    .await
                    .expect("the invitation's link");
            extra.push((USER_ID.into(), user_id));
            extra.push((LINK_TOKEN.into(), token));
            extra.push((STAFF_LINK_TOKEN.into(), staff_link()));
        }
        b if b.starts_with("inbound-endpoints-") || b == "hooks-receive" => {
            let made = ok(
                "POST",
                "/v1/inbound-endpoints",
                &setup_key,
                Some(serde_json::json!({"description": "fixture"})),
            )
            .await;
            let id = made["id"].as_str().expect("endpoint id").to_owned();
            if b == "hooks-receive" {
                // The event's own body, signed now with the endpoint's secret.
                let file = repo().join("events/hooks-receive.json");
                let event: serde_json::Value =
                    serde_json::from_str(&std::fs::read_to_string(file).expect("the event"))
                        .expect("JSON");
                let body = event["body"].as_str().expect("a body");
                let secret = tenantry::webhooks::SigningSecret::parse(
                    made["secret"].as_str().expect("a secret"),
                )
                .expect("a whsec_ secret");
                let now = chrono::Utc::now().timestamp();
                let id_header = event["headers"]["webhook-id"].as_str().expect("webhook-id");
                extra.push((
                    "v1,WEBHOOK_SIGNATURE_PLACEHOLDER".into(),
                    secret.sign(id_header, now, body.as_bytes()),
                ));
                extra.push((WEBHOOK_TIMESTAMP.into(), now.to_string()));
            }
            extra.push((ENDPOINT_ID.into(), id));
        }
        b if b.starts_with("webhook-endpoints-") || b == "webhook-attempts-list" => {
            let made = ok(
                "POST",
                "/v1/webhook-endpoints",
                &setup_key,
                Some(serde_json::json!({"url": "https://partner.example.com/hooks"})),
            )
            .await;
            let id = made["id"].as_str().expect("endpoint id").to_owned();
            if binary == "webhook-endpoints-redeliver" {
                // A message given up on for this endpoint: its test event, marked failed.
                let sent = ok(
                    "POST",
                    &format!("/v1/webhook-endpoints/{id}/test"),
                    &setup_key,
                    None,
                )
                .await;
                let msg = sent["message_id"].as_str().expect("message id").to_owned();
                let key = tenantry::store::keys::webhook_message(
                    &tenantry::model::ids::TenantId::from_record(tid.clone()),
                    &tenantry::model::ids::WebhookMessageId::from_record(msg.clone()),
                );
                let mut item = all
                    .deps
                    .store
                    .get(&key)
                    .await
                    .expect("read")
                    .expect("the message");
                item.data["deliveries"][0]["state"] = serde_json::json!("failed");
                item.data["done"] = serde_json::json!(true);
                item.version += 1;
                all.deps
                    .store
                    .put(item, tenantry::ports::Condition::None)
                    .await
                    .expect("the message, given up on");
                extra.push(("msg_0197b2a7f3b27e5d8c6f708192a3b4c5".into(), msg));
            }
            extra.push((WEBHOOK_ENDPOINT_ID.into(), id));
        }
        "connectors-get" | "connectors-update" => {
            let stripe: serde_json::Value =
                serde_json::from_str(include_str!("../../../connectors/stripe.json"))
                    .expect("the shipped connector");
            ok("POST", "/v1/connectors", op, Some(stripe)).await;
        }
        b if b.starts_with("connections-")
            || b.starts_with("connect-")
            || b == "customer-connections-list" =>
        {
            let stripe: serde_json::Value =
                serde_json::from_str(include_str!("../../../connectors/stripe.json"))
                    .expect("the shipped connector");
            ok("POST", "/v1/connectors", op, Some(stripe)).await;
            // A connector without a check request: the replays make no outbound request.
            ok(
                "POST",
                "/v1/connectors",
                op,
                Some(serde_json::json!({
                "code": "fixture_key", "name": "Fixture key", "auth": "api_key",
                "fields": [{"name": "api_key", "label": "API key"}]})),
            )
            .await;
            // The callback's: an oauth2 connector whose token endpoint is a loopback
            // server answering any code with tokens.
            let connector = if b == "connect-callback" {
                let token_url = tenantry_tests::provider::token_endpoint().await;
                ok(
                    "POST",
                    "/v1/connectors",
                    op,
                    Some(serde_json::json!({
                    "code": "fixture_oauth", "name": "Fixture OAuth", "auth": "oauth2",
                    "authorize_url": "https://provider.example.com/authorize",
                    "token_url": token_url, "client_id": "fixture-client",
                    "client_secret": "fixture-client-secret", "scopes": ["read"]})),
                )
                .await;
                "fixture_oauth"
            } else {
                "fixture_key"
            };
            if b == "connect-sessions-create" {
                ok(
                    "PUT",
                    "/v1/allowed-origins",
                    &setup_key,
                    Some(serde_json::json!({"origins": ["https://app.partner.example.com"]})),
                )
                .await;
            }
            let made = ok(
                "POST",
                &format!("{cpath}/connections"),
                &setup_key,
                Some(serde_json::json!({ "connector": connector })),
            )
            .await;
            let id = made["id"].as_str().expect("connection id").to_owned();
            if [
                "connections-invite-end",
                "connections-credentials",
                "connect-page",
                "connect-submit",
                "connect-callback",
            ]
            .contains(&b)
            {
                ok(
                    "POST",
                    &format!("/v1/connections/{id}/invite"),
                    &setup_key,
                    Some(serde_json::json!({})),
                )
                .await;
                let token = tenantry_tests::app::pending_link_token(
                    &all.deps,
                    &tid,
                    "ada@fixture-bakery.example.com",
                    "connection_invite",
                )
                .await
                .expect("the invite's link");
                if b == "connections-credentials" {
                    // Authorized through the connect page's service.
                    let t = tenantry::model::ids::TenantId::from_record(tid.clone());
                    let page =
                        tenantry::service::connections::open_link(&all.deps, &t, &[], &token)
                            .await
                            .expect("the link")
                            .expect("a working link");
                    let values = std::collections::BTreeMap::from([(
                        "api_key".to_owned(),
                        "sk_test_fixture".to_owned(),
                    )]);
                    let done = tenantry::service::connections::submit_api_key(
                        &all.deps, &t, &page, &values,
                    )
                    .await
                    .expect("authorized");
                    assert!(matches!(
                        done,
                        tenantry::service::connections::Submitted::Authorized(_)
                    ));
                }
                if b == "connect-callback" {
                    // The authorization the event's callback completes, started from the
                    // link as the page's button does.
                    let t = tenantry::model::ids::TenantId::from_record(tid.clone());
                    let page =
                        tenantry::service::connections::open_link(&all.deps, &t, &[], &token)
                            .await
                            .expect("the link")
                            .expect("a working link");
                    let started = tenantry::service::connections::oauth::start(
                        &all.deps,
                        &t,
                        &page,
                        "https://a1b2c3d4e5.execute-api.us-east-1.amazonaws.com/t/fixture/connect/callback",
                    )
                    .await
                    .expect("started");
                    extra.push((
                        "tenantry_connect_c0dec0dec0dec0de".into(),
                        format!("tenantry_connect_{}", &started.state[..16]),
                    ));
                    extra.push((OAUTH_STATE.into(), started.state));
                }
                extra.push((LINK_TOKEN.into(), token));
            }
            extra.push((CONNECTION_ID.into(), id));
        }
        "customer-templates-get" | "customer-templates-update" | "customer-templates-delete" => {
            ok(
                "POST",
                "/v1/customer-templates",
                &setup_key,
                Some(serde_json::json!({"code": "agency_standard", "plan": "growth"})),
            )
            .await;
        }
        b if b.starts_with("support-sessions-")
            || b.starts_with("me-support-sessions")
            || b == "support-page"
            || b == "support-submit" =>
        {
            // A session to end, or one waiting for the admin's approval (its link).
            let waiting = b != "support-sessions-end" && b != "support-sessions-list";
            if waiting {
                ok(
                    "PATCH",
                    &cpath,
                    &setup_key,
                    Some(serde_json::json!({"support_access": "approval"})),
                )
                .await;
            }
            let made = ok(
                "POST",
                &format!("{cpath}/support-sessions"),
                &setup_key,
                Some(serde_json::json!({"reason": "Fixture help"})),
            )
            .await;
            let id = made["id"].as_str().expect("session id").to_owned();
            if waiting {
                let token = tenantry_tests::app::pending_link_token(
                    &all.deps,
                    &tid,
                    "ada@fixture-bakery.example.com",
                    "support_session_approval",
                )
                .await
                .expect("the approval's link");
                extra.push((format!("ssa_{LINK_TOKEN}"), token));
            }
            extra.push((SUPPORT_SESSION_ID.into(), id));
        }
        "support-requests-note"
        | "support-requests-close"
        | "support-requests-escalate"
        | "escalations-list" => {
            // A request the fixture customer's admin opened.
            let admin = tenantry::model::ids::UserId::from_record(
                created["admin"]["id"].as_str().expect("the admin's id"),
            );
            let own = tenantry::access::own_company(&tenantry::access::Principal::Customer {
                tenant_id: tenantry::model::ids::TenantId::from_record(tid.clone()),
                customer_id: tenantry::model::ids::CustomerId::from_record(customer.clone()),
                user_id: admin.clone(),
                role: tenantry::model::customer::CustomerRole::Admin,
            })
            .expect("its company");
            let draft = serde_json::from_value(serde_json::json!({
                "subject": "Fixture help", "message": "Please help.", "category": "question"}))
            .expect("a request");
            let opened = tenantry::service::helpdesk::open(&all.deps, &own, &admin, &draft, None)
                .await
                .expect("opened");
            // The operator's list reads each escalated request.
            if binary == "escalations-list" {
                let tenant = tenantry_tests::owner_scope(&tid);
                let by = tenantry::model::audit::Actor::new(
                    tenantry::model::audit::ActorKind::ApiKey,
                    "key_fixture",
                );
                let note = serde_json::from_value(serde_json::json!({})).expect("no note");
                tenantry::service::helpdesk::escalate(
                    &all.deps, &tenant, by, &opened.id, &note, None,
                )
                .await
                .expect("escalated");
            }
            extra.push((SUPPORT_REQUEST_ID.into(), opened.id.to_string()));
        }
        "provisioning-get" => {
            let made = ok(
                "POST",
                "/v1/provisioning",
                &setup_key,
                Some(serde_json::json!({"type": "customer.suspend", "data": {"external_id": "crm-4711"}})),
            )
            .await;
            let id = made["id"].as_str().expect("provisioning id").to_owned();
            extra.push((PROVISIONING_ID.into(), id));
        }
        _ => {}
    }
    extra.extend([
        (TENANT_PLACEHOLDER.into(), replay_key),
        (TENANT_KEY_ID.into(), replay_id),
        (TENANT_ID.into(), tid),
        ("key_0197b2a5d1f27c3b8e4f5a6b7c8d9e01".into(), spare),
        ("mem_0197b2a6e0a17a4c9d5e6f708192a3b4".into(), member),
        ("cus_0197b2a7f3b27e5d8c6f708192a3b4c5".into(), customer),
    ]);
    extra
}

/// Replays every route's event through its function (embedded store) against fixtures
/// that make it succeed, records the store calls, and checks the function's policy in
/// the template allows each: the action, the table or its index, and the partition key
/// under `dynamodb:LeadingKeys`. A claimed Idempotency-Key counts its release too (the
/// DeleteItem after a 5xx, which a successful replay never makes). A code change that
/// needs a new permission fails here, not in production.
///
/// Each function runs with only what its route declares (`Route::needs`), as its Lambda
/// is built: a route that uses the identity provider without declaring it answers 500
/// here, and one that declares it without using it fails too.
#[tokio::test]
async fn policies_allow_every_store_call_a_successful_event_makes() {
    let t = template();
    let fns = functions(&t);
    let mut failures = Vec::new();
    let mut audit_failures = Vec::new();
    for route in ROUTES {
        let dir = tempfile::tempdir().expect("a temp dir");
        let recorder = Arc::new(Recorder::new(Arc::new(
            EmbeddedStore::open(dir.path().join("r.redb")).expect("a store"),
        )));
        let (deps, identity) = with_counted_identity(Deps::new(recorder.clone()), dir.path());
        // Every function's vault is the same key file here; KMS's grants are in the
        // template, checked by cfn-lint, not replayed.
        let deps = deps.with_vault(Arc::new(
            tenantry::adapters::embedded::FileVault::open(dir.path().join("vault.key"))
                .expect("a vault"),
        ));
        auth::register_operator_key(&deps, SETUP_OPERATOR_KEY)
            .await
            .expect("setup key");
        let operator_id = auth::register_operator_key(&deps, OPERATOR_PLACEHOLDER)
            .await
            .expect("operator key");
        // The data folder's document store, which the fixtures fill: S3's reads are
        // granted in the template, checked by cfn-lint, not replayed.
        let documents: Arc<dyn tenantry::ports::Documents> = Arc::new(
            tenantry::adapters::embedded::FileDocuments::new(dir.path().join("documents"))
                .expect("a documents folder"),
        );
        let mut subs = fixtures(
            &App::all(deps.clone().with_documents(documents.clone())),
            route.binary,
        )
        .await;
        subs.push((OPERATOR_KEY_ID.into(), operator_id));

        let file = repo().join("events").join(format!("{}.json", route.binary));
        let raw = std::fs::read_to_string(&file).expect("the route's event");
        // Variants change the event before the placeholders are substituted, so one may
        // swap a placeholder for another.
        let variants: Vec<String> = VARIANTS
            .iter()
            .filter(|(b, _)| *b == route.binary)
            .map(|(_, changes)| {
                changes.iter().fold(raw.clone(), |t, (from, to)| {
                    assert!(t.contains(from), "{}: no {from} to vary", file.display());
                    t.replace(from, to)
                })
            })
            .collect();
        let substitute = |mut text: String| {
            for (from, to) in &subs {
                text = text.replace(from.as_str(), to);
            }
            text
        };
        let text = substitute(raw.clone());
        let mut replays = vec![text.clone()];
        replays.extend(variants.into_iter().map(substitute));
        // The function's own dependencies: the identity provider only where declared.
        let own = if route.needs.identity {
            deps.clone()
        } else {
            deps.clone().without_identity_wired()
        };
        // Outbound HTTP only where declared (the replays' connectors make no request).
        let own = if route.needs.http {
            own.with_outbound(Arc::new(
                tenantry::adapters::http::HttpSender::allowing_loopback(),
            ))
        } else {
            own
        };
        // A route declaring the provider must reach for it: built without it, its event
        // fails (tried first, before the event's real run, on a route that would refuse).
        let fails_unwired = if route.needs.identity {
            let unwired = App::new(deps.clone().without_identity_wired(), &[*route]);
            send_as_is(&unwired, &replays[0]).await.0 >= 500
        } else {
            false
        };
        // The document store likewise: only where declared, and a route declaring it
        // fails without it.
        let own = if route.needs.documents {
            let without = App::new(own.clone(), &[*route]);
            let status = send_as_is(&without, &replays[0]).await.0;
            assert!(
                status >= 500,
                "{}: declares needs.documents but answers {status} without a document store",
                route.binary
            );
            own.with_documents(documents.clone())
        } else {
            own
        };
        let app = App::new(own, &[*route]);
        identity.take();
        let (mut authorizer_calls, mut calls) = (Vec::new(), Vec::new());
        for replay in replays {
            // API Gateway runs the authorizer first: its answer for the event's header
            // is the context the event carries. (A public route has neither.)
            let event: serde_json::Value = serde_json::from_str(&replay).expect("a JSON event");
            recorder.on.store(true, Ordering::SeqCst);
            let context = tenantry_tests::gateway::authorize(&deps, &event).await;
            recorder.on.store(false, Ordering::SeqCst);
            let carried = event["requestContext"]
                .get("authorizer")
                .map(|a| a["lambda"].clone());
            assert_eq!(
                context,
                carried,
                "{}: the authorizer context is the authorizer's answer for its header",
                file.display()
            );
            authorizer_calls.extend(recorder.calls.lock().expect("recorder lock").drain(..));
            recorder.on.store(true, Ordering::SeqCst);
            let (status, body) = send_as_is(&app, &replay).await;
            recorder.on.store(false, Ordering::SeqCst);
            calls.extend(recorder.calls.lock().expect("recorder lock").drain(..));
            assert!(
                (200..300).contains(&status),
                "{}: the event answers {status} {body} (a 500 may be an identity provider the route uses but does not declare)",
                file.display()
            );
            let committed: Vec<Vec<WriteOp>> = recorder
                .committed
                .lock()
                .expect("recorder lock")
                .drain(..)
                .collect();
            let lone: Vec<Item> = recorder
                .lone_puts
                .lock()
                .expect("recorder lock")
                .drain(..)
                .collect();
            audit_failures.extend(audit_check(route, &committed, &lone));
        }
        let cognito = identity.take_cognito();
        let used = identity.take() > 0
            || fails_unwired
            || IDENTITY_UNUSED_BY_EVENT.contains(&route.binary);
        assert_eq!(
            used,
            route.needs.identity,
            "{}: the route declares needs.identity = {} but its event {} the identity provider (calls, or fails without it)",
            route.binary,
            route.needs.identity,
            if used { "calls" } else { "never calls" }
        );

        let f = fns
            .iter()
            .find(|f| f.binary == route.binary)
            .expect("the route's function");
        let statements = f.statements();
        assert!(
            !calls.is_empty(),
            "{}: no store call recorded",
            route.binary
        );
        let authorizer = fns
            .iter()
            .find(|f| f.binary == "authorizer")
            .expect("the authorizer's function");
        let checks = [
            (f, statements, calls),
            (authorizer, authorizer.statements(), authorizer_calls),
        ];
        for c in cognito
            .iter()
            .filter(|c| !allows_cognito(&f.statements(), c))
        {
            failures.push(format!(
                "{} ({}): {} on {:?} pool",
                f.logical_id, route.binary, c.action, c.pool
            ));
        }
        for (f, statements, calls) in checks {
            for d in denied(&statements, &calls) {
                failures.push(format!("{} ({}): {d}", f.logical_id, route.binary));
            }
        }
    }
    failures.dedup();
    assert!(
        failures.is_empty() && audit_failures.is_empty(),
        "infra/template.yaml denies calls the code makes:\n{}\n\nroutes whose successful request does not write exactly one audit event with its change:\n{}",
        failures.join("\n"),
        audit_failures.join("\n")
    );
}

/// Routes that change something though they are GETs: the OAuth provider sends the
/// browser back to the callback with a GET, and it stores the connection's tokens.
const CHANGING_GETS: &[&str] = &["connect-callback"];

/// Routes whose fixture request changes nothing, so it writes no event: the fixture
/// tenant was provisioned when it was created, and provisioning again finds its pool.
const UNCHANGING_FIXTURES: &[&str] = &["tenants-provision"];

/// What one successful request of `route` committed, checked against the audit rule:
/// a request that changes something writes exactly one audit event, in the
/// transaction of its change (never alone beside it, never by a lone put); a read
/// writes none. Each event names a known actor and holds no secret.
fn audit_check(route: &Route, committed: &[Vec<WriteOp>], lone: &[Item]) -> Vec<String> {
    use tenantry::store::keys::is_audit_partition as is_audit_item;
    let mut out = Vec::new();
    let name = route.binary;
    let is_audit =
        |op: &WriteOp| matches!(op, WriteOp::Put { item, .. } if is_audit_item(&item.pk));
    let events: Vec<&Item> = committed
        .iter()
        .flatten()
        .filter_map(|op| match op {
            WriteOp::Put { item, .. } if is_audit_item(&item.pk) => Some(item),
            _ => None,
        })
        .collect();
    if lone.iter().any(|i| is_audit_item(&i.pk)) {
        out.push(format!(
            "{name}: an audit event written outside a transaction"
        ));
    }
    let changes = (route.method != http::Method::GET || CHANGING_GETS.contains(&name))
        && !UNCHANGING_FIXTURES.contains(&name);
    if !changes {
        if !events.is_empty() {
            out.push(format!(
                "{name}: a read wrote {} audit event(s)",
                events.len()
            ));
        }
        return out;
    }
    if events.len() != 1 {
        out.push(format!(
            "{name}: {} audit events for one request ({:?})",
            events.len(),
            events
                .iter()
                .map(|i| i.data.get("action").cloned().unwrap_or_default())
                .collect::<Vec<_>>()
        ));
    }
    // Its transaction holds the change itself, unless the event is all the request
    // writes (a sign-in that records nothing else).
    for tx in committed.iter().filter(|tx| tx.iter().any(is_audit)) {
        let others_elsewhere = committed
            .iter()
            .filter(|t| !std::ptr::eq(*t, tx))
            .any(|t| !t.is_empty());
        if tx.iter().all(is_audit) && others_elsewhere {
            out.push(format!(
                "{name}: its audit event is in a transaction of its own while the change commits in another"
            ));
        }
    }
    for e in events {
        let text = serde_json::to_string(&e.data).unwrap_or_default();
        let actor = e
            .data
            .get("actor")
            .and_then(|a| a.get("kind"))
            .and_then(|k| k.as_str());
        let action = e
            .data
            .get("action")
            .and_then(|a| a.as_str())
            .unwrap_or_default();
        // Nobody known: a failed sign-in, a registration or a reset asked for by email
        // (whoever typed the address).
        let anonymous_ok = name == "register"
            || action == "sign_in.failed"
            || action.ends_with(".password_reset_requested");
        if actor.is_none() || (actor == Some("anonymous") && !anonymous_ok) {
            out.push(format!("{name}: {action} names no actor ({actor:?})"));
        }
        if e.expires_at.is_none() {
            out.push(format!("{name}: {action} never expires"));
        }
        for secret in [
            "tk_",
            "eyJ",
            "Bearer",
            "password\":\"",
            "client_secret\":\"",
        ] {
            if text.contains(secret) {
                out.push(format!("{name}: {action} holds {secret:?}: {text}"));
            }
        }
        let values = e
            .data
            .get("changes")
            .and_then(|c| c.as_array())
            .map(|c| {
                c.iter()
                    .filter_map(|f| f.get("value"))
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default();
        if values.iter().any(|v| v.contains('@')) {
            out.push(format!(
                "{name}: {action} holds an email address as a value: {values:?}"
            ));
        }
    }
    out
}

struct ThirtyOneDaysLater;
impl tenantry::ports::Clock for ThirtyOneDaysLater {
    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        chrono::Utc::now() + chrono::Duration::days(31)
    }
}

/// The scheduler's event runs the purge Lambda's handler, which purges a customer past
/// its window, and every store call it makes is allowed by the function's policy.
#[tokio::test]
async fn the_scheduled_purge_event_purges_within_its_policy() {
    let event: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("events/customers-purge.json"))
            .expect("the purge event"),
    )
    .expect("JSON");
    assert_eq!(event["source"], "aws.scheduler");
    let t = template();
    let f = functions(&t)
        .into_iter()
        .find(|f| f.binary == "customers-purge")
        .expect("the purge function");
    assert!(
        f.events().iter().any(|(kind, _)| *kind == "ScheduleV2"),
        "the purge runs on a schedule"
    );

    let dir = tempfile::tempdir().expect("a temp dir");
    let recorder = Arc::new(Recorder::new(Arc::new(
        EmbeddedStore::open(dir.path().join("p.redb")).expect("a store"),
    )));
    let now = Deps::new(recorder.clone());
    let draft = serde_json::from_value(serde_json::json!({"name": "P", "slug": "purgers", "kind": "partner", "owner": {"email": "o@p.example.com", "first_name": "O", "last_name": "P"}})).expect("tenant");
    let tenant = tenantry::service::tenants::create(&now, &draft)
        .await
        .expect("tenant");
    let scope = tenantry_tests::owner_scope(tenant.tenant.tenant.id.as_str());
    let draft = serde_json::from_value(serde_json::json!({"company": {"name": "Gone"}, "admin": {"first_name": "A", "last_name": "B", "email": "a@gone.example.com"}})).expect("customer");
    let customer = tenantry::service::customers::create(&now, &scope, &draft)
        .await
        .expect("customer");
    tenantry::service::customers::transition(
        &now,
        &scope,
        &customer.id,
        tenantry::model::customer::Transition::Delete,
        true,
    )
    .await
    .expect("deleted");

    let mut later = now.clone();
    later.clock = Arc::new(ThirtyOneDaysLater);
    recorder.on.store(true, Ordering::SeqCst);
    let report = functions::lambda::purge(&later, &event)
        .await
        .expect("the purge runs");
    recorder.on.store(false, Ordering::SeqCst);
    assert_eq!(report["customers_purged"], 1, "{report}");

    let statements = f.statements();
    let calls = recorder.calls.lock().expect("recorder lock").clone();
    let denied = denied(&statements, &calls);
    assert!(denied.is_empty(), "the purge's policy denies: {denied:?}");
}

/// The billing jobs' scheduled event bills a closed month, finalises it after review and
/// takes a dunning step (emails queued, a reseller's customer suspended), every store call
/// within the function's policy.
#[tokio::test]
async fn the_scheduled_billing_jobs_bill_finalise_and_dun_within_their_policy() {
    let event: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("events/billing-jobs.json")).expect("the event"),
    )
    .expect("JSON");
    assert_eq!(event["source"], "aws.scheduler");
    let t = template();
    let f = functions(&t)
        .into_iter()
        .find(|f| f.binary == "billing-jobs")
        .expect("the billing jobs function");
    assert!(f.events().iter().any(|(kind, _)| *kind == "ScheduleV2"));

    let dir = tempfile::tempdir().expect("a temp dir");
    let recorder = Arc::new(Recorder::new(Arc::new(
        EmbeddedStore::open(dir.path().join("b.redb")).expect("a store"),
    )));
    let clock = Arc::new(tenantry_tests::app::TestClock::at(
        "2026-11-01T09:00:00Z".parse().expect("time"),
    ));
    let deps = Deps::new(recorder.clone()).with_clock(clock.clone());
    let plan = serde_json::from_value(serde_json::json!({"code": "starter", "name": "Starter",
        "currency": "EUR", "base_amount": 3000}))
    .expect("plan");
    tenantry::service::catalog::create_plan(&deps, &plan)
        .await
        .expect("plan");
    for (slug, kind) in [("billed-p", "partner"), ("billed-r", "reseller")] {
        let mut draft = serde_json::json!({"name": slug, "slug": slug, "kind": kind,
            "default_plan": "starter", "billing": {"email": "billing@p.example.com"},
            "owner": {"email": format!("o@{slug}.example.com"), "first_name": "O", "last_name": "P"}});
        if kind == "reseller" {
            draft["commission_rate_bps"] = serde_json::json!(1000);
        }
        let tenant = tenantry::service::tenants::create(
            &deps,
            &serde_json::from_value(draft).expect("tenant"),
        )
        .await
        .expect("tenant");
        let scope = tenantry_tests::owner_scope(tenant.tenant.tenant.id.as_str());
        let customer = serde_json::from_value(serde_json::json!({"company": {"name": "Billed"},
            "admin": {"first_name": "A", "last_name": "B", "email": format!("a@{slug}.example.com")}}))
        .expect("customer");
        tenantry::service::customers::create(&deps, &scope, &customer)
            .await
            .expect("customer");
    }
    // In AWS the run is handed out on the queue: billing-jobs sends one message per
    // tenant, and the worker bills each within its own policy.
    let queue = Arc::new(Sent::default());
    let deps = deps.with_work_queue(queue.clone());
    recorder.on.store(true, Ordering::SeqCst);
    let mut reports = Vec::new();
    *clock.0.lock().expect("clock") = "2026-12-01T02:15:00Z".parse().expect("time");
    reports.push(
        functions::lambda::billing_jobs(&deps)
            .await
            .expect("the jobs run"),
    );
    assert_eq!(reports[0]["invoice_run"]["queued"], true, "{}", reports[0]);
    assert_eq!(queue.bodies().len(), 2, "one message per tenant");
    let mut planner_calls = std::mem::take(&mut *recorder.calls.lock().expect("recorder lock"));
    let worker = functions(&t)
        .into_iter()
        .find(|f| f.binary == "invoices-worker")
        .expect("the invoice run's worker");
    assert!(worker.events().iter().any(|(kind, _)| *kind == "SQS"));
    // Of their own statements, one grants SQS: sending, to the invoice run's queue.
    // (Receiving and deleting are the SQS event source's, which SAM grants the worker.)
    for w in [&f, &worker] {
        let sqs: Vec<&Value> = w
            .statements()
            .into_iter()
            .filter(|s| {
                strings(s.get("Action"))
                    .iter()
                    .any(|a| a.starts_with("sqs:"))
            })
            .collect();
        assert!(
            sqs.len() == 1
                && strings(sqs[0].get("Action")) == ["sqs:SendMessage"]
                && sqs[0]
                    .get("Resource")
                    .and_then(intrinsic)
                    .is_some_and(|(n, v)| {
                        n == "GetAtt" && v.as_str() == Some("InvoiceRunQueue.Arn")
                    }),
            "{}: sends to the invoice run's queue, and does nothing else with SQS: {sqs:?}",
            w.logical_id
        );
    }
    // The worker's event, one record per message; a deadline already passed makes each
    // message do one step and hand the rest on, so the chain runs to its end.
    let sample: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("events/invoices-worker.json")).expect("the event"),
    )
    .expect("JSON");
    // Lambda's event source: the queue's messages ten at a time, until none is left.
    let drain = async || {
        let mut batches = 0;
        loop {
            let bodies = queue.take();
            if bodies.is_empty() {
                return batches;
            }
            batches += 1;
            assert!(batches < 20, "the worker's chain does not end");
            let records: Vec<serde_json::Value> = bodies
                .iter()
                .enumerate()
                .map(|(i, body)| {
                    let mut r = sample["Records"][0].clone();
                    r["messageId"] = serde_json::json!(format!("m-{batches}-{i}"));
                    r["body"] = serde_json::json!(body);
                    r
                })
                .collect();
            let out = functions::lambda::invoices_worker(
                &deps,
                &serde_json::json!({ "Records": records }),
                std::time::Instant::now(),
            )
            .await
            .expect("the worker's batch");
            assert_eq!(out["batchItemFailures"], serde_json::json!([]), "{out}");
        }
    };
    // One tenant's message is lost (to the dead-letter queue, say); the other's chain
    // runs to its end.
    let lost = queue.0.lock().expect("queue lock").remove(0);
    assert!(
        drain().await >= 2,
        "the tenant's run went on in further messages"
    );
    let mut worker_calls = std::mem::take(&mut *recorder.calls.lock().expect("recorder lock"));
    // The follow-up: within the hour nothing; then the unfinished tenant is sent again;
    // once every run is done the month is complete and left alone.
    let round = async |at: &str| {
        *clock.0.lock().expect("clock") = at.parse().expect("time");
        functions::lambda::billing_jobs(&deps)
            .await
            .expect("the jobs run")
    };
    let r = round("2026-12-01T02:45:00Z").await;
    assert_eq!(r["invoice_run"], serde_json::Value::Null, "{r}");
    let r = round("2026-12-01T03:20:00Z").await;
    assert_eq!(r["invoice_run"]["tenants"], 1, "{r}");
    assert_eq!(queue.bodies(), [lost], "the lost tenant's message, again");
    planner_calls.extend(recorder.calls.lock().expect("recorder lock").drain(..));
    assert!(drain().await >= 2);
    worker_calls.extend(recorder.calls.lock().expect("recorder lock").drain(..));
    let r = round("2026-12-01T04:25:00Z").await;
    assert_eq!(r["invoice_run"]["tenants"], 0, "every run is done: {r}");
    let r = round("2026-12-01T05:30:00Z").await;
    assert_eq!(r["invoice_run"], serde_json::Value::Null, "complete: {r}");
    assert!(queue.bodies().is_empty());
    planner_calls.extend(recorder.calls.lock().expect("recorder lock").drain(..));
    let refused = denied(&worker.statements(), &worker_calls);
    assert!(
        refused.is_empty(),
        "the worker's policy denies: {refused:?}"
    );
    // The sample event names a tenant that does not exist: nothing to bill, no failure.
    let gone = functions::lambda::invoices_worker(&deps, &sample, std::time::Instant::now())
        .await
        .expect("the sample batch");
    assert_eq!(gone["batchItemFailures"], serde_json::json!([]), "{gone}");
    assert_eq!(gone["done"], 1, "{gone}");
    // A message that does not read is reported back, to be dead-lettered.
    let mut bad = sample.clone();
    bad["Records"][0]["body"] = serde_json::json!("{\"tenant_id\": \"ten_x\"}");
    let bad = functions::lambda::invoices_worker(&deps, &bad, std::time::Instant::now())
        .await
        .expect("the bad batch");
    assert_eq!(
        bad["batchItemFailures"],
        serde_json::json!([{"itemIdentifier": sample["Records"][0]["messageId"]}]),
        "{bad}"
    );
    recorder.calls.lock().expect("recorder lock").clear();
    for at in [
        "2026-12-04T04:15:00Z",
        "2026-12-19T04:15:00Z",
        "2027-01-08T04:15:00Z",
        "2027-01-08T04:30:00Z",
    ] {
        *clock.0.lock().expect("clock") = at.parse().expect("time");
        reports.push(
            functions::lambda::billing_jobs(&deps)
                .await
                .expect("the jobs run"),
        );
    }
    recorder.on.store(false, Ordering::SeqCst);
    assert_eq!(
        reports[0]["invoice_run"]["period"], "2026-11",
        "{}",
        reports[0]
    );

    assert_eq!(reports[1]["review"]["finalized"], 2, "{}", reports[1]);
    assert_eq!(reports[2]["dunning"]["reminders"], 2, "{}", reports[2]);
    // The partner at once; the reseller's customer in the next round.
    assert_eq!(reports[3]["dunning"]["suspensions"], 1, "{}", reports[3]);
    assert_eq!(reports[4]["dunning"]["suspensions"], 1, "{}", reports[4]);
    planner_calls.extend(recorder.calls.lock().expect("recorder lock").drain(..));
    let denied = denied(&f.statements(), &planner_calls);
    assert!(
        denied.is_empty(),
        "the billing jobs' policy denies: {denied:?}"
    );

    // The final invoices' PDFs (`events/documents-render.json`, every minute), within
    // the rendering function's policy.
    let render: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("events/documents-render.json")).expect("the event"),
    )
    .expect("JSON");
    assert_eq!(render["source"], "aws.scheduler");
    let r = functions(&t)
        .into_iter()
        .find(|f| f.binary == "documents-render")
        .expect("the documents function");
    assert!(r.events().iter().any(|(kind, _)| *kind == "ScheduleV2"));
    let files = tenantry::adapters::embedded::FileDocuments::new(dir.path().join("documents"))
        .expect("a documents folder");
    let deps = deps.with_documents(Arc::new(files));
    recorder.calls.lock().expect("recorder lock").clear();
    recorder.on.store(true, Ordering::SeqCst);
    let stored = functions::lambda::documents_render(&deps)
        .await
        .expect("the document sweep");
    let again = functions::lambda::documents_render(&deps)
        .await
        .expect("the document sweep");
    recorder.on.store(false, Ordering::SeqCst);
    assert_eq!(stored["stored"], 2, "{stored}");
    assert_eq!(again["stored"], 0, "stored once: {again}");
    let calls = recorder.calls.lock().expect("recorder lock").clone();
    let refused = self::denied(&r.statements(), &calls);
    assert!(
        refused.is_empty(),
        "the documents function's policy denies: {refused:?}"
    );
}

/// The invoice run's queue as the replay sees it: what was sent, taken ten at a time
/// as Lambda's SQS event source would.
#[derive(Default)]
struct Sent(Mutex<Vec<String>>);

impl Sent {
    fn bodies(&self) -> Vec<String> {
        self.0.lock().expect("queue lock").clone()
    }

    fn take(&self) -> Vec<String> {
        let mut q = self.0.lock().expect("queue lock");
        let n = q.len().min(10);
        q.drain(..n).collect()
    }
}

#[async_trait::async_trait]
impl tenantry::ports::WorkQueue for Sent {
    async fn send(&self, bodies: &[String]) -> Result<(), tenantry::ports::QueueError> {
        self.0.lock().expect("queue lock").extend_from_slice(bodies);
        Ok(())
    }
}

/// The stream batch of `events/mail-sender.json`, pointed at a real pending email, makes
/// the mail sender deliver it; the scheduler's event makes it sweep; every store call of
/// both is allowed by the function's policy.
#[tokio::test]
async fn the_mail_sender_events_deliver_within_its_policy() {
    let fixture: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("events/mail-sender.json")).expect("the event"),
    )
    .expect("JSON");
    let t = template();
    let f = functions(&t)
        .into_iter()
        .find(|f| f.binary == "mail-sender")
        .expect("the mail sender");
    let kinds: Vec<&str> = f.events().iter().map(|(kind, _)| *kind).collect();
    assert!(
        kinds.contains(&"DynamoDB") && kinds.contains(&"ScheduleV2"),
        "{kinds:?}"
    );

    let dir = tempfile::tempdir().expect("a temp dir");
    let embedded = Arc::new(EmbeddedStore::open(dir.path().join("m.redb")).expect("a store"));
    let recorder = Arc::new(Recorder::new(embedded.clone()));
    let deps = Deps::new(recorder.clone());
    let draft = serde_json::from_value(serde_json::json!({"name": "Mailers", "slug": "mailers", "kind": "partner", "owner": {"email": "o@mailers.example.com", "first_name": "O", "last_name": "M"}})).expect("tenant");
    let tenant = tenantry::service::tenants::create(&deps, &draft)
        .await
        .expect("tenant");
    let tid = tenant.tenant.tenant.id.clone();
    let pending = embedded
        .all_items()
        .expect("the items")
        .into_iter()
        .find(|i| i.pk == format!("T#{tid}#MAIL"))
        .expect("the owner's invitation is queued");

    // The fixture's record, with the real email's keys.
    let placeholder_pk = fixture["Records"][0]["dynamodb"]["Keys"]["pk"]["S"]
        .as_str()
        .expect("pk")
        .to_owned();
    let placeholder_sk = fixture["Records"][0]["dynamodb"]["Keys"]["sk"]["S"]
        .as_str()
        .expect("sk")
        .to_owned();
    let event: serde_json::Value = serde_json::from_str(
        &fixture
            .to_string()
            .replace(&placeholder_pk, &pending.pk)
            .replace(&placeholder_sk, &pending.sk),
    )
    .expect("JSON");

    let mailer =
        tenantry::adapters::embedded::FileMailer::new(dir.path().join("outbox")).expect("mail dir");
    let settings = tenantry::service::mail::MailSettings {
        sender_domain: "mail.example.com".into(),
        public_url: "https://api.example.com".into(),
    };
    recorder.on.store(true, Ordering::SeqCst);
    let answer = functions::lambda::mail_sender(&deps, &mailer, &settings, &event)
        .await
        .expect("the batch runs");
    assert_eq!(
        answer["batchItemFailures"],
        serde_json::json!([]),
        "{answer}"
    );
    assert!(
        dir.path()
            .join("outbox")
            .join(format!("{}.eml", pending.sk))
            .exists(),
        "the email was delivered"
    );
    let scheduled: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("events/customers-purge.json")).expect("event"),
    )
    .expect("JSON");
    let sweep = functions::lambda::mail_sender(&deps, &mailer, &settings, &scheduled)
        .await
        .expect("the sweep runs");
    // The stream delivered the email and removed its due entry: the sweep's shard
    // queries (recorded for the policy check below) find nothing due.
    assert_eq!(sweep["due"], 0, "{sweep}");
    recorder.on.store(false, Ordering::SeqCst);

    let statements = f.statements();
    let calls = recorder.calls.lock().expect("recorder lock").clone();
    assert!(calls.len() >= 4, "{calls:?}");
    let denied = denied(&statements, &calls);
    assert!(
        denied.is_empty(),
        "the mail sender's policy denies: {denied:?}"
    );
}

/// `events/authorizer.json`, API Gateway's request to the authorizer, parses as one and,
/// with a real tenant key in place of its placeholder, answers that tenant's principal
/// (and `anonymous` unchanged, the placeholder being no key).
#[tokio::test]
async fn the_authorizer_event_authorizes_its_key() {
    use lambda_http::aws_lambda_events::apigw::ApiGatewayV2CustomAuthorizerV2Request;
    let dir = tempfile::tempdir().expect("a temp dir");
    let deps = Deps::new(Arc::new(
        EmbeddedStore::open(dir.path().join("a.redb")).expect("a store"),
    ));
    auth::register_operator_key(&deps, SETUP_OPERATOR_KEY)
        .await
        .expect("setup key");
    let subs = fixtures(&App::all(deps.clone()), "authorizer").await;
    let file = repo().join("events").join("authorizer.json");
    let text = std::fs::read_to_string(&file).expect("events/authorizer.json");
    let parse = |t: &str| -> ApiGatewayV2CustomAuthorizerV2Request {
        serde_json::from_str(t).expect("an HTTP API authorizer request (payload 2.0)")
    };
    let unchanged = functions::lambda::authorizer(&deps, &parse(&text))
        .await
        .expect("an answer");
    assert_eq!(unchanged.context, serde_json::json!({"kind": "anonymous"}));

    let mut real = text.clone();
    for (from, to) in &subs {
        real = real.replace(from.as_str(), to);
    }
    let answer = functions::lambda::authorizer(&deps, &parse(&real))
        .await
        .expect("an answer");
    assert!(answer.is_authorized);
    let tenant = subs
        .iter()
        .find(|(from, _)| from == TENANT_ID)
        .map(|(_, to)| to.clone());
    let key_id = subs
        .iter()
        .find(|(from, _)| from == TENANT_KEY_ID)
        .map(|(_, to)| to.clone());
    assert_eq!(
        answer.context,
        serde_json::json!({"kind": "staff", "tenant_id": tenant, "role": "owner", "actor": key_id})
    );
}

/// The README's two commands are the ones that work: its test command is the one CI runs
/// (`.ci/run`), and its run command names the local binary and a subcommand it has.
#[test]
fn the_readme_commands_are_the_ones_ci_and_the_binary_use() {
    let readme = std::fs::read_to_string(repo().join("README.md")).expect("README.md");
    let block_after = |heading: &str| -> String {
        let rest = readme
            .split(heading)
            .nth(1)
            .unwrap_or_else(|| panic!("README.md has no {heading}"));
        rest.split("```sh\n")
            .nth(1)
            .and_then(|b| b.split("```").next())
            .unwrap_or_else(|| panic!("no command under {heading}"))
            .trim()
            .to_owned()
    };
    let test = block_after("## Test it");
    let ci = std::fs::read_to_string(repo().join(".ci/run")).expect(".ci/run");
    assert!(
        ci.lines().any(|l| l.trim() == format!("bash {test}")),
        "`.ci/run` does not run the README's test command `{test}`"
    );
    let run = block_after("## Run it");
    assert!(
        run.contains("--bin tenantry") && run.contains(" serve"),
        "the README's run command: {run}"
    );
    let cli = std::fs::read_to_string(repo().join("functions/src/bin/tenantry.rs")).expect("cli");
    assert!(cli.contains("Serve {"), "the CLI has a serve subcommand");
}

/// `events/outbox-worker.json` (a stream record of a new provisioning request) runs the
/// outbox worker, with the real request's keys: it provisions the customer and writes
/// its `provisioning.succeeded`; the message's own stream record then delivers it to
/// a receiver (a real HTTP server on the loopback), and the scheduler's event sweeps
/// both kinds of due work. Every store call is allowed by the function's policy. (Its
/// Cognito and KMS grants are not replayed here: the embedded identity provider and
/// vault stand in.)
#[tokio::test]
async fn the_outbox_worker_events_provision_and_deliver_within_its_policy() {
    let fixture =
        std::fs::read_to_string(repo().join("events/outbox-worker.json")).expect("the event");
    let t = template();
    let f = functions(&t)
        .into_iter()
        .find(|f| f.binary == "outbox-worker")
        .expect("the outbox worker");
    let kinds: Vec<&str> = f.events().iter().map(|(kind, _)| *kind).collect();
    assert!(
        kinds.contains(&"DynamoDB") && kinds.contains(&"ScheduleV2"),
        "{kinds:?}"
    );

    let dir = tempfile::tempdir().expect("a temp dir");
    let recorder = Arc::new(Recorder::new(Arc::new(
        EmbeddedStore::open(dir.path().join("o.redb")).expect("a store"),
    )));
    let deps = Deps::new(recorder.clone()).with_vault(Arc::new(
        tenantry::adapters::embedded::FileVault::open(dir.path().join("vault.key"))
            .expect("a vault"),
    ));
    let draft = serde_json::from_value(serde_json::json!({"name": "Outbox", "slug": "outboxers", "kind": "partner", "owner": {"email": "o@outbox.example.com", "first_name": "O", "last_name": "B"}})).expect("tenant");
    let tenant = tenantry::service::tenants::create(&deps, &draft)
        .await
        .expect("tenant");
    let tid = tenant.tenant.tenant.id.clone();
    let scope = tenantry_tests::owner_scope(tid.as_str());

    // A receiver that takes everything.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let received = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = received.clone();
    let app = axum::Router::new().route(
        "/hooks",
        axum::routing::post(move || {
            let count = count.clone();
            async move {
                count.fetch_add(1, Ordering::SeqCst);
                http::StatusCode::NO_CONTENT
            }
        }),
    );
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let endpoint =
        serde_json::from_value(serde_json::json!({"url": format!("http://{addr}/hooks")}))
            .expect("draft");
    tenantry::service::outbound::create(&deps, &scope, &endpoint)
        .await
        .expect("an endpoint");
    let body = br#"{"type":"customer.provision","data":{"external_id":"shop-4711","company":{"name":"Outbox Bakery"},"admin":{"first_name":"Ada","last_name":"Admin","email":"ada@outbox-bakery.example.com"}}}"#;
    let checked = tenantry::service::provisioning::check(body).expect("a request");
    let recorded = tenantry::service::provisioning::record(
        &deps,
        &scope,
        checked,
        tenantry::service::provisioning::Source::Api {
            actor: "key_x".into(),
        },
    )
    .await
    .expect("recorded");
    let pk = tenantry::store::keys::provisioning(&tid, &recorded.accepted.id).pk;
    let event: serde_json::Value = serde_json::from_str(&fixture.replace(
        "T#ten_0197b2a4c3e07d1a9f2b3c4d5e6f7a80#PRV#prv_0197b2a7f3b27e5d8c6f708192a3b4e1",
        &pk,
    ))
    .expect("JSON");
    let sender = tenantry::adapters::http::HttpSender::allowing_loopback();
    recorder.on.store(true, Ordering::SeqCst);
    let answer = functions::lambda::outbox_worker(&deps, &sender, &event)
        .await
        .expect("the batch");
    assert_eq!(
        answer["batchItemFailures"],
        serde_json::json!([]),
        "{answer}"
    );
    // The events it wrote (customer.created, subscription and provisioning.succeeded
    // alike), each delivered from its own stream record.
    let message_pks: std::collections::BTreeSet<String> = recorder
        .calls
        .lock()
        .expect("recorder lock")
        .iter()
        .filter(|c| c.pk.contains("#WHMSG#"))
        .map(|c| c.pk.clone())
        .collect();
    assert!(message_pks.len() >= 2, "{message_pks:?}");
    for message_pk in &message_pks {
        let message_event: serde_json::Value = serde_json::from_str(
            &fixture
                .replace(
                    "T#ten_0197b2a4c3e07d1a9f2b3c4d5e6f7a80#PRV#prv_0197b2a7f3b27e5d8c6f708192a3b4e1",
                    message_pk,
                )
                .replace("\"PROVISIONING\"", "\"WHMSG\""),
        )
        .expect("JSON");
        let answer = functions::lambda::outbox_worker(&deps, &sender, &message_event)
            .await
            .expect("the batch");
        assert_eq!(
            answer["batchItemFailures"],
            serde_json::json!([]),
            "{answer}"
        );
    }
    assert_eq!(
        received.load(Ordering::SeqCst),
        message_pks.len(),
        "every event delivered, provisioning.succeeded among them"
    );
    let scheduled: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("events/customers-purge.json")).expect("event"),
    )
    .expect("JSON");
    let sweep = functions::lambda::outbox_worker(&deps, &sender, &scheduled)
        .await
        .expect("the sweep");
    assert_eq!(sweep["provisioning"]["due"], 0, "{sweep}");
    assert_eq!(sweep["webhooks"]["due"], 0, "{sweep}");
    recorder.on.store(false, Ordering::SeqCst);

    let calls = recorder.calls.lock().expect("recorder lock").clone();
    let denied = denied(&f.statements(), &calls);
    assert!(
        denied.is_empty(),
        "the outbox worker's policy denies: {denied:?}"
    );
}
