//! The DynamoDB `ItemStore`: one table keyed `pk`/`sk` with the sparse index `gsi1`.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use anyhow::{Context, anyhow};
use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeValue, ConditionCheck, Delete, KeysAndAttributes, Put, TransactWriteItem,
};

use crate::ports::{
    self, Condition, Index, Item, ItemStore, Key, MAX_BATCH_GET, Page, Position, Query, SortRange,
    StoreError, WriteOp,
};

/// Table partition key (S).
pub const ATTR_PK: &str = "pk";
/// Table sort key (S).
pub const ATTR_SK: &str = "sk";
/// `gsi1` partition key (S); absent on items that are not in the index.
pub const ATTR_GSI1PK: &str = "gsi1pk";
/// `gsi1` sort key (S); absent on items that are not in the index.
pub const ATTR_GSI1SK: &str = "gsi1sk";
/// Optimistic-concurrency version (N).
pub const ATTR_VERSION: &str = "version";
/// Expiry in epoch seconds (N); the table's TTL attribute.
pub const ATTR_EXPIRES_AT: &str = "expires_at";
/// The entity body (M).
pub const ATTR_DATA: &str = "data";
/// The global secondary index on (`gsi1pk`, `gsi1sk`), projecting all attributes.
pub const GSI1: &str = "gsi1";

/// How often `get_many` asks again for keys DynamoDB left unprocessed.
const BATCH_GET_ATTEMPTS: u32 = 8;
const BATCH_GET_BASE_BACKOFF: Duration = Duration::from_millis(25);
const BATCH_GET_MAX_BACKOFF: Duration = Duration::from_millis(800);

type Attributes = HashMap<String, AttributeValue>;

#[derive(Clone, Debug)]
pub struct DynamoStore {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    /// A store over `table` with the ambient AWS configuration ([`super::sdk_config`]).
    pub async fn from_env(table: impl Into<String>) -> Self {
        Self::from_config(&super::sdk_config().await, table)
    }

