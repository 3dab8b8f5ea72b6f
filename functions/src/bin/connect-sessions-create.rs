//! Lambda for `POST /v1/connect-sessions`.

functions::lambda_main!(CONNECT_SESSIONS_CREATE);
