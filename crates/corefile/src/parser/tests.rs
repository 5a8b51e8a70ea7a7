//! Table tests of the block parser: shapes, imports, snippets and every error text.

use super::*;

const KNOWN: &[&str] = &[
    "errors",
    "log",
    "whoami",
    "forward",
    "cache",
    "health",
    "rewrite",
    "hosts",
    "kubernetes",
];

/// A block as texts: its keys and (directive, tokens) pairs.
type Shape = (Vec<String>, Vec<(String, Vec<String>)>);

fn blocks(input: &str) -> Vec<Shape> {
    parse("Corefile", input, KNOWN)
        .unwrap_or_else(|e| panic!("{input:?}: {e}"))
        .into_iter()
        .map(|b| {
            let keys = b.keys.iter().map(|k| k.text.clone()).collect();
            let dirs = b
                .directives
                .iter()
                .map(|d| (d.name.clone(), d.tokens.iter().map(|t| t.text.clone()).collect()))
                .collect();
            (keys, dirs)
        })
        .collect()
}

fn err(input: &str) -> String {
    match parse("Corefile", input, KNOWN) {
        Ok(b) => panic!("{input:?} parsed: {b:?}"),
        Err(e) => e.to_string(),
    }
}

fn strs(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[test]
fn block_shapes() {
    let got = blocks(".:53 {\n  errors\n  forward . 1.1.1.1 {\n    max_fails 3\n  }\n  log\n  errors\n}\n");
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].0, strs(&[".:53"]));
    assert_eq!(
        got[0].1,
        vec![
            ("errors".into(), strs(&["errors", "errors"])),
            (
                "forward".into(),
                strs(&["forward", ".", "1.1.1.1", "{", "max_fails", "3", "}"])
            ),
            ("log".into(), strs(&["log"])),
        ]
    );
}

#[test]
fn several_keys_space_and_comma_separated() {
    assert_eq!(
        blocks("a.org b.org {\n whoami\n}")[0].0,
        strs(&["a.org", "b.org"])
    );
    assert_eq!(
        blocks("a.org, b.org {\n whoami\n}")[0].0,
        strs(&["a.org", "b.org"])
    );
    assert_eq!(
        blocks("a.org,\nb.org {\n whoami\n}")[0].0,
        strs(&["a.org", "b.org"])
    );
    assert_eq!(
        blocks("a.org,b.org:1053 {\n whoami\n}")[0].0,
        strs(&["a.org", "b.org:1053"])
    );
}

#[test]
fn block_without_braces_and_several_blocks() {
    let got = blocks(".\nwhoami\nlog");
    assert_eq!(got[0].1.len(), 2);
    let got = blocks("a.org {\n whoami\n}\nb.org:1053 {\n log\n}\n");
    assert_eq!(got.len(), 2);
    assert_eq!(got[1].0, strs(&["b.org:1053"]));
}

#[test]
fn keys_only_file() {
    assert_eq!(blocks(".:53")[0].0, strs(&[".:53"]));
}

#[test]
fn snippets_and_import() {
    let got = blocks("(common) {\n errors\n log\n}\n. {\n import common\n whoami\n}");
    assert_eq!(got.len(), 1);
    let names: Vec<_> = got[0].1.iter().map(|d| d.0.as_str()).collect();
    assert_eq!(names, ["errors", "log", "whoami"]);
    // A snippet may hold a whole block's worth of lines with nested braces.
    let got = blocks("(up) {\n forward . 1.1.1.1 {\n  max_fails 1\n }\n}\n. {\n import up\n}");
    assert_eq!(got[0].1[0].1.len(), 7);
}

