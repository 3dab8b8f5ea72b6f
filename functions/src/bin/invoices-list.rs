//! Lambda for `GET /v1/invoices`.

functions::lambda_main!(INVOICES_LIST);
