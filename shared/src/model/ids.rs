//! Public ids: a type prefix and an opaque, time-ordered body (`cus_0193...`), one type
//! each, so a customer id can never be passed where a user id is expected.
//!
//! An id from a request is parsed once, at the edge (`parse`): anything malformed cannot
//! exist, so it answers 404 without touching the store. An id read back from our own
//! records (the store, a key's sort key, the authorizer's verified context) is taken as
//! written (`from_record`, and serde).

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::Error;

macro_rules! ids {
    ($($(#[$meta:meta])* $name:ident = $prefix:literal, $what:literal;)*) => {$(
        $(#[$meta])*
        #[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// The type prefix before the `_`.
            pub const PREFIX: &'static str = $prefix;

            /// A fresh id: time-ordered, never seen before.
            pub fn generate() -> Self {
                Self(format!("{}_{}", $prefix, uuid::Uuid::now_v7().simple()))
            }

            /// An id from a request; a malformed one is a 404 (it cannot exist).
            pub fn parse(s: &str) -> Result<Self, Error> {
                if is_valid($prefix, s) {
                    Ok(Self(s.to_owned()))
                } else {
                    Err(Error::NotFound($what))
                }
            }

            /// An id read back from our own records, as written.
            pub fn from_record(s: impl Into<String>) -> Self {
                Self(s.into())
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        /// A string of this kind's shape, in the API document.
        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .pattern(Some(concat!("^", $prefix, "_[0-9a-f]{32}$")))
                    .description(Some(concat!("The id of a ", $what, ".")))
                    .examples([concat!($prefix, "_0197b2a7f3b27e5d8c6f708192a3b4c5")])
                    .into()
            }
        }

        impl utoipa::ToSchema for $name {}

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }
    )*};
}

ids! {
    /// A partner or reseller.
    TenantId = "ten", "tenant";
    /// One of a tenant's staff.
    MemberId = "mem", "member";
    /// A tenant's or the operator's API key.
    ApiKeyId = "key", "api key";
    /// One of a tenant's end-customers.
    CustomerId = "cus", "customer";
    /// A user of a customer (its admin included).
    UserId = "usr", "user";
    /// An email in a tenant's outbox.
    EmailId = "eml", "email";
    /// A customer's subscription to a plan.
    SubscriptionId = "sub", "subscription";
    /// An invoice.
    InvoiceId = "inv", "invoice";
    /// A credit note: a numbered correction of a final invoice.
    CreditNoteId = "cn", "credit note";
    /// A tenant's inbound webhook endpoint (`/hooks/v1/{id}`).
    InboundEndpointId = "inb", "inbound endpoint";
    /// One provisioning request: from a signed webhook or the API.
    ProvisioningId = "prv", "provisioning request";
    /// A tenant's outbound webhook endpoint.
    WebhookEndpointId = "whe", "webhook endpoint";
    /// An event sent to a tenant's webhook endpoints (its `webhook-id`).
    WebhookMessageId = "msg", "webhook message";
    /// A customer's connection to one of its own systems.
    ConnectionId = "con", "connection";
    /// An event of the audit log.
    AuditEventId = "aud", "audit event";
    /// A support session: staff acting inside one customer.
    SupportSessionId = "sps", "support session";
    /// A customer user's request for help.
    SupportRequestId = "srq", "support request";
}

/// True when `id` has this prefix and a well-formed body.
fn is_valid(prefix: &str, id: &str) -> bool {
    id.strip_prefix(prefix)
        .and_then(|rest| rest.strip_prefix('_'))
        .is_some_and(|body| {
            body.len() == 32
                && body
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_parses_only_with_its_own_prefix_and_a_well_formed_body() {
        let c = CustomerId::generate();
        assert_eq!(CustomerId::parse(c.as_str()).unwrap(), c);
        assert!(UserId::parse(c.as_str()).is_err());
        let body = &c.as_str()[4..];
        for bad in [
            "cus_".to_string(),
            format!("cus_{}", &body[1..]),
            format!("cus_{}", body.to_uppercase()),
            format!("cus-{body}"),
            format!("cus_{body}#"),
        ] {
            assert!(
                matches!(CustomerId::parse(&bad), Err(Error::NotFound("customer"))),
                "{bad}"
            );
        }
    }

    #[test]
    fn ids_serialize_as_plain_strings() {
        let t = TenantId::from_record("ten_x");
        assert_eq!(serde_json::to_string(&t).unwrap(), "\"ten_x\"");
        let back: TenantId = serde_json::from_str("\"ten_x\"").unwrap();
        assert_eq!(back, t);
    }
}
