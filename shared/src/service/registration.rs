//! Self-registration at a tenant's registration page (`/t/{slug}/register`), when the
//! operator switched it on in the tenant's branding.
//!
//! Two steps. [`start`]: company name, the registrant's name and email in; a six-digit
//! code goes to that email (an outbox email written in the same transaction as the
//! pending registration). [`verify`]: email, code and a password in; the code is checked
//! and the customer is created with the registrant as its admin, through the same
//! creation as `POST /v1/customers` (its audit event names the registrant as who acted).
//!
//! The code is stored hashed on the pending registration, which expires after
//! `CODE_MINUTES`. Each check counts an attempt first (under the item's version, so
//! concurrent guesses queue); after `MAX_CODE_ATTEMPTS` the registration is void and the
//! registrant asks for a new code, and wrong codes keep counting across new codes until a
//! registration lapses (`CODE_MINUTES` after its last code): at most `MAX_CODE_ATTEMPTS`
//! guesses per email per `CODE_MINUTES`. A new code for the same email can be asked for
//! once per `RESEND_SECONDS`. The plain code sits in the outbox email only until it is
//! sent. The code email carries nothing the registrant typed (no name): the form cannot
//! be used to send text to someone else's address.

use chrono::{DateTime, Duration, Utc};
use rand::Rng;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::audit::{self, Entry, Log};
use super::{customers, from_item, mail, tenants, to_data};
use crate::Deps;
use crate::access::TenantScope;
use crate::error::{Error, FieldError};
use crate::model::audit::Target;
use crate::model::branding::Branding;
use crate::model::customer::{AdminDraft, CompanyDraft, CustomerDraft};
use crate::model::fields;
use crate::model::ids::{CustomerId, TenantId};
use crate::ports::{Condition, Item, Key, StoreError, WriteOp};
use crate::store::keys;

/// How long a code is good for.
pub const CODE_MINUTES: i64 = 15;
/// Wrong codes that void a registration.
pub const MAX_CODE_ATTEMPTS: u32 = 5;
/// The shortest wait between two codes for one email.
pub const RESEND_SECONDS: i64 = 60;

/// `POST /t/{slug}/register`.
#[derive(Clone, Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Registration {
    pub company_name: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<String>,
}

/// `POST /t/{slug}/register/verify`.
#[derive(Clone, Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Verification {
    pub email: Option<String>,
    #[schema(value_type = Option<String>)]
    pub code: Option<SecretString>,
    #[schema(value_type = Option<String>)]
    pub password: Option<SecretString>,
}

/// A registration waiting for its code, as stored.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Pending {
    /// Its own id (`reg_…`), which its audit events name: its key is a hash of the
    /// email, which stays out of the log. Empty on records from before it.
    #[serde(default)]
    id: String,
    company_name: String,
    first_name: String,
    last_name: String,
    email: String,
    /// SHA-256 of the key's sort key and the code: never the code itself.
    code_hash: String,
    attempts: u32,
    created_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
}

impl Pending {
    fn draft(&self, password: Option<SecretString>) -> CustomerDraft {
        CustomerDraft {
            company: Some(CompanyDraft {
                name: Some(self.company_name.clone()),
                ..CompanyDraft::default()
            }),
            admin: Some(AdminDraft {
                first_name: Some(self.first_name.clone()),
                last_name: Some(self.last_name.clone()),
                email: Some(self.email.clone()),
                password,
            }),
            primary_contact: None,
            max_users: None,
            external_id: None,
            billing: None,
            template: None,
            support_access: None,
        }
    }
}

/// The field names of a customer body, as the registration forms name them.
fn registration_field(field: &str) -> &str {
    match field {
        "company.name" => "company_name",
        "admin.first_name" => "first_name",
        "admin.last_name" => "last_name",
        "admin.email" => "email",
        "admin.password" => "password",
        other => other,
    }
}

/// A customer-body error, renamed to the registration's fields.
fn renamed(e: Error) -> Error {
    match e {
        Error::Invalid(list) => Error::Invalid(
            list.into_iter()
                .map(|f| FieldError::new(registration_field(&f.field), f.detail))
                .collect(),
        ),
        Error::Conflict {
            kind,
            detail,
            mut extra,
        } => {
            if let Some(Value::String(f)) = extra.get("field") {
                let f = registration_field(f).to_owned();
                extra.insert("field".into(), json!(f));
            }
            Error::Conflict {
                kind,
                detail,
                extra,
            }
        }
        other => other,
    }
}

