//! The item store on one redb file, with DynamoDB's semantics for the subset we use.
//!
//! Keys are stored as `pk \0 sk` bytes, so a partition is one contiguous, byte-ordered
//! range, as in DynamoDB. GSI1 is a second table keyed `gsi1pk \0 gsi1sk \0 pk \0 sk`.
//! Writes go through one writer thread that commits waiting transactions together
//! (group commit): each keeps its own all-or-nothing conditions, and one fsync serves many.

use std::ops::Bound;
use std::path::Path;
use std::sync::Arc;
use std::sync::mpsc;

use anyhow::Context;
use async_trait::async_trait;
use redb::{Database, ReadableDatabase, ReadableTable, Table, TableDefinition};
use tokio::sync::oneshot;

use crate::ports::{
    Condition, Index, Item, ItemStore, Key, MAX_BATCH_GET, Page, Query, SortRange, StoreError,
    WriteOp, validate_transaction,
};

const ITEMS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("items");
const GSI1: TableDefinition<&[u8], ()> = TableDefinition::new("gsi1");
const SEP: u8 = 0;
/// Most transactions one commit carries.
const GROUP_COMMIT_MAX: usize = 256;

struct Job {
    ops: Vec<WriteOp>,
    reply: oneshot::Sender<Result<(), StoreError>>,
}

pub struct EmbeddedStore {
    db: Arc<Database>,
    writer: mpsc::Sender<Job>,
}

impl EmbeddedStore {
    /// Opens (or creates) the store file at `path`.
    pub fn open(path: impl AsRef<Path>) -> anyhow::Result<Self> {
        let path = path.as_ref();
        let db = Database::create(path)
            .with_context(|| format!("Failed to open the store file {}", path.display()))?;
        let txn = db
            .begin_write()
            .context("Failed to begin the first write")?;
        txn.open_table(ITEMS)
            .context("Failed to create the items table")?;
        txn.open_table(GSI1)
            .context("Failed to create the gsi1 table")?;
        txn.commit().context("Failed to create the store tables")?;
        let db = Arc::new(db);
        let (tx, rx) = mpsc::channel::<Job>();
        let writer_db = db.clone();
        std::thread::Builder::new()
            .name("store-writer".into())
            .spawn(move || writer_loop(&writer_db, &rx))
            .context("Failed to start the store writer thread")?;
        Ok(Self { db, writer: tx })
    }

    async fn submit(&self, ops: Vec<WriteOp>) -> Result<(), StoreError> {
        let (reply, rx) = oneshot::channel();
        self.writer
            .send(Job { ops, reply })
            .map_err(|_| unavailable(anyhow::anyhow!("the store writer has stopped")))?;
        rx.await
            .map_err(|_| unavailable(anyhow::anyhow!("the store writer dropped a write")))?
    }

    /// Every item in the file, in key order. For checks and tools that must see
    /// everything (the tenant-isolation walk); the domain itself never scans.
    pub fn all_items(&self) -> Result<Vec<Item>, StoreError> {
        let txn = self.db.begin_read().map_err(storage)?;
        let table = txn.open_table(ITEMS).map_err(storage)?;
        let mut out = Vec::new();
        for entry in table.iter().map_err(storage)? {
            let (_, v) = entry.map_err(storage)?;
            out.push(decode(v.value())?);
        }
        Ok(out)
    }

    fn read_item(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        let txn = self.db.begin_read().map_err(storage)?;
        let table = txn.open_table(ITEMS).map_err(storage)?;
        let value = table
            .get(table_key(&key.pk, &key.sk)?.as_slice())
            .map_err(storage)?;
        value.map(|v| decode(v.value())).transpose()
    }
}

fn unavailable(e: anyhow::Error) -> StoreError {
    StoreError::Unavailable(e)
}

fn storage(e: impl Into<redb::Error>) -> StoreError {
    StoreError::Unavailable(anyhow::Error::new(e.into()).context("redb"))
}

