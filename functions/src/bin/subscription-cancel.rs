//! Lambda for `DELETE /v1/customers/{customer_id}/subscription`.

functions::lambda_main!(SUBSCRIPTION_CANCEL);
