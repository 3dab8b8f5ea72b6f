//! The catalog (billable metrics, versioned plans, a tenant's price overrides) and the
//! arithmetic of money over it: charges per usage model, proration to the day, seat-days.
//!
//! Money is integer minor units with its plan's currency. Every division rounds once,
//! half to even, on the line it makes; nothing here uses a float.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::fields::{self, Parsed};
use super::input::Checks;
use crate::error::Error;

/// The largest amount a price may name, in minor units (10,000,000.00 in a
/// two-decimal currency): with usage totals bounded too, no charge can overflow.
pub const MAX_AMOUNT: i64 = 1_000_000_000;
/// The largest total a metric may reach in one period for one customer.
pub const MAX_QUANTITY: u64 = 1_000_000_000;
/// The feature areas every product has (the same areas a customer user's permission set
/// names); operators may name more.
pub const STANDARD_FEATURES: &[&str] = super::customer::AREAS;

/// How a metric's events make its value over a period.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Aggregation {
    /// The sum of the events' values.
    Sum,
    /// The number of events.
    Count,
    /// The largest value of an event.
    Max,
}

/// A billable metric of the catalog.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Metric {
    /// e.g. `ai_operations`.
    pub code: String,
    pub name: String,
    /// What one unit of `value` is (`operation`, `GB`).
    pub unit: String,
    pub aggregation: Aggregation,
    pub created_at: DateTime<Utc>,
}

#[derive(Clone, Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MetricDraft {
    #[schema(pattern = "^[a-z][a-z0-9_]{0,39}$", example = "ai_operations")]
    pub code: Option<String>,
    #[schema(min_length = 1, max_length = 100)]
    pub name: Option<String>,
    #[schema(min_length = 1, max_length = 40)]
    pub unit: Option<String>,
    #[schema(value_type = Option<Aggregation>)]
    pub aggregation: Option<String>,
}

impl MetricDraft {
    pub fn parse(&self, now: DateTime<Utc>) -> Result<Metric, Error> {
        let mut c = Checks::new();
        let code = c.required("code", self.code.as_deref(), fields::code);
        let name = c.required("name", self.name.as_deref(), |s| fields::text(s, 100));
        let unit = c.required("unit", self.unit.as_deref(), |s| fields::text(s, 40));
        let aggregation = c.required("aggregation", self.aggregation.as_deref(), |s| match s {
            "sum" => Ok(Aggregation::Sum),
            "count" => Ok(Aggregation::Count),
            "max" => Ok(Aggregation::Max),
            _ => Err("must be sum, count or max".to_owned()),
        });
        c.finish()?;
        match (code, name, unit, aggregation) {
            (Some(code), Some(name), Some(unit), Some(aggregation)) => Ok(Metric {
                code,
                name,
                unit,
                aggregation,
                created_at: now,
            }),
            _ => Err(Error::invalid("body", "incomplete")),
        }
    }
}

/// One tier of a graduated charge: the units from the previous tier's `up_to` (exclusive)
/// to this one's (inclusive; none on the last tier) cost `unit_amount` each, plus
/// `flat_amount` once when any unit falls in the tier.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Tier {
    #[serde(default)]
    pub up_to: Option<u64>,
    #[serde(default)]
    pub unit_amount: i64,
    #[serde(default)]
    pub flat_amount: i64,
}

/// How a metric's period value is priced.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "model", rename_all = "snake_case", deny_unknown_fields)]
pub enum Pricing {
    /// `unit_amount` per unit.
    PerUnit { unit_amount: i64 },
    /// Tiers in ascending `up_to`, the last without one.
    Graduated { tiers: Vec<Tier> },
    /// `package_amount` per started package of `package_size` units.
    Package {
        package_size: u64,
        package_amount: i64,
    },
}

/// A plan's charge for one metric.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(from = "ChargeWire")]
pub struct UsageCharge {
    pub metric: String,
    #[serde(flatten)]
    pub pricing: Pricing,
}

/// A charge as sent: one flat object, strictly (serde cannot refuse unknown fields
/// through `flatten`).
#[derive(Deserialize)]
#[serde(tag = "model", rename_all = "snake_case", deny_unknown_fields)]
enum ChargeWire {
    PerUnit {
        metric: String,
        unit_amount: i64,
    },
    Graduated {
        metric: String,
        tiers: Vec<Tier>,
    },
    Package {
        metric: String,
        package_size: u64,
        package_amount: i64,
    },
}

