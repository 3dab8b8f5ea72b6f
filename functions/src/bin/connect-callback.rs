//! Lambda for `GET /t/{slug}/connect/callback`.

functions::lambda_main!(CONNECT_CALLBACK);
