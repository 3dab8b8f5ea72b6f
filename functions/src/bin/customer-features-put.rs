//! Lambda for `PUT /v1/customers/{customer_id}/features`.

functions::lambda_main!(CUSTOMER_FEATURES_PUT);
