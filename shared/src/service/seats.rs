//! Seats, in arrears: each day's highest count of a customer's active users, kept per
//! month in one item (`SEATS#<period>`) that every change of the count writes in its
//! own transaction. A month with no change has no item: its count is the last one
//! before it.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::{from_item, to_data};
use crate::Deps;
use crate::error::Error;
use crate::model::billing::Period;
use crate::model::ids::{CustomerId, TenantId};
use crate::ports::{Condition, Item, Query, SortRange, WriteOp};
use crate::store::keys;

/// One month's marks: the count it opened with, and per day with a change the day's
/// highest count and its count at the end of the day.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Marks {
    pub opening: u32,
    /// Day of the month → [highest, at the end of the day].
    pub days: BTreeMap<u32, [u32; 2]>,
}

impl Marks {
    /// The count at the end of the last day with a change (or the opening one).
    pub fn closing(&self) -> u32 {
        self.days
            .values()
            .last()
            .map(|d| d[1])
            .unwrap_or(self.opening)
    }

    /// Each day's highest count, for every day of `period`.
    pub fn daily(&self, period: Period) -> Vec<u32> {
        let mut carried = self.opening;
        (1..=period.days())
            .map(|day| match self.days.get(&day) {
                Some([high, end]) => {
                    carried = *end;
                    *high
                }
                None => carried,
            })
            .collect()
    }
}

/// The month's marks with a change of the count on `today` by `delta` (an add is +1, a
/// removal or a deactivation -1), written with the change. `fallback` is the count when
/// the customer has no marks yet (a customer from before seats were kept: its users).
pub(crate) async fn change(
    deps: &Deps,
    tenant_id: &TenantId,
    customer_id: &CustomerId,
    today: NaiveDate,
    delta: i32,
    fallback: u32,
) -> Result<WriteOp, Error> {
    let period = Period::of(today).to_string();
    let key = keys::seats(tenant_id, customer_id, &period);
    let (mut marks, condition) = match deps.store.get(&key).await? {
        Some(item) => (
            from_item::<Marks>(&item)?,
            Condition::VersionIs(item.version),
        ),
        None => {
            let opening = match last_before(deps, tenant_id, customer_id, &period).await? {
                Some(m) => m.closing(),
                // A customer from before seats were kept: its active users, counted once.
                None => active_users(deps, tenant_id, customer_id)
                    .await?
                    .unwrap_or(fallback),
            };
            (
                Marks {
                    opening,
                    days: BTreeMap::new(),
                },
                Condition::NotExists,
            )
        }
    };
    let day = chrono::Datelike::day(&today);
    let start = marks
        .days
        .range(..day)
        .last()
        .map(|(_, d)| d[1])
        .unwrap_or(marks.opening);
    let entry = marks.days.entry(day).or_insert([start, start]);
    let now = (entry[1] as i64 + delta as i64).max(0) as u32;
    entry[0] = entry[0].max(now);
    entry[1] = now;
    let mut item = Item::new(key, to_data(&marks)?);
    if let Condition::VersionIs(v) = condition {
        item.version = v + 1;
    }
    Ok(WriteOp::Put { item, condition })
}

/// A new customer's first marks: its admin, active from `today`.
pub(crate) fn first(
    tenant_id: &TenantId,
    customer_id: &CustomerId,
    today: NaiveDate,
) -> Result<WriteOp, Error> {
    let marks = Marks {
        opening: 0,
        days: BTreeMap::from([(chrono::Datelike::day(&today), [1, 1])]),
    };
    let key = keys::seats(tenant_id, customer_id, &Period::of(today).to_string());
    Ok(WriteOp::create(Item::new(key, to_data(&marks)?)))
}

/// A customer's active users, counted from its user records (none when it has none).
async fn active_users(
    deps: &Deps,
    tenant_id: &TenantId,
    customer_id: &CustomerId,
) -> Result<Option<u32>, Error> {
    let items = super::page::all_under(
        deps,
        keys::customer_partition(tenant_id, customer_id),
        keys::customer_users_prefix(),
        crate::model::customer::MAX_USERS_LIMIT as usize + 100,
    )
    .await?;
    if items.is_empty() {
        return Ok(None);
    }
    let mut active = 0;
    for i in &items {
        let u: crate::model::customer::CustomerUser = from_item(i)?;
        if u.status == crate::model::customer::UserStatus::Active {
            active += 1;
        }
    }
    Ok(Some(active))
}

/// The latest marks of a month before `period`.
async fn last_before(
    deps: &Deps,
    tenant_id: &TenantId,
    customer_id: &CustomerId,
    period: &str,
) -> Result<Option<Marks>, Error> {
    let this = keys::seats(tenant_id, customer_id, period);
    let mut q = Query::partition(
        this.pk.clone(),
        SortRange::Between(keys::seats_prefix().to_owned(), this.sk.clone()),
        2,
    );
    q.forward = false;
    let page = deps.store.query(q).await?;
    page.items
        .iter()
        .find(|i| i.sk != this.sk)
        .map(from_item)
        .transpose()
}

/// Each day's highest count of active users in `period`.
pub async fn daily(
    deps: &Deps,
    tenant_id: &TenantId,
    customer_id: &CustomerId,
    period: Period,
    fallback: u32,
) -> Result<Vec<u32>, Error> {
    let p = period.to_string();
    if let Some(item) = deps
        .store
        .get(&keys::seats(tenant_id, customer_id, &p))
        .await?
    {
        return Ok(from_item::<Marks>(&item)?.daily(period));
    }
    // No change that month: the count it had is the one the last month before it closed.
    let count = match last_before(deps, tenant_id, customer_id, &p).await? {
        Some(m) => m.closing(),
        None => fallback,
    };
    Ok(vec![count; period.days() as usize])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_day_counts_its_highest_and_later_days_carry_its_end() {
        let m = Marks {
            opening: 2,
            days: BTreeMap::from([(3, [4, 3]), (5, [3, 1])]),
        };
        let d = m.daily(Period::parse("2026-02").unwrap());
        assert_eq!(d.len(), 28);
        assert_eq!(&d[..6], &[2, 2, 4, 3, 3, 1]);
        assert_eq!(d[27], 1);
        assert_eq!(m.closing(), 1);
    }
}
