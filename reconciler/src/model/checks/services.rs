//! Services: traffic adds up to 100, version names are unique, replicas are ordered.

use crate::diag::{Diagnostic, codes};
use crate::model::Model;
use std::collections::HashMap;

pub(super) fn check(model: &Model, diags: &mut Vec<Diagnostic>) {
    for project in model.projects.values() {
        for s in project.services.values() {
            let total: u32 = s.spec.versions.iter().map(|v| v.traffic).sum();
            if total != 100 {
                let split: Vec<String> = s
                    .spec
                    .versions
                    .iter()
                    .map(|v| format!("{} {}%", v.name, v.traffic))
                    .collect();
                diags.push(
                    Diagnostic::error(
                        codes::TRAFFIC,
                        &s.doc.at_key("spec", "versions"),
                        format!(
                            "traffic of service `{}` adds up to {total}%, not 100% ({})",
                            s.name(),
                            split.join(", ")
                        ),
                    )
                    .help("make the versions' `traffic` values sum to 100"),
                );
            }
            let mut seen: HashMap<&str, usize> = HashMap::new();
            for (i, v) in s.spec.versions.iter().enumerate() {
                if let Some(first) = seen.insert(&v.name, i) {
                    seen.insert(&v.name, first);
                    diags.push(
                        Diagnostic::error(
                            codes::DUPLICATE_VERSION,
                            &s.at(&format!("spec/versions/{i}/name")),
                            format!(
                                "version `{}` appears twice in service `{}`",
                                v.name,
                                s.name()
                            ),
                        )
                        .help("give every version its own name"),
                    );
                }
            }
            if let Some(r) = &s.spec.replicas
                && r.min > r.max
            {
                diags.push(
                    Diagnostic::error(
                        codes::SCHEMA,
                        &s.at("spec/replicas/min"),
                        format!("replicas min {} is greater than max {}", r.min, r.max),
                    )
                    .help("set `min` ≤ `max`"),
                );
            }
            if s.spec.framework == "custom"
                && s.spec.image.is_none()
                && s.spec.versions.iter().any(|v| v.image.is_none())
            {
                diags.push(
                    Diagnostic::error(
                        codes::SCHEMA,
                        &s.at("spec/framework"),
                        format!(
                            "service `{}` uses framework `custom` without an image",
                            s.name()
                        ),
                    )
                    .help("set `spec.image` (or `image` on every version)"),
                );
            }
        }
    }
}
