//! Due work: what becomes due later (an email's next try, a customer's purge) has one
//! entry in a sparse, sharded index under `P#DUE#<kind>#<shard>`, sorted by when it is
//! due. The change that schedules the work writes the entry in its own transaction, and
//! the change that finishes or moves the work deletes or moves it. A sweep reads each
//! shard of its kind up to now, so it costs what is due (plus one query per shard), not
//! one query per tenant. Only platform-level jobs read the index.
//!
//! Shards spread the writes of a busy moment over several partitions; an item always
//! lands in the same shard (a hash of its id), so its entry can be found to be moved.

use chrono::{DateTime, SecondsFormat, Utc};

use crate::Deps;
use crate::error::Error;
use crate::model::ids::TenantId;
use crate::ports::{Condition, Item, Key, Position, Query, SortRange, WriteOp};
use crate::store::keys;

/// Shards per kind: a sweep makes at least this many queries. An entry's shard is a hash
/// of its item's id modulo this number, so changing it strands existing entries in shards
/// the sweep no longer reads: it needs a migration (re-index every entry), not an edit.
pub const SHARDS: u32 = 4;

/// A page of a sweep: at most this many entries per query.
const PAGE: usize = 100;

/// The wait before an outbox item's next try after `attempts` failed ones (mail,
/// provisioning): 30 s, doubled per try, at most an hour.
pub fn backoff(attempts: u32) -> chrono::Duration {
    const FIRST_SECONDS: i64 = 30;
    const MAX_SECONDS: i64 = 3600;
    let factor = 1i64 << attempts.saturating_sub(1).min(20);
    chrono::Duration::seconds((FIRST_SECONDS * factor).min(MAX_SECONDS))
}

/// The kinds of due work.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// An outbox email's next try (`service::mail`).
    Mail,
    /// A deleted customer's purge (`service::purge`).
    Purge,
    /// The end of a draft invoice's review window: it is finalised (`service::invoices`).
    Review,
    /// An unpaid invoice's next dunning step: a reminder, or the payer's suspension.
    Dunning,
    /// A final invoice's documents to render and store (`service::documents`).
    Document,
    /// A provisioning request's work, or its retry (`service::provisioning`).
    Provision,
    /// A webhook message's next delivery attempt (`service::events`).
    Webhook,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Mail => "mail",
            Kind::Purge => "purge",
            Kind::Review => "review",
            Kind::Dunning => "dunning",
            Kind::Document => "document",
            Kind::Provision => "provision",
            Kind::Webhook => "webhook",
        }
    }
}

/// One item that is due: its tenant, its id, and the entry to delete once it is done.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Due {
    pub tenant_id: TenantId,
    pub item_id: String,
    pub entry: Key,
}

/// The shard of an item: FNV-1a of its id, so the same item always has the same one.
fn shard_of(item_id: &str) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in item_id.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h % SHARDS
}

fn stamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// The entry of `item_id` of `tenant_id`, due at `due_at`.
pub fn entry(kind: Kind, tenant_id: &TenantId, item_id: &str, due_at: DateTime<Utc>) -> Key {
    keys::due_entry(
        kind.as_str(),
        shard_of(item_id),
        &stamp(due_at),
        tenant_id,
        item_id,
    )
}

/// The write that schedules an item (for the transaction of the change).
pub fn schedule(kind: Kind, tenant_id: &TenantId, item_id: &str, due_at: DateTime<Utc>) -> WriteOp {
    WriteOp::Put {
        item: Item::marker(entry(kind, tenant_id, item_id, due_at)),
        condition: Condition::None,
    }
}

/// The write that unschedules an item that was due at `due_at`.
pub fn unschedule(
    kind: Kind,
    tenant_id: &TenantId,
    item_id: &str,
    due_at: DateTime<Utc>,
) -> WriteOp {
    WriteOp::delete(entry(kind, tenant_id, item_id, due_at))
}

