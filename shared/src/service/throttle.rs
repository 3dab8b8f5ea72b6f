//! Throttles: attempts counted per key (an email at a login, a source at a public form)
//! in a sliding window; past the limit the key is refused (429 with `Retry-After`) until
//! the window has passed since the last attempt counted. A counter is one item with a
//! TTL, written under its version.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::{from_item, to_data};
use crate::Deps;
use crate::error::Error;
use crate::model::ids::TenantId;
use crate::ports::{Condition, Item, Key};
use crate::store::keys;
use sha2::{Digest, Sha256};

/// How many attempts a key may make within how long.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limit {
    pub max: u32,
    pub window_minutes: i64,
}

/// Public forms posted from one source (an address) per tenant: generous, for offices
/// behind one address, and still a ceiling on what one machine can make a tenant send.
pub const PER_SOURCE: Limit = Limit {
    max: 20,
    window_minutes: 60,
};

/// The counter of `what` (a purpose) for `subject` (an email, an address) at a tenant.
pub(crate) fn key(tenant_id: &TenantId, what: &str, subject: &str) -> Key {
    let hash = hex::encode(Sha256::digest(format!("{what}\n{subject}").as_bytes()));
    keys::throttle(tenant_id, &hash)
}

/// Counts one post of a public form (`what`) from `source` at this tenant; 429 past
/// [`PER_SOURCE`]. A request with no known source is not counted here.
pub(crate) async fn count_source(
    deps: &Deps,
    tenant_id: &TenantId,
    what: &str,
    source: Option<&str>,
) -> Result<(), Error> {
    if let Some(source) = source {
        let now = deps.clock.now();
        count(deps, &key(tenant_id, what, source), PER_SOURCE, now).await?;
    }
    Ok(())
}

#[derive(Serialize, Deserialize)]
struct Failures {
    count: u32,
    since: DateTime<Utc>,
    last: DateTime<Utc>,
}

/// Counts an attempt on the counter `key` before the work it guards is done, under the
/// counter's version: concurrent attempts queue on it, so none gets past the limit
/// unseen. The counter's new version (to clear it after a success), or 429 with the
/// seconds until the window has passed.
pub(crate) async fn count(
    deps: &Deps,
    key: &Key,
    limit: Limit,
    now: DateTime<Utc>,
) -> Result<u64, Error> {
    for _ in 0..3 {
        match count_attempt(deps, key, limit, now).await? {
            Counted::Yes(version) => return Ok(version),
            Counted::Refused(retry_after_seconds) => {
                return Err(Error::Throttled {
                    retry_after_seconds,
                });
            }
            Counted::Raced => continue,
        }
    }
    // Many attempts at once on one counter: treat as too many.
    Err(Error::Throttled {
        retry_after_seconds: 1,
    })
}

/// Clears a counter after a success (unless another attempt counted meanwhile).
pub(crate) async fn clear(deps: &Deps, key: &Key, version: u64) {
    if let Err(e) = deps.store.delete(key, Condition::VersionIs(version)).await {
        tracing::debug!(error = format!("{e:#}"), "attempts not cleared");
    }
}

enum Counted {
    /// Counted; the counter's new version.
    Yes(u64),
    /// Over the limit: retry after this many seconds.
    Refused(u64),
    /// Another attempt changed the counter first.
    Raced,
}

async fn count_attempt(
    deps: &Deps,
    key: &Key,
    limit: Limit,
    now: DateTime<Utc>,
) -> Result<Counted, Error> {
    let window = Duration::minutes(limit.window_minutes);
    let existing = deps.store.get(key).await?;
    let (previous, condition, version) = match &existing {
        Some(item) => (
            Some(from_item::<Failures>(item)?),
            Condition::VersionIs(item.version),
            item.version + 1,
        ),
        None => (None, Condition::NotExists, 1),
    };
    let current = previous.filter(|f| now - f.last < window);
    if let Some(f) = &current
        && f.count >= limit.max
    {
        let retry = (f.last + window - now).num_seconds().max(1);
        return Ok(Counted::Refused(retry as u64));
    }
    let next = match current {
        Some(f) => Failures {
            count: f.count + 1,
            since: f.since,
            last: now,
        },
        None => Failures {
            count: 1,
            since: now,
            last: now,
        },
    };
    let mut item = Item::new(key.clone(), to_data(&next)?);
    item.version = version;
    item.expires_at = Some((now + window).timestamp());
    match deps.store.put(item, condition).await {
        Ok(()) => Ok(Counted::Yes(version)),
        Err(crate::ports::StoreError::ConditionFailed) => Ok(Counted::Raced),
        Err(e) => Err(e.into()),
    }
}
