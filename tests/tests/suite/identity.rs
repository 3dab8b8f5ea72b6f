//! The identity port's contract, run on both adapters:
//!
//! - embedded: logins in redb with argon2id hashes, tokens from the local issuer;
//! - Cognito: the real AWS SDK against moto's server (`scripts/test` sets
//!   `AWS_ENDPOINT_URL`), tokens verified with the keys moto publishes per pool.
//!
//! Tokens either adapter issues verify with the same `Verifier`.

use std::sync::Arc;
use tenantry::model::ids::TenantId;

use tenantry::adapters::aws::{CognitoIdentity, HttpJwks};
use tenantry::adapters::embedded::EmbeddedStore;
use tenantry::ports::{Identity, IdentityError, NewLogin, Pool};
use tenantry::service::tokens::{Issuer, Realm, Verifier};

const ADA: &str = "ada@acme.example.com";
const PASSWORD: &str = "Sup3r$ecret!";

fn trusted(pool: &Pool, tenant: &TenantId) -> Issuer {
    Issuer {
        iss: pool.issuer.clone(),
        audience: pool.client_id.clone(),
        realm: Realm::Customers {
            tenant_id: tenant.clone(),
        },
    }
}

fn login(email: &str, subject: &str, password: Option<&str>) -> NewLogin {
    NewLogin {
        username: email.to_owned(),
        subject: subject.to_owned(),
        password: password.map(str::to_owned),
    }
}

/// Tenant ids unique to this run: moto keeps its pools for the life of the server.
fn tenants() -> (TenantId, TenantId) {
    (TenantId::generate(), TenantId::generate())
}

async fn a_tenants_pool_is_created_once(idp: &dyn Identity) {
    let (a, b) = tenants();
    let first = idp.ensure_customer_pool(&a).await.expect("pool");
    let again = idp.ensure_customer_pool(&a).await.expect("pool again");
    assert_eq!(
        first, again,
        "provisioning again finds the same pool and client"
    );
    let other = idp.ensure_customer_pool(&b).await.expect("another pool");
    assert_ne!(first.id, other.id);
    assert_ne!(first.issuer, other.issuer);
    assert_ne!(first.client_id, other.client_id);
}

async fn a_user_signs_in_and_its_tokens_verify_as_its_tenants(
    idp: &dyn Identity,
    verifier: &Verifier,
) {
    let (a, b) = tenants();
    let pool = idp.ensure_customer_pool(&a).await.expect("pool");
    let subject = idp
        .create_user(&pool, &login(ADA, "usr_1", Some(PASSWORD)))
        .await
        .expect("created");
    let tokens = idp
        .authenticate(&pool, ADA, PASSWORD)
        .await
        .expect("signed in");
    assert!(tokens.expires_in > 0);
    for token in [&tokens.id_token, &tokens.access_token] {
        let v = verifier
            .verify(token, &trusted(&pool, &a))
            .await
            .expect("verifies");
        assert_eq!(v.subject, subject, "the subject create_user returned");
        assert_eq!(
            v.realm,
            Realm::Customers {
                tenant_id: a.clone()
            }
        );
    }
    // The same token is not accepted as another tenant's.
    let pool_b = idp.ensure_customer_pool(&b).await.expect("pool b");
    let r = verifier
        .verify(&tokens.id_token, &trusted(&pool_b, &b))
        .await;
    assert!(r.is_err(), "{r:?}");
}

async fn wrong_password_unknown_disabled_and_passwordless_get_one_answer(idp: &dyn Identity) {
    let (a, _) = tenants();
    let pool = idp.ensure_customer_pool(&a).await.expect("pool");
    idp.create_user(&pool, &login(ADA, "usr_1", Some(PASSWORD)))
        .await
        .expect("created");
    idp.create_user(&pool, &login("invited@acme.example.com", "usr_2", None))
        .await
        .expect("created without a password");
    let answers = [
        idp.authenticate(&pool, ADA, "Wr0ng$password").await,
        idp.authenticate(&pool, "nobody@acme.example.com", PASSWORD)
            .await,
        idp.authenticate(&pool, "invited@acme.example.com", PASSWORD)
            .await,
        idp.authenticate(&pool, "invited@acme.example.com", "")
            .await,
    ];
    for a in &answers {
        assert!(matches!(a, Err(IdentityError::InvalidCredentials)), "{a:?}");
    }

    idp.set_enabled(&pool, ADA, false).await.expect("disabled");
    let r = idp.authenticate(&pool, ADA, PASSWORD).await;
    assert!(matches!(r, Err(IdentityError::InvalidCredentials)), "{r:?}");
    idp.set_enabled(&pool, ADA, true).await.expect("enabled");
    idp.authenticate(&pool, ADA, PASSWORD)
        .await
        .expect("signs in again");
}

