//! Lambda for `POST /v1/billable-metrics`.

functions::lambda_main!(METRICS_CREATE);
