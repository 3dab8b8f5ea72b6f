//! The customers' search index (one entry per word prefix of the company name) and the
//! listing that reads it.

use std::collections::HashMap;

use crate::Deps;
use crate::access::TenantScope;
use crate::error::Error;
use crate::model::customer::{Customer, CustomerStatus, CustomerView, MAX_SEARCH_ENTRIES};
use crate::model::ids::{CustomerId, TenantId};
use crate::model::text;
use crate::ports::{
    Index, Item, Key, MAX_TRANSACTION_ACTIONS, Position, Query, SortRange, WriteOp,
};
use crate::service::{from_item, page};
use crate::store::keys;

// A create writes two markers, the profile, the admin, the welcome (the email and its
// due entry), the login record, a password link and its search entries at once.
const _: () = assert!(MAX_SEARCH_ENTRIES + 8 <= MAX_TRANSACTION_ACTIONS);

/// Rounds of index reads one filtered search page may take before it hands back a cursor.
const MAX_SEARCH_ROUNDS: usize = 4;

/// The search partitions a name is listed under: everyone (`""`) plus each word prefix.
/// `CustomerDraft::parse` refuses names with more than `MAX_SEARCH_ENTRIES` of them.
fn search_prefixes(name: &str) -> Vec<String> {
    let mut out = vec![String::new()];
    out.extend(text::index_prefixes(name));
    out
}

pub(super) fn search_puts(tenant_id: &TenantId, c: &Customer) -> impl Iterator<Item = WriteOp> {
    let (name_key, id, t) = (c.company.name_key(), c.id.clone(), tenant_id.clone());
    search_prefixes(&c.company.name)
        .into_iter()
        .map(move |p| WriteOp::put(Item::marker(keys::search_entry(&t, &p, &name_key, &id))))
}

pub(super) fn search_deletes(tenant_id: &TenantId, c: &Customer) -> impl Iterator<Item = WriteOp> {
    let (name_key, id, t) = (c.company.name_key(), c.id.clone(), tenant_id.clone());
    search_prefixes(&c.company.name)
        .into_iter()
        .map(move |p| WriteOp::delete(keys::search_entry(&t, &p, &name_key, &id)))
}

/// Does every query word start some word of the name?
fn matches(name: &str, query_words: &[String]) -> bool {
    let name_words = text::words(name);
    query_words
        .iter()
        .all(|q| name_words.iter().any(|w| w.starts_with(q.as_str())))
}

