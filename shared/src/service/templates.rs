//! Customer templates: what a tenant's new customers start with. A template names a
//! plan, feature switches, a cap on users and named permission sets; `POST /v1/customers`
//! and `customer.provision` name one by its `code`, and the customer, its subscription,
//! its switches and its sets are then written in the creation's one transaction (a
//! failure leaves nothing behind). Tenant owners keep templates; any staff reads them.
//!
//! A template carries no users of its own: an email belongs to one customer of a tenant
//! (its login pool's), so fixed addresses could start one customer only. The users a new
//! customer invites come with its creation (`customer.provision`'s `users`, or
//! `POST /v1/customers/{id}/users`) and may take the template's sets by name.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::audit::{self, Entry, Log};
use super::{catalog, from_item, page, to_data};
use crate::Deps;
use crate::access::TenantScope;
use crate::error::{Error, ProblemKind};
use crate::model::audit::Target;
use crate::model::billing::Plan;
use crate::model::customer::{MAX_USERS_LIMIT, PermissionSet};
use crate::model::fields;
use crate::model::ids::TenantId;
use crate::model::input::{Checks, from_value, merge_patch, to_value};
use crate::ports::{Condition, Item, StoreError, WriteOp};
use crate::store::keys;

/// Templates a tenant may keep.
pub const MAX_TEMPLATES: usize = 100;
/// Named permission sets in one template.
const MAX_SETS: usize = 20;
/// Feature switches in one template.
const MAX_FEATURES: usize = 100;
/// The built-in sets' names, which a template's own sets may not take.
const BUILT_IN: [&str; 4] = ["full", "read_only", "limited", "custom"];

/// A template as stored.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CustomerTemplate {
    pub code: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<String>,
    #[serde(default)]
    pub features: BTreeMap<String, bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_users: Option<u32>,
    #[serde(default)]
    pub permission_sets: BTreeMap<String, PermissionSet>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A permission set as written: the built-in kind, with its areas or permissions.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PermissionSetDraft {
    /// `full`, `read_only`, `limited` (with `areas`) or `custom` (with `permissions`).
    #[schema(example = "limited")]
    pub permission_set: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(example = json!(["reports", "billing"]))]
    pub areas: Option<Vec<String>>,
    /// `<area>:read` or `<area>:write`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permissions: Option<Vec<String>>,
}

impl PermissionSetDraft {
    fn of(set: &PermissionSet) -> Self {
        let (areas, permissions) = match set {
            PermissionSet::Limited { areas } => (Some(areas.clone()), None),
            PermissionSet::Custom { permissions } => (None, Some(permissions.clone())),
            PermissionSet::Full | PermissionSet::ReadOnly => (None, None),
        };
        Self {
            permission_set: Some(set.name().to_owned()),
            areas,
            permissions,
        }
    }
}

/// `POST /v1/customer-templates`; merged with the stored template for `PATCH` (a merge
/// patch: `null` clears a field).
#[derive(Clone, Debug, Default, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomerTemplateDraft {
    /// Its name in requests: lower case letters, digits and `_`, unique in the tenant;
    /// fixed once made.
    #[schema(pattern = "^[a-z][a-z0-9_]{0,39}$", example = "agency_standard")]
    pub code: Option<String>,
    #[schema(max_length = 500, example = "Agencies on Growth, without reports")]
    pub description: Option<String>,
    /// The plan a customer made from it subscribes to (instead of the tenant's default).
    #[schema(pattern = "^[a-z][a-z0-9_]{0,39}$", example = "growth")]
    pub plan: Option<String>,
    /// Feature areas switched on (`true`) or off (`false`) for the customer; on only
    /// where the plan includes the area.
    #[schema(example = json!({"reports": false}))]
    pub features: Option<BTreeMap<String, bool>>,
    /// The customer's cap on users, admin included (unless its creation names one).
    #[schema(minimum = 1, maximum = 10000)]
    pub max_users: Option<i64>,
    /// Named permission sets the customer's users may be given by name
    /// (`"permission_set": "<name>"`).
    pub permission_sets: Option<BTreeMap<String, PermissionSetDraft>>,
}

