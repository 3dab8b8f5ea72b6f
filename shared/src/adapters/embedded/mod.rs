//! Embedded adapters for running on a laptop: the redb item store.

pub mod store;

pub use store::EmbeddedStore;
