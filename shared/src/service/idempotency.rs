//! `Idempotency-Key` on POST: the same key and body replay the first response; the same
//! key with another body is refused. Records expire after 24 hours.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::Deps;
use crate::access::Principal;
use crate::error::Error;
use crate::ports::{Condition, Item, Key, StoreError};
use crate::store::keys;

pub const TTL_SECONDS: i64 = 24 * 60 * 60;
const MAX_KEY_LEN: usize = 255;

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Record {
    fingerprint: String,
    /// None while the first request is still running.
    status: Option<u16>,
    body: Option<Value>,
}

/// A stored response to replay.
pub struct Replay {
    pub status: u16,
    pub body: Value,
}

/// The claim on a key, handed back to `finish`.
pub struct Ticket {
    key: Key,
    fingerprint: String,
    expires_at: i64,
}

pub enum Begin {
    /// First time: run the request, then call `finish` with the ticket.
    Proceed(Ticket),
    Replay(Replay),
}

fn key_for(principal: &Principal, idempotency_key: &str) -> Key {
    let hash = hex::encode(Sha256::digest(idempotency_key.as_bytes()));
    match principal {
        Principal::Operator { .. } => keys::platform_idempotency(&hash),
        Principal::Staff { tenant_id, .. } => keys::tenant_idempotency(tenant_id, &hash),
    }
}

/// Claims the key for this request, or returns what to replay.
pub async fn begin(
    deps: &Deps,
    principal: &Principal,
    idempotency_key: &str,
    method: &str,
    path: &str,
    body: &[u8],
) -> Result<Begin, Error> {
    if idempotency_key.is_empty()
        || idempotency_key.len() > MAX_KEY_LEN
        || !idempotency_key.bytes().all(|b| b.is_ascii_graphic())
    {
        return Err(Error::invalid(
            "Idempotency-Key",
            format!("must be 1 to {MAX_KEY_LEN} visible ASCII characters, e.g. a UUID"),
        ));
    }
    let fingerprint = {
        let mut h = Sha256::new();
        h.update(method.as_bytes());
        h.update([0]);
        h.update(path.as_bytes());
        h.update([0]);
        h.update(body);
        hex::encode(h.finalize())
    };
    let key = key_for(principal, idempotency_key);
    let expires_at = deps.clock.now().timestamp() + TTL_SECONDS;
    let mut item = Item::new(
        key.clone(),
        super::to_data(&Record {
            fingerprint: fingerprint.clone(),
            status: None,
            body: None,
        })?,
    );
    item.expires_at = Some(expires_at);
    match deps.store.put(item, Condition::NotExists).await {
        Ok(()) => {
            return Ok(Begin::Proceed(Ticket {
                key,
                fingerprint,
                expires_at,
            }));
        }
        Err(StoreError::ConditionFailed) => {}
        Err(e) => return Err(e.into()),
    }
    let Some(existing) = deps.store.get(&key).await? else {
        return Err(Error::conflict(
            "idempotency-in-progress",
            "a request with this Idempotency-Key is being processed; retry shortly",
        ));
    };
    let record: Record = super::from_item(&existing)?;
    let expired = existing
        .expires_at
        .is_some_and(|t| t <= deps.clock.now().timestamp());
    if record.fingerprint != fingerprint && !expired {
        return Err(Error::Conflict {
            kind: "idempotency-key-reused",
            detail: "this Idempotency-Key was used with a different request; use a new key for a new request".into(),
            extra: Default::default(),
        });
    }
    match (record.status, record.body) {
        (Some(status), Some(body)) => Ok(Begin::Replay(Replay { status, body })),
        _ => Err(Error::conflict(
            "idempotency-in-progress",
            "a request with this Idempotency-Key is being processed; retry shortly",
        )),
    }
}

/// Records the response of a request that claimed its key. Server errors release the
/// key instead, so the client can retry with it.
pub async fn finish(deps: &Deps, ticket: Ticket, status: u16, body: &Value) -> Result<(), Error> {
    if status >= 500 {
        deps.store.delete(&ticket.key, Condition::None).await?;
        return Ok(());
    }
    let record = Record {
        fingerprint: ticket.fingerprint,
        status: Some(status),
        body: Some(body.clone()),
    };
    let mut item = Item::new(ticket.key, super::to_data(&record)?);
    item.expires_at = Some(ticket.expires_at);
    item.version = 2;
    deps.store.put(item, Condition::VersionIs(1)).await?;
    Ok(())
}