/// The writes that move an item's entry from one due time to another (none when equal).
pub fn reschedule(
    kind: Kind,
    tenant_id: &TenantId,
    item_id: &str,
    from: DateTime<Utc>,
    to: Option<DateTime<Utc>>,
) -> Vec<WriteOp> {
    let old = entry(kind, tenant_id, item_id, from);
    match to.map(|t| entry(kind, tenant_id, item_id, t)) {
        Some(new) if new == old => Vec::new(),
        Some(new) => vec![
            WriteOp::delete(old),
            WriteOp::Put {
                item: Item::marker(new),
                condition: Condition::None,
            },
        ],
        None => vec![WriteOp::delete(old)],
    }
}

/// Reads what of one kind is due at `now`, shard after shard, a page at a time.
pub struct Sweep {
    kind: Kind,
    upper: String,
    shard: u32,
    after: Option<Position>,
}

impl Sweep {
    pub fn new(kind: Kind, now: DateTime<Utc>) -> Self {
        Self {
            kind,
            // Everything due up to and including `now`: entries sort by their stamp, and
            // `~` sorts after the `#` that follows it.
            upper: format!("{}~", stamp(now)),
            shard: 0,
            after: None,
        }
    }

    /// The next page of due items; `None` once every shard is read. An entry whose sort
    /// key names no item (none is written so) is skipped.
    pub async fn next(&mut self, deps: &Deps) -> Result<Option<Vec<Due>>, Error> {
        while self.shard < SHARDS {
            let pk = keys::due_partition(self.kind.as_str(), self.shard);
            let range = SortRange::Between(String::new(), self.upper.clone());
            let page = deps
                .store
                .query(Query::partition(pk, range, PAGE).after(self.after.take()))
                .await?;
            match page.next {
                Some(next) => self.after = Some(next),
                None => self.shard += 1,
            }
            let due: Vec<Due> = page
                .items
                .iter()
                .filter_map(|item| {
                    let (tenant_id, item_id) = keys::due_entry_target(&item.sk)?;
                    Some(Due {
                        tenant_id,
                        item_id: item_id.to_owned(),
                        entry: item.key(),
                    })
                })
                .collect();
            if !due.is_empty() || self.after.is_some() {
                return Ok(Some(due));
            }
        }
        Ok(None)
    }
}

/// Removes an entry whose item is gone or no longer waiting (a leftover of an older
/// schedule); the sweep would otherwise read it every time.
pub async fn forget(deps: &Deps, due: &Due) -> Result<(), Error> {
    deps.store.delete(&due.entry, Condition::None).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_item_keeps_its_shard_and_its_entry_names_it() {
        let now = Utc::now();
        let t = TenantId::from_record("ten_1");
        let a = entry(Kind::Mail, &t, "eml_0197", now);
        let b = entry(
            Kind::Mail,
            &t,
            "eml_0197",
            now + chrono::Duration::minutes(5),
        );
        assert_eq!(a.pk, b.pk, "moving an entry keeps its shard");
        assert!(a.sk < b.sk, "later sorts later");
        assert_eq!(keys::due_entry_target(&a.sk), Some((t.clone(), "eml_0197")));
        let shards: std::collections::HashSet<u32> =
            (0..64).map(|i| shard_of(&format!("eml_{i:04}"))).collect();
        assert_eq!(shards.len() as u32, SHARDS, "ids spread over every shard");
    }

    #[test]
    fn rescheduling_to_the_same_time_writes_nothing_and_to_none_deletes() {
        let now = Utc::now();
        let t = TenantId::from_record("ten_1");
        assert!(reschedule(Kind::Mail, &t, "eml_1", now, Some(now)).is_empty());
        assert_eq!(reschedule(Kind::Mail, &t, "eml_1", now, None).len(), 1);
        assert_eq!(
            reschedule(
                Kind::Mail,
                &t,
                "eml_1",
                now,
                Some(now + chrono::Duration::seconds(1))
            )
            .len(),
            2
        );
    }
}