impl From<ChargeWire> for UsageCharge {
    fn from(w: ChargeWire) -> Self {
        match w {
            ChargeWire::PerUnit {
                metric,
                unit_amount,
            } => Self {
                metric,
                pricing: Pricing::PerUnit { unit_amount },
            },
            ChargeWire::Graduated { metric, tiers } => Self {
                metric,
                pricing: Pricing::Graduated { tiers },
            },
            ChargeWire::Package {
                metric,
                package_size,
                package_amount,
            } => Self {
                metric,
                pricing: Pricing::Package {
                    package_size,
                    package_amount,
                },
            },
        }
    }
}

/// What a plan includes: feature areas and limits.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Entitlements {
    /// The feature areas included (`dashboard`, `users`, ..., or the operator's own).
    #[serde(default)]
    pub features: Vec<String>,
    /// At most this many users per customer; none: no limit.
    #[serde(default)]
    pub max_users: Option<u32>,
    /// Per metric: at most this value per period.
    #[serde(default)]
    pub limits: BTreeMap<String, u64>,
}

/// One version of a plan.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Plan {
    pub code: String,
    pub name: String,
    /// ISO 4217; every amount of the plan is in its minor units.
    pub currency: String,
    /// Starts at 1; a change of a price or an entitlement makes the next.
    pub version: u32,
    /// The monthly base fee.
    pub base_amount: i64,
    /// Active users included in the base fee.
    pub included_seats: u32,
    /// Per active user beyond `included_seats`, per month (billed as seat-days).
    pub seat_amount: i64,
    pub charges: Vec<UsageCharge>,
    pub trial_days: u32,
    pub entitlements: Entitlements,
    /// No new subscriptions; running ones go on.
    pub archived: bool,
    /// When this version was made.
    pub created_at: DateTime<Utc>,
}

/// A plan as sent: the whole of it on create; on a change (`PATCH`), only what changes.
#[derive(Clone, Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlanDraft {
    #[schema(pattern = "^[a-z][a-z0-9_]{0,39}$", example = "growth")]
    pub code: Option<String>,
    #[schema(min_length = 1, max_length = 100)]
    pub name: Option<String>,
    #[schema(pattern = "^[A-Z]{3}$", example = "EUR")]
    pub currency: Option<String>,
    #[schema(minimum = 0, maximum = 1_000_000_000)]
    pub base_amount: Option<i64>,
    #[schema(minimum = 0, maximum = 100_000)]
    pub included_seats: Option<u32>,
    #[schema(minimum = 0, maximum = 1_000_000_000)]
    pub seat_amount: Option<i64>,
    pub charges: Option<Vec<UsageCharge>>,
    #[schema(minimum = 0, maximum = 365)]
    pub trial_days: Option<u32>,
    pub entitlements: Option<EntitlementsDraft>,
}

/// A plan's entitlements as sent: what is left out stays as it was (on a create: every
/// standard area, no `max_users`, no limits).
#[derive(Clone, Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EntitlementsDraft {
    pub features: Option<Vec<String>>,
    #[schema(minimum = 1, maximum = 100_000)]
    pub max_users: Option<u32>,
    pub limits: Option<BTreeMap<String, u64>>,
}

impl EntitlementsDraft {
    fn over(&self, base: &Entitlements) -> Entitlements {
        Entitlements {
            features: self
                .features
                .clone()
                .unwrap_or_else(|| base.features.clone()),
            max_users: self.max_users.or(base.max_users),
            limits: self.limits.clone().unwrap_or_else(|| base.limits.clone()),
        }
        .normalized()
    }
}

fn amount(field: &str, v: i64, c: &mut Checks) {
    if !(0..=MAX_AMOUNT).contains(&v) {
        c.fail(
            field,
            format!("must be 0 to {MAX_AMOUNT} minor units of the currency"),
        );
    }
}

