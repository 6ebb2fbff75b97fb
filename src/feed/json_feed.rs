//! JSON Feed normalisation: the document read within the item and value
//! limits (a bounded deserializer), then coerced into the shapes feed-rs
//! deserialises.

/// Reading a JSON Feed within a number of items and of values: a
/// `serde_json::Value` costs 30–100 bytes for each value however short it
/// is written, and feed-rs about as much again, so 11 MB of
/// `{"id":"1"}` items took 1.5 GB. The first items that fit are kept; a
/// top-level member other than `items` that does not fit is dropped.
mod bounded_json {
    use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
    use serde_json::{Map, Value};
    use std::cell::Cell;
    use std::fmt;

    /// Parses `text` as a JSON object within the limits.
    pub fn parse(text: &str, max_items: usize, max_values: usize) -> Result<Value, String> {
        let left = Cell::new(max_values);
        let mut de = serde_json::Deserializer::from_str(text);
        let root = de
            .deserialize_map(Root {
                left: &left,
                max_items,
            })
            .map_err(|e| e.to_string())?;
        de.end().map_err(|e| e.to_string())?;
        Ok(root)
    }

    fn skip_rest<'de, A: SeqAccess<'de>>(seq: &mut A) -> Result<(), A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(())
    }

    struct Root<'a> {
        left: &'a Cell<usize>,
        max_items: usize,
    }

    impl<'de> Visitor<'de> for Root<'_> {
        type Value = Value;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a JSON object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
            let mut out = Map::new();
            while let Some(key) = map.next_key::<String>()? {
                // What a member that does not fit had used goes back to the
                // budget: it is dropped whole.
                let before = self.left.get();
                let value = if key == "items" {
                    map.next_value_seed(Items {
                        left: self.left,
                        max_items: self.max_items,
                    })?
                } else {
                    map.next_value_seed(Bounded(self.left))?
                };
                match value {
                    Some(value) => {
                        out.insert(key, value);
                    }
                    None => self.left.set(before),
                }
            }
            Ok(Value::Object(out))
        }
    }

    /// The `items` array: complete items while they fit, the rest skipped.
    struct Items<'a> {
        left: &'a Cell<usize>,
        max_items: usize,
    }

    impl<'de> DeserializeSeed<'de> for Items<'_> {
        type Value = Option<Value>;
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Option<Value>, D::Error> {
            d.deserialize_any(self)
        }
    }

    impl<'de> Visitor<'de> for Items<'_> {
        type Value = Option<Value>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("an array of items")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Option<Value>, A::Error> {
            let mut items = Vec::new();
            while items.len() < self.max_items {
                let before = self.left.get();
                match seq.next_element_seed(Bounded(self.left))? {
                    Some(Some(item)) => items.push(item),
                    Some(None) => {
                        self.left.set(before);
                        break;
                    }
                    None => return Ok(Some(Value::Array(items))),
                }
            }
            skip_rest(&mut seq)?;
            Ok(Some(Value::Array(items)))
        }
        // Not an array: kept as it is (within the budget), for feed-rs to refuse.
        fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<Option<Value>, E> {
            Bounded(self.left).visit_bool(v)
        }
        fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Option<Value>, E> {
            Bounded(self.left).visit_i64(v)
        }
        fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Option<Value>, E> {
            Bounded(self.left).visit_u64(v)
        }
        fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Option<Value>, E> {
            Bounded(self.left).visit_f64(v)
        }
        fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Option<Value>, E> {
            Bounded(self.left).visit_str(v)
        }
        fn visit_unit<E: serde::de::Error>(self) -> Result<Option<Value>, E> {
            Bounded(self.left).visit_unit()
        }
        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Option<Value>, A::Error> {
            Bounded(self.left).visit_map(map)
        }
    }

    /// Any value, or `None` (and the rest of it skipped) once the budget of
    /// values is spent.
    #[derive(Clone, Copy)]
    struct Bounded<'a>(&'a Cell<usize>);

    impl Bounded<'_> {
        fn take(self) -> bool {
            let left = self.0.get();
            self.0.set(left.saturating_sub(1));
            left > 0
        }
        fn scalar<E>(self, v: impl FnOnce() -> Value) -> Result<Option<Value>, E> {
            Ok(self.take().then(v))
        }
    }

    impl<'de> DeserializeSeed<'de> for Bounded<'_> {
        type Value = Option<Value>;
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Option<Value>, D::Error> {
            d.deserialize_any(self)
        }
    }

    impl<'de> Visitor<'de> for Bounded<'_> {
        type Value = Option<Value>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("any JSON value")
        }
        fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<Option<Value>, E> {
            self.scalar(|| Value::Bool(v))
        }
        fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Option<Value>, E> {
            self.scalar(|| Value::from(v))
        }
        fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Option<Value>, E> {
            self.scalar(|| Value::from(v))
        }
        fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Option<Value>, E> {
            self.scalar(|| Value::from(v))
        }
        fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Option<Value>, E> {
            self.scalar(|| Value::String(v.to_string()))
        }
        fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Option<Value>, E> {
            self.scalar(|| Value::String(v))
        }
        fn visit_unit<E: serde::de::Error>(self) -> Result<Option<Value>, E> {
            self.scalar(|| Value::Null)
        }
        fn visit_none<E: serde::de::Error>(self) -> Result<Option<Value>, E> {
            self.scalar(|| Value::Null)
        }
        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Option<Value>, D::Error> {
            d.deserialize_any(self)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Option<Value>, A::Error> {
            if !self.take() {
                skip_rest(&mut seq)?;
                return Ok(None);
            }
            let mut out = Vec::new();
            while let Some(value) = seq.next_element_seed(self)? {
                match value {
                    Some(value) => out.push(value),
                    None => {
                        skip_rest(&mut seq)?;
                        return Ok(None);
                    }
                }
            }
            Ok(Some(Value::Array(out)))
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Option<Value>, A::Error> {
            let mut out = self.take().then(Map::new);
            while let Some(key) = map.next_key::<String>()? {
                match out.as_mut() {
                    Some(members) => match map.next_value_seed(self)? {
                        Some(value) => {
                            members.insert(key, value);
                        }
                        None => out = None,
                    },
                    None => {
                        map.next_value::<IgnoredAny>()?;
                    }
                }
            }
            Ok(out.map(Value::Object))
        }
    }
}

