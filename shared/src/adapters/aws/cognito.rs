//! Cognito adapter of the identity port: one user pool per tenant for its customers,
//! each with one public app client (`web`) for the tenant's login pages and API clients.
//!
//! Pools are found by name (`<prefix>-customers-<tenant_id>`), so provisioning that
//! stopped half-way (pool created, client not; or the caller died before recording the
//! pool) resumes with the same pool instead of making a second one. Users are created
//! with `MessageAction=SUPPRESS`: Tenantry's own emails go out through the outbox, never
//! Cognito's.

use async_trait::async_trait;
use aws_sdk_cognitoidentityprovider::Client;
use aws_sdk_cognitoidentityprovider::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_cognitoidentityprovider::primitives::DateTime;
use aws_sdk_cognitoidentityprovider::types::{
    AccountRecoverySettingType, AdminCreateUserConfigType, AttributeType, AuthFlowType,
    ExplicitAuthFlowsType, MessageActionType, PasswordPolicyType, PreventUserExistenceErrorTypes,
    RecoveryOptionNameType, RecoveryOptionType, UserPoolPolicyType, UsernameAttributeType,
    UsernameConfigurationType, VerifiedAttributeType,
};

use crate::model::fields;
use crate::model::ids::TenantId;
use crate::ports::{Identity, IdentityError, NewLogin, Pool, Tokens};

/// The name of the app client every customer pool gets.
const CLIENT_NAME: &str = "web";

pub struct CognitoIdentity {
    client: Client,
    /// Pool names start with it (`tenantry-<stage>`), so stages share an account safely.
    prefix: String,
    region: String,
    /// The staff pool, once known.
    staff: tokio::sync::OnceCell<Pool>,
}

/// Which kind of pool to create.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A tenant's customers: email is the username.
    Customers,
    /// Every tenant's staff: member ids are the usernames (one login per membership).
    Staff,
}

impl CognitoIdentity {
    pub fn new(client: Client, prefix: impl Into<String>) -> Self {
        let region = client
            .config()
            .region()
            .map(|r| r.to_string())
            .unwrap_or_else(|| "us-east-1".into());
        Self {
            client,
            prefix: prefix.into(),
            region,
            staff: tokio::sync::OnceCell::new(),
        }
    }

    /// With the ambient AWS configuration and the prefix of `USER_POOL_PREFIX`
    /// (default `tenantry`).
    pub async fn from_env() -> Self {
        Self::from_config(&super::sdk_config().await)
    }

    /// With this AWS configuration and the prefix of `USER_POOL_PREFIX`.
    pub fn from_config(config: &aws_config::SdkConfig) -> Self {
        let prefix = std::env::var("USER_POOL_PREFIX")
            .ok()
            .filter(|p| !p.is_empty())
            .unwrap_or_else(|| "tenantry".into());
        Self::new(Client::new(config), prefix)
    }

    fn pool_name(&self, tenant_id: &TenantId) -> String {
        format!("{}-customers-{tenant_id}", self.prefix)
    }

    fn issuer(&self, pool_id: &str) -> String {
        format!(
            "https://cognito-idp.{}.amazonaws.com/{pool_id}",
            self.region
        )
    }

    /// The id of the pool named `name`; the oldest if a race ever made two.
    async fn find_pool(&self, name: &str) -> Result<Option<String>, IdentityError> {
        let mut found: Vec<(Option<DateTime>, String)> = Vec::new();
        let mut next = None;
        loop {
            let page = self
                .client
                .list_user_pools()
                .max_results(60)
                .set_next_token(next)
                .send()
                .await
                .map_err(unavailable)?;
            for p in page.user_pools() {
                if p.name() == Some(name)
                    && let Some(id) = p.id()
                {
                    found.push((p.creation_date().copied(), id.to_owned()));
                }
            }
            match page.next_token() {
                Some(t) if !t.is_empty() => next = Some(t.to_owned()),
                _ => break,
            }
        }
        found.sort_by(|a, b| {
            let key = |d: &Option<DateTime>| d.map(|d| (d.secs(), d.subsec_nanos()));
            key(&a.0).cmp(&key(&b.0)).then(a.1.cmp(&b.1))
        });
        Ok(found.into_iter().next().map(|(_, id)| id))
    }

