//! Lambda for `POST /v1/invoices/{invoice_id}/void`.

functions::lambda_main!(INVOICES_VOID);
