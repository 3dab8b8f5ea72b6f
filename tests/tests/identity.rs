//! The identity port's contract, on the embedded adapter (logins in redb, tokens from
//! the local issuer). Tokens it issues verify with the same verifier Cognito's will.

use std::sync::Arc;

use tenantry::adapters::embedded::{EmbeddedIdentity, EmbeddedStore, LocalIssuer};
use tenantry::ports::{Identity, IdentityError, NewLogin, Pool};
use tenantry::service::tokens::{Issuer, Realm, Verifier};

struct Setup {
    _dir: tempfile::TempDir,
    idp: EmbeddedIdentity,
    verifier: Verifier,
}

fn setup() -> Setup {
    let dir = tempfile::tempdir().expect("a temp dir");
    let store = Arc::new(EmbeddedStore::open(dir.path().join("i.redb")).expect("a store"));
    let issuer = Arc::new(
        LocalIssuer::open(
            dir.path().join("identity"),
            "http://127.0.0.1:3000/identity",
        )
        .expect("issuer"),
    );
    Setup {
        idp: EmbeddedIdentity::new(store, issuer.clone()),
        verifier: Verifier::new(issuer),
        _dir: dir,
    }
}

fn trusted(pool: &Pool, tenant: &str) -> Issuer {
    Issuer {
        iss: pool.issuer.clone(),
        audience: pool.client_id.clone(),
        realm: Realm::Customers {
            tenant_id: tenant.to_owned(),
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

#[tokio::test]
async fn a_tenants_pool_is_created_once() {
    let s = setup();
    let first = s.idp.ensure_customer_pool("ten_a").await.expect("pool");
    let again = s
        .idp
        .ensure_customer_pool("ten_a")
        .await
        .expect("pool again");
    assert_eq!(first, again);
    let other = s
        .idp
        .ensure_customer_pool("ten_b")
        .await
        .expect("another pool");
    assert_ne!(first.issuer, other.issuer);
    assert_ne!(first.client_id, other.client_id);
}

#[tokio::test]
async fn a_user_signs_in_and_its_tokens_verify_as_its_tenants() {
    let s = setup();
    let pool = s.idp.ensure_customer_pool("ten_a").await.expect("pool");
    s.idp
        .create_user(
            &pool,
            &login("ada@acme.example.com", "usr_1", Some("Sup3r$ecret!")),
        )
        .await
        .expect("created");
    let tokens = s
        .idp
        .authenticate(&pool, "ada@acme.example.com", "Sup3r$ecret!")
        .await
        .expect("signed in");
    for token in [&tokens.id_token, &tokens.access_token] {
        let v = s
            .verifier
            .verify(token, &trusted(&pool, "ten_a"))
            .await
            .expect("verifies");
        assert_eq!(v.subject, "usr_1");
        assert_eq!(
            v.realm,
            Realm::Customers {
                tenant_id: "ten_a".into()
            }
        );
    }
    // The same token is not accepted as another tenant's.
    let pool_b = s.idp.ensure_customer_pool("ten_b").await.expect("pool b");
    let r = s
        .verifier
        .verify(&tokens.id_token, &trusted(&pool_b, "ten_b"))
        .await;
    assert!(r.is_err(), "{r:?}");
}

#[tokio::test]
async fn wrong_password_unknown_user_disabled_and_passwordless_get_one_answer() {
    let s = setup();
    let pool = s.idp.ensure_customer_pool("ten_a").await.expect("pool");
    s.idp
        .create_user(
            &pool,
            &login("ada@acme.example.com", "usr_1", Some("Sup3r$ecret!")),
        )
        .await
        .expect("created");
    s.idp
        .create_user(&pool, &login("invited@acme.example.com", "usr_2", None))
        .await
        .expect("created without a password");
    let answers = [
        s.idp
            .authenticate(&pool, "ada@acme.example.com", "wrong")
            .await,
        s.idp
            .authenticate(&pool, "nobody@acme.example.com", "Sup3r$ecret!")
            .await,
        s.idp
            .authenticate(&pool, "invited@acme.example.com", "")
            .await,
    ];
    for a in &answers {
        assert!(matches!(a, Err(IdentityError::InvalidCredentials)), "{a:?}");
    }

    s.idp
        .set_enabled(&pool, "ada@acme.example.com", false)
        .await
        .expect("disabled");
    let r = s
        .idp
        .authenticate(&pool, "ada@acme.example.com", "Sup3r$ecret!")
        .await;
    assert!(matches!(r, Err(IdentityError::InvalidCredentials)), "{r:?}");
    s.idp
        .set_enabled(&pool, "ada@acme.example.com", true)
        .await
        .expect("enabled");
    s.idp
        .authenticate(&pool, "ada@acme.example.com", "Sup3r$ecret!")
        .await
        .expect("signs in again");
}

#[tokio::test]
async fn passwords_change_users_are_unique_and_deletion_ends_the_login() {
    let s = setup();
    let pool = s.idp.ensure_customer_pool("ten_a").await.expect("pool");
    let ada = login("ada@acme.example.com", "usr_1", Some("Sup3r$ecret!"));
    s.idp.create_user(&pool, &ada).await.expect("created");
    let again = s.idp.create_user(&pool, &ada).await;
    assert!(matches!(again, Err(IdentityError::UserExists)), "{again:?}");

    s.idp
        .set_password(&pool, "ada@acme.example.com", "N3w&better!")
        .await
        .expect("changed");
    let old = s
        .idp
        .authenticate(&pool, "ada@acme.example.com", "Sup3r$ecret!")
        .await;
    assert!(
        matches!(old, Err(IdentityError::InvalidCredentials)),
        "{old:?}"
    );
    s.idp
        .authenticate(&pool, "ada@acme.example.com", "N3w&better!")
        .await
        .expect("the new password works");

    // Another tenant's pool has no such login.
    let pool_b = s.idp.ensure_customer_pool("ten_b").await.expect("pool b");
    let r = s
        .idp
        .authenticate(&pool_b, "ada@acme.example.com", "N3w&better!")
        .await;
    assert!(matches!(r, Err(IdentityError::InvalidCredentials)), "{r:?}");
    let r = s
        .idp
        .set_enabled(&pool_b, "ada@acme.example.com", false)
        .await;
    assert!(matches!(r, Err(IdentityError::NoSuchUser)), "{r:?}");

    s.idp
        .delete_user(&pool, "ada@acme.example.com")
        .await
        .expect("deleted");
    let r = s
        .idp
        .authenticate(&pool, "ada@acme.example.com", "N3w&better!")
        .await;
    assert!(matches!(r, Err(IdentityError::InvalidCredentials)), "{r:?}");
    let r = s.idp.delete_user(&pool, "ada@acme.example.com").await;
    assert!(matches!(r, Err(IdentityError::NoSuchUser)), "{r:?}");
}
