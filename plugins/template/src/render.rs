//! Go templates (gtmpl) rendered into resource records, as CoreDNS's `executeRRTemplate` does
//! with text/template and `dns.NewRR`.

use std::collections::HashMap;
use std::sync::LazyLock;

use clusterdns_plugin::proto::rr::{Name, Record};
use clusterdns_plugin::proto::serialize::txt::Parser;
use gtmpl::{Context, FuncError, Value};
use regex::Regex;

/// One compiled record template.
pub struct RecordTemplate {
    /// The text as written, for the failure metrics' `template` label.
    pub source: String,
    template: gtmpl::Template,
}

impl std::fmt::Debug for RecordTemplate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RecordTemplate({:?})", self.source)
    }
}

impl PartialEq for RecordTemplate {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

impl Eq for RecordTemplate {}

/// `{{ .Meta "name" }}` is a method call in Go; gtmpl has no methods with arguments, so it
/// becomes `{{ meta . "name" }}`.
static META_CALL: LazyLock<Option<Regex>> = LazyLock::new(|| Regex::new(r"\.Meta\b").ok());

/// Actions that define or call other templates: recursion without a bound in gtmpl.
static NESTED: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(r"\{\{-?\s*(define|template|block)\b").ok());

/// Checks that every action (`{{ ... }}`) is closed, reading strings, raw strings, characters
/// and comments in it as Go's lexer does. gtmpl 0.7's lexer spins forever on an action left
/// open after a space (`{{ .Name `): such text must never reach it.
fn check_actions(text: &str) -> Result<(), String> {
    let mut rest = text;
    while let Some(open) = rest.find("{{") {
        rest = &rest[open + 2..];
        loop {
            let Some(c) = rest.chars().next() else {
                return Err("unclosed action".into());
            };
            if rest.starts_with("}}") {
                rest = &rest[2..];
                break;
            }
            if rest.starts_with("/*") {
                let end = rest[2..].find("*/").ok_or("unclosed comment")?;
                rest = &rest[2 + end + 2..];
                continue;
            }
            rest = &rest[c.len_utf8()..];
            let close = match c {
                '"' | '\'' => c,
                '`' => '`',
                _ => continue,
            };
            // To the closing quote; a backslash escapes the next character except in raw strings.
            let mut chars = rest.char_indices();
            let mut end = None;
            while let Some((i, ch)) = chars.next() {
                if ch == '\\' && close != '`' {
                    chars.next();
                } else if ch == close {
                    end = Some(i + ch.len_utf8());
                    break;
                }
            }
            let end = end.ok_or("unterminated quoted string")?;
            rest = &rest[end..];
        }
    }
    Ok(())
}

/// Compiles `text`, with CoreDNS's `parseInt` and `.Meta`.
pub fn compile(text: &str) -> Result<RecordTemplate, String> {
    // gtmpl 0.7's lexer slices its input at byte offsets a multi-byte character can straddle,
    // and panics (the fuzzer found it): record templates are ASCII.
    if !text.is_ascii() {
        return Err("templates must be ASCII text".into());
    }
    check_actions(text)?;
    if NESTED.as_ref().is_some_and(|re| re.is_match(text)) {
        return Err("define, template and block actions are not supported".into());
    }
    let rewritten = match META_CALL.as_ref() {
        Some(re) => re.replace_all(text, "meta .").into_owned(),
        None => text.to_string(),
    };
    let mut template = gtmpl::Template::default();
    template.add_func("parseInt", parse_int);
    template.add_func("meta", meta);
    template.parse(rewritten).map_err(|e| e.to_string())?;
    Ok(RecordTemplate {
        source: text.to_string(),
        template,
    })
}

/// The key under which the data carries metadata values for `.Meta`.
const META_VALUES: &str = "\u{0}meta";

