//! Lambda for `POST /t/{slug}/password`, a password set from an invitation or reset link (public).

functions::lambda_main!(PASSWORD_SET);