/// Coerce a JSON Feed into the exact shapes feed-rs deserialises: `http://`
/// version URLs, numeric ids, comma-separated `tags` strings, string authors,
/// missing titles, attachments without required fields; at most
/// `max_items` items and `max_values` values are read. An error when
/// the text is not a JSON object; a document without a `version` string is
/// returned as read, for feed-rs to refuse.
pub fn normalize(text: &str, max_items: usize, max_values: usize) -> Result<String, String> {
    use serde_json::{Map, Value};
    let mut root = bounded_json::parse(text, max_items, max_values)?;
    let obj = root
        .as_object_mut()
        .expect("bounded_json::parse returns an object");

    fn coerce_string(map: &mut Map<String, Value>, key: &str) {
        let replacement = match map.get(key) {
            None | Some(Value::String(_)) => return,
            Some(Value::Number(n)) => Some(Value::String(n.to_string())),
            Some(Value::Bool(b)) => Some(Value::String(b.to_string())),
            Some(_) => None,
        };
        match replacement {
            Some(v) => {
                map.insert(key.to_string(), v);
            }
            None => {
                map.remove(key);
            }
        }
    }
    fn fix_author(v: &mut Value) -> bool {
        match v {
            Value::String(s) => {
                let name = std::mem::take(s);
                *v = serde_json::json!({ "name": name });
                true
            }
            Value::Object(m) => {
                coerce_string(m, "name");
                coerce_string(m, "url");
                true
            }
            _ => false,
        }
    }
    fn fix_authors(map: &mut Map<String, Value>) {
        if let Some(a) = map.get_mut("author")
            && !fix_author(a)
        {
            map.remove("author");
        }
        match map.get_mut("authors") {
            Some(Value::Array(list)) => list.retain_mut(fix_author),
            Some(_) => {
                map.remove("authors");
            }
            None => {}
        }
    }

    if let Some(Value::String(v)) = obj.get_mut("version") {
        if let Some(rest) = v.strip_prefix("http://jsonfeed.org/") {
            *v = format!("https://jsonfeed.org/{rest}");
        }
    } else {
        return serde_json::to_string(&root).map_err(|e| e.to_string());
    }
    for key in [
        "title",
        "home_page_url",
        "feed_url",
        "language",
        "description",
        "icon",
        "favicon",
    ] {
        coerce_string(obj, key);
    }
    if !obj.contains_key("title") {
        obj.insert("title".into(), Value::String(String::new()));
    }
    fix_authors(obj);
    if let Some(Value::Array(items)) = obj.get_mut("items") {
        items.retain(Value::is_object);
        for item in items.iter_mut() {
            let Some(m) = item.as_object_mut() else {
                continue;
            };
            for key in [
                "id",
                "url",
                "external_url",
                "title",
                "content_html",
                "content_text",
                "summary",
                "date_published",
                "date_modified",
            ] {
                coerce_string(m, key);
            }
            fix_authors(m);
            let tags = match m.get("tags") {
                Some(Value::String(s)) => Some(
                    s.split(',')
                        .map(|t| Value::String(t.trim().to_string()))
                        .filter(|t| t.as_str() != Some(""))
                        .collect(),
                ),
                Some(Value::Array(list)) => Some(
                    list.iter()
                        .filter_map(|t| match t {
                            Value::String(s) => Some(Value::String(s.clone())),
                            Value::Number(n) => Some(Value::String(n.to_string())),
                            _ => None,
                        })
                        .collect::<Vec<_>>(),
                ),
                Some(_) => Some(Vec::new()),
                None => None,
            };
            if let Some(tags) = tags {
                m.insert("tags".into(), Value::Array(tags));
            }
            if let Some(Value::Array(atts)) = m.get_mut("attachments") {
                atts.retain_mut(|a| {
                    let Some(am) = a.as_object_mut() else {
                        return false;
                    };
                    coerce_string(am, "url");
                    coerce_string(am, "mime_type");
                    coerce_string(am, "title");
                    if !am.get("size_in_bytes").is_some_and(Value::is_u64) {
                        am.remove("size_in_bytes");
                    }
                    am.get("url").is_some() && am.get("mime_type").is_some()
                });
            } else {
                m.remove("attachments");
            }
        }
    }
    serde_json::to_string(&root).map_err(|e| e.to_string())
}

