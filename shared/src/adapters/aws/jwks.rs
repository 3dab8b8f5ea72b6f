//! Cognito's public keys over HTTPS: `<iss>/.well-known/jwks.json`.

use std::time::Duration;

use async_trait::async_trait;
use jsonwebtoken::jwk::JwkSet;

use crate::service::tokens::JwksSource;

pub struct HttpJwks {
    client: reqwest::Client,
    /// An emulator serving every pool's keys at `<endpoint>/<pool_id>/.well-known/jwks.json`
    /// (moto) instead of the issuer's own host.
    endpoint: Option<String>,
}

impl HttpJwks {
    pub fn new(endpoint: Option<String>) -> Self {
        // Well inside the authorizer's 3 s Lambda timeout: a slow key fetch is a
        // refusal the client can retry, not a timed-out authorizer. An emulator (the
        // tests' moto, one process serving every test at once on a loaded machine) gets
        // longer.
        let (connect, total) = match endpoint {
            None => (700, 1500),
            Some(_) => (2000, 6000),
        };
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_millis(connect))
            .timeout(Duration::from_millis(total))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_default();
        Self {
            client,
            endpoint: endpoint.map(|e| e.trim_end_matches('/').to_owned()),
        }
    }

    /// The emulator of `AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER` or `AWS_ENDPOINT_URL`
    /// if set (tests), else each issuer's own URL.
    pub fn from_env() -> Self {
        let var = |n: &str| std::env::var(n).ok().filter(|v| !v.trim().is_empty());
        Self::new(
            var("AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER").or_else(|| var("AWS_ENDPOINT_URL")),
        )
    }

    fn url(&self, iss: &str) -> String {
        match &self.endpoint {
            Some(e) => {
                let pool = iss.rsplit('/').next().unwrap_or_default();
                format!("{e}/{pool}/.well-known/jwks.json")
            }
            None => format!("{}/.well-known/jwks.json", iss.trim_end_matches('/')),
        }
    }
}

#[async_trait]
impl JwksSource for HttpJwks {
    async fn jwks(&self, iss: &str) -> Result<JwkSet, anyhow::Error> {
        // Only issuers from our own records reach here (issuer -> tenant is looked up
        // before any fetch), so this never fetches a URL a token chose.
        let keys = self
            .client
            .get(self.url(iss))
            .send()
            .await?
            .error_for_status()?
            .json::<JwkSet>()
            .await?;
        Ok(keys)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn keys_come_from_the_issuer_or_the_emulator() {
        let iss = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC";
        assert_eq!(
            super::HttpJwks::new(None).url(iss),
            "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC/.well-known/jwks.json"
        );
        assert_eq!(
            super::HttpJwks::new(Some("http://127.0.0.1:5000/".into())).url(iss),
            "http://127.0.0.1:5000/eu-west-1_AbC/.well-known/jwks.json"
        );
    }
}
