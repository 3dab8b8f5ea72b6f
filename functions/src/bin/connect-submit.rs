//! Lambda for `POST /t/{slug}/connect/{token}`.

functions::lambda_main!(CONNECT_SUBMIT);