async fn passwords_change_users_are_unique_and_deletion_ends_the_login(idp: &dyn Identity) {
    let (a, b) = tenants();
    let pool = idp.ensure_customer_pool(&a).await.expect("pool");
    let ada = login(ADA, "usr_1", Some(PASSWORD));
    idp.create_user(&pool, &ada).await.expect("created");
    let again = idp.create_user(&pool, &ada).await;
    assert!(matches!(again, Err(IdentityError::UserExists)), "{again:?}");

    idp.set_password(&pool, ADA, "N3w&better!")
        .await
        .expect("changed");
    let old = idp.authenticate(&pool, ADA, PASSWORD).await;
    assert!(
        matches!(old, Err(IdentityError::InvalidCredentials)),
        "{old:?}"
    );
    idp.authenticate(&pool, ADA, "N3w&better!")
        .await
        .expect("the new password works");

    // Another tenant's pool has no such login.
    let pool_b = idp.ensure_customer_pool(&b).await.expect("pool b");
    let r = idp.authenticate(&pool_b, ADA, "N3w&better!").await;
    assert!(matches!(r, Err(IdentityError::InvalidCredentials)), "{r:?}");
    let r = idp.set_enabled(&pool_b, ADA, false).await;
    assert!(matches!(r, Err(IdentityError::NoSuchUser)), "{r:?}");

    idp.delete_user(&pool, ADA).await.expect("deleted");
    let r = idp.authenticate(&pool, ADA, "N3w&better!").await;
    assert!(matches!(r, Err(IdentityError::InvalidCredentials)), "{r:?}");
    let r = idp.delete_user(&pool, ADA).await;
    assert!(matches!(r, Err(IdentityError::NoSuchUser)), "{r:?}");
}

async fn an_email_change_renames_the_login_and_keeps_its_password_and_subject(
    idp: &dyn Identity,
    verifier: &Verifier,
) {
    let (a, _) = tenants();
    let pool = idp.ensure_customer_pool(&a).await.expect("pool");
    let old = "grace.old@acme.example.com";
    let new = "grace.new@acme.example.com";
    let taken = "taken@acme.example.com";
    let sub = idp
        .create_user(&pool, &login(old, "usr_g", Some(PASSWORD)))
        .await
        .expect("created");
    idp.create_user(&pool, &login(taken, "usr_t", Some(PASSWORD)))
        .await
        .expect("created");
    let r = idp.change_email(&pool, old, taken).await;
    assert!(matches!(r, Err(IdentityError::UserExists)), "{r:?}");
    idp.change_email(&pool, old, new).await.expect("renamed");
    let r = idp.authenticate(&pool, old, PASSWORD).await;
    assert!(matches!(r, Err(IdentityError::InvalidCredentials)), "{r:?}");
    let tokens = idp
        .authenticate(&pool, new, PASSWORD)
        .await
        .expect("the new email signs in with the old password");
    let v = verifier
        .verify(&tokens.id_token, &trusted(&pool, &a))
        .await
        .expect("verifies");
    assert_eq!(v.subject, sub, "the same login");
    assert_eq!(v.email.as_deref(), Some(new));
    let r = idp.change_email(&pool, old, "x@acme.example.com").await;
    assert!(matches!(r, Err(IdentityError::NoSuchUser)), "{r:?}");
}

/// One staff pool for every tenant, its logins named by member id (no email), its
/// tokens verifying as the staff realm's and as no tenant's.
async fn staff_logins_are_named_by_member_id_in_one_shared_pool(
    idp: &dyn Identity,
    verifier: &Verifier,
) {
    let staff = idp.staff_pool().await.expect("the staff pool");
    assert_eq!(staff, idp.staff_pool().await.expect("again"), "one pool");
    let (a, _) = tenants();
    let customers = idp.ensure_customer_pool(&a).await.expect("a customer pool");
    assert_ne!(staff.id, customers.id);
    assert_ne!(staff.issuer, customers.issuer);
    let member = format!("mem_{}", uuid::Uuid::new_v4().simple());
    let subject = idp
        .create_user(&staff, &login(&member, &member, Some(PASSWORD)))
        .await
        .expect("a staff login");
    let tokens = idp
        .authenticate(&staff, &member, PASSWORD)
        .await
        .expect("signed in by member id");
    let issuer = Issuer {
        iss: staff.issuer.clone(),
        audience: staff.client_id.clone(),
        realm: Realm::Staff,
    };
    let v = verifier
        .verify(&tokens.access_token, &issuer)
        .await
        .expect("verifies");
    assert_eq!(
        (v.subject.as_str(), v.realm),
        (subject.as_str(), Realm::Staff)
    );
    let r = verifier
        .verify(&tokens.access_token, &trusted(&customers, &a))
        .await;
    assert!(r.is_err(), "a staff token is no customer pool's: {r:?}");
    assert!(matches!(
        idp.authenticate(&staff, &member, "Wrong$ecret-1").await,
        Err(IdentityError::InvalidCredentials)
    ));
    idp.delete_user(&staff, &member).await.expect("deleted");
    assert!(matches!(
        idp.authenticate(&staff, &member, PASSWORD).await,
        Err(IdentityError::InvalidCredentials)
    ));
}