/// A template as the API shows it.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct CustomerTemplateView {
    pub code: String,
    pub description: Option<String>,
    pub plan: Option<String>,
    pub features: BTreeMap<String, bool>,
    pub max_users: Option<u32>,
    pub permission_sets: BTreeMap<String, PermissionSetDraft>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// For `If-Match`.
    pub version: u64,
}

impl CustomerTemplate {
    pub fn view(&self, version: u64) -> CustomerTemplateView {
        CustomerTemplateView {
            code: self.code.clone(),
            description: self.description.clone(),
            plan: self.plan.clone(),
            features: self.features.clone(),
            max_users: self.max_users,
            permission_sets: self
                .permission_sets
                .iter()
                .map(|(k, v)| (k.clone(), PermissionSetDraft::of(v)))
                .collect(),
            created_at: self.created_at,
            updated_at: self.updated_at,
            version,
        }
    }
}

fn item_of(tenant_id: &TenantId, t: &CustomerTemplate, version: u64) -> Result<Item, Error> {
    let mut item = Item::new(keys::customer_template(tenant_id, &t.code), to_data(t)?);
    item.version = version;
    Ok(item)
}

/// The template named `code`, if the tenant has it.
pub(crate) async fn find(
    deps: &Deps,
    tenant_id: &TenantId,
    code: &str,
) -> Result<Option<(CustomerTemplate, Item)>, Error> {
    if fields::code(code).is_err() {
        return Ok(None);
    }
    match deps
        .store
        .get(&keys::customer_template(tenant_id, code))
        .await?
    {
        Some(item) => Ok(Some((from_item(&item)?, item))),
        None => Ok(None),
    }
}

async fn load(
    deps: &Deps,
    tenant_id: &TenantId,
    code: &str,
) -> Result<(CustomerTemplate, Item), Error> {
    find(deps, tenant_id, code)
        .await?
        .ok_or(Error::NotFound("customer template"))
}

/// What a creation takes from a template: checked again at the time of use (a plan
/// archived since is refused, naming the template).
pub(crate) struct Applied {
    pub template: CustomerTemplate,
    pub plan: Option<Plan>,
}

/// The template a creation names (`field` is where it was named), with its plan.
pub(crate) async fn for_creation(
    deps: &Deps,
    tenant_id: &TenantId,
    code: &str,
    field: &str,
) -> Result<Applied, Error> {
    let Some((template, _)) = find(deps, tenant_id, code).await? else {
        return Err(Error::invalid(
            field,
            "names no customer template of this tenant (GET /v1/customer-templates lists them)",
        ));
    };
    let plan = match &template.plan {
        Some(p) => Some(catalog::plan_to_subscribe(deps, p, field).await.map_err(|e| match e {
            Error::Invalid(_)
            | Error::Conflict {
                kind: ProblemKind::PlanArchived,
                ..
            } => Error::invalid(
                field,
                format!("names a template whose plan {p} cannot be subscribed to any more (archived or gone); change the template's plan"),
            ),
            other => other,
        })?),
        None => None,
    };
    Ok(Applied { template, plan })
}

impl CustomerTemplateDraft {
    /// The draft of a stored template (for a merge patch).
    fn of(t: &CustomerTemplate) -> Self {
        Self {
            code: Some(t.code.clone()),
            description: t.description.clone(),
            plan: t.plan.clone(),
            features: Some(t.features.clone()),
            max_users: t.max_users.map(i64::from),
            permission_sets: Some(
                t.permission_sets
                    .iter()
                    .map(|(k, v)| (k.clone(), PermissionSetDraft::of(v)))
                    .collect(),
            ),
        }
    }
}

