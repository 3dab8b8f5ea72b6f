//! Lambda for `POST /v1/invoices/{invoice_id}/approve`.

functions::lambda_main!(INVOICES_APPROVE);