fn decode(bytes: &[u8]) -> Result<Item, StoreError> {
    serde_json::from_slice(bytes)
        .map_err(|e| unavailable(anyhow::Error::new(e).context("Failed to decode a stored item")))
}

fn check_part(part: &str) -> Result<(), StoreError> {
    // The partition-key limit is the looser one; pairs are checked by `check_key`.
    crate::ports::check_key(part, "-").map(|_| ())
}

fn join(parts: &[&str]) -> Vec<u8> {
    let mut out = Vec::with_capacity(parts.iter().map(|p| p.len() + 1).sum());
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            out.push(SEP);
        }
        out.extend_from_slice(p.as_bytes());
    }
    out
}

fn table_key(pk: &str, sk: &str) -> Result<Vec<u8>, StoreError> {
    crate::ports::check_key(pk, sk)?;
    Ok(join(&[pk, sk]))
}

fn gsi_key(item: &Item) -> Option<Vec<u8>> {
    match (&item.gsi1pk, &item.gsi1sk) {
        (Some(gpk), Some(gsk)) => Some(join(&[gpk, gsk, &item.pk, &item.sk])),
        _ => None,
    }
}

/// The smallest byte string greater than every string starting with `prefix`.
fn successor(mut prefix: Vec<u8>) -> Option<Vec<u8>> {
    while let Some(last) = prefix.pop() {
        if last < u8::MAX {
            prefix.push(last + 1);
            return Some(prefix);
        }
    }
    None
}

fn condition_holds(existing: Option<&Item>, condition: Condition) -> bool {
    match condition {
        Condition::None => true,
        Condition::NotExists => existing.is_none(),
        Condition::Exists => existing.is_some(),
        Condition::VersionIs(v) => existing.is_some_and(|i| i.version == v),
    }
}

type ItemsTable<'t> = Table<'t, &'static [u8], &'static [u8]>;
type GsiTable<'t> = Table<'t, &'static [u8], ()>;

fn load(items: &ItemsTable<'_>, key: &[u8]) -> Result<Option<Item>, StoreError> {
    let value = items.get(key).map_err(storage)?;
    value.map(|v| decode(v.value())).transpose()
}

/// Applies one transaction inside the open write transaction: every condition first,
/// then every write, so a failed condition leaves nothing behind.
fn apply(
    items: &mut ItemsTable<'_>,
    gsi: &mut GsiTable<'_>,
    ops: &[WriteOp],
) -> Result<(), StoreError> {
    validate_transaction(ops)?;
    let mut existing = Vec::with_capacity(ops.len());
    let mut failed = Vec::new();
    for (i, op) in ops.iter().enumerate() {
        let (key, condition) = match op {
            WriteOp::Put { item, condition } => {
                if let (Some(gpk), Some(gsk)) = (&item.gsi1pk, &item.gsi1sk) {
                    crate::ports::check_key(gpk, gsk)?;
                }
                (item.key(), *condition)
            }
            WriteOp::Delete { key, condition } | WriteOp::Check { key, condition } => {
                (key.clone(), *condition)
            }
        };
        let raw = table_key(&key.pk, &key.sk)?;
        let current = load(items, &raw)?;
        if !condition_holds(current.as_ref(), condition) {
            failed.push(i);
        }
        existing.push((raw, current));
    }
    if !failed.is_empty() {
        return Err(StoreError::TransactionCanceled { failed });
    }
    for (op, (raw, current)) in ops.iter().zip(existing) {
        let old_gsi = current.as_ref().and_then(gsi_key);
        match op {
            WriteOp::Put { item, .. } => {
                let bytes = serde_json::to_vec(item).map_err(|e| {
                    unavailable(anyhow::Error::new(e).context("Failed to encode an item"))
                })?;
                if let Some(old) = old_gsi {
                    gsi.remove(old.as_slice()).map_err(storage)?;
                }
                items
                    .insert(raw.as_slice(), bytes.as_slice())
                    .map_err(storage)?;
                if let Some(new) = gsi_key(item) {
                    gsi.insert(new.as_slice(), ()).map_err(storage)?;
                }
            }
            WriteOp::Delete { .. } => {
                if let Some(old) = old_gsi {
                    gsi.remove(old.as_slice()).map_err(storage)?;
                }
                items.remove(raw.as_slice()).map_err(storage)?;
            }
            WriteOp::Check { .. } => {}
        }
    }
    Ok(())
}