fn code_hash(key: &Key, code: &str) -> String {
    hex::encode(Sha256::digest(format!("{}:{code}", key.sk).as_bytes()))
}

fn wrong_code() -> Error {
    Error::invalid(
        "code",
        "is wrong or has expired; check the email we sent, or register again for a new code",
    )
}

/// The tenant behind a registration page and its branding, if registration is on.
pub async fn open_tenant(
    deps: &Deps,
    slug: &str,
) -> Result<
    (
        TenantId,
        (Branding, crate::model::helpdesk::SupportSettings),
    ),
    Error,
> {
    let tenant_id = super::directory::tenant_of_slug(deps, slug).await?;
    let (t, _) = tenants::load(deps, &tenant_id).await?;
    let look = crate::model::helpdesk::look(&t);
    if !look.0.registration_enabled {
        return Err(Error::NotFound("registration page"));
    }
    Ok((tenant_id, look))
}

fn registration_key(tenant_id: &TenantId, email: &str) -> Key {
    keys::registration(
        tenant_id,
        &hex::encode(Sha256::digest(fields::email_key(email).as_bytes())),
    )
}

/// Step one: records the registration and emails its code. Answers what to do next.
pub async fn start(
    deps: &Deps,
    slug: &str,
    body: &Registration,
    source: Option<&str>,
) -> Result<CodeSent, Error> {
    let (tenant_id, _) = open_tenant(deps, slug).await?;
    // Per source first: one machine cannot make a tenant mail codes to a list of
    // addresses (each address has its own resend limit besides).
    super::throttle::count_source(deps, &tenant_id, "registration", source).await?;
    let now = deps.clock.now();
    let probe = Pending {
        id: String::new(),
        company_name: body.company_name.clone().unwrap_or_default(),
        first_name: body.first_name.clone().unwrap_or_default(),
        last_name: body.last_name.clone().unwrap_or_default(),
        email: body.email.clone().unwrap_or_default(),
        code_hash: String::new(),
        attempts: 0,
        created_at: now,
        expires_at: now,
    };
    // The same checks as a customer created through the API (no password yet).
    let input = probe.draft(None).parse().map_err(renamed)?;
    let key = registration_key(&tenant_id, &input.admin_email);
    let existing = deps.store.get(&key).await?;
    // Wrong codes count across new codes while the registration lives: asking for a new
    // code does not buy more guesses.
    let mut attempts = 0;
    let mut live = None;
    let condition = match &existing {
        Some(item) => {
            let before: Pending = from_item(item)?;
            let wait = before.created_at + Duration::seconds(RESEND_SECONDS) - now;
            if before.expires_at > now {
                // A void registration gets no new code until it lapses: a code that
                // could never be accepted would only be mail, and it would keep the
                // registration alive.
                if before.attempts >= MAX_CODE_ATTEMPTS {
                    return Err(Error::Throttled {
                        retry_after_seconds: (before.expires_at - now).num_seconds().max(1) as u64,
                    });
                }
                if wait > Duration::zero() {
                    return Err(Error::Throttled {
                        retry_after_seconds: wait.num_seconds().max(1) as u64,
                    });
                }
                attempts = before.attempts;
                live = Some(before.id).filter(|id| !id.is_empty());
            }
            Condition::VersionIs(item.version)
        }
        None => Condition::NotExists,
    };
    let code = format!("{:06}", rand::rng().random_range(0..1_000_000u32));
    // A new code for a live registration is the same registration.
    let resent = live.is_some();
    let id = live.unwrap_or_else(|| format!("reg_{}", uuid::Uuid::now_v7().simple()));
    let pending = Pending {
        id,
        company_name: input.company.name.clone(),
        first_name: input.admin_first_name.clone(),
        last_name: input.admin_last_name.clone(),
        email: input.admin_email.clone(),
        code_hash: code_hash(&key, &code),
        attempts,
        created_at: now,
        expires_at: now + Duration::minutes(CODE_MINUTES),
    };
    let mut item = Item::new(key, to_data(&pending)?);
    item.version = existing.as_ref().map_or(1, |i| i.version + 1);
    item.expires_at = Some(pending.expires_at.timestamp());
    let email = code_email(&tenant_id, &pending.email, &code, now)?;
    // Nobody known acted yet: the origin's anonymous actor.
    let event = audit::op(
        deps,
        Log::Tenant(&tenant_id),
        Entry::new(
            "registration.started",
            Target::new("registration", &pending.id),
        )
        .value("resent", resent),
    )
    .await?;
    match deps
        .store
        .transact(
            [
                vec![WriteOp::Put { item, condition }, event],
                email.to_vec(),
            ]
            .concat(),
        )
        .await
    {
        Ok(()) => {}
        // Another request for the same email won: its code is on the way.
        Err(StoreError::TransactionCanceled { .. }) => {
            return Err(Error::Throttled {
                retry_after_seconds: RESEND_SECONDS as u64,
            });
        }
        Err(e) => return Err(e.into()),
    }
    Ok(CodeSent {
        status: "code_sent",
        email: pending.email,
        expires_in: CODE_MINUTES * 60,
        next: format!("POST /t/{slug}/register/verify with email, code and password"),
    })
}

