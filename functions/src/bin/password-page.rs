//! Lambda for `GET /t/{slug}/password`, the tenant's branded page to set a password from a link (public).

functions::lambda_main!(PASSWORD_PAGE);