fn commit_batch(db: &Database, batch: &[Job]) -> Result<Vec<Result<(), StoreError>>, StoreError> {
    let txn = db.begin_write().map_err(storage)?;
    let mut results = Vec::with_capacity(batch.len());
    {
        let mut items = txn.open_table(ITEMS).map_err(storage)?;
        let mut gsi = txn.open_table(GSI1).map_err(storage)?;
        for job in batch {
            results.push(apply(&mut items, &mut gsi, &job.ops));
        }
    }
    txn.commit().map_err(storage)?;
    Ok(results)
}

fn writer_loop(db: &Database, rx: &mpsc::Receiver<Job>) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < GROUP_COMMIT_MAX {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        match commit_batch(db, &batch) {
            Ok(results) => {
                for (job, result) in batch.into_iter().zip(results) {
                    let _ = job.reply.send(result);
                }
            }
            Err(e) => {
                tracing::error!(error = format!("{e:#}"), "store commit failed");
                for job in batch {
                    let _ = job.reply.send(Err(unavailable(anyhow::anyhow!(
                        "the store could not commit"
                    ))));
                }
            }
        }
    }
}

/// Turns a transaction failure of a single write into the single-write error.
fn single(result: Result<(), StoreError>) -> Result<(), StoreError> {
    match result {
        Err(StoreError::TransactionCanceled { .. }) => Err(StoreError::ConditionFailed),
        other => other,
    }
}

