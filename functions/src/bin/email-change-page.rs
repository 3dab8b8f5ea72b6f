//! Lambda for `GET /t/{slug}/email-change`, the tenant's branded page to confirm a new email (public).

functions::lambda_main!(EMAIL_CHANGE_PAGE);
