//! Lambda for `POST /t/{slug}/email-change`, an email change confirmed from its link (public).

functions::lambda_main!(EMAIL_CHANGE_CONFIRM);