/// Checks charges against the metrics of the catalog (`known`).
fn check_charges(charges: &[UsageCharge], known: &dyn Fn(&str) -> bool, c: &mut Checks) {
    let mut seen = Vec::new();
    for (i, ch) in charges.iter().enumerate() {
        let at = format!("charges[{i}]");
        if !known(&ch.metric) {
            c.fail(
                &format!("{at}.metric"),
                "is not a billable metric of the catalog (GET /v1/billable-metrics)",
            );
        }
        if seen.contains(&&ch.metric) {
            c.fail(
                &format!("{at}.metric"),
                "has a charge already; one per metric",
            );
        }
        seen.push(&ch.metric);
        match &ch.pricing {
            Pricing::PerUnit { unit_amount } => {
                amount(&format!("{at}.unit_amount"), *unit_amount, c)
            }
            Pricing::Package {
                package_size,
                package_amount,
            } => {
                if !(1..=MAX_QUANTITY).contains(package_size) {
                    c.fail(
                        &format!("{at}.package_size"),
                        format!("must be 1 to {MAX_QUANTITY} units"),
                    );
                }
                amount(&format!("{at}.package_amount"), *package_amount, c);
            }
            Pricing::Graduated { tiers } => {
                if tiers.is_empty() || tiers.len() > 20 {
                    c.fail(&format!("{at}.tiers"), "must have 1 to 20 tiers");
                }
                let mut last = 0u64;
                for (j, t) in tiers.iter().enumerate() {
                    let tat = format!("{at}.tiers[{j}]");
                    amount(&format!("{tat}.unit_amount"), t.unit_amount, c);
                    amount(&format!("{tat}.flat_amount"), t.flat_amount, c);
                    match (t.up_to, j + 1 == tiers.len()) {
                        (None, true) => {}
                        (None, false) => {
                            c.fail(&format!("{tat}.up_to"), "only the last tier may omit it")
                        }
                        (Some(_), true) => c.fail(
                            &format!("{tat}.up_to"),
                            "the last tier has none: it takes every unit above the one before",
                        ),
                        (Some(u), false) if u <= last || u > MAX_QUANTITY => c.fail(
                            &format!("{tat}.up_to"),
                            format!(
                                "must be above the previous tier's ({last}) and at most {MAX_QUANTITY}"
                            ),
                        ),
                        (Some(u), false) => last = u,
                    }
                }
            }
        }
    }
}

/// Checks entitlements: feature codes, and limits only for metrics of the catalog.
pub fn check_entitlements(
    e: &Entitlements,
    at: &str,
    known: &dyn Fn(&str) -> bool,
    c: &mut Checks,
) {
    if e.features.len() > 50 {
        c.fail(&format!("{at}.features"), "at most 50 features");
    }
    for (i, f) in e.features.iter().enumerate() {
        c.check(&format!("{at}.features[{i}]"), fields::code(f));
    }
    if let Some(m) = e.max_users
        && !(1..=100_000).contains(&m)
    {
        c.fail(&format!("{at}.max_users"), "must be 1 to 100000");
    }
    for (metric, limit) in &e.limits {
        if !known(metric) {
            c.fail(
                &format!("{at}.limits.{metric}"),
                "is not a billable metric of the catalog",
            );
        } else if *limit > MAX_QUANTITY {
            c.fail(
                &format!("{at}.limits.{metric}"),
                format!("must be at most {MAX_QUANTITY}"),
            );
        }
    }
}

impl Entitlements {
    /// Sorted and without repeats, so equal entitlements compare equal.
    fn normalized(mut self) -> Self {
        self.features.sort();
        self.features.dedup();
        self
    }

    /// Every standard area, no limits: what a plan includes when it does not say.
    pub fn standard() -> Self {
        Self {
            features: STANDARD_FEATURES.iter().map(|s| (*s).to_owned()).collect(),
            ..Self::default()
        }
    }
}

impl PlanDraft {
    /// A new plan (version 1). `known` says whether a metric is in the catalog.
    pub fn parse_new(
        &self,
        known: &dyn Fn(&str) -> bool,
        now: DateTime<Utc>,
    ) -> Result<Plan, Error> {
        let mut c = Checks::new();
        let code = c.required("code", self.code.as_deref(), fields::code);
        let name = c.required("name", self.name.as_deref(), |s| fields::text(s, 100));
        let currency = c.required("currency", self.currency.as_deref(), fields::currency);
        if self.base_amount.is_none() {
            c.fail("base_amount", "is required (minor units; 0 for none)");
        }
        let plan = Plan {
            code: code.unwrap_or_default(),
            name: name.unwrap_or_default(),
            currency: currency.unwrap_or_default(),
            version: 1,
            base_amount: self.base_amount.unwrap_or_default(),
            included_seats: self.included_seats.unwrap_or(0),
            seat_amount: self.seat_amount.unwrap_or(0),
            charges: self.charges.clone().unwrap_or_default(),
            trial_days: self.trial_days.unwrap_or(0),
            entitlements: match &self.entitlements {
                Some(d) => d.over(&Entitlements::standard()),
                None => Entitlements::standard(),
            },
            archived: false,
            created_at: now,
        };
        plan.check(known, &mut c);
        c.finish()?;
        Ok(plan)
    }

