//! Lambda for `GET /v1/provisioning/{provisioning_id}`.

functions::lambda_main!(PROVISIONING_GET);
