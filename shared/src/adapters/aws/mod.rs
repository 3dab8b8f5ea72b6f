//! AWS adapters: DynamoDB for the item store.

pub mod dynamodb;

pub use dynamodb::DynamoStore;
