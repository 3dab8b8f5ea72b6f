//! Lambda for `GET /t/{slug}/register`, the tenant's branded registration page (public).

functions::lambda_main!(REGISTER_PAGE);