/// Go's `strconv.ParseUint(s, base, bits)`, as CoreDNS registers it for templates.
fn parse_int(args: &[Value]) -> Result<Value, FuncError> {
    let [Value::String(s), base, bits] = args else {
        return Err(FuncError::ExactlyXArgs("parseInt".into(), 3));
    };
    let number = |v: &Value| match v {
        Value::Number(n) => n.as_u64(),
        _ => None,
    };
    let (Some(base), Some(bits)) = (number(base), number(bits)) else {
        return Err(FuncError::Generic(
            "parseInt: base and bit size must be numbers".into(),
        ));
    };
    let base = u32::try_from(base)
        .ok()
        .filter(|b| (2..=36).contains(b))
        .ok_or_else(|| {
            FuncError::Generic(format!("strconv.ParseUint: parsing {s:?}: invalid base {base}"))
        })?;
    let n = u64::from_str_radix(s, base)
        .map_err(|_| FuncError::Generic(format!("strconv.ParseUint: parsing {s:?}: invalid syntax")))?;
    if bits < 64 && n >> bits != 0 {
        return Err(FuncError::Generic(format!(
            "strconv.ParseUint: parsing {s:?}: value out of range"
        )));
    }
    Ok(Value::from(n))
}

/// `.Meta NAME`: the metadata value, or empty (CoreDNS without the metadata plugin).
fn meta(args: &[Value]) -> Result<Value, FuncError> {
    let [Value::Object(data), Value::String(name)] = args else {
        return Err(FuncError::ExactlyXArgs("meta".into(), 2));
    };
    Ok(match data.get(META_VALUES) {
        Some(Value::Map(values)) => values.get(name).cloned().unwrap_or_else(|| Value::from("")),
        _ => Value::from(""),
    })
}

/// What templates see: CoreDNS's `templateData`.
pub struct Data<'a> {
    pub zone: String,
    pub name: &'a str,
    pub regex: &'a str,
    pub matches: Vec<String>,
    pub groups: HashMap<String, String>,
    pub class: String,
    pub rtype: String,
    pub remote: String,
    pub qname: &'a str,
    pub qtype: u16,
    pub qclass: u16,
    pub id: u16,
    /// The query's metadata (`.Meta`), when the `metadata` plugin collects it.
    pub meta: Option<&'a clusterdns_plugin::MetadataValues>,
}

impl Data<'_> {
    pub fn value(&self) -> Value {
        let question = HashMap::from([
            ("Name".to_string(), Value::from(self.qname.to_string())),
            ("Qtype".to_string(), Value::from(u64::from(self.qtype))),
            ("Qclass".to_string(), Value::from(u64::from(self.qclass))),
        ]);
        let message = HashMap::from([("Id".to_string(), Value::from(u64::from(self.id)))]);
        let groups = self
            .groups
            .iter()
            .map(|(k, v)| (k.clone(), Value::from(v.clone())))
            .collect();
        let fields = HashMap::from([
            ("Zone".to_string(), Value::from(self.zone.clone())),
            ("Name".to_string(), Value::from(self.name.to_string())),
            ("Regex".to_string(), Value::from(self.regex.to_string())),
            (
                "Match".to_string(),
                Value::Array(self.matches.iter().cloned().map(Value::from).collect()),
            ),
            ("Group".to_string(), Value::Map(groups)),
            ("Class".to_string(), Value::from(self.class.clone())),
            ("Type".to_string(), Value::from(self.rtype.clone())),
            ("Remote".to_string(), Value::from(self.remote.clone())),
            ("Question".to_string(), Value::Object(question)),
            ("Message".to_string(), Value::Object(message)),
        ]);
        let mut fields = fields;
        if let Some(meta) = self.meta {
            let values = meta
                .iter()
                .map(|(k, v)| (k.to_string(), Value::from(v.to_string())))
                .collect();
            fields.insert(META_VALUES.to_string(), Value::Map(values));
        }
        Value::Object(fields)
    }
}

/// Why a template made no record.
#[derive(Debug)]
pub enum RenderError {
    /// The template failed to execute.
    Template(String),
    /// Its text is not one record.
    Record(String),
}

impl std::fmt::Display for RenderError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RenderError::Template(e) | RenderError::Record(e) => f.write_str(e),
        }
    }
}

impl RecordTemplate {
    /// The record `data` makes of this template.
    pub fn render(&self, data: &Value) -> Result<Record, RenderError> {
        let text = self
            .template
            .render(&Context::from(data.clone()))
            .map_err(|e| RenderError::Template(e.to_string()))?;
        parse_record(&text).map_err(RenderError::Record)
    }
}