    /// A store over `table` with this AWS configuration (one per process, shared by
    /// every client of a function).
    pub fn from_config(config: &aws_config::SdkConfig, table: impl Into<String>) -> Self {
        Self::new(Client::new(config), table)
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    fn transact_item(&self, op: WriteOp) -> Result<TransactWriteItem, StoreError> {
        let item = match op {
            WriteOp::Put { item, condition } => {
                let expr = ConditionExpr::write(condition);
                let put = Put::builder()
                    .table_name(&self.table)
                    .set_item(Some(encode(&item)?))
                    .set_condition_expression(expr.expression)
                    .set_expression_attribute_names(expr.names)
                    .set_expression_attribute_values(expr.values)
                    .build()
                    .context("building a TransactWriteItems Put")
                    .map_err(StoreError::Unavailable)?;
                TransactWriteItem::builder().put(put).build()
            }
            WriteOp::Delete { key, condition } => {
                let expr = ConditionExpr::write(condition);
                let delete = Delete::builder()
                    .table_name(&self.table)
                    .set_key(Some(key_attributes(&key)?))
                    .set_condition_expression(expr.expression)
                    .set_expression_attribute_names(expr.names)
                    .set_expression_attribute_values(expr.values)
                    .build()
                    .context("building a TransactWriteItems Delete")
                    .map_err(StoreError::Unavailable)?;
                TransactWriteItem::builder().delete(delete).build()
            }
            WriteOp::Check { key, condition } => {
                let expr = ConditionExpr::check(condition);
                let check = ConditionCheck::builder()
                    .table_name(&self.table)
                    .set_key(Some(key_attributes(&key)?))
                    .set_condition_expression(expr.expression)
                    .set_expression_attribute_names(expr.names)
                    .set_expression_attribute_values(expr.values)
                    .build()
                    .context("building a TransactWriteItems ConditionCheck")
                    .map_err(StoreError::Unavailable)?;
                TransactWriteItem::builder().condition_check(check).build()
            }
        };
        Ok(item)
    }
}

#[async_trait]
impl ItemStore for DynamoStore {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key_attributes(key)?))
            .consistent_read(true)
            .send()
            .await
            .map_err(|err| unavailable(err, "DynamoDB GetItem failed"))?;
        out.item.map(decode).transpose()
    }

    async fn get_many(&self, keys: &[Key]) -> Result<Vec<Item>, StoreError> {
        if keys.len() > MAX_BATCH_GET {
            return Err(StoreError::Invalid(format!(
                "get_many takes at most {MAX_BATCH_GET} keys, not {}",
                keys.len()
            )));
        }
        // BatchGetItem rejects duplicate keys; the port returns each item once anyway.
        let mut seen = HashSet::with_capacity(keys.len());
        let mut pending = Vec::with_capacity(keys.len());
        for key in keys {
            if seen.insert(key) {
                pending.push(key_attributes(key)?);
            }
        }
        let mut items = Vec::with_capacity(pending.len());
        let mut attempt = 0;
        while !pending.is_empty() {
            if attempt == BATCH_GET_ATTEMPTS {
                return Err(StoreError::Unavailable(anyhow!(
                    "DynamoDB BatchGetItem left {} keys unprocessed after {BATCH_GET_ATTEMPTS} attempts",
                    pending.len()
                )));
            }
            if attempt > 0 {
                tokio::time::sleep(backoff(attempt)).await;
            }
            attempt += 1;
            let request = KeysAndAttributes::builder()
                .set_keys(Some(std::mem::take(&mut pending)))
                .consistent_read(true)
                .build()
                .context("building a BatchGetItem request")
                .map_err(StoreError::Unavailable)?;
            let out = self
                .client
                .batch_get_item()
                .request_items(&self.table, request)
                .send()
                .await
                .map_err(|err| unavailable(err, "DynamoDB BatchGetItem failed"))?;
            if let Some(found) = out.responses.and_then(|mut r| r.remove(&self.table)) {
                for attributes in found {
                    items.push(decode(attributes)?);
                }
            }
            if let Some(unprocessed) = out.unprocessed_keys.and_then(|mut u| u.remove(&self.table))
            {
                pending = unprocessed.keys;
            }
        }
        Ok(items)
    }

    async fn put(&self, item: Item, condition: Condition) -> Result<(), StoreError> {
        let expr = ConditionExpr::write(condition);
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(encode(&item)?))
            .set_condition_expression(expr.expression)
            .set_expression_attribute_names(expr.names)
            .set_expression_attribute_values(expr.values)
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(err) => match err.as_service_error() {
                Some(e) if e.is_conditional_check_failed_exception() => {
                    Err(StoreError::ConditionFailed)
                }
                Some(e) if e.is_transaction_conflict_exception() => Err(StoreError::Conflict),
                _ => Err(unavailable(err, "DynamoDB PutItem failed")),
            },
        }
    }

    async fn delete(&self, key: &Key, condition: Condition) -> Result<(), StoreError> {
        let expr = ConditionExpr::write(condition);
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key_attributes(key)?))
            .set_condition_expression(expr.expression)
            .set_expression_attribute_names(expr.names)
            .set_expression_attribute_values(expr.values)
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(err) => match err.as_service_error() {
                Some(e) if e.is_conditional_check_failed_exception() => {
                    Err(StoreError::ConditionFailed)
                }
                Some(e) if e.is_transaction_conflict_exception() => Err(StoreError::Conflict),
                _ => Err(unavailable(err, "DynamoDB DeleteItem failed")),
            },
        }
    }

    async fn transact(&self, ops: Vec<WriteOp>) -> Result<(), StoreError> {
        ports::validate_transaction(&ops)?;
        let actions = ops
            .into_iter()
            .map(|op| self.transact_item(op))
            .collect::<Result<Vec<_>, _>>()?;
        let result = self
            .client
            .transact_write_items()
            .set_transact_items(Some(actions))
            .send()
            .await;
        let err = match result {
            Ok(_) => return Ok(()),
            Err(err) => err,
        };
        if let Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) =
            err.as_service_error()
        {
            let mut codes: Vec<Option<String>> = cancelled
                .cancellation_reasons()
                .iter()
                .map(|reason| reason.code().map(str::to_owned))
                .collect();
            if codes.is_empty() {
                // Without structured reasons, fall back to the list DynamoDB puts at the end
                // of the message: "... specific reasons [None, ConditionalCheckFailed]".
                codes = reasons_from_message(cancelled.message().unwrap_or_default());
            }
            if let Some(mapped) = cancellation_error(&codes) {
                return Err(mapped);
            }
            let summary = codes
                .iter()
                .map(|code| code.as_deref().unwrap_or("?"))
                .collect::<Vec<_>>()
                .join(", ");
            return Err(unavailable(
                err,
                format!("DynamoDB TransactWriteItems cancelled: [{summary}]"),
            ));
        }
        Err(unavailable(err, "DynamoDB TransactWriteItems failed"))
    }

    async fn query(&self, query: Query) -> Result<Page, StoreError> {
        if query.limit == 0 {
            return Err(StoreError::Invalid(
                "a query's limit must be at least 1".into(),
            ));
        }
        if query.pk.is_empty() {
            return Err(StoreError::Invalid("a query needs a partition key".into()));
        }
        let (pk_attr, sk_attr, index_name) = match query.index {
            Index::Table => (ATTR_PK, ATTR_SK, None),
            Index::Gsi1 => (ATTR_GSI1PK, ATTR_GSI1SK, Some(GSI1.to_owned())),
        };
        let mut names = HashMap::from([("#pk".to_owned(), pk_attr.to_owned())]);
        let mut values = HashMap::from([(":pk".to_owned(), AttributeValue::S(query.pk.clone()))]);
        let mut expression = String::from("#pk = :pk");
        match &query.range {
            // DynamoDB refuses empty strings as key values; an empty prefix matches everything.
            SortRange::All => {}
            SortRange::Prefix(prefix) if prefix.is_empty() => {}
            SortRange::Prefix(prefix) => {
                expression.push_str(" AND begins_with(#sk, :prefix)");
                names.insert("#sk".into(), sk_attr.into());
                values.insert(":prefix".into(), AttributeValue::S(prefix.clone()));
            }
            // Sort keys are never empty, and an inverted range holds nothing.
            SortRange::Between(low, high) if high.is_empty() || low > high => {
                return Ok(Page::default());
            }
            SortRange::Between(low, high) if low.is_empty() => {
                expression.push_str(" AND #sk <= :high");
                names.insert("#sk".into(), sk_attr.into());
                values.insert(":high".into(), AttributeValue::S(high.clone()));
            }
            SortRange::Between(low, high) => {
                expression.push_str(" AND #sk BETWEEN :low AND :high");
                names.insert("#sk".into(), sk_attr.into());
                values.insert(":low".into(), AttributeValue::S(low.clone()));
                values.insert(":high".into(), AttributeValue::S(high.clone()));
            }
        }
        let mut start = match &query.start_after {
            Some(position) => Some(start_key(&query, position)?),
            None => None,
        };

        // One item more than the page, to know whether anything follows it.
        let wanted = query.limit.saturating_add(1);
        let mut items: Vec<Item> = Vec::new();
        loop {
            let remaining = wanted - items.len();
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .set_index_name(index_name.clone())
                .key_condition_expression(&expression)
                .set_expression_attribute_names(Some(names.clone()))
                .set_expression_attribute_values(Some(values.clone()))
                .scan_index_forward(query.forward)
                // Global secondary indexes only serve eventually consistent reads.
                .consistent_read(query.index == Index::Table)
                .limit(i32::try_from(remaining).unwrap_or(i32::MAX))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|err| unavailable(err, "DynamoDB Query failed"))?;
            for attributes in out.items.unwrap_or_default() {
                items.push(decode(attributes)?);
            }
            if items.len() >= wanted {
                break;
            }
            // DynamoDB stops a page early at 1 MB; carry on from where it stopped.
            match out.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => break,
            }
        }
        let next = if items.len() > query.limit {
            items.truncate(query.limit);
            items.last().map(Item::position)
        } else {
            None
        };
        Ok(Page { items, next })
    }
}

