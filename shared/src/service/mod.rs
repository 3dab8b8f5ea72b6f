//! Use cases, one module per capability, written against the ports.

pub mod api_keys;
pub mod audit;
pub mod auth;
pub mod catalog;
pub mod charges;
pub mod connections;
pub mod connectors;
pub mod customers;
pub mod directory;
pub mod documents;
pub mod due;
pub mod email_change;
pub mod email_claims;
pub mod events;
pub mod features;
pub mod helpdesk;
pub mod idempotency;
pub mod identity;
pub mod inbound;
pub mod invoice_run;
pub mod invoices;
pub mod jobs;
pub mod links;
pub mod mail;
pub mod me;
pub mod members;
pub mod operator_keys;
pub mod outbound;
pub mod page;
pub mod passwords;
pub mod provisioning;
pub mod purge;
pub mod registration;
pub mod seats;
pub mod sign_in;
pub mod signing;
pub mod staff;
pub mod subscriptions;
pub mod support;
pub mod templates;
pub mod tenants;
pub mod throttle;
pub mod tokens;
pub mod usage;
pub mod users;

use anyhow::Context;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::error::Error;
use crate::ports::Item;

/// An entity as an item body.
pub(crate) fn to_data<T: Serialize>(entity: &T) -> Result<Map<String, Value>, Error> {
    match serde_json::to_value(entity).context("Failed to serialize an entity")? {
        Value::Object(m) => Ok(m),
        _ => Err(Error::Unexpected(anyhow::anyhow!(
            "an entity must serialize to an object"
        ))),
    }
}

/// A customer's profile and its item; 404 when the tenant has no such customer. Here,
/// beneath every capability, so the modules `customers` itself uses (subscriptions) read
/// it too.
/// Runs `ops` in one transaction; a lost race (a version that moved, a conflict) is a
/// 409 to read again and retry (`From<StoreError>`).
pub(crate) async fn commit(
    deps: &crate::Deps,
    ops: Vec<crate::ports::WriteOp>,
) -> Result<(), Error> {
    Ok(deps.store.transact(ops).await?)
}

pub(crate) async fn load_customer(
    deps: &crate::Deps,
    tenant_id: &crate::model::ids::TenantId,
    customer_id: &crate::model::ids::CustomerId,
) -> Result<(crate::model::customer::Customer, Item), Error> {
    let item = deps
        .store
        .get(&crate::store::keys::customer(tenant_id, customer_id))
        .await?
        .ok_or(Error::NotFound("customer"))?;
    Ok((from_item(&item)?, item))
}

/// An item body as an entity.
pub(crate) fn from_item<T: DeserializeOwned>(item: &Item) -> Result<T, Error> {
    serde_json::from_value(Value::Object(item.data.clone()))
        .with_context(|| format!("Failed to read a stored item ({})", item.sk))
        .map_err(Error::Unexpected)
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    /// The service modules this one names (`super::x`, `crate::service::x`, and each
    /// first segment of a `use super::{...}` group), its own tests left out.
    fn imports(source: &str, modules: &BTreeSet<String>) -> BTreeSet<String> {
        let code = source.split("#[cfg(test)]").next().unwrap_or_default();
        let mut found = BTreeSet::new();
        for prefix in ["super::", "crate::service::"] {
            for (at, _) in code.match_indices(prefix) {
                let rest = &code[at + prefix.len()..];
                if let Some(group) = rest.strip_prefix('{') {
                    // Items at depth 0 of the group, up to its closing brace.
                    let (mut depth, mut item) = (0, String::new());
                    for c in group.chars() {
                        match c {
                            '{' => depth += 1,
                            '}' if depth == 0 => break,
                            '}' => depth -= 1,
                            ',' if depth == 0 => {
                                found.insert(std::mem::take(&mut item));
                                continue;
                            }
                            _ => {}
                        }
                        if depth == 0 {
                            item.push(c);
                        }
                    }
                    found.insert(item);
                } else {
                    let name: String = rest
                        .chars()
                        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                        .collect();
                    found.insert(name);
                }
            }
        }
        found
            .into_iter()
            .map(|i| i.trim().split("::").next().unwrap_or_default().to_owned())
            .filter(|m| modules.contains(m))
            .collect()
    }

    /// Shared mechanisms sit below the features that use them: no service module reaches
    /// itself through another, so each can be read, tested and linked on its own.
    #[test]
    fn the_service_modules_form_no_import_cycle() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/service");
        // A module is a file, or a folder whose files (its submodules) count as one.
        let read = |path: &std::path::Path| std::fs::read_to_string(path).expect("a module");
        let sources: BTreeMap<String, String> = std::fs::read_dir(&dir)
            .expect("the service folder")
            .filter_map(|e| {
                let path = e.ok()?.path();
                let name = path.file_stem()?.to_str()?.to_owned();
                if path.is_dir() {
                    let mut files: Vec<_> = std::fs::read_dir(&path)
                        .expect("a module folder")
                        .filter_map(|f| Some(f.ok()?.path()))
                        .filter(|f| f.extension().is_some_and(|x| x == "rs"))
                        .collect();
                    files.sort();
                    return Some((name, files.iter().map(|f| read(f)).collect()));
                }
                (path.extension()? == "rs" && name != "mod").then(|| (name, read(&path)))
            })
            .collect();
        let modules: BTreeSet<String> = sources.keys().cloned().collect();
        let graph: BTreeMap<&str, BTreeSet<String>> = sources
            .iter()
            .map(|(m, s)| {
                let mut deps = imports(s, &modules);
                deps.remove(m);
                (m.as_str(), deps)
            })
            .collect();
        assert!(
            graph["users"].contains("links") && graph["customers"].contains("mail"),
            "the import reader finds imports: {graph:?}"
        );
        // Depth-first search; a module met again while still on the path closes a cycle.
        fn visit<'a>(
            m: &'a str,
            graph: &'a BTreeMap<&'a str, BTreeSet<String>>,
            path: &mut Vec<&'a str>,
            done: &mut BTreeSet<&'a str>,
        ) -> Option<Vec<&'a str>> {
            if let Some(at) = path.iter().position(|p| *p == m) {
                let mut cycle = path[at..].to_vec();
                cycle.push(m);
                return Some(cycle);
            }
            if !done.insert(m) {
                return None;
            }
            path.push(m);
            for next in &graph[m] {
                if let Some(cycle) = visit(next, graph, path, done) {
                    return Some(cycle);
                }
            }
            path.pop();
            None
        }
        let mut done = BTreeSet::new();
        for m in graph.keys() {
            let cycle = visit(m, &graph, &mut Vec::new(), &mut done);
            assert!(
                cycle.is_none(),
                "import cycle: {}",
                cycle.unwrap().join(" -> ")
            );
        }
    }
}
