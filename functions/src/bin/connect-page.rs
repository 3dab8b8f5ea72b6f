//! Lambda for `GET /t/{slug}/connect/{token}`.

functions::lambda_main!(CONNECT_PAGE);
