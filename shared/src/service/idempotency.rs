//! `Idempotency-Key` on POST: the same key and body replay the first response; the same
//! key with another body is refused. Records expire after 24 hours.

use crate::error::ProblemKind;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::Deps;
use crate::access::Principal;
use crate::error::Error;
use crate::ports::{Condition, Item, Key, StoreError};
use crate::store::keys;

pub const TTL_SECONDS: i64 = 24 * 60 * 60;
/// A claim older than this with no response belongs to a request that died.
pub const ABANDONED_AFTER_SECONDS: i64 = 60;
/// Response fields never kept in a record: a replay must not hand out a secret again.
const NOT_STORED: &[&str] = &["secret"];
const MAX_KEY_LEN: usize = 255;

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Record {
    fingerprint: String,
    /// None while the first request is still running.
    status: Option<u16>,
    body: Option<Value>,
    /// When the running request claimed the key (epoch seconds).
    #[serde(default)]
    started_at: Option<i64>,
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
    version: u64,
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
        // Per user: customers of one tenant never see each other's replays.
        Principal::Customer {
            tenant_id, user_id, ..
        } => {
            let mut h = Sha256::new();
            h.update(user_id.as_str().as_bytes());
            h.update([0]);
            h.update(idempotency_key.as_bytes());
            keys::tenant_idempotency(tenant_id, &hex::encode(h.finalize()))
        }
        // Per session: a session's replays are its own.
        Principal::Support {
            tenant_id,
            session_id,
            ..
        } => {
            let mut h = Sha256::new();
            h.update(session_id.as_str().as_bytes());
            h.update([0]);
            h.update(idempotency_key.as_bytes());
            keys::tenant_idempotency(tenant_id, &hex::encode(h.finalize()))
        }
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
    let now = deps.clock.now().timestamp();
    let claim = |version: u64| -> Result<Item, Error> {
        let record = Record {
            fingerprint: fingerprint.clone(),
            status: None,
            body: None,
            started_at: Some(now),
        };
        let mut item = Item::new(key.clone(), super::to_data(&record)?);
        item.expires_at = Some(now + TTL_SECONDS);
        item.version = version;
        Ok(item)
    };
    let proceed = |version: u64| {
        Begin::Proceed(Ticket {
            key: key.clone(),
            fingerprint: fingerprint.clone(),
            expires_at: now + TTL_SECONDS,
            version,
        })
    };
    match deps.store.put(claim(1)?, Condition::NotExists).await {
        Ok(()) => return Ok(proceed(1)),
        Err(StoreError::ConditionFailed) => {}
        Err(e) => return Err(e.into()),
    }
    let in_progress = || {
        Error::conflict(
            ProblemKind::IdempotencyInProgress,
            "a request with this Idempotency-Key is being processed; retry shortly",
        )
    };
    let Some(existing) = deps.store.get(&key).await? else {
        return Err(in_progress());
    };
    let record: Record = super::from_item(&existing)?;
    // An expired record is gone as far as clients can tell (stores remove them late), and
    // a claim whose request died without finishing is released after a while: either way
    // this request takes the key over, atomically against the record it saw.
    let expired = existing.expires_at.is_some_and(|t| t <= now);
    let abandoned = record.status.is_none()
        && record
            .started_at
            .is_none_or(|t| now - t >= ABANDONED_AFTER_SECONDS);
    if expired || abandoned {
        let version = existing.version + 1;
        return match deps
            .store
            .put(claim(version)?, Condition::VersionIs(existing.version))
            .await
        {
            Ok(()) => Ok(proceed(version)),
            Err(StoreError::ConditionFailed) => Err(in_progress()),
            Err(e) => Err(e.into()),
        };
    }
    if record.fingerprint != fingerprint {
        return Err(Error::conflict(
            ProblemKind::IdempotencyKeyReused,
            "this Idempotency-Key was used with a different request; use a new key for a new request",
        ));
    }
    match (record.status, record.body) {
        (Some(status), Some(body)) => Ok(Begin::Replay(Replay { status, body })),
        _ => Err(in_progress()),
    }
}

/// Records the response of a request that claimed its key. Server errors release the
/// key instead, so the client can retry with it.
pub async fn finish(deps: &Deps, ticket: Ticket, status: u16, body: &Value) -> Result<(), Error> {
    if status >= 500 {
        deps.store
            .delete(&ticket.key, Condition::VersionIs(ticket.version))
            .await?;
        return Ok(());
    }
    let mut stored = body.clone();
    if let Some(obj) = stored.as_object_mut() {
        for field in NOT_STORED {
            obj.remove(*field);
        }
    }
    let record = Record {
        fingerprint: ticket.fingerprint,
        status: Some(status),
        body: Some(stored),
        started_at: None,
    };
    let mut item = Item::new(ticket.key, super::to_data(&record)?);
    item.expires_at = Some(ticket.expires_at);
    item.version = ticket.version + 1;
    deps.store
        .put(item, Condition::VersionIs(ticket.version))
        .await?;
    Ok(())
}
