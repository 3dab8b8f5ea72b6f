//! Embedded adapters for running on a laptop: the redb item store, the `.eml` mailer,
//! the token issuer and the identity provider.

pub mod identity;
pub mod issuer;
pub mod mailer;
pub mod store;

pub use identity::EmbeddedIdentity;
pub use issuer::LocalIssuer;
pub use mailer::FileMailer;
pub use store::EmbeddedStore;
