//! Lambda for `GET /v1/me/invoices`.

functions::lambda_main!(ME_INVOICES);
