//! Lambda authorizer of the HTTP API: the bearer credential to a principal, once per
//! request (cached by API Gateway for the TTL of the template).

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    functions::lambda::serve_authorizer().await
}
