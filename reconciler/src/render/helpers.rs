//! The helpers blueprints use, strict about missing values: `{{json value}}` and
//! `{{#if value}}` / `{{#unless value}}`. Handlebars' strict mode covers plain `{{value}}` but
//! lets helpers see a missing parameter as `null` (or false): these fail instead, and the error
//! names the blueprint, the line and the missing value.
//!
//! During a fast render (see [`super::engine`]) `{{json}}` does not print its value: it writes
//! a placeholder and keeps what the value is, to be put in place once the skeleton is parsed.

use handlebars::{
    Context, Handlebars, Helper, HelperDef, HelperResult, JsonTruthy, Output, RenderContext,
    RenderError, RenderErrorReason, Renderable,
};
use serde_json::Value;
use std::cell::RefCell;

/// Registers `json`, and the strict `if` and `unless`, on a registry.
pub(super) fn register(hb: &mut Handlebars) {
    hb.register_helper("json", Box::new(json_helper));
    hb.register_helper("if", Box::new(StrictIf { positive: true }));
    hb.register_helper("unless", Box::new(StrictIf { positive: false }));
}

/// Prefix of the placeholder scalar `{{json}}` writes in a fast render: `__cubist_json_<n>__`.
pub(super) const MARK: &str = "__cubist_json_";

/// A value `{{json}}` inserted during a fast render.
#[derive(Debug)]
pub(super) enum Inserted {
    /// A string, number or other literal written in the blueprint.
    Literal(Value),
    /// A copy of a value that is not at a path of the rendered context (derived by handlebars).
    Copy(Value),
    /// Where the value is in the rendered context: it is moved out of it after the render.
    Path(Vec<String>),
}

/// What `{{json}}` inserted during a fast render on this thread.
struct Stash {
    /// Address of the context being rendered, to tell its values from derived ones.
    context: usize,
    inserted: Vec<Inserted>,
}

thread_local! {
    static STASH: RefCell<Option<Stash>> = const { RefCell::new(None) };
    /// Placeholders by number, written once: formatting one per value cost a tenth of a render.
    static PLACEHOLDERS: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
}

/// Runs `render` with `{{json}}` writing placeholders on this thread; returns its result and
/// what `{{json}}` inserted, in placeholder order.
pub(super) fn with_placeholders<T>(
    context: &Context,
    render: impl FnOnce() -> T,
) -> (T, Vec<Inserted>) {
    let stash = Stash {
        context: context as *const Context as usize,
        // Enough for most blueprints: growing one value at a time showed in profiles.
        inserted: Vec::with_capacity(64),
    };
    STASH.with(|s| *s.borrow_mut() = Some(stash));
    let result = render();
    let inserted = STASH
        .with(|s| s.borrow_mut().take())
        .map(|s| s.inserted)
        .unwrap_or_default();
    (result, inserted)
}

/// How a skeleton's slots are filled: where each inserted value comes from, and which values
/// can be moved out of the context. Made once per render, or kept with a shape (see
/// [`super::shape`]) and used for every context of that shape.
#[derive(Debug)]
pub(super) struct Fill {
    sources: Vec<Source>,
    /// For each source, whether its value can be moved (only values of the context can).
    moves: Vec<bool>,
}

/// Where one inserted value comes from.
#[derive(Debug)]
enum Source {
    /// A value kept in the fill: written in the blueprint's text, or derived by handlebars
    /// (`copied`: another context of the same shape may derive another value).
    Kept { value: Value, copied: bool },
    /// The position of each step of its path in the context: the nth key of a map, the nth item
    /// of a list. Contexts of one shape have the same keys in the same order, so positions found
    /// in one hold in all, and no key is hashed or compared to find them.
    At(Vec<usize>),
}

