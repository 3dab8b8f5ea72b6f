//! Lambda for `GET /v1/billable-metrics`.

functions::lambda_main!(METRICS_LIST);
