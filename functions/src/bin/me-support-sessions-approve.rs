//! Lambda for `POST /v1/me/support-sessions/{session_id}/approve`.

functions::lambda_main!(ME_SUPPORT_SESSIONS_APPROVE);
