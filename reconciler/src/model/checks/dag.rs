//! Pipeline DAGs: duplicate task names, unknown `after`, cycles (named in the message).

use crate::diag::{Diagnostic, codes};
use crate::model::Model;
use crate::model::kinds::Task;
use std::collections::HashMap;

pub(super) fn check(model: &Model, diags: &mut Vec<Diagnostic>) {
    for project in model.projects.values() {
        for p in project.pipelines.values() {
            let mut index: HashMap<&str, usize> = HashMap::new();
            for (i, t) in p.spec.tasks.iter().enumerate() {
                if let Some(first) = index.insert(&t.name, i) {
                    index.insert(&t.name, first);
                    diags.push(
                        Diagnostic::error(
                            codes::DUPLICATE_TASK,
                            &p.at(&format!("spec/tasks/{i}/name")),
                            format!(
                                "task name `{}` is used twice in pipeline `{}`",
                                t.name,
                                p.name()
                            ),
                        )
                        .help(format!(
                            "rename one of them; the first is at {}",
                            p.at(&format!("spec/tasks/{first}/name"))
                        )),
                    );
                }
            }
            for (i, t) in p.spec.tasks.iter().enumerate() {
                for (j, dep) in t.after.iter().enumerate() {
                    if !index.contains_key(dep.as_str()) {
                        let names: Vec<String> =
                            p.spec.tasks.iter().map(|t| t.name.clone()).collect();
                        let hint = crate::model::schema::closest(dep, &names)
                            .map(|n| format!("did you mean `{n}`? "))
                            .unwrap_or_default();
                        diags.push(
                            Diagnostic::error(
                                codes::UNKNOWN_TASK,
                                &p.at(&format!("spec/tasks/{i}/after/{j}")),
                                format!("task `{}` runs after unknown task `{dep}`", t.name),
                            )
                            .help(format!(
                                "{hint}`after` lists tasks of this pipeline: {}",
                                names.join(", ")
                            )),
                        );
                    }
                }
            }
            if let Err((task, dep_pos, cycle)) = topological_order(&p.spec.tasks) {
                diags.push(
                    Diagnostic::error(
                        codes::CYCLE,
                        &p.at(&format!("spec/tasks/{task}/after/{dep_pos}")),
                        format!(
                            "tasks depend on each other in a cycle: {}",
                            cycle.join(" → ")
                        ),
                    )
                    .help("remove one of these `after` entries so the tasks form a DAG"),
                );
            }
        }
    }
}

/// Orders tasks so that each comes after its `after` tasks (unknown names are ignored).
/// On a cycle returns `(task index, index in its after list, cycle names)` of the edge that
/// closes it, the cycle starting and ending with the same task.
pub fn topological_order(tasks: &[Task]) -> Result<Vec<usize>, (usize, usize, Vec<String>)> {
    // A duplicated name means its first task (as in the duplicate check), not the last one.
    let mut index: HashMap<&str, usize> = HashMap::with_capacity(tasks.len());
    for (i, t) in tasks.iter().enumerate() {
        index.entry(t.name.as_str()).or_insert(i);
    }
    // 0 = unvisited, 1 = on the stack, 2 = done
    let mut state = vec![0u8; tasks.len()];
    let mut order = Vec::with_capacity(tasks.len());
    for start in 0..tasks.len() {
        if state[start] != 0 {
            continue;
        }
        // Iterative DFS: (task, next dependency position)
        let mut stack: Vec<(usize, usize)> = vec![(start, 0)];
        state[start] = 1;
        while let Some(&mut (t, ref mut pos)) = stack.last_mut() {
            if let Some(dep_name) = tasks[t].after.get(*pos) {
                let dep_pos = *pos;
                *pos += 1;
                let Some(&d) = index.get(dep_name.as_str()) else {
                    continue;
                };
                match state[d] {
                    0 => {
                        state[d] = 1;
                        stack.push((d, 0));
                    }
                    1 => {
                        let from = stack.iter().position(|(s, _)| *s == d).unwrap_or(0);
                        // The cycle as a chain of "runs after": cycle[k] after cycle[k + 1], and the
                        // last after the first.
                        let cycle: Vec<usize> = stack[from..].iter().map(|(s, _)| *s).collect();
                        let n = cycle.len();
                        // Report the edge that points forward in the file (a task after one written
                        // below it): the likely mistake. Some edge of a cycle always does.
                        let k = (0..n)
                            .filter(|&k| cycle[k] < cycle[(k + 1) % n])
                            .min_by_key(|&k| cycle[k])
                            .unwrap_or(n - 1);
                        let (task, dep) = (cycle[k], cycle[(k + 1) % n]);
                        let pos = if (task, dep) == (t, d) {
                            dep_pos
                        } else {
                            tasks[task]
                                .after
                                .iter()
                                .position(|a| index.get(a.as_str()) == Some(&dep))
                                .unwrap_or(0)
                        };
                        // Dependency edges point backwards in time: print in run order, ending with
                        // the reported edge.
                        let mut names: Vec<String> = (0..n)
                            .map(|i| tasks[cycle[(k + n - i) % n]].name.clone())
                            .collect();
                        names.push(names[0].clone());
                        return Err((task, pos, names));
                    }
                    _ => {}
                }
            } else {
                state[t] = 2;
                order.push(t);
                stack.pop();
            }
        }
    }
    Ok(order)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(name: &str, after: &[&str]) -> Task {
        serde_json::from_value(serde_json::json!({"name": name, "template": "t", "after": after}))
            .unwrap()
    }

    #[test]
    fn orders_dependencies_first() {
        let tasks = vec![task("c", &["b"]), task("a", &[]), task("b", &["a"])];
        let order: Vec<&str> = topological_order(&tasks)
            .unwrap()
            .iter()
            .map(|i| tasks[*i].name.as_str())
            .collect();
        assert_eq!(order, ["a", "b", "c"]);
    }

    #[test]
    fn reports_the_forward_edge_of_a_cycle() {
        // b and c follow the file order; a's `after: [c]` points forward: that is the mistake.
        let tasks = vec![task("a", &["c"]), task("b", &["a"]), task("c", &["b"])];
        let (t, pos, cycle) = topological_order(&tasks).unwrap_err();
        assert_eq!((t, pos), (0, 0));
        assert_eq!(cycle, ["a", "b", "c", "a"]);
        let tasks = vec![task("x", &[]), task("a", &["x", "b"]), task("b", &["a"])];
        let (t, pos, cycle) = topological_order(&tasks).unwrap_err();
        assert_eq!((t, pos), (1, 1));
        assert_eq!(cycle, ["a", "b", "a"]);
    }

    #[test]
    fn a_duplicated_name_means_the_first_task() {
        let tasks = vec![task("a", &[]), task("b", &["a"]), task("a", &["b"])];
        assert!(topological_order(&tasks).is_ok());
    }

    #[test]
    fn names_the_cycle() {
        let tasks = vec![task("a", &["c"]), task("b", &["a"]), task("c", &["b"])];
        let (_, _, cycle) = topological_order(&tasks).unwrap_err();
        assert_eq!(cycle.first(), cycle.last());
        assert_eq!(cycle.len(), 4, "{cycle:?}");
    }
}
