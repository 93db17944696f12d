use super::*;
use crate::doc::{
    Health, Inventory, InventoryEntry, ObjectHealth, ObjectStatus, ProjectDigest, QuotaRow,
    SyncState,
};
use crate::runs::{ClusterRuns, PipelineRuns, RunOrigin, RunRecord, Waiting};
use serde::Serialize;
use std::collections::BTreeMap;

const NO_ENGINE: &str = "waiting: directory target has no engine";
const SKIPPED: &str = "skipped: keepLast 5 keeps only the newest 5 waiting executions";
const SOURCE: &str = "projects/team-0042/services/service-0.yaml";
const HASH: &str = "sha256:0f3a0f3a0f3a0f3a0f3a0f3a0f3a0f3a0f3a0f3a0f3a0f3a0f3a0f3a0f3a0f3a";

/// Strings serde-saphyr quotes, folds, escapes or writes plain, each for its own reason.
const TRICKY: &[&str] = &[
    "",
    "~",
    "null",
    "Null",
    "y",
    "n",
    "Y",
    "yes",
    "On",
    "off",
    "nO",
    "tRue",
    "FALSE",
    "1",
    "-1",
    "+1",
    "0x1",
    "0o7",
    "0b1",
    "1.5",
    "1e3",
    "1_000",
    "0777",
    "12:30",
    ".inf",
    "-.Inf",
    ".nan",
    "inf",
    "nan",
    "NaN",
    "infinity",
    "e",
    "E1",
    "a:b",
    "a: b",
    "k:",
    "sha256:0f3a",
    "a#b",
    "a #b",
    "#c",
    "-a",
    "-",
    ".",
    "..",
    "...",
    "---",
    "a---",
    "@x",
    "`a",
    "!a",
    "&a",
    "*a",
    "|a",
    ">a",
    "%a",
    "[a",
    "a]",
    "{a",
    "a}",
    "a,b",
    "?a",
    "a'b",
    "a\"b",
    "a\\b",
    "=",
    "<<",
    "a ",
    " a",
    "x\ty",
    "é",
    "\u{85}",
    "\u{2028}",
    "multi\nline",
    "line\n",
    "2026-12-01",
    "2026-12-01T00:00:00+08:00",
    "team-0001",
    "pipeline-0-20261126",
    NO_ENGINE,
    SKIPPED,
    SOURCE,
    HASH,
    "a string with spaces that is long enough to be folded by the serialiser past eighty columns",
    "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghij",
];

fn saphyr<T: Serialize>(doc: &T) -> String {
    serde_saphyr::to_string(doc).unwrap()
}

