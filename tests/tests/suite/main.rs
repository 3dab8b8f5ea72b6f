//! Every integration test, in one binary with a module per area: the application links
//! once, not once per area. The shared harness is the `tenantry_tests` library
//! (`tests/src/`): `spawn_app()`, the store contract suite, the gateway, the browser.

mod api;
mod audit;
mod billing;
mod browser;
mod connectors;
mod customer_logins;
mod customer_users;
mod due_work;
mod helpdesk;
mod hostile;
mod identity;
mod inbound;
mod invoicing;
mod isolation;
mod lambda;
mod mail;
mod oauth;
mod outbound;
mod provisioning;
mod registration;
mod staff_logins;
mod store_contract;
mod support;
mod template;
mod templates;
mod tokens;
mod vault;
mod webhooks;
