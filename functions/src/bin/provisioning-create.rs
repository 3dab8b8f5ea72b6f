//! Lambda for `POST /v1/provisioning`.

functions::lambda_main!(PROVISIONING_CREATE);