async fn run_all(idp: &dyn Identity, verifier: &Verifier) {
    staff_logins_are_named_by_member_id_in_one_shared_pool(idp, verifier).await;
    an_email_change_renames_the_login_and_keeps_its_password_and_subject(idp, verifier).await;
    a_tenants_pool_is_created_once(idp).await;
    a_user_signs_in_and_its_tokens_verify_as_its_tenants(idp, verifier).await;
    wrong_password_unknown_disabled_and_passwordless_get_one_answer(idp).await;
    passwords_change_users_are_unique_and_deletion_ends_the_login(idp).await;
}

#[tokio::test]
async fn the_embedded_identity_meets_the_contract() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let store = Arc::new(EmbeddedStore::open(dir.path().join("i.redb")).expect("a store"));
    let (idp, verifier) = tenantry_tests::app::embedded_identity(store, dir.path());
    run_all(&idp, &verifier).await;
}

/// Against moto's server (`AWS_ENDPOINT_URL`); skipped without it, except in CI.
#[tokio::test]
async fn the_cognito_identity_meets_the_contract() {
    if std::env::var("AWS_ENDPOINT_URL").map_or(true, |v| v.trim().is_empty()) {
        assert!(
            std::env::var("CI").is_err(),
            "CI is set but AWS_ENDPOINT_URL is not: run the tests through scripts/test"
        );
        eprintln!("skipped: run scripts/test to run the Cognito contract against moto");
        return;
    }
    let idp = CognitoIdentity::from_env().await;
    run_all(&idp, &Verifier::new(Arc::new(HttpJwks::from_env()))).await;
}

/// The pool the Cognito adapter creates has the tenancy core's password policy, email as
/// the username, and no self-service sign-up; users get no email from Cognito.
#[tokio::test]
async fn cognito_pools_have_the_password_policy_and_email_usernames() {
    if std::env::var("AWS_ENDPOINT_URL").map_or(true, |v| v.trim().is_empty()) {
        assert!(
            std::env::var("CI").is_err(),
            "CI is set but AWS_ENDPOINT_URL is not: run the tests through scripts/test"
        );
        return;
    }
    let idp = CognitoIdentity::from_env().await;
    let (a, _) = tenants();
    let pool = idp.ensure_customer_pool(&a).await.expect("pool");
    let client =
        aws_sdk_cognitoidentityprovider::Client::new(&tenantry::adapters::aws::sdk_config().await);
    let described = client
        .describe_user_pool()
        .user_pool_id(&pool.id)
        .send()
        .await
        .expect("describe");
    let p = described.user_pool().expect("a pool");
    assert!(
        p.name()
            .is_some_and(|n| n.ends_with(&format!("-customers-{a}"))),
        "{:?}",
        p.name()
    );
    let policy = p
        .policies()
        .and_then(|x| x.password_policy())
        .expect("a password policy");
    assert_eq!(policy.minimum_length(), Some(8));
    assert_eq!(
        (
            policy.require_uppercase(),
            policy.require_lowercase(),
            policy.require_numbers(),
            policy.require_symbols()
        ),
        (true, true, true, true)
    );
    assert!(
        p.username_attributes()
            .iter()
            .any(|u| u.as_str() == "email")
    );
    assert_eq!(
        p.admin_create_user_config()
            .map(|c| c.allow_admin_create_user_only()),
        Some(true)
    );
    // Passwords are checked only through the IAM-gated admin flow: the client id, which
    // every token shows, allows no password flow of its own.
    let web = client
        .describe_user_pool_client()
        .user_pool_id(&pool.id)
        .client_id(&pool.client_id)
        .send()
        .await
        .expect("describe the client");
    let flows: Vec<&str> = web
        .user_pool_client()
        .map(|c| c.explicit_auth_flows())
        .unwrap_or_default()
        .iter()
        .map(|f| f.as_str())
        .collect();
    assert!(
        flows.contains(&"ALLOW_ADMIN_USER_PASSWORD_AUTH"),
        "{flows:?}"
    );
    assert!(
        !flows
            .iter()
            .any(|f| *f == "ALLOW_USER_PASSWORD_AUTH" || *f == "ALLOW_USER_SRP_AUTH"),
        "{flows:?}"
    );
    // A user cannot change its own email with its token, around the verified change.
    let writable: Vec<&str> = web
        .user_pool_client()
        .map(|c| c.write_attributes())
        .unwrap_or_default()
        .iter()
        .map(String::as_str)
        .collect();
    assert!(!writable.is_empty(), "WriteAttributes is set");
    assert!(
        !writable.iter().any(|a| a.contains("email")),
        "{writable:?}"
    );
    // A password the policy refuses is WeakPassword, and leaves no half-made login.
    let weak = idp
        .create_user(&pool, &login(ADA, "usr_1", Some("password")))
        .await;
    assert!(matches!(weak, Err(IdentityError::WeakPassword)), "{weak:?}");
    idp.create_user(&pool, &login(ADA, "usr_1", Some(PASSWORD)))
        .await
        .expect("the same email with a good password");
}
