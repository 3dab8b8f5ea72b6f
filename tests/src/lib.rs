//! Test support shared by the integration tests: the `ItemStore` contract suite.

pub mod app;
pub mod browser;
pub mod contract;
pub mod counted;
pub mod dynamo;
pub mod gateway;