    /// `current` with this change applied, and whether it is a new version (a price or
    /// an entitlement changed). The code and the currency never change.
    pub fn apply(
        &self,
        current: &Plan,
        known: &dyn Fn(&str) -> bool,
        now: DateTime<Utc>,
    ) -> Result<(Plan, bool), Error> {
        let mut c = Checks::new();
        if self.code.as_ref().is_some_and(|s| *s != current.code) {
            c.fail("code", "a plan's code never changes; create another plan");
        }
        if self
            .currency
            .as_ref()
            .is_some_and(|s| *s != current.currency)
        {
            c.fail(
                "currency",
                "a plan's currency never changes; create another plan",
            );
        }
        let mut next = current.clone();
        if let Some(n) = &self.name {
            next.name = c.check("name", fields::text(n, 100)).unwrap_or_default();
        }
        if let Some(v) = self.base_amount {
            next.base_amount = v;
        }
        if let Some(v) = self.included_seats {
            next.included_seats = v;
        }
        if let Some(v) = self.seat_amount {
            next.seat_amount = v;
        }
        if let Some(v) = &self.charges {
            next.charges = v.clone();
        }
        if let Some(v) = self.trial_days {
            next.trial_days = v;
        }
        if let Some(v) = &self.entitlements {
            next.entitlements = v.over(&current.entitlements);
        }
        next.check(known, &mut c);
        c.finish()?;
        let priced = |p: &Plan| {
            (
                p.base_amount,
                p.included_seats,
                p.seat_amount,
                p.charges.clone(),
                p.trial_days,
                p.entitlements.clone(),
            )
        };
        let new_version = priced(&next) != priced(current);
        if new_version {
            next.version = current.version + 1;
            next.created_at = now;
        }
        Ok((next, new_version))
    }
}

impl Plan {
    fn check(&self, known: &dyn Fn(&str) -> bool, c: &mut Checks) {
        amount("base_amount", self.base_amount, c);
        amount("seat_amount", self.seat_amount, c);
        if self.included_seats > 100_000 {
            c.fail("included_seats", "must be at most 100000");
        }
        if self.trial_days > 365 {
            c.fail("trial_days", "must be at most 365");
        }
        if self.charges.len() > 20 {
            c.fail("charges", "at most 20 charges");
        }
        check_charges(&self.charges, known, c);
        check_entitlements(&self.entitlements, "entitlements", known, c);
    }

    /// The plan as `tenant` pays for it: its overrides in place of the plan's prices.
    pub fn priced_for(&self, o: Option<&PriceOverride>) -> Plan {
        let mut p = self.clone();
        if let Some(o) = o {
            if let Some(v) = o.base_amount {
                p.base_amount = v;
            }
            if let Some(v) = o.seat_amount {
                p.seat_amount = v;
            }
            if let Some(v) = o.included_seats {
                p.included_seats = v;
            }
            for ch in &o.charges {
                match p.charges.iter_mut().find(|c| c.metric == ch.metric) {
                    Some(slot) => *slot = ch.clone(),
                    None => p.charges.push(ch.clone()),
                }
            }
        }
        p
    }

    pub fn charge_for(&self, metric: &str) -> Option<&Pricing> {
        self.charges
            .iter()
            .find(|c| c.metric == metric)
            .map(|c| &c.pricing)
    }
}

/// A tenant's own prices for one plan (every version of it); what it does not name
/// comes from the plan.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PriceOverride {
    #[serde(default)]
    #[schema(minimum = 0, maximum = 1_000_000_000)]
    pub base_amount: Option<i64>,
    #[serde(default)]
    #[schema(minimum = 0, maximum = 1_000_000_000)]
    pub seat_amount: Option<i64>,
    #[serde(default)]
    #[schema(minimum = 0, maximum = 100_000)]
    pub included_seats: Option<u32>,
    /// Replace the plan's charge for these metrics.
    #[serde(default)]
    pub charges: Vec<UsageCharge>,
}