/// What step one answers.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct CodeSent {
    /// Always `code_sent`.
    pub status: &'static str,
    pub email: String,
    /// Seconds the code works.
    pub expires_in: i64,
    /// What to do next.
    pub next: String,
}

/// What step two answers: the new customer and where its admin signs in.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Registered {
    /// Always `registered`.
    pub status: &'static str,
    pub customer_id: CustomerId,
    pub email: String,
    pub login: String,
}

/// Step two: checks the code and creates the customer with the registrant as its admin,
/// with the password given here. Answers the new customer's id and the login link.
pub async fn verify(deps: &Deps, slug: &str, body: &Verification) -> Result<Registered, Error> {
    let mut missing = Vec::new();
    let email = body.email.as_deref().map(str::trim).unwrap_or_default();
    let code = body
        .code
        .as_ref()
        .map(|c| c.expose_secret().trim())
        .unwrap_or_default();
    for (field, value) in [("email", email), ("code", code)] {
        if value.is_empty() {
            missing.push(FieldError::new(field, "is required"));
        }
    }
    if body
        .password
        .as_ref()
        .is_none_or(|p| p.expose_secret().is_empty())
    {
        missing.push(FieldError::new("password", "is required"));
    }
    if !missing.is_empty() {
        return Err(Error::Invalid(missing));
    }
    let (tenant_id, _) = open_tenant(deps, slug).await?;
    let Ok(email) = fields::email(email) else {
        return Err(wrong_code());
    };
    let key = registration_key(&tenant_id, &email);
    let now = deps.clock.now();
    let Some(item) = deps.store.get(&key).await? else {
        return Err(wrong_code());
    };
    let mut pending: Pending = from_item(&item)?;
    if pending.expires_at <= now || pending.attempts >= MAX_CODE_ATTEMPTS {
        return Err(wrong_code());
    }
    // The password is checked before the code, so a weak one costs no attempt.
    let draft = pending.draft(body.password.clone());
    draft.parse().map_err(renamed)?;
    // Count the attempt, then compare.
    pending.attempts += 1;
    let mut counted = Item::new(key.clone(), to_data(&pending)?);
    counted.version = item.version + 1;
    counted.expires_at = item.expires_at;
    match deps
        .store
        .put(counted, Condition::VersionIs(item.version))
        .await
    {
        Ok(()) => {}
        Err(StoreError::ConditionFailed) => {
            return Err(Error::Throttled {
                retry_after_seconds: 1,
            });
        }
        Err(e) => return Err(e.into()),
    }
    let given = code_hash(&key, code);
    if !bool::from(given.as_bytes().ct_eq(pending.code_hash.as_bytes())) {
        return Err(wrong_code());
    }
    let customer = customers::register(deps, &TenantScope::acting_for(tenant_id), &draft)
        .await
        .map_err(renamed)?;
    // Used up. If this delete fails the item expires anyway, and a second verify with the
    // same code meets the taken email.
    if let Err(e) = deps
        .store
        .delete(&key, Condition::VersionIs(item.version + 1))
        .await
    {
        tracing::debug!(
            error = format!("{e:#}"),
            "a used registration was not removed"
        );
    }
    Ok(Registered {
        status: "registered",
        customer_id: customer.id,
        email,
        login: format!("/t/{slug}/login"),
    })
}

/// The code a self-registration is verified with. Nothing the registrant typed goes in
/// it, so the registration form cannot carry text to someone else's inbox.
pub(crate) fn code_email(
    tenant_id: &TenantId,
    to: &str,
    code: &str,
    now: DateTime<Utc>,
) -> Result<mail::Queued, Error> {
    let mut context = serde_json::Map::new();
    context.insert("code".into(), json!(code));
    context.insert("minutes".into(), json!(CODE_MINUTES));
    mail::enqueue(
        tenant_id,
        mail::Template::RegistrationCode,
        to,
        context,
        now,
    )
}