/// A write's condition as DynamoDB expression parts (`None` where a part is unused:
/// DynamoDB rejects empty or unused attribute name and value maps).
#[derive(Debug, Default, PartialEq)]
struct ConditionExpr {
    expression: Option<String>,
    names: Option<HashMap<String, String>>,
    values: Option<Attributes>,
}

impl ConditionExpr {
    /// The condition of a Put or Delete; `Condition::None` writes unconditionally.
    fn write(condition: Condition) -> Self {
        let pk_name = || Some(HashMap::from([("#pk".to_owned(), ATTR_PK.to_owned())]));
        match condition {
            Condition::None => Self::default(),
            Condition::NotExists => Self {
                expression: Some("attribute_not_exists(#pk)".into()),
                names: pk_name(),
                values: None,
            },
            Condition::Exists => Self {
                expression: Some("attribute_exists(#pk)".into()),
                names: pk_name(),
                values: None,
            },
            Condition::VersionIs(version) => Self {
                expression: Some("attribute_exists(#pk) AND #version = :version".into()),
                names: Some(HashMap::from([
                    ("#pk".to_owned(), ATTR_PK.to_owned()),
                    ("#version".to_owned(), ATTR_VERSION.to_owned()),
                ])),
                values: Some(HashMap::from([(
                    ":version".to_owned(),
                    AttributeValue::N(version.to_string()),
                )])),
            },
        }
    }

