//! Lambda for `DELETE /v1/api-keys/{key_id}`.

functions::lambda_main!(API_KEYS_DELETE);
