//! A JSON value and its pretty printer: all the benchmark needs to write `results.json`, so the
//! crate takes no serialization dependency for one file of known shape.

use std::fmt::Write;

/// A JSON value. Objects keep their keys in insertion order.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Json {
    Null,
    Bool(bool),
    Int(i64),
    /// Written with at most `digits` decimals; NaN and infinities become `null`.
    Num(f64, usize),
    Str(String),
    Arr(Vec<Json>),
    Obj(Vec<(String, Json)>),
}

impl Json {
    /// An object from `(key, value)` pairs.
    pub(crate) fn obj<K: Into<String>>(fields: impl IntoIterator<Item = (K, Json)>) -> Json {
        Json::Obj(fields.into_iter().map(|(k, v)| (k.into(), v)).collect())
    }

    /// A number with three decimals at most.
    pub(crate) fn num(x: f64) -> Json {
        Json::Num(x, 3)
    }

    /// An unsigned count.
    pub(crate) fn int(n: u64) -> Json {
        Json::Int(i64::try_from(n).unwrap_or(i64::MAX))
    }

    /// A string.
    pub(crate) fn str(s: impl Into<String>) -> Json {
        Json::Str(s.into())
    }

    /// The value as indented text, with a final newline.
    pub(crate) fn pretty(&self) -> String {
        let mut out = String::new();
        self.write(&mut out, 0);
        out.push('\n');
        out
    }

    fn write(&self, out: &mut String, indent: usize) {
        match self {
            Json::Null => out.push_str("null"),
            Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Json::Int(n) => {
                let _ = write!(out, "{n}");
            }
            Json::Num(x, digits) => {
                if x.is_finite() {
                    let text = format!("{x:.digits$}");
                    let text = if text.contains('.') {
                        text.trim_end_matches('0').trim_end_matches('.')
                    } else {
                        &text
                    };
                    out.push_str(if text == "-0" { "0" } else { text });
                } else {
                    out.push_str("null");
                }
            }
            Json::Str(s) => write_string(out, s),
            Json::Arr(items) if items.is_empty() => out.push_str("[]"),
            Json::Obj(fields) if fields.is_empty() => out.push_str("{}"),
            Json::Arr(items) => {
                // Arrays of plain values stay on one line.
                if items
                    .iter()
                    .all(|i| !matches!(i, Json::Arr(_) | Json::Obj(_)))
                {
                    out.push('[');
                    for (n, item) in items.iter().enumerate() {
                        if n > 0 {
                            out.push_str(", ");
                        }
                        item.write(out, indent);
                    }
                    out.push(']');
                    return;
                }
                out.push_str("[\n");
                for (n, item) in items.iter().enumerate() {
                    push_indent(out, indent + 1);
                    item.write(out, indent + 1);
                    out.push_str(if n + 1 < items.len() { ",\n" } else { "\n" });
                }
                push_indent(out, indent);
                out.push(']');
            }
            Json::Obj(fields) => {
                out.push_str("{\n");
                for (n, (key, value)) in fields.iter().enumerate() {
                    push_indent(out, indent + 1);
                    write_string(out, key);
                    out.push_str(": ");
                    value.write(out, indent + 1);
                    out.push_str(if n + 1 < fields.len() { ",\n" } else { "\n" });
                }
                push_indent(out, indent);
                out.push('}');
            }
        }
    }
}

fn push_indent(out: &mut String, indent: usize) {
    for _ in 0..indent {
        out.push_str("  ");
    }
}

fn write_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_valid_indented_json() {
        let value = Json::obj([
            ("name", Json::str("a \"b\"\n\u{1}")),
            ("n", Json::int(3)),
            ("x", Json::num(2.5)),
            ("whole", Json::num(4.0)),
            ("nan", Json::num(f64::NAN)),
            ("list", Json::Arr(vec![Json::int(1), Json::Null])),
            (
                "nested",
                Json::Arr(vec![Json::obj([("ok", Json::Bool(true))])]),
            ),
            ("empty", Json::Obj(vec![])),
        ]);
        let expected = r#"{
  "name": "a \"b\"\n\u0001",
  "n": 3,
  "x": 2.5,
  "whole": 4,
  "nan": null,
  "list": [1, null],
  "nested": [
    {
      "ok": true
    }
  ],
  "empty": {}
}
"#;
        assert_eq!(value.pretty(), expected);
    }
}