    /// The condition of a ConditionCheck, which always needs an expression:
    /// `Condition::None` becomes one that always holds.
    fn check(condition: Condition) -> Self {
        match condition {
            Condition::None => Self {
                expression: Some("attribute_exists(#pk) OR attribute_not_exists(#pk)".into()),
                names: Some(HashMap::from([("#pk".to_owned(), ATTR_PK.to_owned())])),
                values: None,
            },
            other => Self::write(other),
        }
    }
}

/// Maps a cancelled transaction's reason codes (one per action, in order) to the port's
/// error, or `None` when the cause is something else (throttling, validation, ...).
fn cancellation_error(codes: &[Option<String>]) -> Option<StoreError> {
    let failed: Vec<usize> = codes
        .iter()
        .enumerate()
        .filter(|(_, code)| code.as_deref() == Some("ConditionalCheckFailed"))
        .map(|(index, _)| index)
        .collect();
    if !failed.is_empty() {
        return Some(StoreError::TransactionCanceled { failed });
    }
    if codes
        .iter()
        .any(|code| code.as_deref() == Some("TransactionConflict"))
    {
        return Some(StoreError::Conflict);
    }
    None
}

/// The reason codes listed in brackets at the end of a TransactionCanceledException
/// message, e.g. `Transaction cancelled, please refer cancellation reasons for specific
/// reasons [None, ConditionalCheckFailed]`.
fn reasons_from_message(message: &str) -> Vec<Option<String>> {
    let Some(open) = message.rfind('[') else {
        return Vec::new();
    };
    let Some(len) = message[open + 1..].find(']') else {
        return Vec::new();
    };
    message[open + 1..open + 1 + len]
        .split(',')
        .map(str::trim)
        .filter(|code| !code.is_empty())
        .map(|code| Some(code.to_owned()))
        .collect()
}

/// An error the port has no name for; the SDK error stays as the cause.
fn unavailable<E>(err: E, context: impl Into<String>) -> StoreError
where
    E: std::error::Error + Send + Sync + 'static,
{
    StoreError::Unavailable(anyhow::Error::new(err).context(context.into()))
}

fn backoff(attempt: u32) -> Duration {
    BATCH_GET_BASE_BACKOFF
        .saturating_mul(1 << attempt.min(10))
        .min(BATCH_GET_MAX_BACKOFF)
}

fn check_key(pk: &str, sk: &str) -> Result<(), StoreError> {
    crate::ports::check_key(pk, sk)
}

fn key_attributes(key: &Key) -> Result<Attributes, StoreError> {
    check_key(&key.pk, &key.sk)?;
    Ok(HashMap::from([
        (ATTR_PK.to_owned(), AttributeValue::S(key.pk.clone())),
        (ATTR_SK.to_owned(), AttributeValue::S(key.sk.clone())),
    ]))
}