    /// Creates a pool: a tenant's customer pool (`tenant_id`), or the staff pool.
    async fn create_pool(&self, kind: Kind, name: &str) -> Result<String, IdentityError> {
        let password = PasswordPolicyType::builder()
            // The template's `StaffUserPool` says the same as fields::STAFF_PASSWORD_MIN.
            .minimum_length(if kind == Kind::Staff {
                fields::STAFF_PASSWORD_MIN
            } else {
                fields::PASSWORD_MIN
            } as i32)
            .require_uppercase(true)
            .require_lowercase(true)
            .require_numbers(true)
            .require_symbols(true)
            .temporary_password_validity_days(7)
            .build();
        let recovery = AccountRecoverySettingType::builder()
            .recovery_mechanisms(
                RecoveryOptionType::builder()
                    .name(RecoveryOptionNameType::VerifiedEmail)
                    .priority(1)
                    .build()
                    .map_err(unavailable)?,
            )
            .build();
        let mut create = self.client.create_user_pool().pool_name(name);
        if kind == Kind::Customers {
            create = create.username_attributes(UsernameAttributeType::Email);
        }
        let out = create
            .username_configuration(
                UsernameConfigurationType::builder()
                    .case_sensitive(false)
                    .build()
                    .map_err(unavailable)?,
            )
            .auto_verified_attributes(VerifiedAttributeType::Email)
            .admin_create_user_config(
                AdminCreateUserConfigType::builder()
                    .allow_admin_create_user_only(true)
                    .build(),
            )
            .policies(
                UserPoolPolicyType::builder()
                    .password_policy(password)
                    .build(),
            )
            .account_recovery_setting(recovery)
            .user_pool_tags("app", "tenantry")
            // IAM limits the functions' actions on customer pools to pools with the
            // stage's prefix tag (infra/template.yaml); the staff pool, which the
            // template makes in AWS, is named by its ARN there instead.
            .user_pool_tags(
                if kind == Kind::Staff {
                    "staff_pool"
                } else {
                    "pool_prefix"
                },
                &self.prefix,
            )
            .send()
            .await
            .map_err(unavailable)?;
        out.user_pool()
            .and_then(|p| p.id())
            .map(str::to_owned)
            .ok_or_else(|| unavailable(anyhow::anyhow!("CreateUserPool returned no pool id")))
    }

    /// The pool's `web` client, created when missing.
    async fn ensure_client(&self, pool_id: &str) -> Result<String, IdentityError> {
        let mut next = None;
        loop {
            let page = self
                .client
                .list_user_pool_clients()
                .user_pool_id(pool_id)
                .max_results(60)
                .set_next_token(next)
                .send()
                .await
                .map_err(unavailable)?;
            if let Some(id) = page
                .user_pool_clients()
                .iter()
                .filter(|c| c.client_name() == Some(CLIENT_NAME))
                .filter_map(|c| c.client_id())
                .min()
            {
                return Ok(id.to_owned());
            }
            match page.next_token() {
                Some(t) if !t.is_empty() => next = Some(t.to_owned()),
                _ => break,
            }
        }
        let out = self
            .client
            .create_user_pool_client()
            .user_pool_id(pool_id)
            .client_name(CLIENT_NAME)
            .generate_secret(false)
            // Passwords are checked only through AdminInitiateAuth, which IAM gates (the
            // sign-in function): a client id read from a token cannot be used to guess
            // passwords at Cognito directly, around the sign-in throttle.
            .explicit_auth_flows(ExplicitAuthFlowsType::AllowAdminUserPasswordAuth)
            .explicit_auth_flows(ExplicitAuthFlowsType::AllowRefreshTokenAuth)
            .prevent_user_existence_errors(PreventUserExistenceErrorTypes::Enabled)
            // What a user may change about itself with its own token (Cognito's public
            // UpdateUserAttributes): its names, never its email, which changes only
            // through the verified change (service::email_change).
            .write_attributes("given_name")
            .write_attributes("family_name")
            .send()
            .await
            .map_err(unavailable)?;
        out.user_pool_client()
            .and_then(|c| c.client_id())
            .map(str::to_owned)
            .ok_or_else(|| unavailable(anyhow::anyhow!("CreateUserPoolClient returned no id")))
    }
}

