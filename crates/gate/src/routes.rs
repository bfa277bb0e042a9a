//! The gate's routes from the declared town: each resident whose `[agent] api` names a
//! model API is routed, by its uid, to that API with its key. A key that is not deployed
//! leaves its residents unrouted (said in the log), never another resident's key.

use std::collections::HashMap;
use std::sync::Arc;

use townhall_config::{KeyScheme, Town};

use crate::credential::{Api, Scheme};
use crate::proxy::{Allowed, Routes};

fn scheme(k: KeyScheme) -> Scheme {
    match k {
        KeyScheme::XApiKey => Scheme::XApiKey,
        KeyScheme::Bearer => Scheme::Bearer,
        KeyScheme::GoogApiKey => Scheme::GoogApiKey,
    }
}

/// The routes of `town`, with each API's key from `key` (None: not deployed).
pub fn routes(town: &Town, key: impl Fn(&str) -> Option<String>) -> Routes {
    let mut apis: HashMap<&str, Arc<Api>> = HashMap::new();
    for a in &town.gate.apis {
        match key(&a.name) {
            Some(k) => {
                let api = Api {
                    name: a.name.clone(),
                    upstream: a.upstream.clone(),
                    scheme: scheme(a.key),
                    key: k.trim_end().to_string(),
                };
                apis.insert(&a.name, Arc::new(api));
            }
            None => tracing::warn!(
                api = %a.name,
                "no key deployed for API `{}` ({}): its residents get no answer from the gate",
                a.name,
                a.credential.display()
            ),
        }
    }
    let by_uid = town
        .residents
        .iter()
        .filter_map(|r| {
            let api = apis.get(r.agent.api.as_ref()?.name.as_str())?;
            Some((r.uid, (r.name.clone(), api.clone())))
        })
        .collect();
    let allow = town
        .residents
        .iter()
        .map(|r| {
            let allowed = Allowed {
                resident: r.name.clone(),
                hosts: r.network.allow.clone(),
            };
            (r.uid, Arc::new(allowed))
        })
        .collect();
    Routes { by_uid, allow }
}

#[cfg(test)]
mod tests {
    use super::*;
    use townhall_config::{AgentApi, GateApi};

    #[test]
    fn residents_are_routed_by_uid_to_their_api_and_an_undeployed_key_routes_none() {
        let mut town = townhall_config::load(std::path::Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../.."
        )))
        .unwrap();
        for (name, key) in [
            ("anthropic", KeyScheme::XApiKey),
            ("gemini", KeyScheme::GoogApiKey),
        ] {
            town.gate.apis.push(GateApi {
                name: name.into(),
                upstream: format!("https://{name}.example"),
                key,
                credential: format!("/etc/townhall/gate/{name}.key").into(),
            });
        }
        let mut give = |r: &str, api: &str, key| {
            let r = town.residents.iter_mut().find(|x| x.name == r).unwrap();
            r.agent.api = Some(AgentApi {
                name: api.into(),
                key,
            });
            r.uid
        };
        let ada = give("ada", "anthropic", KeyScheme::XApiKey);
        let vox = give("vox", "gemini", KeyScheme::GoogApiKey);
        let routes = routes(&town, |api| {
            (api == "anthropic").then(|| "sk-ant\n".to_string())
        });
        let (who, api) = routes.by_uid.get(&ada).unwrap();
        assert_eq!(
            (
                who.as_str(),
                api.name.as_str(),
                api.key.as_str(),
                api.scheme
            ),
            ("ada", "anthropic", "sk-ant", Scheme::XApiKey)
        );
        assert!(
            !routes.by_uid.contains_key(&vox),
            "vox's key is not deployed"
        );
        assert_eq!(routes.by_uid.len(), 1);
    }
}