/// The key DynamoDB resumes a query after: the table key, plus the index key for `gsi1`.
fn start_key(query: &Query, position: &Position) -> Result<Attributes, StoreError> {
    check_key(&position.pk, &position.sk)?;
    let mut key = HashMap::from([
        (ATTR_PK.to_owned(), AttributeValue::S(position.pk.clone())),
        (ATTR_SK.to_owned(), AttributeValue::S(position.sk.clone())),
    ]);
    match query.index {
        Index::Table => {
            if position.pk != query.pk {
                return Err(StoreError::Invalid(
                    "the query position belongs to another partition".into(),
                ));
            }
        }
        Index::Gsi1 => {
            let (Some(gsi1pk), Some(gsi1sk)) = (&position.gsi1pk, &position.gsi1sk) else {
                return Err(StoreError::Invalid(
                    "a gsi1 query position needs the index keys".into(),
                ));
            };
            if *gsi1pk != query.pk {
                return Err(StoreError::Invalid(
                    "the query position belongs to another partition".into(),
                ));
            }
            key.insert(ATTR_GSI1PK.to_owned(), AttributeValue::S(gsi1pk.clone()));
            key.insert(ATTR_GSI1SK.to_owned(), AttributeValue::S(gsi1sk.clone()));
        }
    }
    Ok(key)
}

/// `Item` -> attribute map. `Item`'s serde field names are the attribute names above
/// (checked by a test), `data` becomes a map, numbers become N.
fn encode(item: &Item) -> Result<Attributes, StoreError> {
    check_key(&item.pk, &item.sk)?;
    match (&item.gsi1pk, &item.gsi1sk) {
        (None, None) => {}
        (Some(pk), Some(sk)) => check_key(pk, sk)?,
        _ => {
            return Err(StoreError::Invalid(
                "gsi1pk and gsi1sk are set together or not at all".into(),
            ));
        }
    }
    serde_dynamo::to_item(item)
        .map_err(|err| StoreError::Invalid(format!("the item cannot be stored in DynamoDB: {err}")))
}

