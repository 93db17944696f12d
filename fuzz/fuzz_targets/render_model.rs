//! Render the models that validate: a repository without errors never panics in the render
//! stage.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fuzz_target!(|data: &[u8]| {
    static BLUEPRINTS: OnceLock<cubist::render::Blueprints> = OnceLock::new();
    let blueprints =
        BLUEPRINTS.get_or_init(|| cubist::render::Blueprints::embedded().expect("embedded blueprints"));
    let (model, diags) = cubist::model::load(&cubist_fuzz::snapshot(data));
    if diags.iter().any(|d| d.is_error()) {
        return;
    }
    let _ = cubist::render::render(&model, blueprints);
});