/// The writer's bytes are serde-saphyr's, or it gives up.
fn same_or_none<T: Serialize>(doc: &T) -> bool {
    match to_yaml(doc) {
        Some(text) => {
            assert_eq!(text, saphyr(doc));
            true
        }
        None => false,
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
enum Kind {
    FooBar,
    Y,
}

#[derive(Serialize)]
struct Inner {
    kind: String,
    n: u32,
    opt: Option<String>,
}

#[derive(Serialize)]
struct Shapes {
    value: String,
    list: Vec<String>,
    map: BTreeMap<String, String>,
    items: Vec<Inner>,
    nested: BTreeMap<String, BTreeMap<String, Vec<Inner>>>,
    empty_list: Vec<u32>,
    empty_map: BTreeMap<String, u32>,
    empty_items: Vec<BTreeMap<String, u32>>,
    none: Option<u32>,
    unit: (),
    kinds: Vec<Kind>,
    numbers: (i64, u64, f64, f32, bool, char),
}

fn shapes(s: &str, f: f64) -> Shapes {
    let inner = |k: &str| Inner {
        kind: k.into(),
        n: 7,
        opt: Some(k.into()),
    };
    Shapes {
        value: s.into(),
        list: vec![s.into(), "plain".into(), s.into()],
        map: BTreeMap::from([(s.to_string(), s.to_string()), ("k".into(), s.into())]),
        items: vec![
            inner(s),
            Inner {
                kind: "x".into(),
                n: 0,
                opt: None,
            },
        ],
        nested: BTreeMap::from([(
            s.to_string(),
            BTreeMap::from([("deeper".to_string(), vec![inner(s)])]),
        )]),
        empty_list: vec![],
        empty_map: BTreeMap::new(),
        empty_items: vec![BTreeMap::new()],
        none: None,
        unit: (),
        kinds: vec![Kind::FooBar, Kind::Y],
        numbers: (-5, u64::MAX, f, 0.1, true, 'y'),
    }
}

/// Every tricky string in every place (value, key, list item, item field, nested): the same
/// bytes as serde-saphyr, and the writer takes every one that serde-saphyr writes on one line.
#[test]
fn writes_serde_saphyrs_bytes_in_every_place() {
    let floats = [1.0, 0.1, 1e20, 1.5e-5, -0.0, 17179869184.0, f64::MAX];
    for (i, s) in TRICKY.iter().enumerate() {
        let doc = shapes(s, floats[i % floats.len()]);
        let one_line = !saphyr(&BTreeMap::from([("v", s)]))
            .trim_end()
            .contains('\n');
        assert_eq!(same_or_none(&doc), one_line, "{s:?}");
        // Asked again: now from the memo.
        assert_eq!(same_or_none(&doc), one_line, "{s:?}, remembered");
        compare_with_serde_saphyr(s).unwrap();
    }
    // The top level may be a list, a scalar or empty.
    for doc in [vec![], vec!["a".to_string()], vec!["1".into(), "".into()]] {
        assert!(same_or_none(&doc));
    }
    assert!(same_or_none(&"yes"));
    assert!(same_or_none(&BTreeMap::<String, u32>::new()));
    // Given up: a list in a list, a variant with data, a non-string key.
    assert!(to_yaml(&vec![vec![1]]).is_none());
    assert!(to_yaml(&BTreeMap::from([(1, 2)])).is_none());
    #[derive(Serialize)]
    enum Data {
        V(u32),
    }
    assert!(to_yaml(&Data::V(1)).is_none());
}

/// Tiny deterministic generator.
fn next(seed: &mut u64) -> u64 {
    *seed = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    *seed >> 33
}

/// What the writer writes plain without asking, serde-saphyr writes plain, as a value and as a
/// key (where `:` is not in the class).
#[test]
fn always_plain_strings_are_plain_to_serde_saphyr() {
    let letters = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
    let rest = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./:";
    let mut seed = 21;
    let mut checked = 0;
    for _ in 0..20_000 {
        let len = 9 + (next(&mut seed) % 64) as usize;
        let mut s = String::new();
        s.push(letters[(next(&mut seed) % letters.len() as u64) as usize] as char);
        while s.len() < len {
            s.push(rest[(next(&mut seed) % rest.len() as u64) as usize] as char);
        }
        for key in [false, true] {
            if !always_plain(&s, key) {
                continue;
            }
            checked += 1;
            let want = if key {
                ask_key(&s)
            } else {
                ask_value(s.as_str())
            };
            assert_eq!(want.as_deref(), Some(s.as_str()), "{s:?} (key: {key})");
        }
    }
    assert!(checked > 20_000, "{checked}");
    for word in [
        "infinity",
        "Infinity",
        "INFINITY",
        "nullable1",
        "truefalse",
        "a.b.c.d.e",
    ] {
        assert_eq!(ask_value(word).as_deref(), Some(word));
    }
}

/// The status documents of a reconcile, as cubist writes them: the writer takes them whole.
#[test]
fn the_status_documents_are_written_fast_and_alike() {
    let record = |day: u32, phase, message: &str| RunRecord {
        execution: chrono::DateTime::parse_from_rfc3339(&format!(
            "2026-12-{day:02}T00:00:00+08:00"
        ))
        .ok(),
        date: chrono::NaiveDate::from_ymd_opt(2026, 12, day),
        workflow: format!("pipeline-0-202612{day:02}"),
        attempt: 1,
        origin: RunOrigin {
            kind: "schedule".into(),
            ..RunOrigin::default()
        },
        phase,
        message: message.into(),
        ..RunRecord::default()
    };
    let runs = PipelineRuns {
        project: "team-0000".into(),
        pipeline: "pipeline-0".into(),
        file: "projects/team-0000/pipelines/pipeline-0.yaml".into(),
        since: chrono::DateTime::from_timestamp(1_796_000_000, 985_726_989),
        clusters: BTreeMap::from([(
            "cluster-0".to_string(),
            ClusterRuns {
                waiting: Some(Waiting {
                    count: 4,
                    ..Waiting::default()
                }),
                runs: vec![
                    record(1, crate::doc::RunPhase::Waiting, NO_ENGINE),
                    record(2, crate::doc::RunPhase::Skipped, SKIPPED),
                ],
                ..ClusterRuns::default()
            },
        )]),
        alert_problems: vec![],
    };
    let object = ObjectStatus {
        api_version: "argoproj.io/v1alpha1".into(),
        kind: "CronWorkflow".into(),
        namespace: "team-0000".into(),
        name: "pipeline-0".into(),
        state: SyncState::Synced,
        hash: HASH.into(),
        revision: "4f0c1a".into(),
        message: String::new(),
        health: Some(ObjectHealth {
            status: Health::Healthy,
            message: "1 of 1 ready".into(),
        }),
        source: SOURCE.into(),
    };
    let inventory = Inventory {
        objects: vec![InventoryEntry {
            api_version: "v1".into(),
            kind: "ConfigMap".into(),
            namespace: "team-0000".into(),
            name: "n".into(),
            project: Some("team-0000".into()),
            hash: HASH.into(),
            source: SOURCE.into(),
        }],
    };
    let digest = ProjectDigest {
        name: "team-0000".into(),
        quota: vec![QuotaRow {
            cluster: "cluster-0".into(),
            resource: "cpu".into(),
            used: 1.5,
            limit: 64.0,
            unit: "cores".into(),
        }],
        ..ProjectDigest::default()
    };
    assert!(same_or_none(&runs), "run records");
    assert!(same_or_none(&object), "object status");
    assert!(same_or_none(&inventory), "inventory");
    assert!(same_or_none(&digest), "project digest");
    assert!(same_or_none(&crate::doc::Summary::default()), "summary");
}
