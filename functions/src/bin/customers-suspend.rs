//! Lambda for `POST /v1/customers/{customer_id}/suspend`.

functions::lambda_main!(CUSTOMERS_SUSPEND);
