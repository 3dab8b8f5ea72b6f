//! The `ItemStore` contract: the port semantics every adapter (embedded, DynamoDB) shares.
//!
//! `run_all` runs every check and fails with the list of those that did not hold. Each
//! check writes only under partition keys of its own (`T#contract-<check>-<unique>`), so
//! the suite can run again and again against one table, and alongside other runs.

use std::collections::BTreeSet;
use std::hash::{BuildHasher, RandomState};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail, ensure};
use serde_json::{Map, Value, json};
use tenantry::ports::{
    Condition, Item, ItemStore, Key, MAX_BATCH_GET, MAX_TRANSACTION_ACTIONS, Page, Query,
    SortRange, StoreError, WriteOp,
};

/// Runs every check against `store`; panics naming each check that failed and why.
pub async fn run_all(store: Arc<dyn ItemStore>) {
    let store: &dyn ItemStore = store.as_ref();
    let mut failures: Vec<String> = Vec::new();
    let mut passed = 0usize;
    macro_rules! checks {
        ($($check:ident),* $(,)?) => {$(
            match $check(store).await {
                Ok(()) => {
                    passed += 1;
                    eprintln!("store contract: {} ... ok", stringify!($check));
                }
                Err(err) => {
                    eprintln!("store contract: {} ... FAILED: {err:#}", stringify!($check));
                    failures.push(format!("{}: {err:#}", stringify!($check)));
                }
            }
        )*};
    }
    checks!(
        put_get_round_trips_a_rich_body,
        get_of_a_missing_key_is_none,
        put_overwrites_without_condition,
        put_not_exists_twice_fails,
        version_is_matches_and_mismatches,
        exists_on_missing_fails,
        delete_with_and_without_condition,
        transact_applies_every_action,
        transact_is_all_or_nothing,
        transact_check_conditions_cancel,
        transact_rejects_duplicate_keys,
        transact_rejects_empty_and_oversized,
        transact_takes_the_maximum_actions,
        query_by_prefix,
        query_between_is_inclusive,
        query_forward_and_backward,
        query_stays_in_its_partition,
        query_pages_chain_to_all_items,
        query_pages_chain_on_an_exact_multiple,
        query_pages_chain_backward_and_in_a_range,
        query_limit_zero_is_invalid,
        keys_follow_dynamodb_limits,
        sort_order_is_bytewise,
        gsi1_query_with_pagination,
        items_without_gsi1_keys_are_not_indexed,
        get_many_skips_missing_keys,
        get_many_limits,
        expires_at_round_trips,
    );
    assert!(
        failures.is_empty(),
        "{} of {} store contract checks failed:\n  {}",
        failures.len(),
        failures.len() + passed,
        failures.join("\n  ")
    );
}

// ----------------------------------------------------------------------------- helpers

/// A partition key no other check or run uses.
fn fresh_pk(check: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let random = RandomState::new().hash_one((nanos, std::process::id()));
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("T#contract-{check}-{random:016x}-{n}")
}

fn key(pk: &str, sk: &str) -> Key {
    Key {
        pk: pk.to_owned(),
        sk: sk.to_owned(),
    }
}

fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        other => panic!("not an object: {other}"),
    }
}

fn item(pk: &str, sk: &str) -> Item {
    Item::new(key(pk, sk), object(json!({ "sk": sk })))
}

fn rich_body() -> Map<String, Value> {
    object(json!({
        "string": "hello",
        "empty_string": "",
        "unicode": "Grüße, 世界 🎉",
        "numeric_string": "0042",
        "zero": 0,
        "negative": -17,
        "i64_min": i64::MIN,
        "i64_max": i64::MAX,
        "u64_max": u64::MAX,
        // Fractions survive; integral floats (1.0) may come back as integers (DynamoDB
        // normalises numbers), so the domain stores money and counts as integers.
        "fraction": 1.5,
        "true": true,
        "false": false,
        "null": null,
        "empty_object": {},
        "empty_array": [],
        "nested": {"a": {"b": {"c": [1, "two", null, false, {"d": []}]}}},
        "array": [1, -2, "three", true, null, {}, [], [[]], {"x": {"y": 1}}],
        "key with spaces.and.dots": "#:v"
    }))
}

async fn put_all(store: &dyn ItemStore, items: &[Item]) -> Result<()> {
    for item in items {
        store
            .put(item.clone(), Condition::None)
            .await
            .with_context(|| format!("put {}/{}", item.pk, item.sk))?;
    }
    Ok(())
}

fn sks(items: &[Item]) -> Vec<String> {
    items.iter().map(|i| i.sk.clone()).collect()
}

fn gsi1sks(items: &[Item]) -> Vec<String> {
    items
        .iter()
        .map(|i| i.gsi1sk.clone().unwrap_or_default())
        .collect()
}

/// Follows `next` from the first page to the last; checks that `next` is set exactly when
/// a page is followed by a non-empty one, and that no page is larger than the limit.
async fn all_pages(store: &dyn ItemStore, query: Query) -> Result<Vec<Page>> {
    let mut pages = Vec::new();
    let mut start = None;
    loop {
        let page = store
            .query(query.clone().after(start.take()))
            .await
            .context("query")?;
        ensure!(
            page.items.len() <= query.limit,
            "a page holds {} items, more than the limit {}",
            page.items.len(),
            query.limit
        );
        let next = page.next.clone();
        pages.push(page);
        match next {
            Some(position) => {
                ensure!(
                    pages.last().is_some_and(|p| p.items.len() == query.limit),
                    "a page with `next` set is not full"
                );
                ensure!(
                    pages
                        .last()
                        .and_then(|p| p.items.last())
                        .map(Item::position)
                        == Some(position.clone()),
                    "`next` is not the position of the page's last item"
                );
                ensure!(pages.len() <= 1_000, "pagination does not end");
                start = Some(position);
            }
            None => return Ok(pages),
        }
    }
}

