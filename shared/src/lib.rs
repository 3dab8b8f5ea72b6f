//! Tenantry's domain: every business rule, the access gate, the ports and their adapters.

pub mod access;
pub mod adapters;
pub mod error;
pub mod model;
pub mod ports;
pub mod service;
pub mod store;

pub use error::{Error, FieldError};

use std::sync::Arc;

/// What every use case needs from the outside world, borrowed by reference.
#[derive(Clone)]
pub struct Deps {
    pub store: Arc<dyn ports::ItemStore>,
    pub clock: Arc<dyn ports::Clock>,
    /// The identity provider (Cognito, or the embedded one). Without it tenants are
    /// created without a customer login pool and tokens are not accepted.
    pub identity: Option<Arc<dyn ports::Identity>>,
    /// Verifies identity tokens (JWTs) against the JWKS of their issuer.
    pub tokens: Option<Arc<service::tokens::Verifier>>,
}

impl Deps {
    pub fn new(store: Arc<dyn ports::ItemStore>) -> Self {
        Self {
            store,
            clock: Arc::new(ports::SystemClock),
            identity: None,
            tokens: None,
        }
    }

    /// With an identity provider and the token verifier for its issuers.
    pub fn with_identity(
        self,
        identity: Arc<dyn ports::Identity>,
        tokens: Arc<service::tokens::Verifier>,
    ) -> Self {
        self.with_identity_provider(identity).with_tokens(tokens)
    }

    /// With an identity provider only (functions that manage logins but never verify
    /// a token: they stay free of the JWKS client).
    pub fn with_identity_provider(mut self, identity: Arc<dyn ports::Identity>) -> Self {
        self.identity = Some(identity);
        self
    }

    /// With a token verifier only (the authorizer: it verifies, never manages logins).
    pub fn with_tokens(mut self, tokens: Arc<service::tokens::Verifier>) -> Self {
        self.tokens = Some(tokens);
        self
    }
}