/// One record in zone file syntax, as `dns.NewRR` reads it: TTL 3600 and class IN unless given,
/// names relative to the root. Nothing but a single record: no directives, no second line.
pub fn parse_record(text: &str) -> Result<Record, String> {
    let line = text.trim();
    if line.is_empty() || line.starts_with('$') || line.contains(['\n', '\r']) {
        return Err(format!("not a single record: {line:?}"));
    }
    let (_, sets) = Parser::new(format!("$TTL 3600\n{line}\n"), None, Some(Name::root()))
        .parse()
        .map_err(|e| format!("{e}: {line:?}"))?;
    let mut records = sets
        .into_values()
        .flat_map(|set| set.records_without_rrsigs().cloned().collect::<Vec<_>>());
    match (records.next(), records.next()) {
        (Some(record), None) => Ok(record),
        _ => Err(format!("not a single record: {line:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data() -> Value {
        Data {
            zone: "example.".into(),
            name: "ip-10-32-0-5.example.",
            regex: "",
            matches: vec![
                "ip-10-32-0-5.example.".into(),
                "10".into(),
                "32".into(),
                "0".into(),
                "5".into(),
            ],
            groups: HashMap::from([
                ("a".to_string(), "10".to_string()),
                ("d".to_string(), "5".to_string()),
            ]),
            class: "IN".into(),
            rtype: "A".into(),
            remote: "192.0.2.9".into(),
            qname: "ip-10-32-0-5.example.",
            qtype: 1,
            qclass: 1,
            id: 7,
            meta: None,
        }
        .value()
    }

    #[test]
    fn renders_records_as_coredns_does() {
        let t = compile("{{ .Name }} 60 IN A {{ index .Match 1 }}.{{ index .Match 2 }}.{{ index .Match 3 }}.{{ .Group.d }}")
            .expect("compiles");
        let r = t.render(&data()).expect("renders");
        assert_eq!(
            format!("{} {} {}", r.name, r.ttl, r.data),
            "ip-10-32-0-5.example. 60 10.32.0.5"
        );
        // No TTL and no class: 3600 and IN, as dns.NewRR defaults them.
        let r = compile("{{ .Name }} A 192.0.2.1")
            .expect("ok")
            .render(&data())
            .expect("renders");
        assert_eq!(r.ttl, 3600);
        // parseInt, .Meta (empty without metadata), conditionals.
        let t = compile(r#"{{ .Name }} 5 IN TXT "{{ parseInt .Group.a 10 8 }}{{ .Meta "kubernetes/client-namespace" }}{{ if eq .Type "A" }}-a{{ end }}""#)
            .expect("compiles");
        let r = t.render(&data()).expect("renders");
        assert_eq!(r.data.to_string(), "10-a");
        // Failures: a template error, text that is not one record.
        assert!(matches!(
            compile("{{ parseInt .Name 10 8 }}").expect("ok").render(&data()),
            Err(RenderError::Template(_))
        ));
        assert!(matches!(
            compile("{{ .Name }} 60 IN A nope").expect("ok").render(&data()),
            Err(RenderError::Record(_))
        ));
        assert!(matches!(
            compile("$INCLUDE /etc/passwd").expect("ok").render(&data()),
            Err(RenderError::Record(_))
        ));
        assert!(compile("{{define \"x\"}}{{template \"x\"}}{{end}}").is_err());
        // Actions left open (gtmpl's lexer would never return on these) and other bad syntax.
        for bad in [
            "{{ .Name ",
            "{{ .Name",
            "{{ \"}}\" ",
            "{{ `}}` ",
            "{{ '}' ",
            "{{/* }} ",
            "{{ if ",
            "x {{ .N | ",
        ] {
            assert!(compile(bad).is_err(), "{bad:?}");
        }
        assert!(compile("{{ \"}}\" }} {{/* a }} b */}} {{ 'x' }}").is_ok());
        // Found by fuzzing: a multi-byte character made gtmpl's lexer panic.
        assert!(compile("{{ .Name\u{e9}\u{e9} }} 60 IN A 10.0.0.1").is_err());
    }
}
