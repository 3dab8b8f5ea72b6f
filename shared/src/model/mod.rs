//! Entities and the value types they are made of; input is parsed once, at the edge.

pub mod api_key;
pub mod audit;
pub mod billing;
pub mod branding;
pub mod customer;
pub mod event;
pub mod fields;
pub mod helpdesk;
pub mod ids;
pub mod input;
pub mod invoice;
pub mod member;
pub mod subscription;
pub mod support;
pub mod tenant;
pub mod text;
