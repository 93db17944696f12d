//! Load and check a small platform repository built from the fuzzer's bytes: never panics, and
//! every diagnostic names a file of the repository.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let snapshot = cubist_fuzz::snapshot(data);
    let (_, diags) = cubist::model::load(&snapshot);
    for d in &diags {
        assert!(snapshot.files.contains_key(&d.file), "{d:?} names no file of the repository");
    }
});