/// What feed-rs drops of a JSON Feed, read in one pass: per item, its
/// `image` (else `banner_image`); and the feed's own links, `feed_url` as
/// `self` and each WebSub `hubs` entry as `hub`, for push (`(rel, url)`).
pub fn extras(text: &str) -> (Vec<Option<String>>, Vec<(String, String)>) {
    let Ok(value) = serde_json::from_str::<serde_json::Value>(text) else {
        return Default::default();
    };
    let images = value
        .get("items")
        .and_then(|v| v.as_array())
        .map(|items| {
            items
                .iter()
                .map(|it| {
                    ["image", "banner_image"]
                        .iter()
                        .find_map(|k| it.get(*k).and_then(|v| v.as_str()).map(str::to_string))
                })
                .collect()
        })
        .unwrap_or_default();
    let url = |v: &serde_json::Value| v.as_str().map(str::trim).map(str::to_string);
    let mut links: Vec<(String, String)> = Vec::new();
    if let Some(own) = value.get("feed_url").and_then(url) {
        links.push(("self".into(), own));
    }
    for hub in value
        .get("hubs")
        .and_then(|v| v.as_array())
        .into_iter()
        .flatten()
    {
        let websub = hub
            .get("type")
            .and_then(|t| t.as_str())
            .is_some_and(|t| t.eq_ignore_ascii_case("websub"));
        if let (true, Some(at)) = (websub, hub.get("url").and_then(url)) {
            links.push(("hub".into(), at));
        }
    }
    (images, links)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_is_read_within_the_item_and_value_limits() {
        let parse = |text: &str, items, values| {
            bounded_json::parse(text, items, values).map(|v| v.to_string())
        };
        assert_eq!(
            parse(
                r#"{"items":[{"id":"1"},{"id":"2"},{"id":"3"}],"title":"t"}"#,
                2,
                100
            )
            .as_deref(),
            Ok(r#"{"items":[{"id":"1"},{"id":"2"}],"title":"t"}"#)
        );
        // A member too big for the budget is dropped and gives its share back.
        assert_eq!(
            parse(
                r#"{"x":[0,0,0,0,0,0],"items":[{"id":"1"},{"id":"2"}],"title":"t"}"#,
                10,
                3
            )
            .as_deref(),
            Ok(r#"{"items":[{"id":"1"}],"title":"t"}"#)
        );
        assert!(parse("[1, 2]", 10, 10).is_err());
        assert!(parse(r#"{"items": [{"id": "1"}"#, 10, 10).is_err());
        assert!(parse(r#"{"a": 1} x"#, 10, 10).is_err());
    }

    #[test]
    fn the_feed_url_and_websub_hubs_are_the_feeds_links() {
        let (images, links) = extras(
            r#"{"feed_url":"https://n.example/feed.json","hubs":[{"type":"rssCloud","url":"https://c.example/"},{"type":"WebSub","url":"https://hub.example/"}],"items":[{"id":"1","image":"https://n.example/1.jpg"}]}"#,
        );
        assert_eq!(images, [Some("https://n.example/1.jpg".to_string())]);
        assert_eq!(
            links,
            [
                (
                    "self".to_string(),
                    "https://n.example/feed.json".to_string()
                ),
                ("hub".to_string(), "https://hub.example/".to_string())
            ]
        );
    }
}