fn expect_err(result: Result<(), StoreError>, what: &str, expected: &str) -> Result<StoreError> {
    match result {
        Ok(()) => bail!("{what}: succeeded, expected {expected}"),
        Err(err) => Ok(err),
    }
}

fn is_condition_failed(result: Result<(), StoreError>, what: &str) -> Result<()> {
    match expect_err(result, what, "ConditionFailed")? {
        StoreError::ConditionFailed => Ok(()),
        other => bail!("{what}: expected ConditionFailed, got {other:?}"),
    }
}

fn is_invalid(result: Result<(), StoreError>, what: &str) -> Result<()> {
    match expect_err(result, what, "Invalid")? {
        StoreError::Invalid(_) => Ok(()),
        other => bail!("{what}: expected Invalid, got {other:?}"),
    }
}

async fn absent(store: &dyn ItemStore, k: &Key, what: &str) -> Result<()> {
    let found = store.get(k).await.with_context(|| format!("get {what}"))?;
    ensure!(found.is_none(), "{what}: {}/{} exists", k.pk, k.sk);
    Ok(())
}

async fn present(store: &dyn ItemStore, k: &Key, what: &str) -> Result<Item> {
    store
        .get(k)
        .await
        .with_context(|| format!("get {what}"))?
        .with_context(|| format!("{what}: {}/{} is missing", k.pk, k.sk))
}

// ---------------------------------------------------------------------- single items

pub async fn put_get_round_trips_a_rich_body(store: &dyn ItemStore) -> Result<()> {
    let pk = fresh_pk("roundtrip");
    let mut stored = Item::new(key(&pk, "ENTITY"), rich_body()).with_gsi1(key(&pk, "BY#NAME"));
    stored.version = 42;
    store.put(stored.clone(), Condition::None).await?;
    let read = present(store, &stored.key(), "rich item").await?;
    ensure!(
        read == stored,
        "read back {read:?}\n  but stored {stored:?}"
    );
    for field in ["u64_max", "i64_min", "i64_max", "negative"] {
        ensure!(
            read.data[field] == stored.data[field],
            "number {field} changed: {} != {}",
            read.data[field],
            stored.data[field]
        );
    }
    ensure!(
        read.data["u64_max"].as_u64() == Some(u64::MAX),
        "u64::MAX lost"
    );
    ensure!(
        read.data["i64_min"].as_i64() == Some(i64::MIN),
        "i64::MIN lost"
    );

    let bare = Item::marker(key(&pk, "MARKER"));
    store.put(bare.clone(), Condition::None).await?;
    let read = present(store, &bare.key(), "marker").await?;
    ensure!(read == bare, "marker read back as {read:?}");
    ensure!(read.data.is_empty() && read.gsi1pk.is_none() && read.expires_at.is_none());
    Ok(())
}

pub async fn get_of_a_missing_key_is_none(store: &dyn ItemStore) -> Result<()> {
    let pk = fresh_pk("missing");
    absent(store, &key(&pk, "NOPE"), "never written").await
}

pub async fn put_overwrites_without_condition(store: &dyn ItemStore) -> Result<()> {
    let pk = fresh_pk("overwrite");
    let first = Item::new(key(&pk, "A"), object(json!({"n": 1, "only_first": true})))
        .with_gsi1(key(&pk, "G"));
    store.put(first.clone(), Condition::None).await?;
    let second = Item::new(key(&pk, "A"), object(json!({"n": 2})));
    store.put(second.clone(), Condition::None).await?;
    let read = present(store, &second.key(), "overwritten").await?;
    ensure!(
        read == second,
        "an unconditional put replaces the whole item; got {read:?}"
    );
    Ok(())
}

pub async fn put_not_exists_twice_fails(store: &dyn ItemStore) -> Result<()> {
    let pk = fresh_pk("create");
    let first = Item::new(key(&pk, "UNIQUE"), object(json!({"who": "first"})));
    store.put(first.clone(), Condition::NotExists).await?;
    let second = Item::new(key(&pk, "UNIQUE"), object(json!({"who": "second"})));
    is_condition_failed(
        store.put(second, Condition::NotExists).await,
        "second create",
    )?;
    let read = present(store, &first.key(), "created").await?;
    ensure!(read == first, "a failed create changed the item: {read:?}");
    Ok(())
}

