//! Lambda for `POST /t/{slug}/register`, a self-registration's first step: the emailed code (public).

functions::lambda_main!(REGISTER);