impl Fill {
    /// The fill of values `{{json}}` inserted, in placeholder order, with paths found in
    /// `data`, the rendered context; `None` if a path is not in it.
    pub(super) fn new(inserted: Vec<Inserted>, data: &Value) -> Option<Self> {
        let sources = inserted
            .into_iter()
            .map(|i| match i {
                Inserted::Path(p) => positions(data, &p).map(Source::At),
                Inserted::Literal(value) => Some(Source::Kept {
                    value,
                    copied: false,
                }),
                Inserted::Copy(value) => Some(Source::Kept {
                    value,
                    copied: true,
                }),
            })
            .collect::<Option<Vec<_>>>()?;
        let paths: Vec<&[usize]> = sources
            .iter()
            .filter_map(|s| match s {
                Source::At(p) => Some(p.as_slice()),
                Source::Kept { .. } => None,
            })
            .collect();
        let mut movable = movable(&paths).into_iter();
        let moves = sources
            .iter()
            .map(|s| matches!(s, Source::At(_)) && movable.next().unwrap_or(false))
            .collect();
        Some(Fill { sources, moves })
    }

    /// Whether every value comes from a path of the context or from the blueprint's text: then
    /// any context of the same shape fills the same skeleton this way.
    pub(super) fn is_reusable(&self) -> bool {
        !self
            .sources
            .iter()
            .any(|s| matches!(s, Source::Kept { copied: true, .. }))
    }

    /// The inserted values, in placeholder order, borrowed from `context` (or from the fill).
    pub(super) fn refs<'a>(&'a self, context: &'a Context) -> Vec<&'a Value> {
        let data = context.data();
        self.sources
            .iter()
            .map(|source| match source {
                Source::Kept { value, .. } => value,
                Source::At(p) => locate_ref(data, p).expect("a position of this shape"),
            })
            .collect()
    }

    /// The inserted values, in placeholder order: values of `context` are moved out of it at
    /// their last use, copied before (or when another inserted value holds them).
    pub(super) fn values(&self, context: &mut Context) -> Vec<Value> {
        let data = context.data_mut();
        self.sources
            .iter()
            .zip(&self.moves)
            .map(|(source, &moved)| match source {
                Source::Kept { value, .. } => value.clone(),
                Source::At(p) => {
                    let slot = locate(data, p).expect("a position of this shape");
                    if moved {
                        std::mem::take(slot)
                    } else {
                        slot.clone()
                    }
                }
            })
            .collect()
    }
}

/// For each path, whether its value can be moved: at the last use of that path, when no other
/// path is inside it or around it. Sorted, a path's extensions follow it directly and the paths
/// around it are the chain of prefixes still open, so this takes n log n comparisons.
fn movable(paths: &[&[usize]]) -> Vec<bool> {
    let mut order: Vec<usize> = (0..paths.len()).collect();
    // Ties keep their order: equal paths sort by position.
    order.sort_by(|a, b| paths[*a].cmp(paths[*b]));
    let mut movable = vec![false; paths.len()];
    // Distinct paths seen so far that are prefixes of one another, shortest first.
    let mut open: Vec<&[usize]> = Vec::new();
    for (k, &i) in order.iter().enumerate() {
        let p = paths[i];
        while open.last().is_some_and(|q| !p.starts_with(q)) {
            open.pop();
        }
        let around = open.iter().any(|q| q.len() < p.len());
        let inside_or_later = order.get(k + 1).is_some_and(|&j| paths[j].starts_with(p));
        movable[i] = !around && !inside_or_later;
        if open.last() != Some(&p) {
            open.push(p);
        }
    }
    movable
}

/// The positions of a handlebars context path (object keys and array indexes) in `value`.
fn positions(mut value: &Value, path: &[String]) -> Option<Vec<usize>> {
    path.iter()
        .map(|seg| {
            let (at, next) = match value {
                Value::Object(m) => m
                    .iter()
                    .enumerate()
                    .find(|(_, (k, _))| *k == seg)
                    .map(|(i, (_, v))| (i, v))?,
                Value::Array(a) => {
                    let i = seg.parse::<usize>().ok()?;
                    (i, a.get(i)?)
                }
                _ => return None,
            };
            value = next;
            Some(at)
        })
        .collect()
}

/// The value at positions found by [`positions`], borrowed.
fn locate_ref<'v>(value: &'v Value, at: &[usize]) -> Option<&'v Value> {
    at.iter().try_fold(value, |v, &i| match v {
        Value::Object(m) => m.values().nth(i),
        Value::Array(a) => a.get(i),
        _ => None,
    })
}

/// The value at positions found by [`positions`].
fn locate<'v>(mut value: &'v mut Value, at: &[usize]) -> Option<&'v mut Value> {
    for &i in at {
        value = match value {
            Value::Object(m) => m.values_mut().nth(i)?,
            Value::Array(a) => a.get_mut(i)?,
            _ => return None,
        };
    }
    Some(value)
}

