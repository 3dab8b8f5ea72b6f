//! Use cases, one module per capability, written against the ports.

pub mod api_keys;
pub mod auth;
pub mod customers;
pub mod due;
pub mod email_change;
pub mod idempotency;
pub mod identity;
pub mod mail;
pub mod me;
pub mod members;
pub mod page;
pub mod pages;
pub mod passwords;
pub mod purge;
pub mod registration;
pub mod sign_in;
pub mod staff;
pub mod tenants;
pub mod tokens;
pub mod users;

use anyhow::Context;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::error::Error;
use crate::ports::Item;

/// An entity as an item body.
pub(crate) fn to_data<T: Serialize>(entity: &T) -> Result<Map<String, Value>, Error> {
    match serde_json::to_value(entity).context("Failed to serialize an entity")? {
        Value::Object(m) => Ok(m),
        _ => Err(Error::Unexpected(anyhow::anyhow!(
            "an entity must serialize to an object"
        ))),
    }
}

/// An item body as an entity.
pub(crate) fn from_item<T: DeserializeOwned>(item: &Item) -> Result<T, Error> {
    serde_json::from_value(Value::Object(item.data.clone()))
        .with_context(|| format!("Failed to read a stored item ({})", item.sk))
        .map_err(Error::Unexpected)
}
