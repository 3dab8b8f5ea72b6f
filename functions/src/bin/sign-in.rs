//! Lambda for `POST /t/{slug}/login` (public: no authorizer).

functions::lambda_main!(SIGN_IN);
