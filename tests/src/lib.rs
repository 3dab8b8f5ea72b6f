//! Test support shared by the integration tests: the `ItemStore` contract suite.

pub mod app;
pub mod browser;
pub mod contract;
pub mod counted;
pub mod dynamo;
pub mod gateway;
pub mod oauth;
pub mod provider;
pub mod receiver;
pub mod vault;

/// The scope an owner's API key of this tenant gets, made the one way there is: a
/// staff principal through `authorize()` (the benchmarks call services directly).
pub fn owner_scope(tenant_id: &str) -> tenantry::access::TenantScope {
    use tenantry::access::{Permission, Principal, StaffRole, authorize, tenant_of};
    let principal = Principal::Staff {
        tenant_id: tenantry::model::ids::TenantId::from_record(tenant_id),
        role: StaffRole::Owner,
        actor: "key_bench".into(),
        billing_only: false,
    };
    let scope = authorize(&principal, Permission::ManageCustomers).expect("an owner may");
    tenant_of(&scope).expect("a tenant scope").clone()
}

/// The `p` quantile (0 to 1) of `sorted` timings, as the benchmarks report them.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 * p) as usize).min(sorted.len() - 1)]
}
