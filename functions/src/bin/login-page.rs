//! Lambda for `GET /t/{slug}/login`, the tenant's branded login page (public).

functions::lambda_main!(LOGIN_PAGE);
