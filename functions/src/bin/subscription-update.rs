//! Lambda for `PATCH /v1/customers/{customer_id}/subscription`.

functions::lambda_main!(SUBSCRIPTION_UPDATE);
