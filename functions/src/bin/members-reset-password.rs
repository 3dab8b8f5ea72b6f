//! Lambda for `POST /v1/members/{member_id}/reset-password`.

functions::lambda_main!(MEMBERS_RESET_PASSWORD);
