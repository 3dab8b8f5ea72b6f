//! An `ItemStore` decorator that counts calls, for benchmarks and the calls-per-route report.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;

use crate::ports::{Condition, Item, ItemStore, Key, Page, Query, StoreError, WriteOp};

#[derive(Default, Debug)]
pub struct Counts {
    pub reads: AtomicU64,
    pub writes: AtomicU64,
    /// Items returned by queries (how much of an index a request walked).
    pub items_queried: AtomicU64,
    /// Items written (each action of a transaction counts; a condition check does not).
    pub items_written: AtomicU64,
}

impl Counts {
    /// (reads, writes, items queried) so far, and reset to zero.
    pub fn take(&self) -> (u64, u64, u64) {
        (
            self.reads.swap(0, Ordering::SeqCst),
            self.writes.swap(0, Ordering::SeqCst),
            self.items_queried.swap(0, Ordering::SeqCst),
        )
    }

    /// Items written so far, and reset to zero.
    pub fn take_items_written(&self) -> u64 {
        self.items_written.swap(0, Ordering::SeqCst)
    }
}

pub struct CountingStore {
    inner: Arc<dyn ItemStore>,
    pub counts: Arc<Counts>,
}

impl CountingStore {
    pub fn new(inner: Arc<dyn ItemStore>) -> Self {
        Self {
            inner,
            counts: Arc::default(),
        }
    }
    fn read(&self) {
        self.counts.reads.fetch_add(1, Ordering::SeqCst);
    }
    fn write(&self, items: usize) {
        self.counts.writes.fetch_add(1, Ordering::SeqCst);
        self.counts
            .items_written
            .fetch_add(items as u64, Ordering::SeqCst);
    }
}

#[async_trait]
impl ItemStore for CountingStore {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        self.read();
        self.inner.get(key).await
    }
    async fn get_many(&self, keys: &[Key]) -> Result<Vec<Item>, StoreError> {
        self.read();
        self.inner.get_many(keys).await
    }
    async fn put(&self, item: Item, condition: Condition) -> Result<(), StoreError> {
        self.write(1);
        self.inner.put(item, condition).await
    }
    async fn delete(&self, key: &Key, condition: Condition) -> Result<(), StoreError> {
        self.write(1);
        self.inner.delete(key, condition).await
    }
    async fn transact(&self, ops: Vec<WriteOp>) -> Result<(), StoreError> {
        let items = ops
            .iter()
            .filter(|o| !matches!(o, WriteOp::Check { .. }))
            .count();
        self.write(items);
        self.inner.transact(ops).await
    }
    async fn query(&self, query: Query) -> Result<Page, StoreError> {
        self.read();
        let page = self.inner.query(query).await?;
        self.counts
            .items_queried
            .fetch_add(page.items.len() as u64, Ordering::SeqCst);
        Ok(page)
    }
}