pub async fn version_is_matches_and_mismatches(store: &dyn ItemStore) -> Result<()> {
    let pk = fresh_pk("version");
    let v1 = Item::new(key(&pk, "DOC"), object(json!({"rev": 1})));
    store.put(v1.clone(), Condition::NotExists).await?;

    let mut v2 = v1.clone();
    v2.version = 2;
    v2.data = object(json!({"rev": 2}));
    store.put(v2.clone(), Condition::VersionIs(1)).await?;
    ensure!(
        present(store, &v2.key(), "v2").await? == v2,
        "v2 not stored"
    );

    let mut stale = v1.clone();
    stale.version = 2;
    stale.data = object(json!({"rev": "stale"}));
    is_condition_failed(
        store.put(stale, Condition::VersionIs(1)).await,
        "put with a stale version",
    )?;
    ensure!(
        present(store, &v2.key(), "after stale").await? == v2,
        "a stale write changed the item"
    );

    let missing = Item::new(key(&pk, "NEVER"), Map::new());
    is_condition_failed(
        store.put(missing.clone(), Condition::VersionIs(1)).await,
        "VersionIs on a missing item",
    )?;
    is_condition_failed(
        store.put(missing.clone(), Condition::VersionIs(0)).await,
        "VersionIs(0) on a missing item",
    )?;
    absent(store, &missing.key(), "VersionIs on missing").await
}

pub async fn exists_on_missing_fails(store: &dyn ItemStore) -> Result<()> {
    let pk = fresh_pk("exists");
    let it = item(&pk, "A");
    is_condition_failed(
        store.put(it.clone(), Condition::Exists).await,
        "Exists on a missing item",
    )?;
    absent(store, &it.key(), "after failed Exists").await?;
    store.put(it.clone(), Condition::None).await?;
    let mut changed = it.clone();
    changed.data = object(json!({"changed": true}));
    store.put(changed.clone(), Condition::Exists).await?;
    ensure!(
        present(store, &it.key(), "after Exists").await? == changed,
        "Exists on an existing item did not write"
    );
    Ok(())
}

pub async fn delete_with_and_without_condition(store: &dyn ItemStore) -> Result<()> {
    let pk = fresh_pk("delete");
    let k = key(&pk, "A");
    store
        .delete(&k, Condition::None)
        .await
        .context("an unconditional delete of a missing item succeeds")?;
    is_condition_failed(
        store.delete(&k, Condition::Exists).await,
        "delete Exists of a missing item",
    )?;
    is_condition_failed(
        store.delete(&k, Condition::VersionIs(1)).await,
        "delete VersionIs of a missing item",
    )?;

    let mut it = item(&pk, "A");
    it.version = 3;
    store.put(it.clone(), Condition::None).await?;
    is_condition_failed(
        store.delete(&k, Condition::NotExists).await,
        "delete NotExists of an existing item",
    )?;
    is_condition_failed(
        store.delete(&k, Condition::VersionIs(2)).await,
        "delete with a wrong version",
    )?;
    present(store, &k, "after failed deletes").await?;
    store.delete(&k, Condition::VersionIs(3)).await?;
    absent(store, &k, "after delete VersionIs").await?;

    store.put(it.clone(), Condition::None).await?;
    store.delete(&k, Condition::Exists).await?;
    absent(store, &k, "after delete Exists").await?;

    store.put(it.clone(), Condition::None).await?;
    store.delete(&k, Condition::None).await?;
    absent(store, &k, "after unconditional delete").await
}

// ---------------------------------------------------------------------- transactions

pub async fn transact_applies_every_action(store: &dyn ItemStore) -> Result<()> {
    let pk = fresh_pk("tx-ok");
    let mut doomed = item(&pk, "DOOMED");
    doomed.version = 5;
    let mut guard = item(&pk, "GUARD");
    guard.version = 9;
    let mut updated = item(&pk, "UPDATED");
    put_all(store, &[doomed.clone(), guard.clone(), updated.clone()]).await?;

    let created = Item::new(key(&pk, "CREATED"), rich_body()).with_gsi1(key(&pk, "G#1"));
    let overwritten = item(&pk, "PLAIN");
    updated.version = 2;
    updated.data = object(json!({"updated": true}));
    store
        .transact(vec![
            WriteOp::create(created.clone()),
            WriteOp::put(overwritten.clone()),
            WriteOp::Put {
                item: updated.clone(),
                condition: Condition::VersionIs(1),
            },
            WriteOp::Delete {
                key: doomed.key(),
                condition: Condition::VersionIs(5),
            },
            WriteOp::Check {
                key: guard.key(),
                condition: Condition::VersionIs(9),
            },
            WriteOp::Check {
                key: key(&pk, "NOBODY"),
                condition: Condition::NotExists,
            },
        ])
        .await
        .context("a transaction whose conditions all hold")?;

    ensure!(
        present(store, &created.key(), "created").await? == created,
        "create"
    );
    ensure!(
        present(store, &overwritten.key(), "put").await? == overwritten,
        "put"
    );
    ensure!(
        present(store, &updated.key(), "updated").await? == updated,
        "update"
    );
    absent(store, &doomed.key(), "deleted in a transaction").await?;
    ensure!(
        present(store, &guard.key(), "checked").await? == guard,
        "a check changed its item"
    );
    absent(store, &key(&pk, "NOBODY"), "a check wrote an item").await
}

pub async fn transact_is_all_or_nothing(store: &dyn ItemStore) -> Result<()> {
    let pk = fresh_pk("tx-atomic");
    let existing = item(&pk, "TAKEN");
    let kept = item(&pk, "KEPT");
    put_all(store, &[existing.clone(), kept.clone()]).await?;

    let first = item(&pk, "NEW#0");
    let second = item(&pk, "NEW#1");
    let result = store
        .transact(vec![
            WriteOp::create(first.clone()),
            WriteOp::put(second.clone()),
            WriteOp::create(existing.clone()),
            WriteOp::delete(kept.key()),
        ])
        .await;
    match expect_err(
        result,
        "a transaction failing at index 2",
        "TransactionCanceled",
    )? {
        StoreError::TransactionCanceled { failed } => {
            ensure!(failed == vec![2], "failed should be [2], got {failed:?}")
        }
        other => bail!("expected TransactionCanceled, got {other:?}"),
    }
    absent(store, &first.key(), "index 0 of a cancelled transaction").await?;
    absent(store, &second.key(), "index 1 of a cancelled transaction").await?;
    present(store, &kept.key(), "index 3 of a cancelled transaction").await?;
    ensure!(
        present(store, &existing.key(), "the conflicting item").await? == existing,
        "the conflicting item changed"
    );
    Ok(())
}

