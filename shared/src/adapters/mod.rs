//! Adapters: the embedded (laptop) implementations and the AWS ones.

pub mod aead;
#[cfg(feature = "aws")]
pub mod aws;
pub mod embedded;
pub mod http;
pub mod mime;
