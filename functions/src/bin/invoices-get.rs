//! Lambda for `GET /v1/invoices/{invoice_id}`.

functions::lambda_main!(INVOICES_GET);
