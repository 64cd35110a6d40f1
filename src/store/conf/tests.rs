//! The grammar, includes, variables, spans, and a fuzz pass.

use super::*;
use std::time::Duration;

fn no_env(_: &str) -> Option<String> {
    None
}

fn parse_with(text: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<Conf> {
    parse_str(
        text,
        Path::new("test.conf"),
        Path::new("/nonexistent-conf-dir"),
        env,
    )
}

fn parse(text: &str) -> Conf {
    match parse_with(text, &no_env) {
        Ok(conf) => conf,
        Err(e) => panic!("parse failed: {e}\n---\n{text}"),
    }
}

fn parse_err(text: &str) -> ConfError {
    match parse_with(text, &no_env) {
        Ok(conf) => panic!("expected an error, got {:?}\n---\n{text}", conf.root),
        Err(e) => e,
    }
}

fn get<'a>(map: &'a Map, path: &[&str]) -> &'a Value {
    let mut value = None;
    let mut map = map;
    for key in path {
        let node = map.get(key).unwrap_or_else(|| panic!("no key {key}"));
        value = Some(&node.value);
        if let Value::Map(m) = &node.value {
            map = m;
        }
    }
    value.expect("empty path")
}

fn s(v: &str) -> Value {
    Value::String(v.to_owned())
}

fn text(conf: &Conf, span: Span) -> &str {
    &conf.sources[span.file][span.start..span.end]
}

/// A directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("conf-test-{}-{tag}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }

    fn write(&self, rel: &str, content: &str) -> PathBuf {
        let path = self.0.join(rel);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).expect("create dir");
        }
        fs::write(&path, content).expect("write file");
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

#[test]
fn server_style_config() {
    let conf = parse("port: 4222\njetstream { store_dir: \"/data/js\", max_mem: 1G }\n");
    assert_eq!(get(&conf.root, &["port"]), &Value::Integer(4222));
    assert_eq!(get(&conf.root, &["jetstream", "store_dir"]), &s("/data/js"));
    assert_eq!(
        get(&conf.root, &["jetstream", "max_mem"]),
        &Value::Integer(1_000_000_000)
    );
}

#[test]
fn jetstream_scalar_forms() {
    assert_eq!(
        get(&parse("jetstream: enabled").root, &["jetstream"]),
        &s("enabled")
    );
    assert_eq!(
        get(&parse("jetstream: true").root, &["jetstream"]),
        &Value::Bool(true)
    );
    assert_eq!(
        get(&parse("jetstream OFF\n").root, &["jetstream"]),
        &Value::Bool(false)
    );
    let conf = parse("jetstream = {store_dir = '/x'}");
    assert_eq!(get(&conf.root, &["jetstream", "store_dir"]), &s("/x"));
    let conf = parse("store_dir: /a/b\n");
    assert_eq!(get(&conf.root, &["store_dir"]).as_str(), Some("/a/b"));
}

