use super::*;
use crate::render::ObjectKey;

/// A plan of `cluster` with, per `(project, action)`, that many objects.
fn plan(rows: &[(&str, Action, usize)]) -> Plan {
    let mut changes = Vec::new();
    for (project, action, n) in rows {
        for i in 0..*n {
            changes.push(Change {
                key: ObjectKey {
                    api_version: "v1".into(),
                    kind: "ConfigMap".into(),
                    namespace: project.to_string(),
                    name: format!("{project}-{i}"),
                },
                action: *action,
                project: (!project.is_empty()).then(|| project.to_string()),
                source: format!("projects/{project}/x.yaml"),
                diff: None,
                desired: None,
                note: None,
            });
        }
    }
    Plan {
        cluster: "local".into(),
        changes,
        ..Default::default()
    }
}

fn allow(message: &str) -> Allowances {
    let mut a = Allowances::default();
    a.read_message(message);
    a
}

#[test]
fn a_whole_project_deleted_is_held_until_allowed() {
    let p = plan(&[("a", Action::Delete, 3), ("b", Action::Unchanged, 40)]);
    let mut held = p.clone();
    assert!(guard(&mut held, None, &Allowances::default()));
    let h = held.held.as_ref().unwrap();
    assert_eq!(h.changes.len(), 3);
    assert_eq!(held.count(Action::Delete), 0);
    assert_eq!(held.count(Action::Unchanged), 40);
    assert_eq!(h.by_project(), BTreeMap::from([("a".to_string(), 3)]));
    assert!(
        h.reasons[0].contains("project `a` would lose all 3"),
        "{h:?}"
    );
    assert!(
        h.allow
            .contains(&"Cubist-Allow-Prune: project/a".to_string()),
        "{h:?}"
    );
    for ok in [
        "drop a\n\nCubist-Allow-Prune: project/a",
        "drop a\n\ncubist-allow-prune: local",
        "x\n\nCubist-Allow-Prune: other, all",
    ] {
        let mut p = p.clone();
        assert!(!guard(&mut p, None, &allow(ok)), "{ok}");
        assert_eq!(p.count(Action::Delete), 3);
    }
    for not in [
        "Cubist-Allow-Prune: project/b",
        "Cubist-Allow-Prune: prod",
        "Cubist-Allow: local",
    ] {
        assert!(guard(&mut p.clone(), None, &allow(not)), "{not}");
    }
    assert!(!guard(
        &mut p.clone(),
        Some(PruneLimit::Percent(100)),
        &Allowances::default()
    ));
}

#[test]
fn the_share_limit_has_a_floor_and_a_count_form() {
    let none = Allowances::default();
    // 40 owned, 50%: 20 may go, 21 may not.
    let rows = |n| plan(&[("a", Action::Delete, n), ("a", Action::Unchanged, 40 - n)]);
    assert!(!guard(&mut rows(20), None, &none));
    assert!(guard(&mut rows(21), None, &none));
    // 10% of 40 is 4, under the floor of 10.
    assert!(!guard(&mut rows(10), Some(PruneLimit::Percent(10)), &none));
    assert!(guard(&mut rows(11), Some(PruneLimit::Percent(10)), &none));
    assert!(guard(&mut rows(3), Some(PruneLimit::Count(2)), &none));
    assert!(!guard(&mut rows(2), Some(PruneLimit::Count(2)), &none));
    // A tiny cluster: 6 owned, 3 deleted (over 50%) is under the floor of 10.
    let mut tiny = plan(&[("a", Action::Delete, 3), ("a", Action::Update, 3)]);
    assert!(!guard(&mut tiny, None, &none));
    // …but deleting all it owns is held whatever the floor.
    let mut all = plan(&[("", Action::Delete, 2)]);
    assert!(guard(&mut all, None, &none));
    assert!(all.held.unwrap().reasons[0].contains("every object"));
}

#[test]
fn limits_read_as_percent_or_count() {
    let read = |y: &str| serde_json::from_str::<PruneLimit>(y).map_err(|e| e.to_string());
    assert_eq!(read("\"30%\""), Ok(PruneLimit::Percent(30)));
    assert_eq!(read("\"100%\""), Ok(PruneLimit::Percent(100)));
    assert_eq!(read("7"), Ok(PruneLimit::Count(7)));
    for bad in ["\"101%\"", "\"30\"", "\"%\"", "\"-1%\"", "-3", "\"0030%\""] {
        assert!(read(bad).is_err(), "{bad}");
    }
    assert_eq!(PruneLimit::Percent(30).to_string(), "30%");
}
