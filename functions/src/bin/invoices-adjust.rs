//! Lambda for `POST /v1/invoices/{invoice_id}/adjustments`.

functions::lambda_main!(INVOICES_ADJUST);
