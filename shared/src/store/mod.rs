//! Storage layout: the key module, plus a store wrapper that counts calls.

pub mod counting;
pub mod keys;
