//! Lambda for `POST /t/{slug}/register/verify`, a self-registration's second step: the code, then the customer (public).

functions::lambda_main!(REGISTER_VERIFY);