pub async fn transact_check_conditions_cancel(store: &dyn ItemStore) -> Result<()> {
    let pk = fresh_pk("tx-check");
    let mut guard = item(&pk, "GUARD");
    guard.version = 4;
    store.put(guard.clone(), Condition::None).await?;
    let cases = [
        ("VersionIs mismatch", guard.key(), Condition::VersionIs(3)),
        ("Exists on missing", key(&pk, "MISSING"), Condition::Exists),
        ("NotExists on existing", guard.key(), Condition::NotExists),
    ];
    for (name, checked, condition) in cases {
        let written = item(&pk, &format!("W#{name}"));
        let result = store
            .transact(vec![
                WriteOp::put(written.clone()),
                WriteOp::Check {
                    key: checked,
                    condition,
                },
            ])
            .await;
        match expect_err(result, name, "TransactionCanceled")? {
            StoreError::TransactionCanceled { failed } => {
                ensure!(
                    failed == vec![1],
                    "{name}: failed should be [1], got {failed:?}"
                )
            }
            other => bail!("{name}: expected TransactionCanceled, got {other:?}"),
        }
        absent(store, &written.key(), name).await?;
    }
    Ok(())
}

pub async fn transact_rejects_duplicate_keys(store: &dyn ItemStore) -> Result<()> {
    let pk = fresh_pk("tx-dup");
    let a = item(&pk, "A");
    let b = item(&pk, "B");
    is_invalid(
        store
            .transact(vec![
                WriteOp::put(a.clone()),
                WriteOp::put(b.clone()),
                WriteOp::delete(a.key()),
            ])
            .await,
        "a transaction touching one key twice",
    )?;
    is_invalid(
        store
            .transact(vec![
                WriteOp::Check {
                    key: b.key(),
                    condition: Condition::NotExists,
                },
                WriteOp::create(b.clone()),
            ])
            .await,
        "a check and a write on one key",
    )?;
    absent(store, &a.key(), "A after a rejected transaction").await?;
    absent(store, &b.key(), "B after a rejected transaction").await
}

pub async fn transact_rejects_empty_and_oversized(store: &dyn ItemStore) -> Result<()> {
    let pk = fresh_pk("tx-size");
    is_invalid(store.transact(Vec::new()).await, "an empty transaction")?;
    let ops: Vec<WriteOp> = (0..=MAX_TRANSACTION_ACTIONS)
        .map(|i| WriteOp::create(item(&pk, &format!("I#{i:03}"))))
        .collect();
    is_invalid(
        store.transact(ops).await,
        "a transaction of MAX_TRANSACTION_ACTIONS + 1 actions",
    )?;
    absent(store, &key(&pk, "I#000"), "after an oversized transaction").await?;
    let page = store
        .query(Query::partition(&pk, SortRange::All, 10))
        .await?;
    ensure!(
        page.items.is_empty(),
        "an oversized transaction wrote items"
    );
    Ok(())
}

pub async fn transact_takes_the_maximum_actions(store: &dyn ItemStore) -> Result<()> {
    let pk = fresh_pk("tx-max");
    let ops: Vec<WriteOp> = (0..MAX_TRANSACTION_ACTIONS)
        .map(|i| WriteOp::create(item(&pk, &format!("I#{i:03}"))))
        .collect();
    store
        .transact(ops)
        .await
        .context("a transaction of exactly MAX_TRANSACTION_ACTIONS actions")?;
    let pages = all_pages(store, Query::partition(&pk, SortRange::All, 40)).await?;
    let count: usize = pages.iter().map(|p| p.items.len()).sum();
    ensure!(
        count == MAX_TRANSACTION_ACTIONS,
        "{count} items written, not {MAX_TRANSACTION_ACTIONS}"
    );
    Ok(())
}

// --------------------------------------------------------------------------- queries

/// A partition whose sort keys interleave prefixes: `A#1 A#2 A#3 AB B#1 B#2`.
async fn lettered_partition(store: &dyn ItemStore, check: &str) -> Result<(String, Vec<Item>)> {
    let pk = fresh_pk(check);
    let items: Vec<Item> = ["B#2", "A#2", "AB", "A#1", "B#1", "A#3"]
        .iter()
        .map(|sk| item(&pk, sk))
        .collect();
    put_all(store, &items).await?;
    Ok((pk, items))
}

