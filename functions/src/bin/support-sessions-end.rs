//! Lambda for `POST /v1/support-sessions/{session_id}/end`.

functions::lambda_main!(SUPPORT_SESSIONS_END);
