//! A customer's lifecycle: deactivate, suspend, reactivate, delete (soft) and restore,
//! with its admin's login following.

use super::{load, login_record, profile_item, purge_key, search_deletes, search_puts};
use crate::error::ProblemKind;

use crate::Deps;
use crate::access::TenantScope;
use crate::error::Error;
use crate::model::audit::Target;
use crate::model::customer::{CustomerStatus, CustomerView, LoginRecord, Transition};
use crate::model::event::EventType;
use crate::model::ids::CustomerId;
use crate::ports::{Condition, Item, StoreError, WriteOp};
use crate::service::audit::{self, Entry, Log};
use crate::service::events::{self, CustomerStatusChange};
use crate::service::{from_item, to_data};
use crate::store::keys;

/// Who moves a customer: its tenant's staff (by hand), or the dunning of its unpaid
/// invoice.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cause {
    Hand,
    Dunning,
}

/// Deactivate, suspend, reactivate, delete (soft, with `confirm`) or restore, by hand.
pub async fn transition(
    deps: &Deps,
    scope: &TenantScope,
    customer_id: &CustomerId,
    t: Transition,
    confirm: bool,
) -> Result<CustomerView, Error> {
    transition_by(deps, scope, customer_id, t, confirm, Cause::Hand).await
}

/// A transition for `cause`. A suspension by dunning is marked on the customer; any
/// transition by hand clears the mark (the staff's status stands); a reactivation by
/// dunning happens only while the mark is there (or on a record older than the mark),
/// checked under the profile's version, so a customer suspended by hand meanwhile stays
/// suspended.
pub async fn transition_by(
    deps: &Deps,
    scope: &TenantScope,
    customer_id: &CustomerId,
    t: Transition,
    confirm: bool,
    cause: Cause,
) -> Result<CustomerView, Error> {
    let tenant_id = scope.tenant_id();
    // The admin's login follows the customer's state: refuse before any write in a
    // process without the identity provider rather than leave the login as it was.
    deps.identity()?;
    if t == Transition::Delete && !confirm {
        return Err(Error::BadRequest {
            kind: ProblemKind::ConfirmationRequired,
            detail: "deleting a customer needs ?confirm=true; it can be restored for 30 days, then it is purged".into(),
            field: Some("confirm".into()),
        });
    }
    let (current, item) = load(deps, tenant_id, customer_id).await?;
    let now = deps.clock.now();
    // A record from before the mark (`None`) counts as suspended by the invoice whose
    // follow-up asks, as it did then.
    if cause == Cause::Dunning
        && t == Transition::Reactivate
        && current.suspended_by_dunning == Some(false)
    {
        return Ok(current.view(item.version));
    }
    current.check_transition(t, now)?;
    let mut updated = current.clone();
    updated.apply(t, now);
    updated.suspended_by_dunning = Some(cause == Cause::Dunning && t == Transition::Suspend);
    let version = item.version + 1;
    let mut ops = vec![WriteOp::Put {
        item: profile_item(tenant_id, &updated, version)?,
        condition: Condition::VersionIs(item.version),
    }];
    match t {
        Transition::Delete => {
            ops.extend(search_deletes(tenant_id, &current));
            // Its subscription ends that day; a restore does not restart it.
            ops.extend(
                crate::service::subscriptions::end_with_customer(deps, tenant_id, customer_id)
                    .await?,
            );
            ops.extend(purge_key(tenant_id, &updated).map(|k| WriteOp::put(Item::marker(k))));
        }
        Transition::Restore => {
            ops.extend(search_puts(tenant_id, &updated));
            ops.extend(purge_key(tenant_id, &current).map(WriteOp::delete));
        }
        _ => {}
    }
    // Only an active customer's admin signs in: the next request with its token is 401
    // as soon as this commits.
    let enabled = updated.status == CustomerStatus::Active;
    let login_changes = (current.status == CustomerStatus::Active) != enabled;
    if let (Some(sub), true) = (&updated.admin.login_subject, login_changes) {
        // Only `enabled` changes, under the record's version: its last sign-in stays, and
        // a sign-in writing meanwhile makes this a retryable conflict, not a lost change.
        let key = keys::login_subject(tenant_id, sub);
        ops.push(match deps.store.get(&key).await? {
            Some(item) => {
                let mut record: LoginRecord = from_item(&item)?;
                record.enabled = enabled;
                let mut next = Item::new(key, to_data(&record)?);
                next.version = item.version + 1;
                WriteOp::Put {
                    item: next,
                    condition: Condition::VersionIs(item.version),
                }
            }
            None => login_record(tenant_id, sub, &updated, enabled)?,
        });
    }
    // The partner's systems hear of it with the change: a deletion as such, any other
    // transition as a status change.
    let view = updated.view(version);
    ops.extend(match t {
        Transition::Delete => events::emit(tenant_id, EventType::CustomerDeleted, &view, now)?,
        _ => events::emit(
            tenant_id,
            EventType::CustomerStatusChanged,
            &CustomerStatusChange {
                customer: view.clone(),
                previous_status: current.status,
            },
            now,
        )?,
    });
    // Its event, whoever moved it: by hand, the request's actor; by dunning, the job's.
    let action = match t {
        Transition::Deactivate => "customer.deactivated",
        Transition::Suspend => "customer.suspended",
        Transition::Reactivate => "customer.reactivated",
        Transition::Delete => "customer.deleted",
        Transition::Restore => "customer.restored",
    };
    ops.push(
        audit::op(
            deps,
            Log::Tenant(tenant_id),
            Entry::new(action, Target::new("customer", customer_id))
                .customer(customer_id)
                .value("status", updated.status),
        )
        .await?,
    );
    match deps.store.transact(ops).await {
        Ok(()) => {
            if let (Some(sub), true) = (&updated.admin.login_subject, login_changes) {
                crate::service::identity::mirror_enabled(
                    deps,
                    tenant_id,
                    &updated.admin.email,
                    sub,
                )
                .await;
            }
            Ok(view)
        }
        Err(StoreError::TransactionCanceled { .. }) => Err(Error::concurrent_update()),
        Err(e) => Err(e.into()),
    }
}
