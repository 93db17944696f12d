//! Alerts: a pipeline's `alerts` must reach a channel of `cubist.yaml`, and channel names are
//! unique, so that every declared alert is delivered somewhere.

use super::Rejected;
use super::refs::{did_you_mean, list};
use crate::diag::{Diagnostic, codes};
use crate::model::Model;

/// The channel names `cubist.yaml` declares, in order.
fn channel_names(model: &Model) -> Vec<&str> {
    model
        .platform
        .iter()
        .flat_map(|p| p.spec.alerts.iter())
        .flat_map(|a| a.channels.iter().map(|c| c.name.as_str()))
        .collect()
}

/// True when `cubist.yaml` was left out of the model because of its own error: its channels
/// are unknown, so references to them are not reported again.
fn platform_rejected(model: &Model, rejected: &Rejected) -> bool {
    model.platform.is_none()
        && (rejected.files().iter().any(|f| f == "cubist.yaml")
            || rejected
                .names()
                .iter()
                .any(|(kind, _, _)| kind.as_deref() == Some("Platform")))
}

/// Every pipeline's `alerts` names known channels, and there is at least one channel.
pub(super) fn check(model: &Model, rejected: &Rejected, diags: &mut Vec<Diagnostic>) {
    if platform_rejected(model, rejected) {
        return;
    }
    let known = channel_names(model);
    for project in model.projects.values() {
        for p in project.pipelines.values() {
            let Some(alerts) = &p.spec.alerts else {
                continue;
            };
            if known.is_empty() {
                diags.push(
                    Diagnostic::error(
                        codes::NO_ALERT_CHANNEL,
                        &p.doc.at_key("spec", "alerts"),
                        format!(
                            "pipeline `{}` has alerts, but cubist.yaml declares no alert channel, \
                             so they would reach no one",
                            p.name()
                        ),
                    )
                    .help(
                        "declare a channel in cubist.yaml under spec.alerts.channels (e.g. \
                         `- {name: oncall, webhook: {urlEnv: CUBIST_ALERT_WEBHOOK}}`), or \
                         remove `alerts`",
                    ),
                );
                continue;
            }
            for (i, name) in alerts.channels.iter().enumerate() {
                if !known.contains(&name.as_str()) {
                    diags.push(
                        Diagnostic::error(
                            codes::UNKNOWN_CHANNEL,
                            &p.at(&format!("spec/alerts/channels/{i}")),
                            format!("pipeline `{}` alerts unknown channel `{name}`", p.name()),
                        )
                        .help(format!(
                            "{}use a channel of cubist.yaml spec.alerts.channels: {}",
                            did_you_mean(name, &known),
                            list(&known)
                        )),
                    );
                }
            }
        }
    }
}

/// Channel names of `cubist.yaml` are unique: run records name the channel an alert went to.
pub(super) fn unique_channels(model: &Model, diags: &mut Vec<Diagnostic>) {
    let Some(platform) = &model.platform else {
        return;
    };
    let names = channel_names(model);
    for (i, name) in names.iter().enumerate() {
        if let Some(first) = names[..i].iter().position(|n| n == name) {
            diags.push(
                Diagnostic::error(
                    codes::DUPLICATE_CHANNEL,
                    &platform.at(&format!("spec/alerts/channels/{i}/name")),
                    format!(
                        "alert channel `{name}` is declared twice (first as channel {})",
                        first + 1
                    ),
                )
                .help("give each channel of spec.alerts.channels its own name"),
            );
        }
    }
}
