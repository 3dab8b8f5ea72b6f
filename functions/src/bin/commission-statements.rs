//! Lambda for `GET /v1/commission-statements`.

functions::lambda_main!(COMMISSION_STATEMENTS);
