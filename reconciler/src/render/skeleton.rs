//! Skeletons: the YAML a blueprint renders with placeholders for its inserted values, parsed
//! once into JSON with slots, then filled with the values for each object.

use super::helpers::MARK;
use super::json_text::{write_map, write_seq, write_value};
use crate::model::yaml_scalar::unquoted_scalar_json;
use saphyr_parser::{Event, ScalarStyle};
use serde_json::{Map, Value};

/// A parsed skeleton: the blueprint's own values, and slots for the inserted values.
#[derive(Debug)]
pub(super) struct Skeleton {
    root: Skel,
    /// Number of slots; they are numbered 0 to `slots - 1`, each used once.
    slots: usize,
    /// The compact JSON text of the object: the blueprint's own text between the slots.
    text: Vec<Piece>,
}

/// A run of the skeleton's JSON text.
#[derive(Debug)]
enum Piece {
    /// Text written as it is.
    Text(Box<[u8]>),
    /// The JSON of the `n`th inserted value.
    Slot(usize),
}

#[derive(Debug)]
enum Skel {
    /// A value of the blueprint text (no slot inside).
    Lit(Value),
    /// The `n`th inserted value.
    Slot(usize),
    Seq(Vec<Skel>),
    /// A mapping: its entries with `null` where a slot goes, and what goes there by position.
    Map(Map<String, Value>, Vec<(usize, Skel)>),
}

impl Skeleton {
    /// Number of inserted values the skeleton takes.
    pub(super) fn slots(&self) -> usize {
        self.slots
    }

    /// The object with every slot filled; `values` must hold [`Self::slots`] values.
    pub(super) fn instantiate(&self, values: Vec<Value>) -> Value {
        assert_eq!(values.len(), self.slots, "one value per slot");
        let mut values: Vec<Option<Value>> = values.into_iter().map(Some).collect();
        self.root.instantiate(&mut values)
    }

    /// The compact JSON text of [`Self::instantiate`]'s object, written without building it.
    pub(super) fn to_json_text(&self, values: &[&Value]) -> String {
        assert_eq!(values.len(), self.slots, "one value per slot");
        let mut out = Vec::with_capacity(1024);
        for piece in &self.text {
            match piece {
                Piece::Text(t) => out.extend_from_slice(t),
                Piece::Slot(i) => write_value(values[*i], &mut out),
            }
        }
        String::from_utf8(out).expect("JSON text of strings is UTF-8")
    }
}

impl Skel {
    fn instantiate(&self, values: &mut [Option<Value>]) -> Value {
        match self {
            Skel::Lit(v) => v.clone(),
            Skel::Slot(i) => values[*i].take().expect("each slot is used once"),
            Skel::Seq(items) => Value::Array(items.iter().map(|i| i.instantiate(values)).collect()),
            Skel::Map(entries, fills) => {
                let mut map = entries.clone();
                let mut fills = fills.iter().peekable();
                for (position, value) in map.values_mut().enumerate() {
                    if let Some((_, fill)) = fills.next_if(|(p, _)| *p == position) {
                        *value = fill.instantiate(values);
                    }
                }
                Value::Object(map)
            }
        }
    }

    /// Adds the compact JSON of [`Skel::instantiate`]'s object to `pieces`: the literal text
    /// goes into `text` until a slot ends it.
    fn write_json(&self, pieces: &mut Vec<Piece>, text: &mut Vec<u8>) {
        match self {
            Skel::Lit(v) => write_value(v, text),
            Skel::Slot(i) => {
                pieces.push(Piece::Text(std::mem::take(text).into()));
                pieces.push(Piece::Slot(*i));
            }
            Skel::Seq(items) => write_seq(items, text, |item, text| item.write_json(pieces, text)),
            Skel::Map(entries, fills) => {
                let mut fills = fills.iter().peekable();
                let entries = entries
                    .iter()
                    .enumerate()
                    .map(|(i, (k, v))| (k.as_str(), (i, v)));
                write_map(entries, text, |(position, v), text| {
                    match fills.next_if(|(p, _)| *p == position) {
                        Some((_, fill)) => fill.write_json(pieces, text),
                        None => write_value(v, text),
                    }
                });
            }
        }
    }

    /// A mapping from its entries; one literal when no entry holds a slot.
    fn map(entries: Vec<(String, Skel)>) -> Skel {
        let mut map = Map::new();
        let mut fills = Vec::new();
        for (position, (k, v)) in entries.into_iter().enumerate() {
            match v {
                Skel::Lit(v) => map.insert(k, v),
                other => {
                    fills.push((position, other));
                    map.insert(k, Value::Null)
                }
            };
        }
        if fills.is_empty() {
            Skel::Lit(Value::Object(map))
        } else {
            Skel::Map(map, fills)
        }
    }