/// `{{json value}}`: the value as compact JSON (a YAML-safe scalar, list or map), or in a fast
/// render a placeholder for it. A missing value is an error.
fn json_helper(
    h: &Helper,
    _: &Handlebars,
    context: &Context,
    _: &mut RenderContext,
    out: &mut dyn Output,
) -> HelperResult {
    let param = h
        .param(0)
        .ok_or(RenderErrorReason::ParamNotFoundForIndex("json", 0))?;
    if param.is_value_missing() {
        return Err(RenderError::strict_error(param.relative_path()));
    }
    let kept = STASH.with(|s| {
        s.borrow_mut().as_mut().map(|stash| {
            // Values of the rendered context are taken after the render, by their path.
            let moved = match (param.context_path(), param.relative_path()) {
                (Some(path), _) if stash.context == context as *const Context as usize => {
                    Inserted::Path(path.clone())
                }
                (None, None) => Inserted::Literal(param.value().clone()),
                _ => Inserted::Copy(param.value().clone()),
            };
            stash.inserted.push(moved);
            stash.inserted.len() - 1
        })
    });
    match kept {
        Some(i) => PLACEHOLDERS.with(|p| {
            let mut p = p.borrow_mut();
            while p.len() <= i {
                let n = p.len();
                p.push(format!("{MARK}{n}__"));
            }
            out.write(&p[i])
        })?,
        None => {
            let text = serde_json::to_string(param.value())
                .map_err(|e| RenderErrorReason::Other(e.to_string()))?;
            out.write(&text)?;
        }
    }
    Ok(())
}

/// `{{#if value}}` (`positive`) or `{{#unless value}}`: handlebars' own, except that a missing
/// value is an error rather than false. `null`, `false`, `0`, `""` and empty lists are false.
struct StrictIf {
    positive: bool,
}

impl HelperDef for StrictIf {
    fn call<'reg: 'rc, 'rc>(
        &self,
        h: &Helper<'rc>,
        r: &'reg Handlebars<'reg>,
        ctx: &'rc Context,
        rc: &mut RenderContext<'reg, 'rc>,
        out: &mut dyn Output,
    ) -> HelperResult {
        let name = if self.positive { "if" } else { "unless" };
        let param = h
            .param(0)
            .ok_or(RenderErrorReason::ParamNotFoundForIndex(name, 0))?;
        if param.is_value_missing() {
            return Err(RenderError::strict_error(param.relative_path()));
        }
        let include_zero = h
            .hash_get("includeZero")
            .and_then(|v| v.value().as_bool())
            .unwrap_or(false);
        let branch = if param.value().is_truthy(include_zero) == self.positive {
            h.template()
        } else {
            h.inverse()
        };
        branch.map_or(Ok(()), |t| t.render(r, ctx, rc, out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A value is moved out of the context at its last use only when no other inserted value is
    /// inside it or around it; otherwise it is copied and stays in the context.
    #[test]
    fn values_move_at_their_last_use_when_nothing_else_holds_them() {
        let mut context = Context::from(json!({
            "a": {"b": [1]}, "c": [2], "d": {"e": 3}, "f": [4], "g": {"h": [5]}
        }));
        let path = |p: &str| Inserted::Path(p.split('.').map(String::from).collect());
        let inserted = vec![
            path("c"),
            path("a"),
            Inserted::Copy(json!("x")),
            path("a.b"),
            path("c"),
            path("d"),
            path("g.h"),
            path("f"),
        ];
        let values = Fill::new(inserted, &context.data().clone())
            .unwrap()
            .values(&mut context);
        assert_eq!(
            values,
            vec![
                json!([2]),
                json!({"b": [1]}),
                json!("x"),
                json!([1]),
                json!([2]),
                json!({"e": 3}),
                json!([5]),
                json!([4])
            ]
        );
        // `a` and `a.b` hold each other: both copied. `c` is moved at its second use; `d`, `g.h`
        // and `f` are moved.
        assert_eq!(
            context.data(),
            &json!({"a": {"b": [1]}, "c": null, "d": null, "f": null, "g": {"h": null}})
        );
    }
}
