//! Lambda for `GET /v1/api-keys`.

functions::lambda_main!(API_KEYS_LIST);
