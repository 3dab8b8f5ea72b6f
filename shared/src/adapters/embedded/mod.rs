//! Embedded adapters for running on a laptop: the redb item store, the `.eml` mailer, the document files,
//! the token issuer and the identity provider.

pub mod documents;
pub mod identity;
pub mod issuer;
pub mod mailer;
pub mod store;
pub mod vault;

pub use documents::FileDocuments;
pub use identity::EmbeddedIdentity;
pub use issuer::LocalIssuer;
pub use mailer::FileMailer;
pub use store::EmbeddedStore;
pub use vault::FileVault;
