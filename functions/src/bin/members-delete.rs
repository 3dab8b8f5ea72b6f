//! Lambda for `DELETE /v1/members/{member_id}`.

functions::lambda_main!(MEMBERS_DELETE);