/// The error code of a service error (`UserNotFoundException`, ...), if it is one.
fn code<E: ProvideErrorMetadata, R>(e: &SdkError<E, R>) -> Option<&str> {
    e.as_service_error().and_then(ProvideErrorMetadata::code)
}

fn unavailable(e: impl Into<anyhow::Error>) -> IdentityError {
    IdentityError::Unavailable(e.into())
}

/// Errors of calls on one user: not found, a refused password, else unavailable.
/// A user attribute for Cognito's calls.
fn attribute(name: &str, value: &str) -> Result<AttributeType, IdentityError> {
    AttributeType::builder()
        .name(name)
        .value(value)
        .build()
        .map_err(unavailable)
}

fn user_error<E, R>(e: SdkError<E, R>) -> IdentityError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    match code(&e) {
        Some("UserNotFoundException") => IdentityError::NoSuchUser,
        Some("UsernameExistsException" | "AliasExistsException") => IdentityError::UserExists,
        Some("InvalidParameterException") => IdentityError::InvalidUsername,
        Some("InvalidPasswordException") => IdentityError::WeakPassword,
        _ => unavailable(e),
    }
}

#[async_trait]
impl Identity for CognitoIdentity {
    async fn ensure_customer_pool(&self, tenant_id: &TenantId) -> Result<Pool, IdentityError> {
        let name = self.pool_name(tenant_id);
        let id = match self.find_pool(&name).await? {
            Some(id) => id,
            None => self.create_pool(Kind::Customers, &name).await?,
        };
        let client_id = self.ensure_client(&id).await?;
        Ok(Pool {
            issuer: self.issuer(&id),
            id,
            client_id,
        })
    }

    async fn staff_pool(&self) -> Result<Pool, IdentityError> {
        self.staff
            .get_or_try_init(|| async {
                // In AWS the template makes the pool and its client and names them.
                let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
                if let (Some(id), Some(client_id)) =
                    (env("STAFF_USER_POOL_ID"), env("STAFF_USER_POOL_CLIENT_ID"))
                {
                    return Ok(Pool {
                        issuer: self.issuer(&id),
                        id,
                        client_id,
                    });
                }
                // Elsewhere (a test account, moto) it is found or made by name.
                let name = format!("{}-staff", self.prefix);
                let id = match self.find_pool(&name).await? {
                    Some(id) => id,
                    None => self.create_pool(Kind::Staff, &name).await?,
                };
                let client_id = self.ensure_client(&id).await?;
                Ok(Pool {
                    issuer: self.issuer(&id),
                    id,
                    client_id,
                })
            })
            .await
            .cloned()
    }

    async fn create_user(&self, pool: &Pool, login: &NewLogin) -> Result<String, IdentityError> {
        let mut create = self
            .client
            .admin_create_user()
            .user_pool_id(&pool.id)
            .username(&login.username)
            .message_action(MessageActionType::Suppress);
        // A customer pool's username is the email; a staff login's email is ours to
        // keep (on the member), so its pool holds none.
        if login.username.contains('@') {
            create = create
                .user_attributes(attribute("email", &login.username)?)
                .user_attributes(attribute("email_verified", "true")?);
        }
        let out = create.send().await.map_err(user_error)?;
        let sub = out
            .user()
            .map(|u| u.attributes())
            .unwrap_or_default()
            .iter()
            .find(|a| a.name() == "sub")
            .and_then(|a| a.value())
            .map(str::to_owned);
        let Some(sub) = sub else {
            return Err(unavailable(anyhow::anyhow!(
                "AdminCreateUser returned no sub"
            )));
        };
        if let Some(password) = &login.password
            && let Err(e) = self.set_password(pool, &login.username, password).await
        {
            // No half-made login: one without its password could never sign in, and
            // would make the retry fail with UserExists.
            if let Err(cleanup) = self.delete_user(pool, &login.username).await {
                tracing::warn!(error = %cleanup, "a login without its password was left behind");
            }
            return Err(e);
        }
        Ok(sub)
    }

