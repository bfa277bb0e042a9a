//! `[[gate.price]]` in town.toml: what a model's tokens cost, for the budgets the gate
//! counts. Each model once; a price is a finite amount of dollars, zero or more.

use std::collections::HashMap;

use super::Price;
use super::raw::RawPrice;
use super::validate::Checker;

pub(super) fn prices(c: &mut Checker, raw: Vec<RawPrice>) -> Vec<Price> {
    let mut seen = HashMap::new();
    let mut out = Vec::new();
    for p in raw {
        let model = p.model.get_ref().trim().to_string();
        if model.is_empty() {
            c.err(
                &p.model,
                "a price names no model",
                "write the model's name as its API answers with it, or the start of it, e.g. \"claude-sonnet-4\"",
            );
            continue;
        }
        let mut ok = true;
        for amount in [&p.input, &p.output] {
            let v = *amount.get_ref();
            if !v.is_finite() || v < 0.0 {
                c.err(
                    amount,
                    format!("{v} is not a price"),
                    "write dollars per million tokens, zero or more, e.g. 3.0",
                );
                ok = false;
            }
        }
        if let Some(first) = seen.insert(model.clone(), c.location(&p.model)) {
            c.err(
                &p.model,
                format!("model `{model}` has two prices"),
                format!("remove this one; it is already at {first}"),
            );
            continue;
        }
        if ok {
            out.push(Price {
                model,
                input: *p.input.get_ref(),
                output: *p.output.get_ref(),
            });
        }
    }
    out
}
