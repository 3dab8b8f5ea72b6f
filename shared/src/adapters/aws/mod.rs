//! AWS adapters: DynamoDB for the item store, SES v2 for the mailer, Cognito for
//! identity, S3 for documents, SQS for the invoice run's work, KMS for the vault.

pub mod cognito;
pub mod dynamodb;
pub mod jwks;
pub mod kms;
pub mod s3;
pub mod ses;
pub mod sqs;

pub use cognito::CognitoIdentity;
pub use dynamodb::DynamoStore;
pub use jwks::HttpJwks;
pub use kms::KmsVault;
pub use s3::S3Documents;
pub use ses::SesMailer;
pub use sqs::SqsQueue;

pub use aws_config::SdkConfig;

use aws_config::BehaviorVersion;
use aws_smithy_http_client::tls::{Provider, TlsContext, TrustStore, rustls_provider::CryptoMode};

/// The root CAs of Amazon Trust Services, which issue every AWS service endpoint's
/// certificate.
const AMAZON_TRUST_SERVICES: &str = include_str!("amazon-trust-services.pem");

/// The ambient AWS configuration (region, credentials and `AWS_ENDPOINT_URL` from the
/// environment, as aws-config resolves them) with an HTTPS client on rustls + ring.
///
/// The SDK's default client uses aws-lc, which the workspace leaves out to keep every
/// function zip small; without a client set here the SDK would have none.
///
/// Trust: only the five Amazon Trust Services roots, unless `SSL_CERT_FILE` or
/// `SSL_CERT_DIR` names a trust store (then the platform's roots, e.g. behind a
/// TLS-inspecting proxy). Parsing the platform's ~150 roots at every cold start costs
/// more than everything else a function does before its first request.
pub async fn sdk_config() -> SdkConfig {
    let platform_roots =
        std::env::var_os("SSL_CERT_FILE").is_some() || std::env::var_os("SSL_CERT_DIR").is_some();
    sdk_config_trusting(if platform_roots {
        TrustStore::default()
    } else {
        amazon_trust_services()
    })
    .await
}

fn amazon_trust_services() -> TrustStore {
    TrustStore::empty().with_pem_certificate(AMAZON_TRUST_SERVICES.as_bytes())
}

async fn sdk_config_trusting(trust: TrustStore) -> SdkConfig {
    let tls = TlsContext::builder()
        .with_trust_store(trust)
        .build()
        // Infallible today (it only stores the trust store); the platform roots otherwise.
        .unwrap_or_default();
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .tls_context(tls)
        .build_https();
    from_environment(&|name| std::env::var(name).ok(), http)
}

/// The configuration from the variables a Lambda function is given (`AWS_REGION`,
/// `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`), plus
/// `AWS_ENDPOINT_URL` and `AWS_MAX_ATTEMPTS`. Built directly rather than by aws-config's
/// loader, whose default chains (profile files, IMDS, ECS, STS web identity) would link
/// into every function and never be used there.
fn from_environment(
    var: &dyn Fn(&str) -> Option<String>,
    http: aws_sdk_dynamodb::config::SharedHttpClient,
) -> SdkConfig {
    let var = |name: &str| var(name).filter(|v| !v.trim().is_empty());
    let region = var("AWS_REGION")
        .or_else(|| var("AWS_DEFAULT_REGION"))
        .map(aws_config::Region::new);
    let mut retry = aws_config::retry::RetryConfig::standard();
    if let Some(attempts) = var("AWS_MAX_ATTEMPTS").and_then(|v| v.parse::<u32>().ok())
        && attempts > 0
    {
        retry = retry.with_max_attempts(attempts);
    }
    let credentials = aws_config::environment::EnvironmentVariableCredentialsProvider::new();
    let mut config = SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(region)
        .credentials_provider(aws_sdk_dynamodb::config::SharedCredentialsProvider::new(
            credentials,
        ))
        .identity_cache(aws_config::identity::IdentityCache::lazy().build())
        .retry_config(retry)
        .http_client(http);
    if let Some(url) = var("AWS_ENDPOINT_URL") {
        config = config.endpoint_url(url);
    }
    config.build()
}

#[cfg(test)]
mod tests {
    use aws_sdk_dynamodb::Client;

    #[test]
    fn the_configuration_comes_from_the_variables_a_lambda_function_is_given() {
        let vars = std::collections::HashMap::from([
            ("AWS_DEFAULT_REGION", "eu-west-1"),
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:5000"),
            ("AWS_MAX_ATTEMPTS", "1"),
        ]);
        let http = aws_smithy_http_client::Builder::new()
            .tls_provider(super::Provider::Rustls(super::CryptoMode::Ring))
            .build_https();
        let var = |name: &str| vars.get(name).map(|v| v.to_string());
        let config = super::from_environment(&var, http);
        assert_eq!(config.region().map(|r| r.as_ref()), Some("eu-west-1"));
        assert_eq!(config.endpoint_url(), Some("http://127.0.0.1:5000"));
        assert_eq!(config.retry_config().map(|r| r.max_attempts()), Some(1));
        assert!(config.credentials_provider().is_some());
        let none = super::from_environment(
            &|_| None,
            aws_smithy_http_client::Builder::new()
                .tls_provider(super::Provider::Rustls(super::CryptoMode::Ring))
                .build_https(),
        );
        assert_eq!(none.region(), None);
        assert_eq!(none.endpoint_url(), None);
    }

    /// The embedded roots parse (the SDK's TLS setup panics on a bad PEM): a DynamoDB call
    /// over HTTPS to a closed loopback port builds the TLS connector and fails to connect,
    /// as an error, not a panic.
    #[tokio::test]
    async fn the_embedded_trust_store_builds_a_tls_connector() {
        let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
        let port = closed.local_addr().expect("its address").port();
        drop(closed);
        let config = super::sdk_config_trusting(super::amazon_trust_services()).await;
        let dynamo = aws_sdk_dynamodb::config::Builder::from(&config)
            .endpoint_url(format!("https://127.0.0.1:{port}"))
            .region(aws_sdk_dynamodb::config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
                "AKIDTEST",
                "not-a-secret",
                None,
                None,
                "test",
            ))
            .build();
        let err = Client::from_conf(dynamo)
            .list_tables()
            .send()
            .await
            .expect_err("nothing listens there");
        let text = format!("{:?}", aws_sdk_dynamodb::error::DisplayErrorContext(&err));
        assert!(text.contains("onnect"), "a connection error, got {text}");
        assert_eq!(
            super::AMAZON_TRUST_SERVICES
                .matches("BEGIN CERTIFICATE")
                .count(),
            5
        );
    }
}
