//! Tenantry's domain: every business rule, the access gate, the ports and their adapters.

pub mod access;
pub mod adapters;
pub mod error;
pub mod model;
pub mod ports;
pub mod service;
pub mod store;
pub mod webhooks;

pub use error::{Error, FieldError};

use std::sync::Arc;

/// What every use case needs from the outside world, borrowed by reference.
#[derive(Clone)]
pub struct Deps {
    pub store: Arc<dyn ports::ItemStore>,
    pub clock: Arc<dyn ports::Clock>,
    identity: IdentitySlot,
    /// Verifies identity tokens (JWTs) against the JWKS of their issuer.
    pub tokens: Option<Arc<service::tokens::Verifier>>,
    /// Where final documents are kept (a process that stores or attaches them).
    documents: Option<Arc<dyn ports::Documents>>,
    /// Where the invoice run hands out its tenants (SQS in AWS); without one the run
    /// bills them in a local pool of workers.
    work_queue: Option<Arc<dyn ports::WorkQueue>>,
    /// Keeps signing secrets and credentials (KMS in AWS, a key file locally).
    vault: Option<Arc<dyn ports::Vault>>,
    /// Requests to partners' and providers' servers (a connector's check request):
    /// public https addresses only, unless a local process allows its loopback.
    outbound: Option<Arc<dyn ports::WebhookSender>>,
    /// Who is acting, and the request's trace, for the audit log: set per request by
    /// the HTTP edge, and by each job for its work.
    origin: Option<Arc<model::audit::Origin>>,
}

/// Where the identity provider stands in a process.
#[derive(Clone)]
enum IdentitySlot {
    /// Cognito, or the embedded one.
    Provider(Arc<dyn ports::Identity>),
    /// The deployment has none: tenants are created without a customer login pool and
    /// no login is made (the tenancy core on its own, as many tests run it).
    Absent,
    /// This process was built without it: a Lambda whose route does not declare it. A
    /// use is a defect in the route table, reported as such rather than skipped.
    NotWired,
}

impl Deps {
    /// The store and the system clock; no identity provider.
    pub fn new(store: Arc<dyn ports::ItemStore>) -> Self {
        Self {
            store,
            clock: Arc::new(ports::SystemClock),
            identity: IdentitySlot::Absent,
            tokens: None,
            documents: None,
            work_queue: None,
            vault: None,
            outbound: None,
            origin: None,
        }
    }

    /// These dependencies acting for `origin` (one request, or one job's work).
    pub fn acting(&self, origin: model::audit::Origin) -> Self {
        let mut d = self.clone();
        d.origin = Some(Arc::new(origin));
        d
    }

    /// Who is acting, where a request or a job said so.
    pub fn origin(&self) -> Option<&model::audit::Origin> {
        self.origin.as_deref()
    }

    /// With this sender for outbound requests (the local server's allows the loopback).
    pub fn with_outbound(mut self, sender: Arc<dyn ports::WebhookSender>) -> Self {
        self.outbound = Some(sender);
        self
    }

    /// The outbound sender; an error where this process was built without one (its
    /// route does not declare `http`).
    pub fn outbound(&self) -> Result<&Arc<dyn ports::WebhookSender>, Error> {
        self.outbound.as_ref().ok_or_else(|| {
            Error::Unexpected(anyhow::anyhow!(
                "this function makes outbound requests but its route does not declare it (functions/src/routes.rs)"
            ))
        })
    }

    /// With a document store (S3, or the data folder).
    pub fn with_documents(mut self, documents: Arc<dyn ports::Documents>) -> Self {
        self.documents = Some(documents);
        self
    }

    /// With a work queue for the invoice run's tenants (SQS).
    pub fn with_work_queue(mut self, queue: Arc<dyn ports::WorkQueue>) -> Self {
        self.work_queue = Some(queue);
        self
    }

    /// With a vault for secrets (KMS, or the key file in the data folder).
    pub fn with_vault(mut self, vault: Arc<dyn ports::Vault>) -> Self {
        self.vault = Some(vault);
        self
    }

    /// The vault; an error where this process was built without one (its route does
    /// not declare it), so a secret is never stored unsealed or skipped.
    pub fn vault(&self) -> Result<&Arc<dyn ports::Vault>, Error> {
        self.vault.as_ref().ok_or_else(|| {
            Error::Unexpected(anyhow::anyhow!(
                "this function uses the vault but its route does not declare it (functions/src/routes.rs)"
            ))
        })
    }

    /// The invoice run's work queue, where this process has one.
    pub fn work_queue(&self) -> Option<&Arc<dyn ports::WorkQueue>> {
        self.work_queue.as_ref()
    }

    /// The document store; an error where this process was built without one, so a
    /// function that needs it fails loudly instead of skipping the document.
    pub fn documents(&self) -> Result<&Arc<dyn ports::Documents>, Error> {
        self.documents.as_ref().ok_or_else(|| {
            Error::Unexpected(anyhow::anyhow!(
                "this process has no document store (S3 / the data folder)"
            ))
        })
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
        self.identity = IdentitySlot::Provider(identity);
        self
    }

    /// A process whose routes declared no use of the identity provider: any use fails
    /// loudly (`Error::Unexpected`) instead of acting as if the deployment had none.
    pub fn without_identity_wired(mut self) -> Self {
        self.identity = IdentitySlot::NotWired;
        self
    }

    /// With another clock (tests move time).
    pub fn with_clock(mut self, clock: Arc<dyn ports::Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// With a token verifier only (the authorizer: it verifies, never manages logins).
    pub fn with_tokens(mut self, tokens: Arc<service::tokens::Verifier>) -> Self {
        self.tokens = Some(tokens);
        self
    }

    /// The identity provider; `None` where the deployment has none. An error where this
    /// process was built without it, so a route that uses it without declaring it can
    /// never create a customer whose admin silently has no login.
    pub fn identity(&self) -> Result<Option<&Arc<dyn ports::Identity>>, Error> {
        match &self.identity {
            IdentitySlot::Provider(p) => Ok(Some(p)),
            IdentitySlot::Absent => Ok(None),
            IdentitySlot::NotWired => Err(Error::Unexpected(anyhow::anyhow!(
                "this function uses the identity provider but its route does not declare it (functions/src/routes.rs)"
            ))),
        }
    }
}
