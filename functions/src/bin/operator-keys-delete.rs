//! Lambda for `DELETE /v1/operator-keys/{key_id}`.

functions::lambda_main!(OPERATOR_KEYS_DELETE);
