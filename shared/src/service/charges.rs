//! What one customer's subscription costs for one month: the lines an invoice is made of
//! (the invoice run, not built yet, adds who pays, tax and numbers). Pure arithmetic over
//! what is recorded: the subscription's segments, each segment's plan version at the
//! tenant's prices, each day's highest count of active users, and the month's usage.
//!
//! - Base fee: per segment, `base_amount × billable days ÷ days in the month`.
//! - Seats: per segment, `seat_amount × Σ over its billable days of the users beyond its
//!   included seats ÷ days in the month`.
//! - Usage: each metric's value for the month, priced by the plan of the last segment in
//!   the month (the plan the customer ends the month on).
//! - Trial days are billable for usage only: no base fee or seats for them.
//!
//! Every amount is integer minor units, each line rounded once, half to even.

use chrono::{Duration, NaiveDate};
use serde::Serialize;

use crate::model::billing::{Period, Plan, charge, ratio_half_even};
use crate::model::subscription::{Segment, Subscription};

use super::usage::PeriodUsage;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LineKind {
    Base,
    Seats,
    Usage,
}

/// One line of a month's charges.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Line {
    pub kind: LineKind,
    pub plan: String,
    pub plan_version: u32,
    /// The first and last day the line covers (usage: the month).
    pub from: NaiveDate,
    pub to: NaiveDate,
    /// Days (base), seat-days (seats) or units of the metric (usage).
    pub quantity: u64,
    /// The metric, for a usage line.
    pub metric: Option<String>,
    pub amount: i64,
}

/// The plan (at the tenant's prices) a segment names.
pub type PlanOf<'a> = dyn Fn(&Segment) -> Option<Plan> + 'a;