#[test]
fn import_files_relative_to_the_corefile() {
    let dir = std::env::temp_dir().join(format!("corefile-import-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("conf.d")).expect("temp dir");
    std::fs::write(dir.join("conf.d/a.conf"), "log\n").expect("write");
    std::fs::write(dir.join("conf.d/b.conf"), "errors\n").expect("write");
    std::fs::write(dir.join("blocks.conf"), "extra.org {\n whoami\n}\n").expect("write");
    let main = dir.join("Corefile");
    std::fs::write(
        &main,
        ". {\n import conf.d/*.conf\n whoami\n}\nimport blocks.conf\n",
    )
    .expect("write");
    let got = parse_file(&main, KNOWN).expect("parses");
    assert_eq!(got.len(), 2);
    let names: Vec<_> = got[0].directives.iter().map(|d| d.name.as_str()).collect();
    assert_eq!(names, ["log", "errors", "whoami"]);
    assert!(got[0].directives[0].tokens[0].file.ends_with("a.conf"));
    assert_eq!(got[1].keys[0].text, "extra.org");
    // An empty glob is fine, a missing file is not.
    std::fs::write(&main, ". {\n import none/*.conf\n whoami\n}\n").expect("write");
    assert!(parse_file(&main, KNOWN).is_ok());
    std::fs::write(&main, ". {\n import missing.conf\n}\n").expect("write");
    let e = parse_file(&main, KNOWN).expect_err("missing import");
    assert!(
        e.to_string()
            .contains(":2 - Error during parsing: File to import not found: missing.conf"),
        "{e}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn quoted_brace_is_an_argument() {
    let got = blocks(". {\n log \"{\" x\n}");
    assert_eq!(got[0].1[0].1, strs(&["log", "{", "x"]));
}

#[test]
fn errors_table() {
    let cases: &[(&str, &str)] = &[
        (
            ". {\n  whoami\n  proxy . 8.8.8.8\n}",
            "Corefile:3 - Error during parsing: Unknown directive 'proxy'",
        ),
        (
            ". {\n  whoam\n}",
            "Corefile:2 - Error during parsing: Unknown directive 'whoam' (column 3; did you mean 'whoami'?)",
        ),
        (
            ". {\n  whoami }\n",
            "Corefile:2 - Error during parsing: Unexpected '}' because no matching opening brace",
        ),
        (
            ". {\n  forward . 1.1.1.1 {\n  max_fails 2\n",
            "Corefile:3 - Error during parsing: Unexpected EOF",
        ),
        (
            ". {\n  whoami\n",
            "Corefile:2 - Syntax error: Unexpected token 'whoami', expecting '}'",
        ),
        (
            "a.org, {\n whoami\n}",
            "Corefile:1 - Error during parsing: Expected another address but had '{' - check for extra comma",
        ),
        ("a.org,", "Corefile:1 - Error during parsing: Unexpected EOF"),
        (
            "(s) {\n log\n}\n(s) {\n errors\n}",
            "Corefile:4 - Error during parsing: redeclaration of previously declared snippet s",
        ),
        (
            "(s)\nlog",
            "Corefile:2 - Syntax error: Unexpected token 'log', expecting '{'",
        ),
        (
            ". {\n import\n}",
            "Corefile:2 - Error during parsing: Wrong argument count or unexpected line ending after 'import'",
        ),
        (
            ". {\n import a b\n}",
            "Corefile:2 - Error during parsing: Import takes only one argument (glob pattern or file)",
        ),
        (
            ". {\n import \"\"\n}",
            "Corefile:2 - Error during parsing: Import requires a non-empty filepath",
        ),
    ];
    for (input, want) in cases {
        let got = err(input);
        assert!(got.starts_with(want), "{input:?}\n got: {got}\nwant: {want}");
    }
    assert!(err(". {\n proxy . 1.1.1.1\n}").contains("did you mean 'forward'?"));
}

#[test]
fn self_importing_snippet_stops() {
    let e = err("(loop) {\n import loop\n}\n. {\n import loop\n}");
    assert!(e.contains("maximum snippet import depth (1000) exceeded"), "{e}");
}

#[test]
fn edit_distance_is_levenshtein() {
    assert_eq!(edit_distance("kitten", "sitting"), 3);
    assert_eq!(edit_distance("", "abc"), 3);
    assert_eq!(edit_distance("same", "same"), 0);
}

#[test]
fn empty_known_list_accepts_any_directive() {
    let blocks = parse("Corefile", ". {\n proxy . 1.1.1.1\n}", &[]).expect("parses");
    assert_eq!(blocks[0].directives[0].name, "proxy");
}

#[test]
fn stray_closing_braces_are_taken_out_with_their_place() {
    let mut blocks = parse("Corefile", ". {\n whoami\n}\n}\n", &["whoami"]).expect("CoreDNS accepts it");
    assert_eq!(blocks.len(), 2);
    let found = take_stray_braces(&mut blocks);
    assert_eq!(
        found,
        [
            "Corefile:4 - Unexpected '}' because no matching opening brace (column 1; CoreDNS 1.11.3 ignores it)"
        ]
    );
    assert_eq!(blocks.len(), 1);
    assert_eq!(blocks[0].keys[0].text, ".");
    // A quoted brace is a key like any other.
    let mut blocks = parse("Corefile", ". {\n whoami\n}\n\"}\"\n", &["whoami"]).expect("parses");
    assert!(take_stray_braces(&mut blocks).is_empty());
}
