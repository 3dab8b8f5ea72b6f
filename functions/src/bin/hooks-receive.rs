//! Lambda for `POST /hooks/v1/{endpoint_id}`.

functions::lambda_main!(HOOKS_RECEIVE);
