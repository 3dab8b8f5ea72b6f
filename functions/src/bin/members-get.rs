//! Lambda for `GET /v1/members/{member_id}`.

functions::lambda_main!(MEMBERS_GET);