    async fn set_enabled(
        &self,
        pool: &Pool,
        username: &str,
        enabled: bool,
    ) -> Result<(), IdentityError> {
        if enabled {
            self.client
                .admin_enable_user()
                .user_pool_id(&pool.id)
                .username(username)
                .send()
                .await
                .map(|_| ())
                .map_err(user_error)
        } else {
            self.client
                .admin_disable_user()
                .user_pool_id(&pool.id)
                .username(username)
                .send()
                .await
                .map(|_| ())
                .map_err(user_error)
        }
    }

    async fn set_password(
        &self,
        pool: &Pool,
        username: &str,
        password: &str,
    ) -> Result<(), IdentityError> {
        self.client
            .admin_set_user_password()
            .user_pool_id(&pool.id)
            .username(username)
            .password(password)
            .permanent(true)
            .send()
            .await
            .map(|_| ())
            .map_err(user_error)
    }

    async fn change_email(
        &self,
        pool: &Pool,
        username: &str,
        new_email: &str,
    ) -> Result<(), IdentityError> {
        // Email is the pool's username attribute: the login is found by its new email
        // from now on. Verified by us (the link we sent to it).
        self.client
            .admin_update_user_attributes()
            .user_pool_id(&pool.id)
            .username(username)
            .user_attributes(attribute("email", new_email)?)
            .user_attributes(attribute("email_verified", "true")?)
            .send()
            .await
            .map(|_| ())
            .map_err(user_error)
    }

    async fn delete_user(&self, pool: &Pool, username: &str) -> Result<(), IdentityError> {
        self.client
            .admin_delete_user()
            .user_pool_id(&pool.id)
            .username(username)
            .send()
            .await
            .map(|_| ())
            .map_err(user_error)
    }

    async fn authenticate(
        &self,
        pool: &Pool,
        username: &str,
        password: &str,
    ) -> Result<Tokens, IdentityError> {
        let result = self
            .client
            .admin_initiate_auth()
            .user_pool_id(&pool.id)
            .client_id(&pool.client_id)
            .auth_flow(AuthFlowType::AdminUserPasswordAuth)
            .auth_parameters("USERNAME", username)
            .auth_parameters("PASSWORD", password)
            .send()
            .await;
        let out = match result {
            Ok(out) => out,
            // Wrong password, unknown or disabled user, unconfirmed, reset required: one
            // answer (the client also has PreventUserExistenceErrors on).
            Err(e)
                if matches!(
                    code(&e),
                    Some(
                        "NotAuthorizedException"
                            | "UserNotFoundException"
                            | "UserNotConfirmedException"
                            | "PasswordResetRequiredException"
                            | "InvalidParameterException"
                    )
                ) =>
            {
                return Err(IdentityError::InvalidCredentials);
            }
            Err(e) => return Err(unavailable(e)),
        };
        // A challenge (a login still waiting for its first password) is no sign-in.
        let Some(auth) = out.authentication_result() else {
            return Err(IdentityError::InvalidCredentials);
        };
        match (auth.id_token(), auth.access_token()) {
            (Some(id), Some(access)) => Ok(Tokens {
                id_token: id.to_owned(),
                access_token: access.to_owned(),
                expires_in: u64::try_from(auth.expires_in()).unwrap_or(0),
            }),
            _ => Err(unavailable(anyhow::anyhow!(
                "InitiateAuth returned no tokens"
            ))),
        }
    }
}
