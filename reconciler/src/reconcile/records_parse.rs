//! Reading a run-records file of the status branch (`status/runs/…`) at start. A restart reads
//! every one (2,000 for 500 projects); serde_saphyr, which the status page reads them with,
//! took a fifth of the CPU of a `reconcile --once` after a template change. The model's YAML
//! reader is about four times faster on these files: it reads them first, and serde_saphyr
//! decides whenever the document it gives does not deserialise (a string written plain that
//! reads as a number, say).

use cubist_status_ui::runs::PipelineRuns;

/// The records of a run-records file, or why it cannot be read.
pub(super) fn parse_records(bytes: &[u8]) -> Result<PipelineRuns, String> {
    let fast = std::str::from_utf8(bytes)
        .ok()
        .and_then(|text| crate::model::yaml::parse_documents("", text).ok())
        .filter(|docs| docs.len() == 1)
        .and_then(|docs| docs.into_iter().next())
        // serde_json reads a struct from a list of its fields too; a records file is a mapping.
        .filter(|doc| doc.json.is_object())
        .and_then(|doc| serde_json::from_value(doc.json).ok());
    match fast {
        Some(records) => Ok(records),
        None => cubist_status_ui::yaml::from_yaml(bytes).map_err(|e| e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::parse_records;
    use cubist_status_ui::runs::PipelineRuns;
    use cubist_status_ui::yaml::from_yaml;

    fn slow(text: &str) -> Result<PipelineRuns, String> {
        from_yaml(text.as_bytes()).map_err(|e| e.to_string())
    }

    /// Both readers agree on what cubist writes, and where the fast one cannot give the
    /// document, serde_saphyr's answer (a document or an error) is the answer.
    #[test]
    fn records_read_as_serde_saphyr_reads_them() {
        let written = "project: recsys\npipeline: daily-ranker\nfile: projects/recsys/pipelines/daily-ranker.yaml\nsince: 2026-11-01T00:00:00Z\nclusters:\n  local:\n    runs:\n    - execution: \"2026-11-04T02:00:00+08:00\"\n      date: \"2026-11-04\"\n      workflow: daily-ranker-20261104\n      attempt: 1\n      origin:\n        kind: schedule\n      phase: Skipped\n      message: \"skipped: keepLast 5 keeps only the newest 5\\n waiting executions\"\n";
        let record = slow(written).expect("a records file");
        assert_eq!(parse_records(written.as_bytes()), Ok(record.clone()));
        // Round trip of what cubist writes.
        let yaml = cubist_status_ui::yaml::to_yaml(&record).unwrap();
        assert_eq!(parse_records(yaml.as_bytes()), Ok(record));
        // A workflow name written plain that reads as a number: serde_saphyr's string.
        let numeric = written.replace("workflow: daily-ranker-20261104", "workflow: 20261104");
        let got = parse_records(numeric.as_bytes()).expect("read by serde_saphyr");
        assert_eq!(Ok(got.clone()), slow(&numeric));
        assert_eq!(got.clusters["local"].runs[0].workflow, "20261104");
        // Damaged files: serde_saphyr's error.
        for damaged in [
            "project: [",
            "- a\n- b\n",
            "project: a\n---\nproject: b\n",
            "\u{0}",
        ] {
            assert_eq!(
                parse_records(damaged.as_bytes()),
                slow(damaged),
                "{damaged:?}"
            );
        }
        assert!(parse_records(&[0xff, 0xfe]).is_err());
    }
}