impl PriceOverride {
    pub fn check(&self, known: &dyn Fn(&str) -> bool) -> Result<(), Error> {
        let mut c = Checks::new();
        if let Some(v) = self.base_amount {
            amount("base_amount", v, &mut c);
        }
        if let Some(v) = self.seat_amount {
            amount("seat_amount", v, &mut c);
        }
        if self.included_seats.is_some_and(|v| v > 100_000) {
            c.fail("included_seats", "must be at most 100000");
        }
        if self.charges.len() > 20 {
            c.fail("charges", "at most 20 charges");
        }
        check_charges(&self.charges, known, &mut c);
        c.finish()
    }
}

/// The lower of two caps, either of which may be absent (no cap).
pub fn lower<T: Ord>(a: Option<T>, b: Option<T>) -> Option<T> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// `value × num ÷ den`, rounded half to even, in integers (`den` > 0).
pub fn ratio_half_even(value: i64, num: i64, den: i64) -> i64 {
    let p = value as i128 * num as i128;
    let d = den as i128;
    let (q, r) = (p.div_euclid(d), p.rem_euclid(d));
    let twice = 2 * r;
    let q = if twice > d || (twice == d && q % 2 != 0) {
        q + 1
    } else {
        q
    };
    q as i64
}

/// What `quantity` units cost under `pricing`, in minor units. Bounded inputs (amounts
/// at most `MAX_AMOUNT`, quantities at most `MAX_QUANTITY`) keep it far from overflow;
/// it saturates rather than wrap if ever fed more.
pub fn charge(pricing: &Pricing, quantity: u64) -> i64 {
    let q = quantity as i128;
    let total: i128 = match pricing {
        Pricing::PerUnit { unit_amount } => q * *unit_amount as i128,
        Pricing::Package {
            package_size,
            package_amount,
        } => {
            let size = (*package_size).max(1) as i128;
            ((q + size - 1) / size) * *package_amount as i128
        }
        Pricing::Graduated { tiers } => {
            let mut total = 0i128;
            let mut below = 0i128;
            for t in tiers {
                if q <= below {
                    break;
                }
                let top = t.up_to.map(|u| u as i128).unwrap_or(q).min(q);
                let units = top - below;
                if units > 0 {
                    total += units * t.unit_amount as i128 + t.flat_amount as i128;
                }
                below = top;
            }
            total
        }
    };
    total.clamp(i64::MIN as i128, i64::MAX as i128) as i64
}

/// A calendar month in UTC (`2026-12`): the billing period.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Period {
    pub year: i32,
    pub month: u32,
}

impl Period {
    pub fn of(date: NaiveDate) -> Self {
        Self {
            year: date.year(),
            month: date.month(),
        }
    }

    pub fn parse(raw: &str) -> Parsed<Self> {
        let bad = || "must be a month as YYYY-MM, e.g. 2026-12".to_owned();
        let (y, m) = raw.split_once('-').ok_or_else(bad)?;
        if y.len() != 4 || m.len() != 2 {
            return Err(bad());
        }
        let (year, month) = (y.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
        let p = Self { year, month };
        if !(2000..=9998).contains(&year) || NaiveDate::from_ymd_opt(year, month, 1).is_none() {
            return Err(bad());
        }
        Ok(p)
    }

    pub fn first_day(self) -> NaiveDate {
        NaiveDate::from_ymd_opt(self.year, self.month, 1).unwrap_or_default()
    }

    pub fn next(self) -> Self {
        if self.month == 12 {
            Self {
                year: self.year + 1,
                month: 1,
            }
        } else {
            Self {
                year: self.year,
                month: self.month + 1,
            }
        }
    }

    pub fn previous(self) -> Self {
        if self.month == 1 {
            Self {
                year: self.year - 1,
                month: 12,
            }
        } else {
            Self {
                year: self.year,
                month: self.month - 1,
            }
        }
    }

    /// The first day after the period.
    pub fn end(self) -> NaiveDate {
        self.next().first_day()
    }

    pub fn days(self) -> u32 {
        (self.end() - self.first_day()).num_days() as u32
    }
}

impl std::fmt::Display for Period {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_even_rounds_ties_to_the_even_neighbour_and_the_rest_to_the_nearest() {
        assert_eq!(ratio_half_even(3000, 21, 30), 2100);
        assert_eq!(ratio_half_even(1, 1, 2), 0);
        assert_eq!(ratio_half_even(3, 1, 2), 2);
        assert_eq!(ratio_half_even(5, 1, 2), 2);
        assert_eq!(ratio_half_even(1000, 1, 3), 333);
        assert_eq!(ratio_half_even(2000, 1, 3), 667);
        assert_eq!(ratio_half_even(-5, 1, 2), -2);
    }

