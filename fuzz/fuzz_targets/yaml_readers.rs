//! The line reader against saphyr: on any text, the line reader gives saphyr's events or gives
//! up, and reading a file into values never panics. The status writer against serde-saphyr:
//! the text as a string in every place of a document gives serde-saphyr's bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Err(disagreement) = cubist::model::yaml_lines::compare_with_saphyr(text) {
        panic!("{disagreement}");
    }
    let _ = cubist::model::yaml::parse_documents("fuzz.yaml", text);
    if let Err(disagreement) = cubist_status_ui::yaml_emit::compare_with_serde_saphyr(text) {
        panic!("{disagreement}");
    }
});
