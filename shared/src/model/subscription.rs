//! A customer's subscription: dated segments of plan versions, so a month can be
//! prorated to the day. Dates are UTC days; a segment covers `[from, to)`.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::billing::{Entitlements, Period};
use super::ids::{CustomerId, SubscriptionId};

/// One stretch of days on one plan version.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Segment {
    pub plan: String,
    pub plan_version: u32,
    /// The first day on this plan.
    pub from: NaiveDate,
    /// The first day no longer on it; none: until the subscription ends.
    #[serde(default)]
    pub to: Option<NaiveDate>,
    /// The plan version's entitlements, kept with the segment (versions never change).
    pub entitlements: Entitlements,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SubscriptionState {
    /// In its trial days.
    Trialing,
    Active,
    /// Canceled: it ends on `ends_on`.
    Canceled,
    Ended,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Subscription {
    pub id: SubscriptionId,
    pub customer_id: CustomerId,
    pub currency: String,
    pub started_on: NaiveDate,
    /// The first day after the trial, if there is one.
    #[serde(default)]
    pub trial_ends_on: Option<NaiveDate>,
    /// The first day it no longer runs, once canceled.
    #[serde(default)]
    pub ends_on: Option<NaiveDate>,
    #[serde(default)]
    pub canceled_at: Option<DateTime<Utc>>,
    pub segments: Vec<Segment>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Subscription {
    pub fn state(&self, today: NaiveDate) -> SubscriptionState {
        match self.ends_on {
            Some(end) if end <= today => SubscriptionState::Ended,
            Some(_) => SubscriptionState::Canceled,
            None if self.trial_ends_on.is_some_and(|t| t > today) => SubscriptionState::Trialing,
            None => SubscriptionState::Active,
        }
    }

    /// The segment that covers `day` (the last one once it ended).
    pub fn segment_on(&self, day: NaiveDate) -> Option<&Segment> {
        self.segments
            .iter()
            .find(|s| s.from <= day && s.to.is_none_or(|t| day < t))
    }

    /// The segment in force today, or the one it ended on.
    pub fn current(&self, today: NaiveDate) -> Option<&Segment> {
        self.segment_on(today).or_else(|| {
            self.segments
                .iter()
                .rev()
                .find(|s| s.from <= today)
                .or(self.segments.first())
        })
    }

    /// A change that starts later (a downgrade at the next period).
    pub fn pending(&self, today: NaiveDate) -> Option<&Segment> {
        self.segments.iter().find(|s| s.from > today)
    }

    /// Switches to `next` from `day` on: the segment covering it ends there, later ones go.
    pub fn switch(&mut self, day: NaiveDate, mut next: Segment) {
        self.segments.retain(|s| s.from < day);
        if let Some(last) = self.segments.last_mut() {
            last.to = Some(day);
        }
        // A canceled subscription still ends when it was going to.
        next.to = self.ends_on;
        self.segments.push(next);
    }

    /// Ends on `day` (exclusive): segments after it go, the last one stops there.
    pub fn end_on(&mut self, day: NaiveDate, now: DateTime<Utc>) {
        self.ends_on = Some(day);
        self.canceled_at = Some(now);
        self.segments
            .retain(|s| s.from < day || s.from == self.started_on);
        if let Some(last) = self.segments.last_mut() {
            last.to = Some(day.max(last.from));
        }
    }

    /// The days of `period` each segment covers: (segment, first day, days).
    pub fn days_in(&self, period: Period) -> Vec<(&Segment, NaiveDate, i64)> {
        let (start, end) = (period.first_day(), period.end());
        self.segments
            .iter()
            .filter_map(|s| {
                let from = s.from.max(start).max(self.started_on);
                let mut to = s.to.unwrap_or(end).min(end);
                if let Some(e) = self.ends_on {
                    to = to.min(e);
                }
                let days = (to - from).num_days();
                (days > 0).then_some((s, from, days))
            })
            .collect()
    }
}

/// A subscription as the API shows it.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct SubscriptionView {
    pub id: SubscriptionId,
    pub customer_id: CustomerId,
    pub state: SubscriptionState,
    /// The plan in force (or the last one, once ended).
    pub plan: String,
    pub plan_version: u32,
    pub currency: String,
    pub started_on: NaiveDate,
    pub trial_ends_on: Option<NaiveDate>,
    pub ends_on: Option<NaiveDate>,
    /// A change that takes effect later (a downgrade at the next period).
    pub pending_change: Option<Segment>,
    /// Every stretch of days on one plan version, oldest first.
    pub segments: Vec<Segment>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// For `If-Match`.
    pub version: u64,
}

impl Subscription {
    pub fn view(&self, today: NaiveDate, version: u64) -> SubscriptionView {
        let current = self.current(today);
        SubscriptionView {
            id: self.id.clone(),
            customer_id: self.customer_id.clone(),
            state: self.state(today),
            plan: current.map(|s| s.plan.clone()).unwrap_or_default(),
            plan_version: current.map(|s| s.plan_version).unwrap_or_default(),
            currency: self.currency.clone(),
            started_on: self.started_on,
            trial_ends_on: self.trial_ends_on,
            ends_on: self.ends_on,
            pending_change: self.pending(today).cloned(),
            segments: self.segments.clone(),
            created_at: self.created_at,
            updated_at: self.updated_at,
            version,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn seg(plan: &str, from: &str) -> Segment {
        Segment {
            plan: plan.into(),
            plan_version: 1,
            from: d(from),
            to: None,
            entitlements: Entitlements::default(),
        }
    }

    #[test]
    fn a_mid_month_start_and_a_change_split_the_month_by_days() {
        let mut s = Subscription {
            id: SubscriptionId::from_record("sub_1"),
            customer_id: CustomerId::from_record("cus_1"),
            currency: "EUR".into(),
            started_on: d("2026-11-10"),
            trial_ends_on: None,
            ends_on: None,
            canceled_at: None,
            segments: vec![seg("starter", "2026-11-10")],
            created_at: Utc::now(),
            updated_at: Utc::now(),
        };
        s.switch(d("2026-11-16"), seg("growth", "2026-11-16"));
        let p = Period::parse("2026-11").unwrap();
        let days: Vec<_> = s
            .days_in(p)
            .iter()
            .map(|(s, from, n)| (s.plan.as_str(), *from, *n))
            .collect();
        assert_eq!(
            days,
            [
                ("starter", d("2026-11-10"), 6),
                ("growth", d("2026-11-16"), 15)
            ]
        );
        assert_eq!(s.state(d("2026-11-20")), SubscriptionState::Active);
        s.end_on(d("2026-12-01"), Utc::now());
        assert_eq!(s.state(d("2026-11-20")), SubscriptionState::Canceled);
        assert_eq!(s.state(d("2026-12-01")), SubscriptionState::Ended);
        assert_eq!(s.days_in(Period::parse("2026-12").unwrap()).len(), 0);
    }
}
