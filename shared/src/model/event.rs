//! The events Tenantry sends to a tenant's webhook endpoints: their types, named once.
//! Each has a documented, versioned payload (the API document's `webhooks`); the
//! change that causes one writes it in its own transaction (`service::events::emit`).

/// Every event type an endpoint can ask for, as the wire names them.
pub const EVENT_TYPES: [&str; 18] = [
    "customer.created",
    "customer.updated",
    "customer.status_changed",
    "customer.deleted",
    "customer_user.created",
    "customer_user.removed",
    "subscription.created",
    "subscription.changed",
    "subscription.canceled",
    "invoice.drafted",
    "invoice.finalized",
    "invoice.paid",
    "invoice.overdue",
    "provisioning.succeeded",
    "provisioning.failed",
    "webhook.test",
    "connection.authorized",
    "connection.failed",
];

/// An event's type: the only way to name one in code, so a misspelt type cannot be sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventType {
    CustomerCreated,
    CustomerUpdated,
    CustomerStatusChanged,
    CustomerDeleted,
    CustomerUserCreated,
    CustomerUserRemoved,
    SubscriptionCreated,
    SubscriptionChanged,
    SubscriptionCanceled,
    InvoiceDrafted,
    InvoiceFinalized,
    InvoicePaid,
    InvoiceOverdue,
    ProvisioningSucceeded,
    ProvisioningFailed,
    WebhookTest,
    ConnectionAuthorized,
    ConnectionFailed,
}

impl EventType {
    /// In the order of [`EVENT_TYPES`].
    pub const ALL: [EventType; 18] = [
        Self::CustomerCreated,
        Self::CustomerUpdated,
        Self::CustomerStatusChanged,
        Self::CustomerDeleted,
        Self::CustomerUserCreated,
        Self::CustomerUserRemoved,
        Self::SubscriptionCreated,
        Self::SubscriptionChanged,
        Self::SubscriptionCanceled,
        Self::InvoiceDrafted,
        Self::InvoiceFinalized,
        Self::InvoicePaid,
        Self::InvoiceOverdue,
        Self::ProvisioningSucceeded,
        Self::ProvisioningFailed,
        Self::WebhookTest,
        Self::ConnectionAuthorized,
        Self::ConnectionFailed,
    ];

    pub fn as_str(self) -> &'static str {
        EVENT_TYPES[self as usize]
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

impl std::fmt::Display for EventType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_type_has_its_own_name_and_parses_back() {
        for (i, t) in EventType::ALL.into_iter().enumerate() {
            assert_eq!(t as usize, i, "ALL is in declaration order");
            assert_eq!(EventType::parse(t.as_str()), Some(t));
        }
        let mut names = EVENT_TYPES.to_vec();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), EVENT_TYPES.len());
        assert_eq!(EventType::parse("customer.create"), None);
    }
}
