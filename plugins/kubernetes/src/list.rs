//! A list response read as it streams in: each element of `items` comes out as its own JSON
//! text, so a list of 100,000 objects is never held whole, neither as bytes nor decoded
//! (kube-rs's `Api::list` reads the whole body, then decodes every object at once).

/// The largest single object accepted: far above etcd's 1.5 MiB request limit, so only a broken
/// or hostile stream reaches it, and it cannot make the reader buffer without bound.
pub const MAX_OBJECT: usize = 8 << 20;

/// Why a list body could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ListError {
    #[error("list object larger than {MAX_OBJECT} bytes")]
    TooLarge,
    #[error("malformed list body")]
    Malformed,
    #[error("list body ended early")]
    Truncated,
}

/// What is being copied out of the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Capture {
    Item,
    Metadata,
}

/// Splits a JSON list object (`{"kind": ..., "metadata": {...}, "items": [{...}, ...]}`, keys in
/// any order) into its items and its `metadata`, fed a chunk at a time.
#[derive(Default)]
pub struct ListSplitter {
    /// Nesting of objects and arrays: 1 inside the list object, 2 inside `items`.
    depth: u32,
    in_string: bool,
    escaped: bool,
    /// At depth 1: whether the next string is a key.
    expect_key: bool,
    reading_key: bool,
    /// The last key read at depth 1 (only `items` and `metadata` matter; longer keys are cut).
    key: Vec<u8>,
    in_items: bool,
    capture: Option<Capture>,
    buf: Vec<u8>,
    metadata: Option<Vec<u8>>,
    /// The top-level object has closed.
    done: bool,
}

impl ListSplitter {
    /// Reads `chunk`, calling `item` with the JSON text of every element of `items` completed in
    /// it.
    pub fn feed(&mut self, chunk: &[u8], mut item: impl FnMut(&[u8])) -> Result<(), ListError> {
        for &b in chunk {
            if self.capture.is_some() {
                if self.buf.len() >= MAX_OBJECT {
                    return Err(ListError::TooLarge);
                }
                self.buf.push(b);
            }
            if self.in_string {
                if self.escaped {
                    self.escaped = false;
                } else if b == b'\\' {
                    self.escaped = true;
                } else if b == b'"' {
                    self.in_string = false;
                    self.reading_key = false;
                } else if self.reading_key && self.key.len() < 16 {
                    self.key.push(b);
                }
                continue;
            }
            match b {
                b'"' => {
                    self.in_string = true;
                    if self.depth == 1 && self.expect_key {
                        self.reading_key = true;
                        self.key.clear();
                    }
                }
                b'{' | b'[' => {
                    if self.done {
                        return Err(ListError::Malformed);
                    }
                    if self.depth == 1 && !self.expect_key {
                        match (self.key.as_slice(), b) {
                            (b"items", b'[') => self.in_items = true,
                            (b"metadata", b'{') => self.start(Capture::Metadata, b),
                            _ => {}
                        }
                    } else if self.depth == 2 && self.in_items && b == b'{' {
                        self.start(Capture::Item, b);
                    }
                    self.depth += 1;
                    if self.depth == 1 {
                        if b != b'{' {
                            return Err(ListError::Malformed);
                        }
                        self.expect_key = true;
                    }
                }
                b'}' | b']' => {
                    self.depth = self.depth.checked_sub(1).ok_or(ListError::Malformed)?;
                    match (self.capture, self.depth) {
                        (Some(Capture::Item), 2) => {
                            item(&self.buf);
                            self.capture = None;
                        }
                        (Some(Capture::Metadata), 1) => {
                            self.metadata = Some(std::mem::take(&mut self.buf));
                            self.capture = None;
                        }
                        (_, 1) if b == b']' => self.in_items = false,
                        (_, 0) => self.done = true,
                        _ => {}
                    }
                }
                b':' if self.depth == 1 => self.expect_key = false,
                b',' if self.depth == 1 => self.expect_key = true,
                _ => {}
            }
        }
        Ok(())
    }