/// `GET /v1/customers?q=&status=&limit=&cursor=`, ordered by company name.
///
/// Without filters: the everyone-index and one batch read. With `status` alone: the
/// status index, which holds the profiles themselves. With `q`: the index partition of
/// the query's most selective word prefix; words longer than the indexed prefix, extra
/// words and `status` are then checked on the profiles, so such a page may hold fewer
/// than `limit` items while `next_cursor` says more may follow.
pub async fn list(
    deps: &Deps,
    scope: &TenantScope,
    q: Option<&str>,
    status: Option<&str>,
    limit: Option<&str>,
    cursor: Option<&str>,
) -> Result<page::Page<CustomerView>, Error> {
    let tenant_id = scope.tenant_id();
    let limit = page::limit(limit)?;
    let status = match status.filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => Some(CustomerStatus::parse(s).ok_or_else(|| {
            Error::invalid(
                "status",
                "must be one of active, inactive, suspended, deleted",
            )
        })?),
    };
    let query_words = match q.map(str::trim).filter(|s| !s.is_empty()) {
        None => None,
        Some(s) if s.chars().count() > 200 => {
            return Err(Error::invalid("q", "must be at most 200 characters"));
        }
        Some(s) => {
            let w = text::words(s);
            if w.is_empty() {
                return Err(Error::invalid("q", "must contain letters or digits"));
            }
            Some(w)
        }
    };
    // Every branch reads an ordered index (a search partition, or the status index) and
    // then the profiles themselves in one consistent batch: GSI copies may lag.
    let (query, listing, keep): (Query, &str, Keep) = match (query_words, status) {
        (None, Some(st)) => (
            Query::gsi1(
                keys::customer_status_partition(tenant_id, st.as_str()),
                SortRange::All,
                limit,
            ),
            "customers-status",
            Box::new(move |c: &Customer| c.status == st),
        ),
        (Some(words), Some(CustomerStatus::Deleted)) => (
            // Deleted customers leave the search index: look through the deleted set.
            Query::gsi1(
                keys::customer_status_partition(tenant_id, CustomerStatus::Deleted.as_str()),
                SortRange::All,
                limit,
            ),
            "customers-deleted-search",
            Box::new(move |c: &Customer| {
                c.status == CustomerStatus::Deleted && matches(&c.company.name, &words)
            }),
        ),
        (words, status) => {
            let words = words.unwrap_or_default();
            let prefix = words
                .iter()
                .max_by_key(|w| w.len())
                .map(|w| w[..w.len().min(text::MAX_INDEXED_PREFIX)].to_owned())
                .unwrap_or_default();
            (
                Query::partition(
                    keys::search_partition(tenant_id, &prefix),
                    SortRange::All,
                    limit,
                ),
                if prefix.is_empty() {
                    "customers"
                } else {
                    "customers-search"
                },
                Box::new(move |c: &Customer| {
                    status.is_none_or(|s| c.status == s) && matches(&c.company.name, &words)
                }),
            )
        }
    };
    let via_index = query.index == Index::Gsi1;
    let start = page::decode(cursor, listing, &query.pk, via_index)?;
    let (customers, next) =
        filtered_index(deps, tenant_id, query, start, limit, listing, keep).await?;
    let data = customers.iter().map(|(c, v)| c.view(*v)).collect();
    Ok(page::Page {
        data,
        next_cursor: next,
    })
}

type Found = (Vec<(Customer, u64)>, Option<String>);
type Keep = Box<dyn Fn(&Customer) -> bool + Send + Sync>;

/// The customer an index entry points at: its name sort key ends with the id.
fn entry_customer_id(entry: &Item, index: Index) -> Option<CustomerId> {
    let sk = match index {
        Index::Table => Some(entry.sk.as_str()),
        Index::Gsi1 => entry.gsi1sk.as_deref(),
    };
    sk.and_then(keys::customer_id_from_by_name)
}

/// Reads index entries page by page, fetches their profiles in one batch per page, and
/// keeps those passing `keep`, until `limit` are found or the rounds run out.
async fn filtered_index(
    deps: &Deps,
    tenant_id: &TenantId,
    query: Query,
    mut start: Option<Position>,
    limit: usize,
    listing: &str,
    keep: impl Fn(&Customer) -> bool,
) -> Result<Found, Error> {
    let mut out = Vec::with_capacity(limit);
    for _ in 0..MAX_SEARCH_ROUNDS {
        let p = deps.store.query(query.clone().after(start.clone())).await?;
        let wanted: Vec<Key> = p
            .items
            .iter()
            .filter_map(|e| entry_customer_id(e, query.index))
            .map(|id| keys::customer(tenant_id, &id))
            .collect();
        let got = if wanted.is_empty() {
            vec![]
        } else {
            deps.store.get_many(&wanted).await?
        };
        let mut by_pk: HashMap<String, Item> = got.into_iter().map(|i| (i.pk.clone(), i)).collect();
        for entry in &p.items {
            if out.len() == limit {
                // Full before this page ran out: the next page starts after the last one kept.
                return Ok((out, start.map(|s| page::encode(listing, &s))));
            }
            start = Some(entry.position());
            let profile = entry_customer_id(entry, query.index)
                .and_then(|id| by_pk.remove(&keys::customer_partition(tenant_id, &id)));
            if let Some(item) = profile {
                let c: Customer = from_item(&item)?;
                if keep(&c) {
                    out.push((c, item.version));
                }
            }
        }
        match p.next {
            None => return Ok((out, None)),
            Some(n) => {
                start = Some(n);
                if out.len() == limit {
                    break;
                }
            }
        }
    }
    Ok((out, start.map(|s| page::encode(listing, &s))))
}