pub async fn query_by_prefix(store: &dyn ItemStore) -> Result<()> {
    let (pk, stored) = lettered_partition(store, "q-prefix").await?;
    let page = store
        .query(Query::partition(&pk, SortRange::Prefix("A#".into()), 50))
        .await?;
    ensure!(
        sks(&page.items) == ["A#1", "A#2", "A#3"],
        "prefix A#: {:?}",
        sks(&page.items)
    );
    ensure!(page.next.is_none(), "`next` set although nothing follows");
    let by_key = |sk: &str| stored.iter().find(|i| i.sk == sk).cloned();
    ensure!(
        page.items.first().cloned() == by_key("A#1"),
        "a queried item differs from the stored one"
    );

    let page = store
        .query(Query::partition(&pk, SortRange::Prefix("A".into()), 50))
        .await?;
    ensure!(
        sks(&page.items) == ["A#1", "A#2", "A#3", "AB"],
        "prefix A: {:?}",
        sks(&page.items)
    );
    let page = store
        .query(Query::partition(&pk, SortRange::Prefix("C".into()), 50))
        .await?;
    ensure!(
        page.items.is_empty() && page.next.is_none(),
        "prefix C matched"
    );
    let page = store
        .query(Query::partition(&pk, SortRange::All, 50))
        .await?;
    ensure!(
        sks(&page.items) == ["A#1", "A#2", "A#3", "AB", "B#1", "B#2"],
        "all: {:?}",
        sks(&page.items)
    );
    Ok(())
}

pub async fn query_between_is_inclusive(store: &dyn ItemStore) -> Result<()> {
    let (pk, _) = lettered_partition(store, "q-between").await?;
    let between = |low: &str, high: &str| {
        Query::partition(&pk, SortRange::Between(low.into(), high.into()), 50)
    };
    let page = store.query(between("A#2", "B#1")).await?;
    ensure!(
        sks(&page.items) == ["A#2", "A#3", "AB", "B#1"],
        "between A#2 and B#1: {:?}",
        sks(&page.items)
    );
    let page = store.query(between("A#25", "A#9")).await?;
    ensure!(
        sks(&page.items) == ["A#3"],
        "between A#25 and A#9: {:?}",
        sks(&page.items)
    );
    let page = store.query(between("AB", "AB")).await?;
    ensure!(
        sks(&page.items) == ["AB"],
        "between AB and AB: {:?}",
        sks(&page.items)
    );
    let page = store.query(between("C", "D")).await?;
    ensure!(
        page.items.is_empty(),
        "between C and D: {:?}",
        sks(&page.items)
    );
    let mut backward = between("A#2", "B#1");
    backward.forward = false;
    let page = store.query(backward).await?;
    ensure!(
        sks(&page.items) == ["B#1", "AB", "A#3", "A#2"],
        "between backward: {:?}",
        sks(&page.items)
    );
    Ok(())
}

pub async fn query_forward_and_backward(store: &dyn ItemStore) -> Result<()> {
    let (pk, _) = lettered_partition(store, "q-direction").await?;
    let mut query = Query::partition(&pk, SortRange::All, 50);
    let forward = store.query(query.clone()).await?;
    query.forward = false;
    let backward = store.query(query.clone()).await?;
    let mut reversed = sks(&forward.items);
    reversed.reverse();
    ensure!(
        sks(&backward.items) == reversed,
        "backward {:?} is not forward reversed",
        sks(&backward.items)
    );
    query.range = SortRange::Prefix("B#".into());
    let page = store.query(query).await?;
    ensure!(
        sks(&page.items) == ["B#2", "B#1"],
        "prefix backward: {:?}",
        sks(&page.items)
    );
    Ok(())
}

pub async fn query_stays_in_its_partition(store: &dyn ItemStore) -> Result<()> {
    let pk = fresh_pk("q-isolation");
    let neighbour = format!("{pk}#C#child");
    put_all(
        store,
        &[item(&pk, "A"), item(&neighbour, "A"), item(&neighbour, "B")],
    )
    .await?;
    let page = store
        .query(Query::partition(&pk, SortRange::All, 50))
        .await?;
    ensure!(
        page.items.len() == 1 && page.items[0].pk == pk,
        "a query saw another partition: {:?}",
        page.items
    );
    Ok(())
}

async fn numbered_partition(store: &dyn ItemStore, check: &str, count: usize) -> Result<String> {
    let pk = fresh_pk(check);
    let items: Vec<Item> = (0..count)
        .map(|i| item(&pk, &format!("N#{i:04}")))
        .collect();
    put_all(store, &items).await?;
    Ok(pk)
}

fn expected_numbers(range: std::ops::Range<usize>) -> Vec<String> {
    range.map(|i| format!("N#{i:04}")).collect()
}

pub async fn query_pages_chain_to_all_items(store: &dyn ItemStore) -> Result<()> {
    let pk = numbered_partition(store, "q-pages", 7).await?;
    let pages = all_pages(store, Query::partition(&pk, SortRange::All, 3)).await?;
    let sizes: Vec<usize> = pages.iter().map(|p| p.items.len()).collect();
    ensure!(
        sizes == [3, 3, 1],
        "page sizes {sizes:?}, expected [3, 3, 1]"
    );
    let all: Vec<String> = pages.iter().flat_map(|p| sks(&p.items)).collect();
    ensure!(all == expected_numbers(0..7), "pages chain to {all:?}");

    let pages = all_pages(store, Query::partition(&pk, SortRange::All, 50)).await?;
    ensure!(
        pages.len() == 1 && pages[0].items.len() == 7,
        "a limit above the item count gives one page"
    );
    let pages = all_pages(store, Query::partition(&pk, SortRange::All, 1)).await?;
    ensure!(
        pages.len() == 7,
        "limit 1 gives {} pages, not 7",
        pages.len()
    );
    Ok(())
}