    fn start(&mut self, capture: Capture, first: u8) {
        self.buf.clear();
        self.buf.push(first);
        self.capture = Some(capture);
    }

    /// The list's `metadata` object, once the body has ended whole.
    pub fn finish(self) -> Result<Option<Vec<u8>>, ListError> {
        if !self.done {
            return Err(ListError::Truncated);
        }
        Ok(self.metadata)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(body: &str, chunk: usize) -> Result<(Vec<String>, Option<String>), ListError> {
        let mut s = ListSplitter::default();
        let mut items = Vec::new();
        for part in body.as_bytes().chunks(chunk) {
            s.feed(part, |i| items.push(String::from_utf8_lossy(i).into_owned()))?;
        }
        let meta = s.finish()?.map(|m| String::from_utf8_lossy(&m).into_owned());
        Ok((items, meta))
    }

    #[test]
    fn items_and_metadata_in_any_order_and_any_chunking() {
        let api_order = r#"{"kind":"ServiceList","apiVersion":"v1","metadata":{"resourceVersion":"7"},"items":[{"metadata":{"name":"a"}},{"metadata":{"name":"b}\"{["},"spec":{"ports":[{"port":80}]}}]}"#;
        let sorted = r#"{ "apiVersion": "v1", "items": [ {"metadata": {"name": "a"}} , {"metadata":{"name":"b}\"{["},"spec":{"ports":[{"port":80}]}} ], "kind": "ServiceList", "metadata": { "resourceVersion": "7" } }"#;
        for body in [api_order, sorted] {
            for chunk in [1, 2, 7, 4096] {
                let (items, meta) = split(body, chunk).expect(body);
                let items: Vec<serde_json::Value> = items
                    .iter()
                    .map(|i| serde_json::from_str(i).expect("item is JSON"))
                    .collect();
                assert_eq!(items.len(), 2, "{body} in chunks of {chunk}");
                assert_eq!(items[0]["metadata"]["name"], "a");
                assert_eq!(items[1]["metadata"]["name"], "b}\"{[");
                assert_eq!(items[1]["spec"]["ports"][0]["port"], 80);
                let meta: serde_json::Value = serde_json::from_str(&meta.expect("metadata")).expect("json");
                assert_eq!(meta["resourceVersion"], "7");
            }
        }
    }

    #[test]
    fn keys_named_items_elsewhere_are_not_items() {
        let body =
            r#"{"metadata":{"items":[{"x":1}]},"kind":"items","items":[{"spec":{"items":[{"y":2}]}}]}"#;
        let (items, meta) = split(body, 3).expect("splits");
        assert_eq!(items, [r#"{"spec":{"items":[{"y":2}]}}"#]);
        assert_eq!(meta.as_deref(), Some(r#"{"items":[{"x":1}]}"#));
    }

    #[test]
    fn empty_and_null_items() {
        assert_eq!(split(r#"{"items":[],"metadata":{}}"#, 5).expect("ok").0.len(), 0);
        assert_eq!(
            split(r#"{"items":null,"metadata":{}}"#, 5).expect("ok").0.len(),
            0
        );
    }

    #[test]
    fn broken_bodies_are_errors() {
        assert_eq!(split(r#"{"items":[{"a":1}"#, 4).err(), Some(ListError::Truncated));
        assert_eq!(split(r#"{"items":[]}}"#, 4).err(), Some(ListError::Malformed));
        assert_eq!(split(r#"[1,2]"#, 4).err(), Some(ListError::Malformed));
        assert_eq!(split(r#"{"a":1}{"b":2}"#, 4).err(), Some(ListError::Malformed));
        // An object beyond the bound stops the read instead of growing the buffer.
        let huge = format!(r#"{{"items":[{{"a":"{}"}}]}}"#, "x".repeat(MAX_OBJECT));
        let mut s = ListSplitter::default();
        assert_eq!(s.feed(huge.as_bytes(), |_| {}), Err(ListError::TooLarge));
    }
}
