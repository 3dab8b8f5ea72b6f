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
}

impl Deps {
    pub fn new(store: Arc<dyn ports::ItemStore>) -> Self {
        Self {
            store,
            clock: Arc::new(ports::SystemClock),
        }
    }
}
