//! AWS adapters: DynamoDB for the item store, SES v2 for the mailer, Cognito for
//! identity.

pub mod cognito;
pub mod dynamodb;
pub mod jwks;
pub mod ses;

pub use cognito::CognitoIdentity;
pub use dynamodb::DynamoStore;
pub use jwks::HttpJwks;
pub use ses::SesMailer;

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
    aws_config::defaults(BehaviorVersion::latest())
        .http_client(http)
        .load()
        .await
}

#[cfg(test)]
mod tests {
    use aws_sdk_dynamodb::Client;

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
