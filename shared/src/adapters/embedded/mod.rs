//! Embedded adapters for running on a laptop: the redb item store, the `.eml` mailer.

pub mod mailer;
pub mod store;

pub use mailer::FileMailer;
pub use store::EmbeddedStore;
