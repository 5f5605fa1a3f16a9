//! The types of front matter fields that need more than serde's defaults:
//! dates that must carry their UTC offset, bylines with an optional role,
//! and the white-space rule every one-line text field follows.

use chrono::{DateTime, FixedOffset, NaiveDate};
use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use toml::Spanned;

/// `text` with every run of white space made one space, and none at either
/// end: how titles, names, tags and summaries are read.
pub(crate) fn collapse_whitespace(text: &str) -> String {
    let mut collapsed = String::with_capacity(text.len());
    for word in text.split_whitespace() {
        if !collapsed.is_empty() {
            collapsed.push(' ');
        }
        collapsed.push_str(word);
    }
    collapsed
}

/// A front matter date: a TOML date or date-time, or a string holding one.
/// A plain date means midnight UTC; a date-time must carry its UTC offset,
/// since a feed date without one is ambiguous.
pub(super) struct Date(pub DateTime<FixedOffset>);

impl<'de> Deserialize<'de> for Date {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = match toml::Value::deserialize(deserializer)? {
            toml::Value::String(s) => s,
            toml::Value::Datetime(d) => d.to_string(),
            other => {
                return Err(de::Error::custom(format!(
                    "expected a date such as 2024-05-20 or 2024-05-20T08:00:00+08:00, found {}",
                    other.type_str()
                )))
            }
        };
        parse_date(&text).map(Date).map_err(de::Error::custom)
    }
}

/// Parses an RFC 3339 date-time or a plain `YYYY-MM-DD` date (midnight UTC).
fn parse_date(text: &str) -> Result<DateTime<FixedOffset>, String> {
    let text = text.trim();
    if let Ok(date) = DateTime::parse_from_rfc3339(text) {
        return Ok(date);
    }
    if let Ok(day) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Ok(day
            .and_time(chrono::NaiveTime::MIN)
            .and_utc()
            .fixed_offset());
    }
    if chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f").is_ok()
        || chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f").is_ok()
    {
        return Err(format!(
            "date `{text}` has no UTC offset: add one, as in `{text}Z` or `{text}+08:00`"
        ));
    }
    Err(format!(
        "`{text}` is not a date: use 2024-05-20 or 2024-05-20T08:00:00+08:00 (RFC 3339)"
    ))
}

/// One entry of `authors`: a name, or a table `{ name = "…", role = "editor" }`.
pub(super) struct AuthorEntry {
    pub name: String,
    pub role: Option<String>,
    pub span: std::ops::Range<usize>,
}

impl<'de> Deserialize<'de> for AuthorEntry {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let spanned = Spanned::<AuthorSpec>::deserialize(deserializer)?;
        let span = spanned.span();
        let spec = spanned.into_inner();
        Ok(AuthorEntry {
            name: spec.name,
            role: spec.role,
            span,
        })
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AuthorTable {
    name: String,
    #[serde(default)]
    role: Option<String>,
}

struct AuthorSpec {
    name: String,
    role: Option<String>,
}

impl<'de> Deserialize<'de> for AuthorSpec {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct SpecVisitor;
        impl<'de> Visitor<'de> for SpecVisitor {
            type Value = AuthorSpec;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a name, or a table such as { name = \"…\", role = \"editor\" }")
            }
            fn visit_str<E: de::Error>(self, name: &str) -> Result<AuthorSpec, E> {
                Ok(AuthorSpec {
                    name: name.to_string(),
                    role: None,
                })
            }
            fn visit_map<M: MapAccess<'de>>(self, map: M) -> Result<AuthorSpec, M::Error> {
                let table = AuthorTable::deserialize(de::value::MapAccessDeserializer::new(map))?;
                let role = table
                    .role
                    .map(|r| r.trim().to_lowercase())
                    .filter(|r| !r.is_empty() && r != "author");
                Ok(AuthorSpec {
                    name: table.name,
                    role,
                })
            }
        }
        deserializer.deserialize_any(SpecVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::collapse_whitespace;

    #[test]
    fn white_space_collapses_to_single_spaces() {
        assert_eq!(collapse_whitespace("  a \t b\n\nc  "), "a b c");
        assert_eq!(collapse_whitespace(" \u{3000} "), "");
        assert_eq!(collapse_whitespace("one"), "one");
    }
}