pub async fn query_pages_chain_on_an_exact_multiple(store: &dyn ItemStore) -> Result<()> {
    let pk = numbered_partition(store, "q-exact", 6).await?;
    let pages = all_pages(store, Query::partition(&pk, SortRange::All, 3)).await?;
    let sizes: Vec<usize> = pages.iter().map(|p| p.items.len()).collect();
    ensure!(
        sizes == [3, 3],
        "page sizes {sizes:?}, expected [3, 3] with no empty trailing page"
    );
    let all: Vec<String> = pages.iter().flat_map(|p| sks(&p.items)).collect();
    ensure!(all == expected_numbers(0..6), "pages chain to {all:?}");
    let pages = all_pages(store, Query::partition(&pk, SortRange::All, 6)).await?;
    ensure!(
        pages.len() == 1 && pages[0].next.is_none(),
        "limit == item count: one page without `next`"
    );
    let empty = fresh_pk("q-empty");
    let page = store
        .query(Query::partition(&empty, SortRange::All, 3))
        .await?;
    ensure!(
        page.items.is_empty() && page.next.is_none(),
        "empty partition"
    );
    Ok(())
}

pub async fn query_pages_chain_backward_and_in_a_range(store: &dyn ItemStore) -> Result<()> {
    let pk = numbered_partition(store, "q-pages-back", 10).await?;
    let mut query = Query::partition(&pk, SortRange::All, 4);
    query.forward = false;
    let pages = all_pages(store, query).await?;
    let all: Vec<String> = pages.iter().flat_map(|p| sks(&p.items)).collect();
    let mut expected = expected_numbers(0..10);
    expected.reverse();
    ensure!(all == expected, "backward pages chain to {all:?}");
    ensure!(pages.len() == 3, "backward: {} pages, not 3", pages.len());

    let range = SortRange::Between("N#0002".into(), "N#0007".into());
    let pages = all_pages(store, Query::partition(&pk, range.clone(), 2)).await?;
    let all: Vec<String> = pages.iter().flat_map(|p| sks(&p.items)).collect();
    ensure!(
        all == expected_numbers(2..8),
        "range pages chain to {all:?}"
    );
    ensure!(pages.len() == 3, "range: {} pages, not 3", pages.len());

    let mut query = Query::partition(&pk, range, 4);
    query.forward = false;
    let pages = all_pages(store, query).await?;
    let all: Vec<String> = pages.iter().flat_map(|p| sks(&p.items)).collect();
    let mut expected = expected_numbers(2..8);
    expected.reverse();
    ensure!(all == expected, "backward range pages chain to {all:?}");

    let pages = all_pages(
        store,
        Query::partition(&pk, SortRange::Prefix("N#000".into()), 5),
    )
    .await?;
    let all: Vec<String> = pages.iter().flat_map(|p| sks(&p.items)).collect();
    ensure!(
        all == expected_numbers(0..10),
        "prefix pages chain to {all:?}"
    );
    ensure!(pages.len() == 2, "prefix: {} pages, not 2", pages.len());
    Ok(())
}

pub async fn query_limit_zero_is_invalid(store: &dyn ItemStore) -> Result<()> {
    let pk = numbered_partition(store, "q-zero", 1).await?;
    match store.query(Query::partition(&pk, SortRange::All, 0)).await {
        Err(StoreError::Invalid(_)) => Ok(()),
        Err(other) => bail!("limit 0: expected Invalid, got {other:?}"),
        Ok(page) => bail!(
            "limit 0: expected Invalid, got a page of {}",
            page.items.len()
        ),
    }
}

pub async fn sort_order_is_bytewise(store: &dyn ItemStore) -> Result<()> {
    let pk = fresh_pk("q-bytes");
    // Byte order of UTF-8: digits < upper case < '_' < lower case < '~' < U+00E9 < U+FFFD
    // < U+1F600 (UTF-16 order would put the emoji before U+FFFD; locale order would mix
    // cases), and a prefix sorts before its extensions.
    let mut keys: Vec<String> = [
        "b", "a", "B", "A", "Z", "z", "_", "~", "é", "\u{FFFD}", "😀", "1", "10", "9", "a#", "a0",
        "a#b", "A a", "#",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let items: Vec<Item> = keys.iter().map(|sk| item(&pk, sk)).collect();
    put_all(store, &items).await?;
    keys.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));

    let pages = all_pages(store, Query::partition(&pk, SortRange::All, 5)).await?;
    let all: Vec<String> = pages.iter().flat_map(|p| sks(&p.items)).collect();
    ensure!(all == keys, "forward order {all:?}\n  expected {keys:?}");
    let mut query = Query::partition(&pk, SortRange::All, 7);
    query.forward = false;
    let pages = all_pages(store, query).await?;
    let all: Vec<String> = pages.iter().flat_map(|p| sks(&p.items)).collect();
    keys.reverse();
    ensure!(all == keys, "backward order {all:?}\n  expected {keys:?}");

    let page = store
        .query(Query::partition(
            &pk,
            SortRange::Between("Z".into(), "a0".into()),
            50,
        ))
        .await?;
    ensure!(
        sks(&page.items) == ["Z", "_", "a", "a#", "a#b", "a0"],
        "bytewise between: {:?}",
        sks(&page.items)
    );
    Ok(())
}

// ------------------------------------------------------------------------------ gsi1

