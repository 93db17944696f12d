//! A pipeline DAG as an inline SVG: layered layout (each task in the layer of its longest path
//! from a root), one `<rect>` per task and one `<path class="edge">` per dependency.

use std::collections::HashMap;

use crate::doc::TaskDigest;
use crate::html::Html;

const BOX_W: usize = 150;
const BOX_H: usize = 44;
const GAP_X: usize = 60;
const GAP_Y: usize = 18;
const PAD: usize = 8;
const MAX_LABEL: usize = 18;

/// Grid position of each task: `(layer, row)`, indexed like the input.
///
/// A task's layer is the length of its longest chain of dependencies; dependencies on unknown
/// tasks and edges closing a cycle are ignored. Rows within a layer follow the mean row of the
/// task's parents, then declaration order, which keeps most edges short and uncrossed.
pub fn layout(tasks: &[TaskDigest]) -> Vec<(usize, usize)> {
    let index: HashMap<&str, usize> = tasks
        .iter()
        .enumerate()
        .map(|(i, t)| (t.name.as_str(), i))
        .collect();
    let parents: Vec<Vec<usize>> = tasks
        .iter()
        .map(|t| {
            t.after
                .iter()
                .filter_map(|a| index.get(a.as_str()).copied())
                .collect()
        })
        .collect();

    // Longest-path layering by depth-first search; `visiting` breaks cycles.
    let mut layer: Vec<Option<usize>> = vec![None; tasks.len()];
    let mut visiting = vec![false; tasks.len()];
    fn depth(
        i: usize,
        parents: &[Vec<usize>],
        layer: &mut [Option<usize>],
        visiting: &mut [bool],
    ) -> usize {
        if let Some(l) = layer[i] {
            return l;
        }
        visiting[i] = true;
        let mut l = 0;
        for &p in &parents[i] {
            if !visiting[p] {
                l = l.max(depth(p, parents, layer, visiting) + 1);
            }
        }
        visiting[i] = false;
        layer[i] = Some(l);
        l
    }
    for i in 0..tasks.len() {
        depth(i, &parents, &mut layer, &mut visiting);
    }
    let layer: Vec<usize> = layer.into_iter().map(|l| l.unwrap_or(0)).collect();

    let layers = layer.iter().max().map_or(0, |m| m + 1);
    let mut row = vec![0usize; tasks.len()];
    for l in 0..layers {
        let mut members: Vec<(f64, usize)> = (0..tasks.len())
            .filter(|&i| layer[i] == l)
            .map(|i| {
                let placed: Vec<usize> = parents[i]
                    .iter()
                    .filter(|&&p| layer[p] < l)
                    .map(|&p| row[p])
                    .collect();
                let key = if placed.is_empty() {
                    f64::MAX
                } else {
                    placed.iter().sum::<usize>() as f64 / placed.len() as f64
                };
                (key, i)
            })
            .collect();
        members.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        for (r, (_, i)) in members.into_iter().enumerate() {
            row[i] = r;
        }
    }
    layer.into_iter().zip(row).collect()
}

/// The DAG of `tasks` as an `<svg>` element (empty fragment when there are no tasks).
pub fn svg(tasks: &[TaskDigest]) -> Html {
    let mut h = Html::new();
    if tasks.is_empty() {
        return h;
    }
    let pos = layout(tasks);
    let cols = pos.iter().map(|p| p.0).max().unwrap_or(0) + 1;
    let rows = pos.iter().map(|p| p.1).max().unwrap_or(0) + 1;
    let width = PAD * 2 + cols * BOX_W + (cols - 1) * GAP_X;
    let height = PAD * 2 + rows * BOX_H + (rows - 1) * GAP_Y;
    let xy = |i: usize| {
        (
            PAD + pos[i].0 * (BOX_W + GAP_X),
            PAD + pos[i].1 * (BOX_H + GAP_Y),
        )
    };
    let index: HashMap<&str, usize> = tasks
        .iter()
        .enumerate()
        .map(|(i, t)| (t.name.as_str(), i))
        .collect();

    let view_box = format!("0 0 {width} {height}");
    // Shrinks with the page down to 70% (text stays legible), then its box scrolls sideways.
    let size = format!("min-width:{}px;max-width:{width}px", width * 7 / 10);
    h.open(
        "svg",
        &[
            ("class", "dag"),
            ("xmlns", "http://www.w3.org/2000/svg"),
            ("viewBox", &view_box),
            ("style", &size),
            ("role", "img"),
            ("aria-label", "task graph"),
        ],
    );
    h.raw(concat!(
        r#"<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" "#,
        r#"markerHeight="7" orient="auto-start-reverse"><polygon points="0,0 10,5 0,10"/></marker></defs>"#
    ));
    for (i, task) in tasks.iter().enumerate() {
        let (x2, y2) = xy(i);
        for dep in &task.after {
            let Some(&p) = index.get(dep.as_str()) else {
                continue;
            };
            let (x1, y1) = xy(p);
            let (sx, sy) = (x1 + BOX_W, y1 + BOX_H / 2);
            let (ex, ey) = (x2, y2 + BOX_H / 2);
            let mid = (sx + ex) / 2;
            let d = format!("M{sx},{sy} C{mid},{sy} {mid},{ey} {ex},{ey}");
            h.open(
                "path",
                &[("class", "edge"), ("d", &d), ("marker-end", "url(#arrow)")],
            );
            h.open("title", &[])
                .text(dep)
                .text(" → ")
                .text(&task.name)
                .close("title")
                .close("path");
        }
    }
    for (i, task) in tasks.iter().enumerate() {
        let (x, y) = xy(i);
        let (xs, ys) = (x.to_string(), y.to_string());
        let (tx, ty1, ty2) = (
            (x + 10).to_string(),
            (y + 19).to_string(),
            (y + 35).to_string(),
        );
        h.open("g", &[("class", "task")]);
        h.open("title", &[])
            .text(&task.name)
            .text(" (")
            .text(&task.template)
            .text(")")
            .close("title");
        h.empty(
            "rect",
            &[
                ("x", &xs),
                ("y", &ys),
                ("width", &BOX_W.to_string()),
                ("height", &BOX_H.to_string()),
                ("rx", "6"),
            ],
        );
        h.el(
            "text",
            &[("x", &tx), ("y", &ty1), ("class", "name")],
            &ellipsis(&task.name),
        );
        h.el(
            "text",
            &[("x", &tx), ("y", &ty2), ("class", "tmpl")],
            &ellipsis(&task.template),
        );
        h.close("g");
    }
    h.close("svg");
    h
}

/// `s` cut to [`MAX_LABEL`] characters with an ellipsis.
fn ellipsis(s: &str) -> String {
    if s.chars().count() <= MAX_LABEL {
        s.to_string()
    } else {
        let cut: String = s.chars().take(MAX_LABEL - 1).collect();
        format!("{cut}…")
    }
}