#[test]
fn json_style() {
    let conf = parse(r#"{"jetstream": {"store_dir": "/x"}}"#);
    assert_eq!(get(&conf.root, &["jetstream", "store_dir"]), &s("/x"));
    let conf = parse(
            "{\n  \"port\": 4222,\n  \"jetstream\": {\n    \"store_dir\": \"/y\",\n    \"max_file\": 10\n  }\n}\n",
        );
    assert_eq!(get(&conf.root, &["port"]), &Value::Integer(4222));
    assert_eq!(get(&conf.root, &["jetstream", "store_dir"]), &s("/y"));
    assert_eq!(
        get(&conf.root, &["jetstream", "max_file"]),
        &Value::Integer(10)
    );
    // lex.go accepts a wrapper left open at end of file.
    let conf = parse("{\n port: 1\n");
    assert_eq!(get(&conf.root, &["port"]), &Value::Integer(1));
}

#[test]
fn comments_everywhere() {
    let conf = parse(
            "# head\n// head too\nport: 4222 # after value\nlisten: 1.2.3.4:5 // slashes\n\
             jetstream { # after brace\n  # own line\n  store_dir: /d # after map value\n  // x\n  max_mem: 1K // y\n} # after map\n\
             arr [ # after bracket\n  1, # after item\n  // own line\n  x\n] // end\n\
             {# in wrapper\n wrapped: yes # tail\n} # done",
        );
    assert_eq!(get(&conf.root, &["port"]), &Value::Integer(4222));
    assert_eq!(get(&conf.root, &["listen"]), &s("1.2.3.4:5"));
    assert_eq!(get(&conf.root, &["jetstream", "store_dir"]), &s("/d"));
    assert_eq!(
        get(&conf.root, &["jetstream", "max_mem"]),
        &Value::Integer(1000)
    );
    let arr = get(&conf.root, &["arr"]).as_array().expect("array");
    assert_eq!(
        arr.iter().map(|n| n.value.clone()).collect::<Vec<_>>(),
        vec![Value::Integer(1), s("x")]
    );
    assert_eq!(get(&conf.root, &["wrapped"]), &Value::Bool(true));
    // `#` inside a bare value is not a comment (lex.go reads to a blank).
    assert_eq!(get(&parse("a: b#c").root, &["a"]), &s("b#c"));
}

#[test]
fn include_merges_in_place() {
    let dir = TempDir::new("include");
    dir.write(
        "js.conf",
        "jetstream {\n  store_dir: /from/include\n}\nport: 5\n",
    );
    let main = dir.write("main.conf", "port: 4\ninclude ./js.conf\nhttp: 8222\n");
    let conf = parse_file(&main, &no_env).expect("parse");
    assert_eq!(conf.files.len(), 2);
    assert_eq!(
        get(&conf.root, &["jetstream", "store_dir"]),
        &s("/from/include")
    );
    // The include came after `port: 4`, so its `port` wins.
    assert_eq!(get(&conf.root, &["port"]), &Value::Integer(5));
    let keys: Vec<_> = conf.root.entries.iter().map(|e| e.key.as_str()).collect();
    assert_eq!(keys, ["port", "jetstream", "port", "http"]);
    let js = &conf.root.entries[1];
    assert_eq!(text(&conf, js.span), "include ./js.conf");
    assert_eq!(js.included_by, Some(js.span));
    assert_eq!(js.key_span.file, 1);
    assert_eq!(text(&conf, js.key_span), "jetstream");
    assert!(text(&conf, js.node.span).starts_with('{'));
    assert_eq!(conf.root.entries[0].included_by, None);
    // Quoted forms, and an include inside a map.
    dir.write("auth.conf", "user: a\n");
    for form in [
        "include \"auth.conf\"",
        "include 'auth.conf'",
        "INCLUDE auth.conf;",
    ] {
        let main = dir.write(
            "m2.conf",
            &format!("authorization {{\n  {form}\n  pass: b\n}}\n"),
        );
        let conf = parse_file(&main, &no_env).expect(form);
        assert_eq!(
            get(&conf.root, &["authorization", "user"]),
            &s("a"),
            "{form}"
        );
        assert_eq!(
            get(&conf.root, &["authorization", "pass"]),
            &s("b"),
            "{form}"
        );
    }
}

#[test]
fn include_relative_to_including_file() {
    let dir = TempDir::new("subdir");
    dir.write("conf/sub/b.conf", "jetstream { store_dir: /deep }\n");
    dir.write("conf/sub/a.conf", "include b.conf\n");
    dir.write("conf/other.conf", "x: 1\n");
    let main = dir.write(
        "conf/main.conf",
        "include sub/a.conf\ninclude sub/../other.conf\n",
    );
    let conf = parse_file(&main, &no_env).expect("parse");
    assert_eq!(get(&conf.root, &["jetstream", "store_dir"]), &s("/deep"));
    assert_eq!(get(&conf.root, &["x"]), &Value::Integer(1));
    // Entries from a nested include point at the statement in the main file.
    let js = &conf.root.entries[0];
    assert_eq!(text(&conf, js.span), "include sub/a.conf");
    assert!(conf.files[js.key_span.file].ends_with("sub/b.conf"));
    // parse_str resolves against the given directory.
    let conf = parse_str(
        "include sub/b.conf",
        Path::new("<text>"),
        &dir.0.join("conf"),
        &no_env,
    )
    .expect("parse_str");
    assert_eq!(get(&conf.root, &["jetstream", "store_dir"]), &s("/deep"));
    // An absolute include is still joined to the directory, like filepath.Join.
    assert_eq!(
        go_join(Path::new("/etc/nats"), "/x/../y.conf"),
        PathBuf::from("/etc/nats/y.conf")
    );
    assert_eq!(go_join(Path::new(""), "a.conf"), PathBuf::from("a.conf"));
    assert_eq!(go_join(Path::new("/"), "../../a"), PathBuf::from("/a"));
}

#[test]
fn include_errors() {
    let dir = TempDir::new("include-errors");
    let main = dir.write("self.conf", "a: 1\ninclude ./self.conf\n");
    match parse_file(&main, &no_env) {
        Err(ConfError::IncludeCycle { path, via }) => {
            assert!(path.ends_with("self.conf"));
            assert!(via.ends_with("self.conf"));
        }
        other => panic!("expected a cycle, got {other:?}"),
    }
    dir.write("b.conf", "include a.conf\n");
    let a = dir.write("a.conf", "include b.conf\n");
    match parse_file(&a, &no_env) {
        Err(ConfError::IncludeCycle { path, via }) => {
            assert!(path.ends_with("a.conf"), "{path:?}");
            assert!(via.ends_with("b.conf"), "{via:?}");
        }
        other => panic!("expected a cycle, got {other:?}"),
    }
    // A chain of distinct files deeper than the cap.
    for i in 0..40 {
        dir.write(&format!("c{i}.conf"), &format!("include c{}.conf\n", i + 1));
    }
    dir.write("c40.conf", "end: 1\n");
    let err = parse_file(&dir.0.join("c0.conf"), &no_env).expect_err("too deep");
    assert!(err.to_string().contains("nested more than"), "{err}");
    let main = dir.write("missing.conf", "include nope.conf\n");
    assert!(matches!(
        parse_file(&main, &no_env),
        Err(ConfError::Io { .. })
    ));
    fs::create_dir_all(dir.0.join("adir")).expect("mkdir");
    let main = dir.write("dir.conf", "include adir\n");
    match parse_file(&main, &no_env) {
        Err(ConfError::Io { source, .. }) => {
            assert_eq!(source.kind(), io::ErrorKind::InvalidInput)
        }
        other => panic!("expected Io, got {other:?}"),
    }
    assert!(matches!(parse_err("include \"x"), ConfError::Syntax { .. }));
    assert!(matches!(
        parse_err("include ''\n"),
        ConfError::Syntax { .. }
    ));
    assert!(matches!(
        parse_err("include [a]\n"),
        ConfError::Syntax { .. }
    ));
}

#[test]
fn fifo_is_refused_without_hanging() {
    let dir = TempDir::new("fifo");
    let fifo = dir.0.join("pipe.conf");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status();
    if !made.is_ok_and(|s| s.success()) {
        eprintln!("mkfifo unavailable; skipping");
        return;
    }
    let (tx, rx) = std::sync::mpsc::channel();
    let path = fifo.clone();
    std::thread::spawn(move || {
        let result = parse_file(&path, &no_env).map(|_| ());
        let _ = tx.send(result);
    });
    match rx.recv_timeout(Duration::from_secs(10)) {
        Ok(Err(ConfError::Io { source, .. })) => {
            assert_eq!(source.kind(), io::ErrorKind::InvalidInput);
            assert!(source.to_string().contains("not a regular file"));
        }
        Ok(other) => panic!("expected an Io error, got {other:?}"),
        Err(_) => panic!("parse_file hung on a FIFO"),
    }
    // The read path itself, past the stat, must not block either.
    let refused = read_config(&fifo);
    assert!(matches!(refused, Err(ConfError::Io { .. })));
}

#[test]
fn non_utf8_file_is_refused() {
    let dir = TempDir::new("utf8");
    let path = dir.0.join("latin1.conf");
    fs::write(&path, b"a: 1\n# caf\xe9\n").expect("write");
    match parse_file(&path, &no_env) {
        Err(ConfError::Syntax { line, .. }) => assert_eq!(line, 2),
        other => panic!("expected Syntax, got {other:?}"),
    }
}

#[test]
fn variables_from_the_file() {
    let conf = parse("STORE: /srv/x\njetstream { store_dir: $STORE }\n");
    assert_eq!(get(&conf.root, &["jetstream", "store_dir"]), &s("/srv/x"));
    let node = conf
        .root
        .get("jetstream")
        .and_then(|n| n.value.as_map())
        .and_then(|m| m.get("store_dir"));
    assert_eq!(node.map(|n| text(&conf, n.span)), Some("$STORE"));
    // Innermost map first, and only keys set before the reference.
    let conf = parse("v: outer\nm { v: inner, a: $v }\nb: $v\nc { d: [ $v ] }\n");
    assert_eq!(get(&conf.root, &["m", "a"]), &s("inner"));
    assert_eq!(get(&conf.root, &["b"]), &s("outer"));
    let d = get(&conf.root, &["c", "d"]).as_array().expect("array");
    assert_eq!(d[0].value, s("outer"));
    // Later redefinition wins for later references; exact case only.
    let conf = parse("v: 1\nv: 2\nx: $v\n");
    assert_eq!(get(&conf.root, &["x"]), &Value::Integer(2));
    assert!(matches!(
        parse_err("V: 1\nx: $v\n"),
        ConfError::Variable { .. }
    ));
    // A map value can be reused.
    let conf = parse("T { a: 1 }\nx: $T\n");
    assert_eq!(get(&conf.root, &["x", "a"]), &Value::Integer(1));
    // bcrypt hashes stay strings.
    let conf = parse("pass: $2a$11$W2zko751KUvVy59mUTWmpOdWjpEm5qhcCZRd05GjI/sSOT.xtiHyG\n");
    assert_eq!(
        get(&conf.root, &["pass"]),
        &s("$2a$11$W2zko751KUvVy59mUTWmpOdWjpEm5qhcCZRd05GjI/sSOT.xtiHyG")
    );
}

#[test]
fn variables_from_the_environment() {
    let env = |name: &str| match name {
        "JS_DIR" => Some("/env/dir".to_owned()),
        "MEM" => Some("2G".to_owned()),
        "MAP" => Some("{ a: 1, b: [x, y] }".to_owned()),
        "LOOP" => Some("$LOOP".to_owned()),
        "CHAIN" => Some("$JS_DIR".to_owned()),
        "BAD" => Some("./rel".to_owned()),
        "HOLE" => Some("$UNSET".to_owned()),
        _ => None,
    };
    let conf = parse_with(
        "jetstream { store_dir: $JS_DIR, max_mem: $MEM }\nm: $MAP\nc: $CHAIN\n",
        &env,
    )
    .expect("parse");
    assert_eq!(get(&conf.root, &["jetstream", "store_dir"]), &s("/env/dir"));
    assert_eq!(
        get(&conf.root, &["jetstream", "max_mem"]),
        &Value::Integer(2_000_000_000)
    );
    assert_eq!(get(&conf.root, &["m", "a"]), &Value::Integer(1));
    assert_eq!(get(&conf.root, &["c"]), &s("/env/dir"));
    // Everything from the environment points at the reference.
    let m = conf.root.get("m").expect("m");
    assert_eq!(text(&conf, m.span), "$MAP");
    let inner = m.value.as_map().and_then(|m| m.get("b")).expect("b");
    assert_eq!(inner.span, m.span);
    // A file key shadows the environment.
    let conf = parse_with("JS_DIR: /file\nx: $JS_DIR\n", &env).expect("parse");
    assert_eq!(get(&conf.root, &["x"]), &s("/file"));
    let err = parse_with("a: 1\nx: $LOOP\n", &env).expect_err("cycle");
    assert!(
        matches!(&err, ConfError::Syntax { line: 2, message, .. } if message.contains("cycle")),
        "{err}"
    );
    let err = parse_with("x: $BAD\n", &env).expect_err("bad env value");
    assert!(matches!(err, ConfError::Syntax { line: 1, .. }), "{err}");
    let err = parse_with("\nx: $HOLE\n", &env).expect_err("undefined inside env");
    assert!(
        matches!(&err, ConfError::Variable { line: 2, name, .. } if name == "UNSET"),
        "{err}"
    );
}

#[test]
fn undefined_variable() {
    match parse_err("a: 1\n\njetstream { store_dir: $NOPE }\n") {
        ConfError::Variable { path, line, name } => {
            assert_eq!(path, PathBuf::from("test.conf"));
            assert_eq!(line, 3);
            assert_eq!(name, "NOPE");
        }
        other => panic!("expected Variable, got {other:?}"),
    }
    let e = parse_err("x: $NOPE");
    assert_eq!(
        e.to_string(),
        "`test.conf` line 1: variable `NOPE` is not defined"
    );
}

#[test]
fn unquoted_relative_path_is_an_error() {
    match parse_err("port: 1\njetstream { store_dir: ./data }\n") {
        ConfError::Syntax { line, message, .. } => {
            assert_eq!(line, 2);
            assert!(
                message.contains("floats must start with a digit"),
                "{message}"
            );
        }
        other => panic!("expected Syntax, got {other:?}"),
    }
    assert_eq!(
        get(&parse("store_dir: \"./data\"").root, &["store_dir"]),
        &s("./data")
    );
    assert_eq!(
        get(&parse("store_dir: data/js").root, &["store_dir"]),
        &s("data/js")
    );
}

#[test]
fn block_strings() {
    let conf = parse("desc (\n  line one\n  (nested) )\n)\nafter: 1\n");
    assert_eq!(
        get(&conf.root, &["desc"]),
        &s("\n  line one\n  (nested) )\n")
    );
    assert_eq!(get(&conf.root, &["after"]), &Value::Integer(1));
    let desc = conf.root.get("desc").expect("desc");
    assert_eq!(text(&conf, desc.span), "(\n  line one\n  (nested) )\n)");
    // lex.go keeps the `)` when it is the last byte of the file.
    assert_eq!(get(&parse("b (\nx\n)").root, &["b"]), &s("\nx\n)"));
    assert!(matches!(parse_err("b (\nx )\n"), ConfError::Syntax { .. }));
}

#[test]
fn numbers_and_units() {
    let conf = parse(
            "a: 1K\nb: 1KB\nc: 1Ki\nd: 1KiB\ne: 1GiB\nf: 2m\ng: -3k\nh: 1.5\ni: -0.25\nj: 1T\nk: 1e\nl: 2pb\n",
        );
    let int = |k: &str| get(&conf.root, &[k]).as_i64();
    assert_eq!(int("a"), Some(1000));
    assert_eq!(int("b"), Some(1024));
    assert_eq!(int("c"), Some(1024));
    assert_eq!(int("d"), Some(1024));
    assert_eq!(int("e"), Some(1 << 30));
    assert_eq!(int("f"), Some(2_000_000));
    assert_eq!(int("g"), Some(-3000));
    assert_eq!(get(&conf.root, &["h"]), &Value::Float(1.5));
    assert_eq!(get(&conf.root, &["i"]), &Value::Float(-0.25));
    assert_eq!(int("j"), Some(1_000_000_000_000));
    assert_eq!(int("k"), Some(1_000_000_000_000_000_000));
    assert_eq!(int("l"), Some(2 << 50));
    assert!(matches!(parse_err("a: 1kbb\n"), ConfError::Syntax { .. }));
    assert!(matches!(
        parse_err("a: 99999999999999999999\n"),
        ConfError::Syntax { .. }
    ));
    assert!(matches!(parse_err("a: 1.\n"), ConfError::Syntax { .. }));
    assert!(matches!(parse_err("a: -x\n"), ConfError::Syntax { .. }));
}

#[test]
fn strings_dates_and_quirks() {
    let conf = parse(
            "a: 4222abc\nb: 10s\nc: 127.0.0.1:4222\nd: 2016-01-02T15:04:05Z\ne: \"t\\tn\\n\\\"q\\\" \\x41\"\n\
             f: 'raw \\t'\ng: nats://h:4222\n",
        );
    assert_eq!(get(&conf.root, &["a"]), &s("4222abc"));
    assert_eq!(get(&conf.root, &["b"]), &s("10s"));
    assert_eq!(get(&conf.root, &["c"]), &s("127.0.0.1:4222"));
    assert_eq!(
        get(&conf.root, &["d"]),
        &Value::Datetime("2016-01-02T15:04:05Z".to_owned())
    );
    assert_eq!(get(&conf.root, &["e"]), &s("t\tn\n\"q\" A"));
    assert_eq!(get(&conf.root, &["f"]), &s("raw \\t"));
    assert_eq!(get(&conf.root, &["g"]), &s("nats://h:4222"));
    // lex.go: `]` does not end a number, so `[1]` holds the string "1]" and
    // the array is still open (here closed by the second `]`).
    let h = get(&parse("h: [1]\n]").root, &["h"])
        .as_array()
        .expect("array")
        .to_vec();
    assert_eq!(
        h.iter().map(|n| n.value.clone()).collect::<Vec<_>>(),
        [s("1]")]
    );
    assert!(matches!(
        parse_err("h: [1]\ni: 2\n"),
        ConfError::Syntax { .. }
    ));
    let conf = parse("i: [1, 2 ]\nj: [1k]\nk: x\\ty\nl: \"multi\nline\"\nm: -1.2.3\nn:");
    let i = get(&conf.root, &["i"]).as_array().expect("array");
    assert_eq!(
        i.iter().map(|n| n.value.clone()).collect::<Vec<_>>(),
        [Value::Integer(1), Value::Integer(2)]
    );
    assert_eq!(
        get(&conf.root, &["j"])
            .as_array()
            .map(|a| a[0].value.clone()),
        Some(s("1k"))
    );
    assert_eq!(get(&conf.root, &["k"]), &s("x\ty"));
    assert_eq!(get(&conf.root, &["l"]), &s("multi\nline"));
    assert_eq!(get(&conf.root, &["m"]), &s("-1.2.3"));
    assert_eq!(get(&conf.root, &["n"]), &s(""));
    assert!(matches!(
        parse_err("d: 2016-02-30T00:00:00Z\n"),
        ConfError::Syntax { .. }
    ));
    assert!(matches!(
        parse_err("d: 2016-01-02 15:04:05\n"),
        ConfError::Syntax { .. }
    ));
    assert!(matches!(parse_err("d: 10-20\n"), ConfError::Syntax { .. }));
    assert!(matches!(
        parse_err("e: \"bad \\q\"\n"),
        ConfError::Syntax { .. }
    ));
    assert!(matches!(parse_err("e: \"open\n"), ConfError::Syntax { .. }));
    assert!(matches!(parse_err("e:\n 1\n"), ConfError::Syntax { .. }));
    assert!(matches!(parse_err("lonely\n"), ConfError::Syntax { .. }));
    assert!(matches!(parse_err("m { a: }\n"), ConfError::Syntax { .. }));
    // Key/value separators: `=`, `:` or blanks, new lines too.
    let conf = parse("a = 1\nb : 2\nc 3\nd\n\n 4\n\"e f\" 5\n'g': 6");
    for (k, v) in [("a", 1), ("b", 2), ("c", 3), ("d", 4), ("e f", 5), ("g", 6)] {
        assert_eq!(get(&conf.root, &[k]), &Value::Integer(v), "{k}");
    }
}

#[test]
fn end_of_file_as_lex_go_sees_it() {
    // A quote opened on the last byte is end of input, not an error...
    assert_eq!(parse("a: 1\n\"").root.entries.len(), 1);
    assert_eq!(parse("a: 1\n'").root.entries.len(), 1);
    // ...and what was not complete is dropped, as parse.go does.
    let conf = parse("a: 1\nb: [x, \"");
    assert_eq!(conf.root.entries.len(), 1);
    let conf = parse("a: 1\nm { x: [\"esc\\t");
    assert_eq!(conf.root.entries.len(), 1);
    // But right after a key it leaves the key without a value.
    assert!(matches!(parse_err("a: \""), ConfError::Syntax { .. }));
    assert!(matches!(parse_err("m { a '"), ConfError::Syntax { .. }));
    // With text after the quote it is an unterminated string.
    assert!(matches!(
        parse_err("a: 1\nb: [\"x"),
        ConfError::Syntax { .. }
    ));
    assert!(matches!(parse_err("\"key"), ConfError::Syntax { .. }));
    // `key` at end of file has no value, except a stray `}` (JSON endings).
    assert!(matches!(parse_err("a: 1\nb"), ConfError::Syntax { .. }));
    assert_eq!(parse("a: 1\n}").root.entries.len(), 1);
    // `a:` at end of file is an empty string; a new line after `:` is an error.
    assert_eq!(get(&parse("a:").root, &["a"]), &s(""));
    // A key cannot start with a separator.
    assert!(matches!(parse_err("= 1\n"), ConfError::Syntax { .. }));
    assert!(matches!(parse_err("{ : 1 }"), ConfError::Syntax { .. }));
    // A unit letter followed by more text makes a string, minus or not.
    assert_eq!(get(&parse("a: -1kx").root, &["a"]), &s("-1kx"));
    assert_eq!(get(&parse("a: -0true").root, &["a"]), &s("-0true"));
    assert!(matches!(parse_err("a: -5x\n"), ConfError::Syntax { .. }));
    // A `,` alone on a line inside a map is read as a key (lex.go).
    assert!(matches!(
        parse_err("m {\n a: 1\n ,\n}\n"),
        ConfError::Syntax { .. }
    ));
    assert_eq!(
        get(&parse("m {\n a: 1,\n}\n").root, &["m", "a"]),
        &Value::Integer(1)
    );
}

#[test]
fn lookup_is_case_insensitive_and_last_wins() {
    let conf = parse(
            "JetStream { store_dir: /one }\njetstream { STORE_DIR: /two, Store_Dir: /three }\nstore: /s\nStoreDir: /t\n",
        );
    assert_eq!(get(&conf.root, &["JETSTREAM", "store_dir"]), &s("/three"));
    assert_eq!(conf.root.entries[0].key, "JetStream");
    assert_eq!(
        conf.root
            .get_any(&["store_dir", "storedir", "store"])
            .map(|n| n.value.clone()),
        Some(s("/t"))
    );
    assert_eq!(
        conf.root
            .get_any(&["store", "nothing"])
            .map(|n| n.value.clone()),
        Some(s("/s"))
    );
    assert!(conf.root.get("nothing").is_none());
}

#[test]
fn spans_cover_key_to_closing_brace() {
    let src = "port: 4222 # c\ncluster {\n  name: c1 # x\n  routes [\n    nats://a:6222\n  ]\n} # trailing\nhttp: 8222\n";
    let conf = parse(src);
    let cluster = conf
        .root
        .entries
        .iter()
        .find(|e| e.key == "cluster")
        .expect("cluster");
    assert_eq!(
        &conf.sources[0][cluster.span.start..cluster.span.end],
        "cluster {\n  name: c1 # x\n  routes [\n    nats://a:6222\n  ]\n}"
    );
    assert_eq!(text(&conf, cluster.key_span), "cluster");
    assert_eq!(
        text(&conf, cluster.node.span),
        &text(&conf, cluster.span)[8..]
    );
    let port = &conf.root.entries[0];
    assert_eq!(text(&conf, port.span), "port: 4222");
    assert_eq!(text(&conf, port.node.span), "4222");
    let name = cluster.node.value.as_map().expect("map").entries[0].clone();
    assert_eq!(text(&conf, name.span), "name: c1");
    let conf = parse("\"quoted key\" = \"v\"");
    let e = &conf.root.entries[0];
    assert_eq!(text(&conf, e.key_span), "\"quoted key\"");
    assert_eq!(text(&conf, e.node.span), "\"v\"");
    assert_eq!(text(&conf, e.span), "\"quoted key\" = \"v\"");
}

#[test]
fn deep_nesting_is_an_error_not_a_crash() {
    for open in ["[", "{", "a {", "x: [{a: "] {
        let text = format!("k: {}", open.repeat(10_000));
        assert!(
            matches!(parse_with(&text, &no_env), Err(ConfError::Syntax { .. })),
            "{open}"
        );
    }
    assert!(parse_with(&"{".repeat(10_000), &no_env).is_err());
    // Just under the limit is fine.
    let text = format!("k: {}{}", "[".repeat(100), "]".repeat(100));
    assert!(parse_with(&text, &no_env).is_ok());
    // Environment expansion counts too.
    let env = |name: &str| {
        name.strip_prefix('V')
            .and_then(|n| n.parse::<u32>().ok())
            .map(|n| format!("$V{}", n + 1))
    };
    assert!(parse_with("x: $V0", &env).is_err());
}

/// xorshift64, fixed seed: reproducible "random" inputs.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

#[test]
fn fuzz_never_panics_or_hangs() {
    const PIECES: &[&str] = &[
        "{",
        "}",
        "[",
        "]",
        "(",
        ")",
        "=",
        ":",
        ";",
        ",",
        "#",
        "/",
        "//",
        "'",
        "\"",
        "\\",
        "$",
        "-",
        ".",
        "\n",
        "\r",
        "\t",
        " ",
        " ",
        "\n)\n",
        "0",
        "1",
        "42",
        "9999999999999999999",
        "k",
        "KiB",
        "G",
        "e",
        "x",
        "a",
        "true",
        "no",
        "include ",
        "include",
        "2016-01-02T15:04:05Z",
        "1.5",
        "1.2.3.4:5",
        "\\x4",
        "\\xZZ",
        "\\t",
        "é",
        "\u{a0}",
        "$2a$",
        "$V",
        "$X",
        "jetstream",
        "store_dir",
        "port: 4222\n",
        "\0",
    ];
    let seeds = [
        "port: 4222\njetstream { store_dir: \"/data/js\", max_mem: 1G }\n",
        "{\"a\": [1, 2, {\"b\": 'c'}], \"d\": (\nblock\n)\n}",
        "X: 1\nm { a: $X, b: [ $X, \"\\x41\" ] } # c\n",
        "include ./missing.conf\nx = 2016-01-02T15:04:05Z; y = -1.5, z 10KiB\n",
    ];
    let env = |name: &str| match name {
        "V" => Some("{ a: [1, $X] }".to_owned()),
        "X" => Some("$V".to_owned()),
        _ => None,
    };
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut inputs: Vec<String> = Vec::new();
    for _ in 0..3000 {
        let mut bytes = Vec::new();
        for _ in 0..rng.below(60) {
            if rng.below(10) == 0 {
                bytes.push(rng.next() as u8);
            } else {
                bytes.extend_from_slice(PIECES[rng.below(PIECES.len())].as_bytes());
            }
        }
        inputs.push(String::from_utf8_lossy(&bytes).into_owned());
    }
    for seed in seeds {
        for cut in 0..=seed.len() {
            inputs.push(String::from_utf8_lossy(&seed.as_bytes()[..cut]).into_owned());
        }
        for _ in 0..100 {
            let mut bytes = seed.as_bytes().to_vec();
            let at = rng.below(bytes.len());
            bytes[at] = PIECES[rng.below(PIECES.len())].as_bytes()[0];
            bytes.truncate(rng.below(bytes.len() + 1).max(at));
            inputs.push(String::from_utf8_lossy(&bytes).into_owned());
        }
    }
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut ok = 0usize;
        for input in &inputs {
            if let Ok(conf) = parse_with(input, &env) {
                ok += 1;
                // Every span must index its source.
                for e in &conf.root.entries {
                    for span in [e.span, e.key_span, e.node.span] {
                        assert!(
                            conf.sources[span.file].get(span.start..span.end).is_some(),
                            "{input:?}"
                        );
                    }
                }
            }
        }
        let _ = tx.send(ok);
    });
    match rx.recv_timeout(Duration::from_secs(120)) {
        Ok(ok) => assert!(ok > 0, "nothing parsed at all"),
        Err(_) => panic!("fuzz inputs did not finish: a panic or a hang"),
    }
}