/// Index reads may lag writes (DynamoDB GSIs are eventually consistent): wait up to a few
/// seconds for the index to show `expected` before checking pagination over it.
async fn await_index(store: &dyn ItemStore, query: &Query, expected: usize) -> Result<()> {
    let mut seen = 0;
    for attempt in 0..40 {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let mut wide = query.clone();
        wide.limit = 1_000;
        seen = store.query(wide).await.context("gsi1 query")?.items.len();
        if seen >= expected {
            return Ok(());
        }
    }
    bail!("gsi1 shows {seen} items, expected {expected}")
}

pub async fn gsi1_query_with_pagination(store: &dyn ItemStore) -> Result<()> {
    let base = fresh_pk("gsi1");
    let index_pk = format!("{base}#BY-EMAIL");
    // Index entries come from several table partitions, and their table sort keys run
    // against the index order, so positions must carry both keys.
    let mut stored = Vec::new();
    for i in 0..7usize {
        let table_pk = format!("{base}#C#{}", i % 3);
        let it = Item::new(
            key(&table_pk, &format!("USER#{:02}", 10 - i)),
            object(json!({ "i": i })),
        )
        .with_gsi1(key(&index_pk, &format!("EMAIL#{i:02}")));
        stored.push(it);
    }
    let elsewhere =
        item(&format!("{base}#C#0"), "OTHER").with_gsi1(key(&format!("{base}#X"), "EMAIL#00"));
    stored.push(elsewhere);
    put_all(store, &stored).await?;

    let query = Query::gsi1(&index_pk, SortRange::All, 3);
    await_index(store, &query, 7).await?;
    let pages = all_pages(store, query).await?;
    let sizes: Vec<usize> = pages.iter().map(|p| p.items.len()).collect();
    ensure!(
        sizes == [3, 3, 1],
        "gsi1 page sizes {sizes:?}, expected [3, 3, 1]"
    );
    let all: Vec<Item> = pages.into_iter().flat_map(|p| p.items).collect();
    let expected: Vec<String> = (0..7).map(|i| format!("EMAIL#{i:02}")).collect();
    ensure!(gsi1sks(&all) == expected, "gsi1 order {:?}", gsi1sks(&all));
    ensure!(
        all.iter().all(|it| stored.contains(it)),
        "gsi1 returned items that differ from the stored ones"
    );

    let mut backward = Query::gsi1(&index_pk, SortRange::All, 2);
    backward.forward = false;
    let pages = all_pages(store, backward).await?;
    let all: Vec<Item> = pages.into_iter().flat_map(|p| p.items).collect();
    let mut reversed = expected.clone();
    reversed.reverse();
    ensure!(
        gsi1sks(&all) == reversed,
        "gsi1 backward {:?}",
        gsi1sks(&all)
    );

    let pages = all_pages(
        store,
        Query::gsi1(
            &index_pk,
            SortRange::Between("EMAIL#02".into(), "EMAIL#05".into()),
            2,
        ),
    )
    .await?;
    let all: Vec<Item> = pages.into_iter().flat_map(|p| p.items).collect();
    ensure!(
        gsi1sks(&all) == expected[2..6],
        "gsi1 between {:?}",
        gsi1sks(&all)
    );
    let page = store
        .query(Query::gsi1(
            &index_pk,
            SortRange::Prefix("EMAIL#06".into()),
            5,
        ))
        .await?;
    ensure!(
        gsi1sks(&page.items) == ["EMAIL#06"] && page.next.is_none(),
        "gsi1 prefix {:?}",
        gsi1sks(&page.items)
    );
    Ok(())
}

pub async fn items_without_gsi1_keys_are_not_indexed(store: &dyn ItemStore) -> Result<()> {
    let pk = fresh_pk("gsi1-sparse");
    let index_pk = format!("{pk}#IDX");
    let indexed = item(&pk, "INDEXED").with_gsi1(key(&index_pk, "K"));
    // Its table key looks like an index key: it still must not show up in gsi1.
    let plain = item(&index_pk, "K");
    let dropped = item(&pk, "DROPPED").with_gsi1(key(&index_pk, "K2"));
    put_all(store, &[indexed.clone(), plain, dropped.clone()]).await?;
    // Rewriting an item without index keys takes it out of the index.
    let mut unindexed = dropped.clone();
    unindexed.gsi1pk = None;
    unindexed.gsi1sk = None;
    store.put(unindexed, Condition::None).await?;

    let query = Query::gsi1(&index_pk, SortRange::All, 50);
    await_index(store, &query, 1).await?;
    let mut page = store.query(query.clone()).await?;
    for _ in 0..40 {
        if page.items.len() <= 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        page = store.query(query.clone()).await?;
    }
    ensure!(
        page.items == vec![indexed],
        "gsi1 holds {:?}, expected only the indexed item",
        page.items
            .iter()
            .map(|i| (&i.pk, &i.sk))
            .collect::<Vec<_>>()
    );
    ensure!(page.next.is_none(), "`next` set on a complete gsi1 page");
    Ok(())
}

// -------------------------------------------------------------------------- get_many

