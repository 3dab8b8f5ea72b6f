//! Lambda for `POST /v1/me/support-sessions/{session_id}/decline`.

functions::lambda_main!(ME_SUPPORT_SESSIONS_DECLINE);
