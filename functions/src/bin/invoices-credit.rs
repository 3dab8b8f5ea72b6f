//! Lambda for `POST /v1/invoices/{invoice_id}/credit-notes`.

functions::lambda_main!(INVOICES_CREDIT);