pub async fn get_many_skips_missing_keys(store: &dyn ItemStore) -> Result<()> {
    let pk = fresh_pk("get-many");
    let stored: Vec<Item> = (0..3)
        .map(|i| Item::new(key(&pk, &format!("K#{i}")), rich_body()))
        .collect();
    put_all(store, &stored).await?;
    let keys = vec![
        key(&pk, "K#0"),
        key(&pk, "MISSING#1"),
        key(&pk, "K#2"),
        key(&fresh_pk("get-many-other"), "K#1"),
        key(&pk, "K#1"),
    ];
    let mut found = store.get_many(&keys).await?;
    found.sort_by(|a, b| a.sk.cmp(&b.sk));
    ensure!(found == stored, "get_many returned {:?}", sks(&found));

    let found = store.get_many(&[]).await?;
    ensure!(found.is_empty(), "get_many of no keys returned items");
    let found = store
        .get_many(&[key(&pk, "MISSING#1"), key(&pk, "MISSING#2")])
        .await?;
    ensure!(found.is_empty(), "get_many of missing keys returned items");

    let found = store
        .get_many(&[key(&pk, "K#0"), key(&pk, "K#0")])
        .await
        .context("get_many with a repeated key")?;
    ensure!(
        found == stored[..1],
        "a repeated key returns its item once, got {:?}",
        sks(&found)
    );
    Ok(())
}

pub async fn get_many_limits(store: &dyn ItemStore) -> Result<()> {
    let pk = fresh_pk("get-many-max");
    let stored: Vec<Item> = (0..MAX_BATCH_GET)
        .map(|i| item(&pk, &format!("K#{i:03}")))
        .collect();
    for chunk in stored.chunks(MAX_TRANSACTION_ACTIONS) {
        store
            .transact(chunk.iter().cloned().map(WriteOp::put).collect())
            .await?;
    }
    let keys: Vec<Key> = stored.iter().map(Item::key).collect();
    let found = store
        .get_many(&keys)
        .await
        .context("get_many of MAX_BATCH_GET keys")?;
    let found: BTreeSet<String> = found.into_iter().map(|i| i.sk).collect();
    ensure!(
        found.len() == MAX_BATCH_GET,
        "get_many found {} of {MAX_BATCH_GET}",
        found.len()
    );

    let mut too_many = keys.clone();
    too_many.push(key(&pk, "ONE-MORE"));
    match store.get_many(&too_many).await {
        Err(StoreError::Invalid(_)) => Ok(()),
        Err(other) => bail!("MAX_BATCH_GET + 1 keys: expected Invalid, got {other:?}"),
        Ok(items) => bail!(
            "MAX_BATCH_GET + 1 keys: expected Invalid, got {} items",
            items.len()
        ),
    }
}

// --------------------------------------------------------------------------- expiry

pub async fn expires_at_round_trips(store: &dyn ItemStore) -> Result<()> {
    let pk = fresh_pk("expiry");
    // A day ahead: stores may hide or purge expired items, which is not this check's
    // business.
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .context("clock before 1970")?
        .as_secs() as i64;
    let mut expiring = item(&pk, "EXPIRING");
    expiring.expires_at = Some(now + 86_400);
    let lasting = item(&pk, "LASTING");
    put_all(store, &[expiring.clone(), lasting.clone()]).await?;
    let read = present(store, &expiring.key(), "expiring").await?;
    ensure!(
        read.expires_at == expiring.expires_at,
        "expires_at {:?} != {:?}",
        read.expires_at,
        expiring.expires_at
    );
    let read = present(store, &lasting.key(), "lasting").await?;
    ensure!(
        read.expires_at.is_none(),
        "expires_at appeared: {:?}",
        read.expires_at
    );

    // Clearing the expiry with an overwrite removes it.
    let mut cleared = expiring.clone();
    cleared.expires_at = None;
    store.put(cleared.clone(), Condition::VersionIs(1)).await?;
    let read = present(store, &cleared.key(), "cleared").await?;
    ensure!(read.expires_at.is_none(), "a cleared expiry stayed");

    let page = store
        .query(Query::partition(&pk, SortRange::Prefix("LAST".into()), 5))
        .await?;
    ensure!(
        page.items == vec![lasting],
        "query returned {:?}",
        page.items
    );
    Ok(())
}

/// Both adapters refuse the keys DynamoDB refuses: empty parts and over-long keys.
pub async fn keys_follow_dynamodb_limits(store: &dyn ItemStore) -> Result<()> {
    let pk = fresh_pk("limits");
    let at_limit = Key {
        pk: pk.clone(),
        sk: "s".repeat(tenantry::ports::MAX_SK_BYTES),
    };
    store
        .put(Item::marker(at_limit.clone()), Condition::None)
        .await
        .context("a sort key at the limit is stored")?;
    present(store, &at_limit, "sort key at the limit").await?;
    for (what, key) in [
        (
            "sort key over the limit",
            Key {
                pk: pk.clone(),
                sk: "s".repeat(tenantry::ports::MAX_SK_BYTES + 1),
            },
        ),
        (
            "partition key over the limit",
            Key {
                pk: format!("T#{}", "p".repeat(tenantry::ports::MAX_PK_BYTES)),
                sk: "s".into(),
            },
        ),
        (
            "empty sort key",
            Key {
                pk: pk.clone(),
                sk: String::new(),
            },
        ),
    ] {
        match store.put(Item::marker(key.clone()), Condition::None).await {
            Err(StoreError::Invalid(_)) => {}
            other => bail!("{what}: expected Invalid, got {other:?}"),
        }
        match store.transact(vec![WriteOp::put(Item::marker(key))]).await {
            Err(StoreError::Invalid(_)) => {}
            other => bail!("{what} in a transaction: expected Invalid, got {other:?}"),
        }
    }
    Ok(())
}
