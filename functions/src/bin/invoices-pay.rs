//! Lambda for `POST /v1/invoices/{invoice_id}/payments`.

functions::lambda_main!(INVOICES_PAY);
