//! Lambda for `GET /v1/operator-keys`.

functions::lambda_main!(OPERATOR_KEYS_LIST);