    #[test]
    fn charges_per_unit_graduated_and_package() {
        assert_eq!(charge(&Pricing::PerUnit { unit_amount: 3 }, 7), 21);
        let g = Pricing::Graduated {
            tiers: vec![
                Tier {
                    up_to: Some(100),
                    unit_amount: 0,
                    flat_amount: 0,
                },
                Tier {
                    up_to: Some(1000),
                    unit_amount: 2,
                    flat_amount: 500,
                },
                Tier {
                    up_to: None,
                    unit_amount: 1,
                    flat_amount: 0,
                },
            ],
        };
        assert_eq!(charge(&g, 0), 0);
        assert_eq!(charge(&g, 100), 0);
        // 100 free, then 1 unit at 2 plus the tier's flat 500.
        assert_eq!(charge(&g, 101), 502);
        // 900 at 2 + 500, then 1000 at 1.
        assert_eq!(charge(&g, 2000), 1800 + 500 + 1000);
        let p = Pricing::Package {
            package_size: 1000,
            package_amount: 150,
        };
        assert_eq!(charge(&p, 0), 0);
        assert_eq!(charge(&p, 1), 150);
        assert_eq!(charge(&p, 1000), 150);
        assert_eq!(charge(&p, 1001), 300);
    }

    #[test]
    fn a_charge_reads_as_one_flat_object_and_refuses_unknown_fields() {
        let c: UsageCharge = serde_json::from_value(serde_json::json!(
            {"metric": "m", "model": "package", "package_size": 10, "package_amount": 5}
        ))
        .unwrap();
        assert_eq!(
            c.pricing,
            Pricing::Package {
                package_size: 10,
                package_amount: 5
            }
        );
        assert_eq!(
            serde_json::to_value(&c).unwrap(),
            serde_json::json!({"metric": "m", "model": "package", "package_size": 10, "package_amount": 5})
        );
        assert!(
            serde_json::from_value::<UsageCharge>(serde_json::json!(
                {"metric": "m", "model": "per_unit", "unit_amount": 1, "extra": 1}
            ))
            .is_err()
        );
    }

    #[test]
    fn periods_parse_and_count_their_days() {
        let p = Period::parse("2026-02").unwrap();
        assert_eq!(p.days(), 28);
        assert_eq!(Period::parse("2028-02").unwrap().days(), 29);
        assert_eq!(
            Period::parse("2026-12").unwrap().next().to_string(),
            "2027-01"
        );
        for bad in ["2026-13", "2026-1", "26-01", "2026/01", "x", "2026-00"] {
            assert!(Period::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_change_of_price_or_entitlement_is_a_new_version_and_a_rename_is_not() {
        let known = |m: &str| m == "ai_operations";
        let now = Utc::now();
        let plan = PlanDraft {
            code: Some("growth".into()),
            name: Some("Growth".into()),
            currency: Some("EUR".into()),
            base_amount: Some(4900),
            ..Default::default()
        }
        .parse_new(&known, now)
        .unwrap();
        let rename = PlanDraft {
            name: Some("Growth+".into()),
            ..Default::default()
        };
        let (p, new) = rename.apply(&plan, &known, now).unwrap();
        assert!(!new);
        assert_eq!((p.version, p.name.as_str()), (1, "Growth+"));
        let reprice = PlanDraft {
            base_amount: Some(5900),
            ..Default::default()
        };
        let (p, new) = reprice.apply(&plan, &known, now).unwrap();
        assert!(new);
        assert_eq!(p.version, 2);
        let bad = PlanDraft {
            currency: Some("USD".into()),
            charges: Some(vec![UsageCharge {
                metric: "nope".into(),
                pricing: Pricing::PerUnit { unit_amount: 1 },
            }]),
            ..Default::default()
        };
        let Err(Error::Invalid(errors)) = bad.apply(&plan, &known, now) else {
            panic!("accepted")
        };
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["currency", "charges[0].metric"]);
    }
}
