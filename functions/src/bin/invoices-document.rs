//! Lambda for `GET /v1/invoices/{invoice_id}/document`.

functions::lambda_main!(INVOICES_DOCUMENT);