    /// A sequence from its items; one literal when no item holds a slot.
    fn seq(items: Vec<Skel>) -> Skel {
        if items.iter().all(|i| matches!(i, Skel::Lit(_))) {
            Skel::Lit(Value::Array(
                items
                    .into_iter()
                    .filter_map(|i| match i {
                        Skel::Lit(v) => Some(v),
                        _ => None,
                    })
                    .collect(),
            ))
        } else {
            Skel::Seq(items)
        }
    }
}

/// Parses the one document of a rendered skeleton, or `None` when only the exact path can
/// (a placeholder inside a longer scalar or used as a key, anchors, aliases, duplicate keys,
/// several documents, a YAML error).
pub(super) fn parse(text: &str) -> Option<Skeleton> {
    enum Frame {
        Seq(Vec<Skel>),
        Map(Vec<(String, Skel)>, Option<String>),
    }
    let mut stack: Vec<Frame> = Vec::new();
    let mut doc: Option<Skel> = None;
    let mut seen: Vec<bool> = Vec::new();
    for next in crate::model::yaml_lines::parse(text) {
        let (event, _) = next.ok()?;
        let node = match event {
            Event::SequenceStart(anchor, _) | Event::MappingStart(anchor, _) if anchor != 0 => {
                return None;
            }
            Event::SequenceStart(..) => {
                stack.push(Frame::Seq(Vec::new()));
                continue;
            }
            Event::MappingStart(..) => {
                stack.push(Frame::Map(Vec::new(), None));
                continue;
            }
            Event::SequenceEnd | Event::MappingEnd => match stack.pop()? {
                Frame::Seq(items) => Skel::seq(items),
                Frame::Map(entries, None) => Skel::map(entries),
                Frame::Map(_, Some(_)) => return None,
            },
            Event::Scalar(_, _, anchor, _) if anchor != 0 => return None,
            Event::Scalar(text, style, _, tag) => {
                let as_str =
                    tag.as_ref().is_some_and(|t| t.suffix == "str") || style != ScalarStyle::Plain;
                if text.contains(MARK) {
                    // Only a whole unquoted scalar that is exactly a placeholder is a slot.
                    let i: usize = text.strip_prefix(MARK)?.strip_suffix("__")?.parse().ok()?;
                    if as_str || matches!(stack.last(), Some(Frame::Map(_, None))) {
                        return None;
                    }
                    if seen.len() <= i {
                        seen.resize(i + 1, false);
                    }
                    if std::mem::replace(&mut seen[i], true) {
                        return None; // the same placeholder twice: not written by `{{json}}`
                    }
                    Skel::Slot(i)
                } else if as_str {
                    Skel::Lit(Value::String(text.into_owned()))
                } else {
                    Skel::Lit(unquoted_scalar_json(&text))
                }
            }
            Event::Alias(_) => return None,
            Event::DocumentStart(_)
            | Event::DocumentEnd
            | Event::StreamStart
            | Event::StreamEnd
            | Event::Nothing => continue,
        };
        match stack.last_mut() {
            None if doc.is_none() => doc = Some(node),
            None => return None, // a second document
            Some(Frame::Seq(items)) => items.push(node),
            Some(Frame::Map(entries, key)) => match key.take() {
                Some(k) => entries.push((k, node)),
                None => {
                    let Skel::Lit(value) = node else { return None };
                    let k = match value {
                        Value::String(s) => s,
                        Value::Null => "null".into(),
                        Value::Bool(b) => b.to_string(),
                        Value::Number(n) => n.to_string(),
                        Value::Array(_) | Value::Object(_) => return None,
                    };
                    if entries.iter().any(|(e, _)| *e == k) {
                        return None; // duplicate key: the exact path reports it
                    }
                    *key = Some(k);
                }
            },
        }
    }
    if !seen.iter().all(|s| *s) {
        return None; // a gap: the numbering is not the one `{{json}}` writes
    }
    let root = match doc? {
        d @ (Skel::Map(..) | Skel::Lit(Value::Object(_))) => d,
        _ => return None,
    };
    let (mut pieces, mut text) = (Vec::new(), Vec::new());
    root.write_json(&mut pieces, &mut text);
    pieces.push(Piece::Text(text.into()));
    Some(Skeleton {
        root,
        slots: seen.len(),
        text: pieces,
    })
}