/// The month's lines of one subscription. `daily_users` holds each day's highest count
/// of active users (index 0 is the 1st); `plan_of` gives each segment's plan version at
/// the tenant's prices (a segment without one is skipped: it cannot be priced).
pub fn month_lines(
    period: Period,
    sub: &Subscription,
    plan_of: &PlanOf<'_>,
    daily_users: &[u32],
    usage: &PeriodUsage,
) -> Vec<Line> {
    let days_in_month = period.days() as i64;
    let mut lines = Vec::new();
    let in_trial = |d: NaiveDate| sub.trial_ends_on.is_some_and(|t| d < t);
    let mut last: Option<(&Segment, Plan)> = None;
    for (segment, from, days) in sub.days_in(period) {
        let Some(plan) = plan_of(segment) else {
            continue;
        };
        let billable: Vec<NaiveDate> = (0..days)
            .map(|i| from + Duration::days(i))
            .filter(|d| !in_trial(*d))
            .collect();
        let to = from + Duration::days(days - 1);
        if !billable.is_empty() {
            lines.push(Line {
                kind: LineKind::Base,
                plan: plan.code.clone(),
                plan_version: plan.version,
                from,
                to,
                quantity: billable.len() as u64,
                metric: None,
                amount: ratio_half_even(plan.base_amount, billable.len() as i64, days_in_month),
            });
            let seat_days: u64 = billable
                .iter()
                .map(|d| {
                    let i = (*d - period.first_day()).num_days() as usize;
                    let users = daily_users.get(i).copied().unwrap_or(0);
                    users.saturating_sub(plan.included_seats) as u64
                })
                .sum();
            if seat_days > 0 && plan.seat_amount > 0 {
                lines.push(Line {
                    kind: LineKind::Seats,
                    plan: plan.code.clone(),
                    plan_version: plan.version,
                    from,
                    to,
                    quantity: seat_days,
                    metric: None,
                    amount: ratio_half_even(plan.seat_amount, seat_days as i64, days_in_month),
                });
            }
        }
        last = Some((segment, plan));
    }
    if let Some((_, plan)) = last {
        for c in &plan.charges {
            let value = usage.value_of(&c.metric);
            if value == 0 {
                continue;
            }
            lines.push(Line {
                kind: LineKind::Usage,
                plan: plan.code.clone(),
                plan_version: plan.version,
                from: period.first_day(),
                to: period.end() - Duration::days(1),
                quantity: value,
                metric: Some(c.metric.clone()),
                amount: charge(&c.pricing, value),
            });
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::billing::{Entitlements, Pricing, UsageCharge};
    use crate::model::ids::{CustomerId, SubscriptionId};
    use crate::service::usage::Aggregate;

    fn plan(code: &str, base: i64, included: u32, seat: i64) -> Plan {
        Plan {
            code: code.into(),
            name: code.into(),
            currency: "EUR".into(),
            version: 1,
            base_amount: base,
            included_seats: included,
            seat_amount: seat,
            charges: vec![UsageCharge {
                metric: "ai_operations".into(),
                pricing: Pricing::Package {
                    package_size: 1000,
                    package_amount: 100,
                },
            }],
            trial_days: 0,
            entitlements: Entitlements::default(),
            archived: false,
            created_at: chrono::Utc::now(),
        }
    }

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn seg(code: &str, from: &str, to: Option<&str>) -> Segment {
        Segment {
            plan: code.into(),
            plan_version: 1,
            from: d(from),
            to: to.map(d),
            entitlements: Entitlements::default(),
        }
    }

    fn sub(started: &str, trial_ends: Option<&str>, segments: Vec<Segment>) -> Subscription {
        Subscription {
            id: SubscriptionId::from_record("sub_1"),
            customer_id: CustomerId::from_record("cus_1"),
            currency: "EUR".into(),
            started_on: d(started),
            trial_ends_on: trial_ends.map(d),
            ends_on: None,
            canceled_at: None,
            segments,
            created_at: chrono::Utc::now(),
            updated_at: chrono::Utc::now(),
        }
    }

    /// The month of the API walk (tests/tests/suite/billing.rs): growth from the 10th
    /// to the 15th, scale from the 16th; 2,500 AI operations.
    #[test]
    fn a_mid_month_start_and_an_upgrade_prorate_base_and_seats_by_the_day() {
        let november = Period::parse("2026-11").unwrap();
        let s = sub(
            "2026-11-10",
            None,
            vec![
                seg("growth", "2026-11-10", Some("2026-11-16")),
                seg("scale", "2026-11-16", None),
            ],
        );
        let plans = |x: &Segment| {
            Some(match x.plan.as_str() {
                "growth" => plan("growth", 4900, 3, 500),
                _ => plan("scale", 19900, 10, 900),
            })
        };
        let mut daily = vec![0u32; 9];
        daily.extend([1, 1, 4, 4, 4, 4, 4, 4, 4, 4, 4]);
        daily.extend([3; 10]);
        let mut usage = PeriodUsage::default();
        usage.metrics.insert(
            "ai_operations".into(),
            Aggregate {
                sum: 2500,
                count: 3,
                max: 1500,
            },
        );
        let lines = month_lines(november, &s, &plans, &daily, &usage);
        let summary: Vec<(LineKind, &str, u64, i64)> = lines
            .iter()
            .map(|l| (l.kind, l.plan.as_str(), l.quantity, l.amount))
            .collect();
        assert_eq!(
            summary,
            [
                // 4,900 × 6/30.
                (LineKind::Base, "growth", 6, 980),
                // 500 × 4 seat-days / 30 = 66.67.
                (LineKind::Seats, "growth", 4, 67),
                // 19,900 × 15/30.
                (LineKind::Base, "scale", 15, 9950),
                // Priced by the month's last plan: 3 started packages of 1,000.
                (LineKind::Usage, "scale", 2500, 300),
            ]
        );
    }

    #[test]
    fn trial_days_cost_no_base_fee_or_seats_and_a_start_on_the_tenth_pays_21_of_30() {
        let november = Period::parse("2026-11").unwrap();
        let plans = |_: &Segment| Some(plan("growth", 3000, 0, 300));
        let daily = vec![1u32; 30];
        let full = sub("2026-11-10", None, vec![seg("growth", "2026-11-10", None)]);
        let lines = month_lines(november, &full, &plans, &daily, &PeriodUsage::default());
        assert_eq!((lines[0].quantity, lines[0].amount), (21, 2100));
        // 300 × 21 seat-days / 30 = 210.
        assert_eq!((lines[1].quantity, lines[1].amount), (21, 210));
        let trial = sub(
            "2026-11-10",
            Some("2026-11-24"),
            vec![seg("growth", "2026-11-10", None)],
        );
        let lines = month_lines(november, &trial, &plans, &daily, &PeriodUsage::default());
        // The 24th to the 30th: 7 days.
        assert_eq!((lines[0].quantity, lines[0].amount), (7, 700));
        assert_eq!((lines[1].quantity, lines[1].amount), (7, 70));
    }
}
