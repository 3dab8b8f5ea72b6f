//! Cursor pagination: `limit` (1 to 100, default 20) and an opaque `next_cursor`.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::ports::{Position, check_key};

pub const DEFAULT_LIMIT: usize = 20;
pub const MAX_LIMIT: usize = 100;

pub fn limit(raw: Option<&str>) -> Result<usize, Error> {
    match raw {
        None => Ok(DEFAULT_LIMIT),
        Some(s) => match s.parse::<usize>() {
            Ok(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
            _ => Err(Error::invalid(
                "limit",
                format!("must be a whole number from 1 to {MAX_LIMIT}"),
            )),
        },
    }
}

#[derive(Serialize, Deserialize)]
struct CursorBody {
    /// Which listing the cursor belongs to.
    l: String,
    p: Position,
}

pub fn encode(listing: &str, position: &Position) -> String {
    let body = CursorBody {
        l: listing.to_owned(),
        p: position.clone(),
    };
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(&body).unwrap_or_default())
}

/// Decodes a cursor and checks it belongs to this listing and this partition: a cursor
/// can never move a query into another tenant's keys.
pub fn decode(
    raw: Option<&str>,
    listing: &str,
    partition: &str,
    via_index: bool,
) -> Result<Option<Position>, Error> {
    let Some(raw) = raw else { return Ok(None) };
    let bad = || {
        Error::invalid(
            "cursor",
            "is not a cursor of this listing; pass next_cursor back unchanged",
        )
    };
    if raw.len() > 4096 {
        return Err(bad());
    }
    let bytes = URL_SAFE_NO_PAD.decode(raw).map_err(|_| bad())?;
    let body: CursorBody = serde_json::from_slice(&bytes).map_err(|_| bad())?;
    let pk_ok = if via_index {
        body.p.gsi1pk.as_deref() == Some(partition)
    } else {
        body.p.pk == partition
    };
    // A well-formed position only: keys the store would refuse are the client's error.
    let keys_ok = check_key(&body.p.pk, &body.p.sk).is_ok()
        && match (&body.p.gsi1pk, &body.p.gsi1sk) {
            (Some(g), Some(s)) => check_key(g, s).is_ok(),
            (None, None) => !via_index,
            _ => false,
        };
    if body.l != listing || !pk_ok || !keys_ok {
        return Err(bad());
    }
    Ok(Some(body.p))
}

/// One page of a partition's items under a sort-key prefix: the items and the cursor of
/// the next page.
pub async fn prefix_page(
    deps: &crate::Deps,
    listing: &str,
    pk: String,
    prefix: &str,
    limit: Option<&str>,
    cursor: Option<&str>,
) -> Result<(Vec<crate::ports::Item>, Option<String>), Error> {
    let limit = self::limit(limit)?;
    let start = decode(cursor, listing, &pk, false)?;
    // The position must lie inside this listing's range, or the store would start (or
    // refuse to start) outside it.
    if start.as_ref().is_some_and(|p| !p.sk.starts_with(prefix)) {
        return Err(Error::invalid(
            "cursor",
            "is not a cursor of this listing; pass next_cursor back unchanged",
        ));
    }
    let query =
        crate::ports::Query::partition(pk, crate::ports::SortRange::Prefix(prefix.into()), limit)
            .after(start);
    let p = deps.store.query(query).await?;
    Ok((p.items, p.next.map(|n| encode(listing, &n))))
}

/// Every item of a partition under a prefix, up to `cap`.
pub(crate) async fn all_under(
    deps: &crate::Deps,
    pk: String,
    prefix: &str,
    cap: usize,
) -> Result<Vec<crate::ports::Item>, Error> {
    let mut out = Vec::new();
    let mut after = None;
    loop {
        let q = crate::ports::Query::partition(
            pk.clone(),
            crate::ports::SortRange::Prefix(prefix.into()),
            100,
        )
        .after(after);
        let page = deps.store.query(q).await?;
        out.extend(page.items);
        match page.next {
            Some(n) if out.len() < cap => after = Some(n),
            _ => return Ok(out),
        }
    }
}

/// One page of a listing: `{"data": [...], "next_cursor": ...}` (`null` on the last page).
#[derive(Clone, Debug, Serialize)]
pub struct Page<T> {
    pub data: Vec<T>,
    pub next_cursor: Option<String>,
}

/// One page of a tenant-partition listing by sort-key prefix, each item rendered by
/// `view`.
pub async fn list_prefix<T>(
    deps: &crate::Deps,
    listing: &str,
    pk: String,
    prefix: &str,
    limit: Option<&str>,
    cursor: Option<&str>,
    view: impl Fn(&crate::ports::Item) -> Result<T, Error>,
) -> Result<Page<T>, Error> {
    let (items, next_cursor) = prefix_page(deps, listing, pk, prefix, limit, cursor).await?;
    let data = items.iter().map(view).collect::<Result<Vec<_>, _>>()?;
    Ok(Page { data, next_cursor })
}