/// Attribute map -> `Item`. Unknown attributes are ignored.
fn decode(attributes: Attributes) -> Result<Item, StoreError> {
    serde_dynamo::from_item(attributes)
        .context("decoding an item read from DynamoDB")
        .map_err(StoreError::Unavailable)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Map, Value, json};

    fn body() -> Map<String, Value> {
        let value = json!({
            "string": "hello",
            "empty_string": "",
            "unicode": "Grüße, 世界 🎉",
            "numeric_string": "0042",
            "zero": 0,
            "negative": -17,
            "i64_min": i64::MIN,
            "i64_max": i64::MAX,
            "u64_max": u64::MAX,
            "fraction": 1.5,
            "true": true,
            "false": false,
            "null": null,
            "empty_object": {},
            "empty_array": [],
            "nested": {"a": {"b": {"c": [1, "two", null, false, {"d": []}]}}},
            "array": [1, -2, "three", true, null, {}, [], [[]], {"x": {"y": 1}}],
            "key with spaces.and.dots": "#:v"
        });
        match value {
            Value::Object(map) => map,
            _ => unreachable!(),
        }
    }

    fn rich_item() -> Item {
        let mut item = Item::new(
            Key {
                pk: "T#t1".into(),
                sk: "C#c1".into(),
            },
            body(),
        )
        .with_gsi1(Key {
            pk: "T#t1#G".into(),
            sk: "name".into(),
        });
        item.version = u64::MAX;
        item.expires_at = Some(1_900_000_000);
        item
    }

    #[test]
    fn a_rich_body_round_trips_exactly() {
        let item = rich_item();
        let decoded = decode(encode(&item).unwrap()).unwrap();
        assert_eq!(decoded, item);
        for key in [
            "nested",
            "array",
            "empty_object",
            "empty_array",
            "u64_max",
            "i64_min",
        ] {
            assert_eq!(decoded.data[key], item.data[key], "{key}");
        }
        assert!(decoded.data["u64_max"].is_u64());
        assert!(decoded.data["i64_min"].is_i64());
        assert!(decoded.data["null"].is_null());
        assert!(decoded.data["fraction"].is_f64());
    }

    #[test]
    fn a_bare_item_round_trips() {
        let item = Item::marker(Key {
            pk: "P#x".into(),
            sk: "M".into(),
        });
        let attributes = encode(&item).unwrap();
        assert_eq!(attributes[ATTR_DATA], AttributeValue::M(HashMap::new()));
        assert_eq!(decode(attributes).unwrap(), item);
    }

    #[test]
    fn attributes_have_the_documented_names_and_types() {
        let attributes = encode(&rich_item()).unwrap();
        let mut names: Vec<&str> = attributes.keys().map(String::as_str).collect();
        names.sort_unstable();
        let mut expected = vec![
            ATTR_DATA,
            ATTR_EXPIRES_AT,
            ATTR_GSI1PK,
            ATTR_GSI1SK,
            ATTR_PK,
            ATTR_SK,
            ATTR_VERSION,
        ];
        expected.sort_unstable();
        assert_eq!(names, expected);
        assert_eq!(attributes[ATTR_PK], AttributeValue::S("T#t1".into()));
        assert_eq!(attributes[ATTR_SK], AttributeValue::S("C#c1".into()));
        assert_eq!(attributes[ATTR_GSI1PK], AttributeValue::S("T#t1#G".into()));
        assert_eq!(attributes[ATTR_GSI1SK], AttributeValue::S("name".into()));
        assert_eq!(
            attributes[ATTR_VERSION],
            AttributeValue::N(u64::MAX.to_string())
        );
        assert_eq!(
            attributes[ATTR_EXPIRES_AT],
            AttributeValue::N("1900000000".into())
        );
        assert!(matches!(attributes[ATTR_DATA], AttributeValue::M(_)));

        let bare = encode(&Item::marker(Key {
            pk: "P#x".into(),
            sk: "M".into(),
        }))
        .unwrap();
        assert!(!bare.contains_key(ATTR_GSI1PK));
        assert!(!bare.contains_key(ATTR_GSI1SK));
        assert!(!bare.contains_key(ATTR_EXPIRES_AT));
    }

    #[test]
    fn empty_keys_and_half_index_keys_are_invalid() {
        let mut item = rich_item();
        item.sk.clear();
        assert!(matches!(encode(&item), Err(StoreError::Invalid(_))));
        let mut item = rich_item();
        item.gsi1sk = None;
        assert!(matches!(encode(&item), Err(StoreError::Invalid(_))));
    }

    #[test]
    fn conditions_use_only_the_names_and_values_they_mention() {
        assert_eq!(
            ConditionExpr::write(Condition::None),
            ConditionExpr::default()
        );
        let exists = ConditionExpr::write(Condition::Exists);
        assert_eq!(exists.expression.as_deref(), Some("attribute_exists(#pk)"));
        assert_eq!(exists.values, None);
        let version = ConditionExpr::write(Condition::VersionIs(3));
        assert_eq!(
            version.values.unwrap()[":version"],
            AttributeValue::N("3".into())
        );
        assert_eq!(version.names.unwrap().len(), 2);
        assert!(ConditionExpr::check(Condition::None).expression.is_some());
    }

    #[test]
    fn cancellation_reasons_map_to_port_errors() {
        let codes = |list: &[&str]| -> Vec<Option<String>> {
            list.iter().map(|c| Some(c.to_string())).collect()
        };
        assert!(matches!(
            cancellation_error(&codes(&["None", "None", "ConditionalCheckFailed"])),
            Some(StoreError::TransactionCanceled { failed }) if failed == vec![2]
        ));
        assert!(matches!(
            cancellation_error(&codes(&["ConditionalCheckFailed", "TransactionConflict", "ConditionalCheckFailed"])),
            Some(StoreError::TransactionCanceled { failed }) if failed == vec![0, 2]
        ));
        assert!(matches!(
            cancellation_error(&codes(&["None", "TransactionConflict"])),
            Some(StoreError::Conflict)
        ));
        assert!(cancellation_error(&codes(&["ThrottlingError", "None"])).is_none());
        assert!(cancellation_error(&[None, None]).is_none());
    }

    #[test]
    fn reasons_are_read_from_the_message_as_a_fallback() {
        assert_eq!(
            reasons_from_message(
                "Transaction cancelled, please refer cancellation reasons for specific reasons [None, None, ConditionalCheckFailed]"
            ),
            vec![
                Some("None".to_owned()),
                Some("None".to_owned()),
                Some("ConditionalCheckFailed".to_owned())
            ]
        );
        assert!(reasons_from_message("no list here").is_empty());
    }

    #[test]
    fn backoff_grows_and_is_bounded() {
        assert!(backoff(1) < backoff(2));
        assert_eq!(backoff(30), BATCH_GET_MAX_BACKOFF);
    }
}
