//! Lambda for `GET /v1/customers/{customer_id}/entitlements`.

functions::lambda_main!(CUSTOMER_ENTITLEMENTS);
