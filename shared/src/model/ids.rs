//! Public ids: a type prefix and an opaque, time-ordered body (`cus_0193...`).

pub const TENANT: &str = "ten";
pub const MEMBER: &str = "mem";
pub const API_KEY: &str = "key";
pub const CUSTOMER: &str = "cus";
pub const USER: &str = "usr";
pub const EMAIL: &str = "eml";

pub fn new_id(prefix: &str) -> String {
    format!("{prefix}_{}", uuid::Uuid::now_v7().simple())
}

/// True when `id` has this prefix and a well-formed body. Anything else cannot exist,
/// so callers answer 404 without touching the store.
pub fn is_valid(prefix: &str, id: &str) -> bool {
    id.strip_prefix(prefix)
        .and_then(|rest| rest.strip_prefix('_'))
        .is_some_and(|body| {
            body.len() == 32
                && body
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        })
}