/// The template `draft` describes (a field left out is empty), checked: its plan one
/// to subscribe to, switching on only what that plan includes.
async fn parse(
    deps: &Deps,
    draft: &CustomerTemplateDraft,
    created_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<CustomerTemplate, Error> {
    let mut c = Checks::new();
    let code = c.required("code", draft.code.as_deref(), fields::code);
    let description = c.optional("description", draft.description.as_deref(), |s| {
        fields::text(s, 500)
    });
    let plan = c.optional("plan", draft.plan.as_deref(), fields::code);
    let mut features = BTreeMap::new();
    if let Some(f) = &draft.features {
        if f.len() > MAX_FEATURES {
            c.fail("features", format!("at most {MAX_FEATURES} areas"));
        }
        for (area, on) in f {
            if let Some(a) = c.check(&format!("features.{area}"), fields::code(area)) {
                features.insert(a, *on);
            }
        }
    }
    let max_users = match draft.max_users {
        None => None,
        Some(n) if (1..=i64::from(MAX_USERS_LIMIT)).contains(&n) => Some(n as u32),
        Some(_) => {
            c.fail(
                "max_users",
                format!("must be from 1 (the admin alone) to {MAX_USERS_LIMIT}"),
            );
            None
        }
    };
    let mut permission_sets = BTreeMap::new();
    if let Some(sets) = &draft.permission_sets {
        if sets.len() > MAX_SETS {
            c.fail("permission_sets", format!("at most {MAX_SETS} sets"));
        }
        for (name, d) in sets {
            let field = format!("permission_sets.{name}");
            if c.check(&field, fields::code(name)).is_none() {
                continue;
            }
            if BUILT_IN.contains(&name.as_str()) {
                c.fail(&field, "is a built-in set's name; choose another");
                continue;
            }
            match PermissionSet::parse(
                d.permission_set.as_deref(),
                d.areas.as_deref(),
                d.permissions.as_deref(),
            ) {
                Ok(set) => {
                    permission_sets.insert(name.clone(), set);
                }
                Err(Error::Invalid(list)) => {
                    for e in list {
                        c.fail(&format!("{field}.{}", e.field), e.detail);
                    }
                }
                Err(e) => return Err(e),
            }
        }
    }
    c.finish()?;
    if let Some(code) = &plan {
        let p = catalog::plan_to_subscribe(deps, code, "plan").await?;
        let missing: Vec<&str> = features
            .iter()
            .filter(|(area, on)| **on && !p.entitlements.features.contains(area))
            .map(|(area, _)| area.as_str())
            .collect();
        if !missing.is_empty() {
            return Err(Error::invalid(
                "features",
                format!(
                    "switches on {}, which the plan {code} does not include; switch on only what it includes",
                    missing.join(", ")
                ),
            ));
        }
    }
    Ok(CustomerTemplate {
        code: code.unwrap_or_default(),
        description,
        plan,
        features,
        max_users,
        permission_sets,
        created_at,
        updated_at: now,
    })
}

/// A template as an audit event's target: its code.
fn target(code: &str) -> Target {
    Target::new("customer_template", code)
}

pub async fn create(
    deps: &Deps,
    scope: &TenantScope,
    draft: &CustomerTemplateDraft,
) -> Result<CustomerTemplateView, Error> {
    let tenant_id = scope.tenant_id();
    let now = deps.clock.now();
    let template = parse(deps, draft, now, now).await?;
    let existing = page::all_under(
        deps,
        keys::tenant_partition(tenant_id),
        keys::customer_templates_prefix(),
        MAX_TEMPLATES,
    )
    .await?;
    if existing.len() >= MAX_TEMPLATES {
        return Err(Error::conflict(
            ProblemKind::TemplateLimitReached,
            format!("a tenant keeps at most {MAX_TEMPLATES} customer templates; remove one first"),
        ));
    }
    let mut entry = Entry::new("customer_template.created", target(&template.code));
    if let Some(plan) = &template.plan {
        entry = entry.value("plan", plan);
    }
    let ops = vec![
        WriteOp::Check {
            key: keys::tenant(tenant_id),
            condition: Condition::Exists,
        },
        WriteOp::create(item_of(tenant_id, &template, 1)?),
        audit::op(deps, Log::Tenant(tenant_id), entry).await?,
    ];
    match deps.store.transact(ops).await {
        Ok(()) => Ok(template.view(1)),
        Err(StoreError::TransactionCanceled { failed }) if failed.contains(&0) => {
            Err(Error::NotFound("tenant"))
        }
        Err(StoreError::TransactionCanceled { .. }) => Err(Error::conflict(
            ProblemKind::DuplicateTemplate,
            format!(
                "a customer template with code {} exists; change it with PATCH, or choose another code",
                template.code
            ),
        )),
        Err(e) => Err(e.into()),
    }
}

pub async fn get(
    deps: &Deps,
    scope: &TenantScope,
    code: &str,
) -> Result<CustomerTemplateView, Error> {
    let (t, item) = load(deps, scope.tenant_id(), code).await?;
    Ok(t.view(item.version))
}

pub async fn list(
    deps: &Deps,
    scope: &TenantScope,
    limit: Option<&str>,
    cursor: Option<&str>,
) -> Result<page::Page<CustomerTemplateView>, Error> {
    page::list_prefix(
        deps,
        "customer-templates",
        keys::tenant_partition(scope.tenant_id()),
        keys::customer_templates_prefix(),
        limit,
        cursor,
        |item| Ok(from_item::<CustomerTemplate>(item)?.view(item.version)),
    )
    .await
}

/// `PATCH` (a merge patch); customers made from it before keep what they started with.
pub async fn update(
    deps: &Deps,
    scope: &TenantScope,
    code: &str,
    patch: &Value,
    if_version: Option<u64>,
) -> Result<CustomerTemplateView, Error> {
    let tenant_id = scope.tenant_id();
    if !patch.is_object() {
        return Err(Error::invalid(
            "body",
            "must be a JSON object (a merge patch)",
        ));
    }
    let (current, item) = load(deps, tenant_id, code).await?;
    if patch
        .get("code")
        .is_some_and(|c| c.as_str() != Some(current.code.as_str()))
    {
        return Err(Error::invalid(
            "code",
            "cannot change; make a new template with the new code",
        ));
    }
    if if_version.is_some_and(|v| v != item.version) {
        return Err(Error::PreconditionFailed(format!(
            "the template is at version {}; read it again",
            item.version
        )));
    }
    let mut doc = to_value(&CustomerTemplateDraft::of(&current));
    merge_patch(&mut doc, patch);
    let draft = from_value::<CustomerTemplateDraft>(doc)?;
    let mut next = parse(deps, &draft, current.created_at, current.updated_at).await?;
    if next == current {
        return Ok(current.view(item.version));
    }
    next.updated_at = deps.clock.now();
    let entry = Entry::new("customer_template.updated", target(code)).diff(&current, &next);
    let ops = vec![
        WriteOp::Put {
            item: item_of(tenant_id, &next, item.version + 1)?,
            condition: Condition::VersionIs(item.version),
        },
        audit::op(deps, Log::Tenant(tenant_id), entry).await?,
    ];
    match deps.store.transact(ops).await {
        Ok(()) => Ok(next.view(item.version + 1)),
        Err(StoreError::TransactionCanceled { .. } | StoreError::Conflict) => {
            Err(Error::concurrent_update())
        }
        Err(e) => Err(e.into()),
    }
}

/// Removes a template; customers made from it keep what they started with.
pub async fn delete(deps: &Deps, scope: &TenantScope, code: &str) -> Result<(), Error> {
    let tenant_id = scope.tenant_id();
    let (_, item) = load(deps, tenant_id, code).await?;
    let entry = Entry::new("customer_template.deleted", target(code));
    let ops = vec![
        WriteOp::Delete {
            key: item.key(),
            condition: Condition::VersionIs(item.version),
        },
        audit::op(deps, Log::Tenant(tenant_id), entry).await?,
    ];
    match deps.store.transact(ops).await {
        Ok(()) => Ok(()),
        Err(StoreError::Conflict | StoreError::TransactionCanceled { .. }) => {
            Err(Error::concurrent_update())
        }
        Err(e) => Err(e.into()),
    }
}
