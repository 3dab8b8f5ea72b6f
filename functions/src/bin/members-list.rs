//! Lambda for `GET /v1/members`.

functions::lambda_main!(MEMBERS_LIST);
