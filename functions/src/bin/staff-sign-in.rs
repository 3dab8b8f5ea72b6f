//! Lambda for `POST /t/{slug}/staff/login` (public: no authorizer).

functions::lambda_main!(STAFF_SIGN_IN);
