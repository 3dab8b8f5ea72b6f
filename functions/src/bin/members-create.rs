//! Lambda for `POST /v1/members`.

functions::lambda_main!(MEMBERS_CREATE);