#[async_trait]
impl ItemStore for EmbeddedStore {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        self.read_item(key)
    }

    async fn get_many(&self, keys: &[Key]) -> Result<Vec<Item>, StoreError> {
        if keys.len() > MAX_BATCH_GET {
            return Err(StoreError::Invalid(format!(
                "get_many takes at most {MAX_BATCH_GET} keys"
            )));
        }
        let txn = self.db.begin_read().map_err(storage)?;
        let table = txn.open_table(ITEMS).map_err(storage)?;
        let mut out = Vec::with_capacity(keys.len());
        let mut seen = std::collections::HashSet::with_capacity(keys.len());
        for key in keys.iter().filter(|k| seen.insert(*k)) {
            if let Some(v) = table
                .get(table_key(&key.pk, &key.sk)?.as_slice())
                .map_err(storage)?
            {
                out.push(decode(v.value())?);
            }
        }
        Ok(out)
    }

    async fn put(&self, item: Item, condition: Condition) -> Result<(), StoreError> {
        single(self.submit(vec![WriteOp::Put { item, condition }]).await)
    }

    async fn delete(&self, key: &Key, condition: Condition) -> Result<(), StoreError> {
        single(
            self.submit(vec![WriteOp::Delete {
                key: key.clone(),
                condition,
            }])
            .await,
        )
    }

    async fn transact(&self, ops: Vec<WriteOp>) -> Result<(), StoreError> {
        validate_transaction(&ops)?;
        self.submit(ops).await
    }

    async fn query(&self, query: Query) -> Result<Page, StoreError> {
        if query.limit == 0 {
            return Err(StoreError::Invalid("limit must be at least 1".into()));
        }
        check_part(&query.pk)?;
        let base = {
            let mut b = query.pk.as_bytes().to_vec();
            b.push(SEP);
            b
        };
        let (mut lower, mut upper) = match &query.range {
            SortRange::All => (
                Bound::Included(base.clone()),
                successor(base.clone()).map_or(Bound::Unbounded, Bound::Excluded),
            ),
            SortRange::Prefix(p) => {
                let mut start = base.clone();
                start.extend_from_slice(p.as_bytes());
                let end = successor(start.clone());
                (
                    Bound::Included(start),
                    end.map_or(Bound::Unbounded, Bound::Excluded),
                )
            }
            SortRange::Between(a, b) => {
                let mut start = base.clone();
                start.extend_from_slice(a.as_bytes());
                let mut end = base.clone();
                end.extend_from_slice(b.as_bytes());
                // Everything below `end` in this index also carries the table key after it.
                let end = match query.index {
                    Index::Table => Bound::Included(end),
                    Index::Gsi1 => {
                        end.push(SEP);
                        successor(end).map_or(Bound::Unbounded, Bound::Excluded)
                    }
                };
                (Bound::Included(start), end)
            }
        };
        if let Some(pos) = &query.start_after {
            let same_partition = match query.index {
                Index::Table => pos.pk == query.pk,
                Index::Gsi1 => pos.gsi1pk.as_deref() == Some(query.pk.as_str()),
            };
            if !same_partition {
                return Err(StoreError::Invalid(
                    "the start position lies outside the queried partition".into(),
                ));
            }
            let at = match query.index {
                Index::Table => table_key(&pos.pk, &pos.sk)?,
                Index::Gsi1 => {
                    let (Some(gpk), Some(gsk)) = (&pos.gsi1pk, &pos.gsi1sk) else {
                        return Err(StoreError::Invalid(
                            "an index cursor needs the index key".into(),
                        ));
                    };
                    crate::ports::check_key(gpk, gsk)?;
                    crate::ports::check_key(&pos.pk, &pos.sk)?;
                    join(&[gpk, gsk, &pos.pk, &pos.sk])
                }
            };
            if query.forward {
                lower = Bound::Excluded(at);
            } else {
                upper = Bound::Excluded(at);
            }
        }
        if let (Bound::Included(l) | Bound::Excluded(l), Bound::Included(u) | Bound::Excluded(u)) =
            (&lower, &upper)
            && l > u
        {
            return Ok(Page::default());
        }
        let bounds = (
            lower.as_ref().map(Vec::as_slice),
            upper.as_ref().map(Vec::as_slice),
        );
        let txn = self.db.begin_read().map_err(storage)?;
        let items_table = txn.open_table(ITEMS).map_err(storage)?;
        let want = query.limit + 1;
        let mut found = Vec::with_capacity(want.min(128));
        match query.index {
            Index::Table => {
                let range = items_table.range::<&[u8]>(bounds).map_err(storage)?;
                let iter: Box<dyn Iterator<Item = _>> = if query.forward {
                    Box::new(range)
                } else {
                    Box::new(range.rev())
                };
                for entry in iter.take(want) {
                    let (_, v) = entry.map_err(storage)?;
                    found.push(decode(v.value())?);
                }
            }
            Index::Gsi1 => {
                let gsi = txn.open_table(GSI1).map_err(storage)?;
                let range = gsi.range::<&[u8]>(bounds).map_err(storage)?;
                let iter: Box<dyn Iterator<Item = _>> = if query.forward {
                    Box::new(range)
                } else {
                    Box::new(range.rev())
                };
                for entry in iter.take(want) {
                    let (k, _) = entry.map_err(storage)?;
                    let raw = k.value();
                    let parts: Vec<&[u8]> = raw.splitn(4, |b| *b == SEP).collect();
                    let [_, _, pk, sk] = parts.as_slice() else {
                        return Err(unavailable(anyhow::anyhow!("malformed gsi1 entry")));
                    };
                    let mut table_raw = pk.to_vec();
                    table_raw.push(SEP);
                    table_raw.extend_from_slice(sk);
                    if let Some(item) = load_read(&items_table, &table_raw)? {
                        found.push(item);
                    }
                }
            }
        }
        let next = if found.len() > query.limit {
            found.truncate(query.limit);
            found.last().map(Item::position)
        } else {
            None
        };
        Ok(Page { items: found, next })
    }
}

fn load_read(
    table: &redb::ReadOnlyTable<&[u8], &[u8]>,
    key: &[u8],
) -> Result<Option<Item>, StoreError> {
    let value = table.get(key).map_err(storage)?;
    value.map(|v| decode(v.value())).transpose()
}
