//! Lambda for `GET /v1/escalations`.

functions::lambda_main!(ESCALATIONS_LIST);
