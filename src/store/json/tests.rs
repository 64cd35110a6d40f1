//! Go's acceptance rules, key folding, typed reads, edits, and a fuzz pass.

use super::*;
use serde_json::Value;

fn members(s: &str) -> Vec<Member> {
    parse_object(s.as_bytes()).unwrap().members
}

fn obj(s: &[u8]) -> Object {
    parse_object(s).unwrap()
}

// --- kept from the serde_json-based module ---------------------------------------

#[test]
fn finds_members_with_nested_values_and_escapes() {
    let doc = r#"{"a":"x\"}","b":{"c":[1,{"d":"]"}]},"num_replicas":3,"e":-1.5e3,"f":null}"#;
    let o = obj(doc.as_bytes());
    let m = &o.members;
    let keys: Vec<_> = m.iter().map(|m| o.key(m)).collect();
    assert_eq!(keys, ["a", "b", "num_replicas", "e", "f"]);
    assert_eq!(&doc[m[1].value_span()], r#"{"c":[1,{"d":"]"}]}"#);
    assert_eq!(&doc[m[3].value_span()], "-1.5e3");
    assert_eq!(o.value(&m[0]), Value::from("x\"}"));
    assert_eq!(o.value(&m[1]), serde_json::json!({"c":[1,{"d":"]"}]}));
    assert_eq!(o.value(&m[2]), Value::from(3));
    assert_eq!(o.value(&m[3]), Value::from(-1500.0));
    assert_eq!(o.value(&m[4]), Value::Null);
}

#[test]
fn replace_keeps_every_other_byte() {
    let doc = r#"{"name":"\u003cX\u003e","num_replicas":3,"max_age":0}"#;
    let out = replace_value(doc.as_bytes(), &members(doc), "num_replicas", "1");
    assert_eq!(
        out,
        br#"{"name":"\u003cX\u003e","num_replicas":1,"max_age":0}"#
    );
}

#[test]
fn remove_middle_first_last_and_only() {
    let doc = r#"{"a":1,"placement":{"cluster":"C1","tags":["x"]},"b":2}"#;
    assert_eq!(
        remove_member(doc.as_bytes(), &members(doc), "placement"),
        br#"{"a":1,"b":2}"#
    );
    let doc = r#"{"placement":{"cluster":"C1"},"b":2}"#;
    assert_eq!(
        remove_member(doc.as_bytes(), &members(doc), "placement"),
        br#"{"b":2}"#
    );
    let doc = r#"{"a":1,"placement":{"cluster":"C1"}}"#;
    assert_eq!(
        remove_member(doc.as_bytes(), &members(doc), "placement"),
        br#"{"a":1}"#
    );
    let doc = r#"{"placement":{}}"#;
    assert_eq!(
        remove_member(doc.as_bytes(), &members(doc), "placement"),
        br#"{}"#
    );
}

#[test]
fn whitespace_is_tolerated_and_kept() {
    let doc = "{\n  \"a\" : 1 ,\n  \"placement\" : { \"cluster\" : \"C1\" } ,\n  \"b\" : 2\n}\n";
    let out = remove_member(doc.as_bytes(), &members(doc), "placement");
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "{\n  \"a\" : 1 ,\n  \"b\" : 2\n}\n"
    );
}

#[test]
fn missing_key_is_a_no_op() {
    let doc = r#"{"a":1}"#;
    assert_eq!(
        remove_member(doc.as_bytes(), &members(doc), "placement"),
        doc.as_bytes()
    );
}

#[test]
fn rejects_truncated_and_non_objects() {
    let err = parse_object(br#"{"name":"ORDERS","num_rep"#).unwrap_err();
    assert_eq!(err, JsonError::UnexpectedEnd { offset: 25 });
    assert_eq!(err.to_string(), "unexpected end of JSON input");
    assert!(matches!(parse_object(b"[1]"), Err(JsonError::NotAnObject)));
    assert!(matches!(parse_object(b" 3 "), Err(JsonError::NotAnObject)));
    assert!(matches!(parse_object(b"null"), Err(JsonError::NotAnObject)));
    assert_eq!(
        parse_object(b"").unwrap_err(),
        JsonError::UnexpectedEnd { offset: 0 }
    );
    assert_eq!(
        parse_object(b"  \n").unwrap_err(),
        JsonError::UnexpectedEnd { offset: 3 }
    );
}

// --- syntax, as Go's scanner.go ---------------------------------------------------

fn syntax_error(doc: &[u8]) -> String {
    validate(doc).unwrap_err().to_string()
}

#[test]
fn error_texts_are_gos_with_the_offset() {
    assert_eq!(
        syntax_error(br#"{"name":"A",x}"#),
        "invalid character 'x' looking for beginning of object key string at byte 12"
    );
    assert_eq!(
        syntax_error(br#"{"a":x}"#),
        "invalid character 'x' looking for beginning of value at byte 5"
    );
    assert_eq!(
        syntax_error(br#"{"a" 1}"#),
        "invalid character '1' after object key at byte 5"
    );
    assert_eq!(
        syntax_error(br#"{"a":1 "b":2}"#),
        "invalid character '\"' after object key:value pair at byte 7"
    );
    assert_eq!(
        syntax_error(br#"{"a":[1 2]}"#),
        "invalid character '2' after array element at byte 8"
    );
    assert_eq!(
        syntax_error(br#"{"a":tru}"#),
        "invalid character '}' in literal true (expecting 'e') at byte 8"
    );
    assert_eq!(
        syntax_error(br#"{"a":nul"#),
        "invalid character ' ' in literal null (expecting 'l') at byte 8"
    );
    assert_eq!(
        syntax_error(br#"{"a":"\x"}"#),
        "invalid character 'x' in string escape code at byte 7"
    );
    assert_eq!(
        syntax_error(br#"{"a":"\u12g4"}"#),
        "invalid character 'g' in \\u hexadecimal character escape at byte 10"
    );
    assert_eq!(
        syntax_error(br#"{"a":-x}"#),
        "invalid character 'x' in numeric literal at byte 6"
    );
    assert_eq!(
        syntax_error(br#"{"a":1.}"#),
        "invalid character '}' after decimal point in numeric literal at byte 7"
    );
    assert_eq!(
        syntax_error(br#"{"a":1e+}"#),
        "invalid character '}' in exponent of numeric literal at byte 8"
    );
    assert_eq!(
        syntax_error(br#"{"a":01}"#),
        "invalid character '1' after object key:value pair at byte 6"
    );
    assert_eq!(
        syntax_error(b"{\"a\":\"\x01\"}"),
        "invalid character '\\x01' in string literal at byte 6"
    );
    assert_eq!(
        syntax_error(b"{\"a\":1}\n{}"),
        "invalid character '{' after top-level value at byte 8"
    );
    // Go ends a pending number by feeding a space, so this is its message too.
    assert_eq!(
        syntax_error(b"-"),
        "invalid character ' ' in numeric literal at byte 1"
    );
}

#[test]
fn accepts_what_go_accepts() {
    for doc in [
        &br#"{}"#[..],
        b" \t\r\n{ } \t\r\n",
        br#"{"a":[],"b":{},"c":[1,-0,0.5,1E+2,1e-2,-12.5e10],"d":true,"e":false,"f":null}"#,
        br#"{"s":"\"\\\/\b\f\n\r\t\u00e9\uABCD"}"#,
        b"{\"s\":\"\x7f\"}",
        b"[1]",
        b"3",
        b"\"x\"",
    ] {
        validate(doc).unwrap_or_else(|e| panic!("{}: {e}", String::from_utf8_lossy(doc)));
    }
}

#[test]
fn rejects_what_go_rejects() {
    for doc in [
        &b"{,}"[..],
        b"{\"a\":1,}",
        b"[1,]",
        b"{\"a\"}",
        b"{'a':1}",
        b"{\"a\":+1}",
        b"{\"a\":.5}",
        b"{\"a\":1.e2}",
        b"{\"a\":0x10}",
        b"{\"a\":NaN}",
        b"{\"a\":True}",
        b"{\"a\":\"\\U0041\"}",
        b"{\"a\":\"\\u041\"}",
        b"{\"a\":\"\\'\"}",
        b"{\"a\":\"tab\there\"}",
        b"{\"a\":\"nl\nhere\"}",
        b"{\"a\":1}\x00",
        b"{\"a\":1}\x0c",
        b"\x0c{}",
        b"{\"a\":1}}",
        b"{\"a\":1]",
        b"{\"a\":[1}",
        b"{\"a\":1} x",
        b"{\"a\":\xff}",
        b"{\"a\"\xa0:1}",
    ] {
        assert!(validate(doc).is_err(), "{}", String::from_utf8_lossy(doc));
    }
}

#[test]
fn control_characters_in_strings_are_rejected() {
    for c in 0u8..0x20 {
        let doc = [b"{\"a\":\"x".as_slice(), &[c], b"\"}"].concat();
        let err = parse_object(&doc).unwrap_err();
        assert!(
            matches!(
                err,
                JsonError::InvalidCharacter {
                    offset: 7,
                    context: Context::InStringLiteral,
                    ..
                }
            ),
            "{c:#x}: {err}"
        );
    }
    // In a key too.
    assert!(parse_object(b"{\"a\tb\":1}").is_err());
}

#[test]
fn byte_order_mark_is_rejected() {
    let doc = b"\xef\xbb\xbf{\"a\":1}";
    let err = parse_object(doc).unwrap_err();
    assert_eq!(
        err,
        JsonError::InvalidCharacter {
            offset: 0,
            byte: 0xEF,
            context: Context::BeginningOfValue
        }
    );
    assert_eq!(
        err.to_string(),
        "invalid character 'ï' looking for beginning of value at byte 0"
    );
}

#[test]
fn trailing_garbage_is_rejected() {
    for doc in [
        &b"{} x"[..],
        b"{}{}",
        b"{}\"",
        b"{}0",
        b"{\"a\":1},",
        b"{}\x00",
    ] {
        let err = parse_object(doc).unwrap_err();
        assert!(
            matches!(
                err,
                JsonError::InvalidCharacter {
                    context: Context::AfterTopLevelValue,
                    ..
                }
            ),
            "{}: {err}",
            String::from_utf8_lossy(doc)
        );
    }
    assert!(parse_object(b"{} \t\r\n").is_ok());
}

fn nested(depth: usize) -> Vec<u8> {
    // An object holding depth - 1 nested arrays: `depth` levels in all.
    let mut doc = b"{\"a\":".to_vec();
    doc.extend(std::iter::repeat_n(b'[', depth - 1));
    doc.extend(std::iter::repeat_n(b']', depth - 1));
    doc.push(b'}');
    doc
}

#[test]
fn depth_10000_is_accepted_and_10001_rejected_on_a_2_mib_stack() {
    std::thread::Builder::new()
        .stack_size(2 * 1024 * 1024)
        .spawn(|| {
            let doc = nested(MAX_DEPTH);
            let object = parse_object(&doc).unwrap();
            assert_eq!(object.members.len(), 1);
            assert_eq!(object.members[0].value_span(), 5..doc.len() - 1);
            let out = remove_member(&doc, &object.members, "a");
            assert_eq!(out, b"{}");
            let out = replace_value(&doc, &object.members, "A", "1");
            assert_eq!(out, b"{\"a\":1}");
            // The informative value stops at MAX_VALUE_DEPTH.
            let value = object.value(&object.members[0]);
            let mut v = &value;
            let mut levels = 0;
            while let Value::Array(items) = v {
                levels += 1;
                v = &items[0];
            }
            assert_eq!(levels, MAX_VALUE_DEPTH);
            assert_eq!(*v, Value::Null);
            drop(object);

            let doc = nested(MAX_DEPTH + 1);
            let err = parse_object(&doc).unwrap_err();
            // The opening bracket of level 10001 is byte 5 + 9999.
            assert_eq!(err, JsonError::TooDeep { offset: 5 + 9999 });
            assert!(err.to_string().contains("exceeded max depth"), "{err}");

            // Deep objects, and depth counted across both kinds.
            let mut doc = Vec::new();
            for _ in 0..MAX_DEPTH {
                doc.extend_from_slice(b"{\"k\":");
            }
            doc.extend_from_slice(b"1");
            doc.extend(std::iter::repeat_n(b'}', MAX_DEPTH));
            assert!(parse_object(&doc).is_ok());
            let mut deeper = b"[".to_vec();
            deeper.extend_from_slice(&doc);
            deeper.push(b']');
            assert!(matches!(validate(&deeper), Err(JsonError::TooDeep { .. })));
        })
        .unwrap()
        .join()
        .unwrap();
}

// --- strings, as Go's decode.go -----------------------------------------------------

#[test]
fn invalid_utf8_is_accepted_and_decoded_like_go() {
    // A lone continuation byte, a truncated 3-byte sequence, an overlong, a UTF-8
    // encoded surrogate and 0xFF: each bad byte is one U+FFFD, as utf8.DecodeRune.
    let doc = b"{\"name\":\"a\x80b\xe2\x82c\xc0\xafd\xed\xa0\x80e\xff\",\"num_replicas\":3}";
    let object = parse_object(doc).unwrap();
    assert_eq!(
        object.go_string("name").unwrap().unwrap(),
        "a\u{FFFD}b\u{FFFD}\u{FFFD}c\u{FFFD}\u{FFFD}d\u{FFFD}\u{FFFD}\u{FFFD}e\u{FFFD}"
    );
    // Edits keep the invalid bytes as they were.
    let out = replace_value(doc, &object.members, "num_replicas", "1");
    assert_eq!(
        out,
        b"{\"name\":\"a\x80b\xe2\x82c\xc0\xafd\xed\xa0\x80e\xff\",\"num_replicas\":1}"
    );
    let out = remove_member(doc, &object.members, "num_replicas");
    assert_eq!(
        out,
        b"{\"name\":\"a\x80b\xe2\x82c\xc0\xafd\xed\xa0\x80e\xff\"}"
    );
    // Valid multi-byte characters pass through.
    let object = parse_object("{\"n\":\"é€𝄞\"}".as_bytes()).unwrap();
    assert_eq!(object.value(&object.members[0]), Value::from("é€𝄞"));
    // Invalid UTF-8 in a key.
    let object = parse_object(b"{\"k\xff\":1}").unwrap();
    assert_eq!(object.key(&object.members[0]), "k\u{FFFD}");
}

#[test]
fn lone_surrogates_become_replacement_characters() {
    let cases: [(&str, &str); 7] = [
        (r#""\ud800""#, "\u{FFFD}"),
        (r#""\uDFFF""#, "\u{FFFD}"),
        (r#""\ud800x""#, "\u{FFFD}x"),
        (r#""\ud800\u0041""#, "\u{FFFD}A"),
        (r#""\udc00\ud800""#, "\u{FFFD}\u{FFFD}"),
        (r#""\ud800\ud800\udc00""#, "\u{FFFD}\u{10000}"),
        (r#""\ud800\n""#, "\u{FFFD}\n"),
    ];
    for (raw, want) in cases {
        let doc = format!(r#"{{"description":{raw},"num_replicas":3}}"#);
        let object = parse_object(doc.as_bytes()).unwrap();
        assert_eq!(
            object.go_string("description").unwrap().unwrap(),
            want,
            "{raw}"
        );
        let out = replace_value(doc.as_bytes(), &object.members, "num_replicas", "1");
        assert_eq!(
            out,
            format!(r#"{{"description":{raw},"num_replicas":1}}"#).as_bytes()
        );
    }
}

#[test]
fn valid_surrogate_pair_is_one_code_point() {
    let object = obj(br#"{"s":"\ud834\udd1e\uD83D\uDE00"}"#);
    assert_eq!(
        object.value(&object.members[0]),
        Value::from("\u{1D11E}\u{1F600}")
    );
    let object = obj(br#"{"s":"\u00e9\u20ac\u0000"}"#);
    assert_eq!(object.value(&object.members[0]), Value::from("é€\0"));
}

#[test]
fn numbers_become_informative_values() {
    let object = obj(
            br#"{"a":3,"b":-1,"c":18446744073709551615,"d":99999999999999999999,"e":1e400,"f":2.5,"g":-0}"#,
        );
    let v: Vec<Value> = object.members.iter().map(|m| object.value(m)).collect();
    let v: Vec<&Value> = v.iter().collect();
    assert_eq!(*v[0], Value::from(3));
    assert_eq!(*v[1], Value::from(-1));
    assert_eq!(*v[2], Value::from(u64::MAX));
    assert_eq!(*v[3], Value::from(1e20));
    assert_eq!(*v[4], Value::Null);
    assert_eq!(*v[5], Value::from(2.5));
    assert_eq!(*v[6], Value::from(0));
}

// --- key matching, as Go's fold.go ------------------------------------------------------

#[test]
fn fold_eq_is_gos_folding() {
    assert!(fold_eq("num_replicas", "num_replicas"));
    assert!(fold_eq("Num_replicas", "num_replicas"));
    assert!(fold_eq("NUM_REPLICAS", "num_replicas"));
    assert!(fold_eq("num_replica\u{17F}", "num_replicas"));
    assert!(fold_eq("\u{212A}ind", "kind"));
    assert!(fold_eq("\u{212A}IND", "Kind"));
    assert!(!fold_eq("num-replicas", "num_replicas"));
    assert!(!fold_eq("num_replicas ", "num_replicas"));
    assert!(!fold_eq("num_replica", "num_replicas"));
    // Dotless i and dotted I fold with nothing (unicode.SimpleFold test cases).
    assert!(!fold_eq("\u{131}d", "id"));
    assert!(!fold_eq("\u{130}d", "id"));
    // Non-ASCII look-alikes never match.
    assert!(!fold_eq("n\u{fc}m", "num"));
    assert!(!fold_eq("\u{FF4E}um", "num"));
    assert!(!fold_eq("num_replicas\u{FFFD}", "num_replicas"));
    // Non-letters are not folded.
    assert!(!fold_eq("a@", "a`"));
    assert!(!fold_eq("a[", "a{"));
}

#[test]
fn case_insensitive_keys_set_the_field() {
    for doc in [
        &br#"{"Num_replicas":3}"#[..],
        br#"{"NUM_REPLICAS":3}"#,
        "{\"num_replica\u{17F}\":3}".as_bytes(),
        br#"{"\u004eum_replicas":3}"#,
        br#"{"num_replica\u017f":3}"#,
    ] {
        let object = obj(doc);
        assert_eq!(
            object.go_int("num_replicas").unwrap(),
            Some(3),
            "{}",
            String::from_utf8_lossy(doc)
        );
        assert!(object.get("num_replicas").is_some());
        let out = replace_value(doc, &object.members, "num_replicas", "1");
        assert_eq!(obj(&out).go_int("num_replicas").unwrap(), Some(1));
        let out = remove_member(doc, &object.members, "num_replicas");
        assert_eq!(out, b"{}");
    }
    let object = obj(br#"{"num_replicas ":3,"numreplicas":4}"#);
    assert_eq!(object.go_int("num_replicas").unwrap(), None);
    assert!(object.get("num_replicas").is_none());
}

#[test]
fn last_matching_member_wins() {
    let doc = br#"{"num_replicas":1,"a":0,"NUM_REPLICAS":2,"Num_Replicas":3,"b":0}"#;
    let object = obj(doc);
    let last = object.get("num_replicas").unwrap();
    assert_eq!(object.key(last), "Num_Replicas");
    assert_eq!(object.value(last), Value::from(3));
    assert_eq!(object.go_int("num_replicas").unwrap(), Some(3));
    let keys: Vec<_> = object.all("num_replicas").map(|m| object.key(m)).collect();
    assert_eq!(keys, ["num_replicas", "NUM_REPLICAS", "Num_Replicas"]);
    // An exact match earlier does not beat a folded one later.
    let object = obj(br#"{"name":"exact","NAME":"folded"}"#);
    assert_eq!(object.go_string("name").unwrap().unwrap(), "folded");
    // Null leaves the field as the earlier occurrence set it, as Go does.
    let object = obj(br#"{"num_replicas":3,"num_replicas":null}"#);
    assert_eq!(object.go_int("num_replicas").unwrap(), Some(3));
    assert_eq!(
        object.value(object.get("num_replicas").unwrap()),
        Value::Null
    );
    // An error in any occurrence is the error Go returns.
    let object = obj(br#"{"num_replicas":"x","num_replicas":3}"#);
    assert!(object.go_int("num_replicas").is_err());
}

// --- typed reads, as decode.go ---------------------------------------------------------

fn int_of(value: &str) -> Result<Option<i64>, FieldError> {
    obj(format!(r#"{{"num_replicas":{value}}}"#).as_bytes()).go_int("num_replicas")
}

#[test]
fn go_int_cases() {
    assert_eq!(int_of("3"), Ok(Some(3)));
    assert_eq!(int_of("-1"), Ok(Some(-1)));
    assert_eq!(int_of("0"), Ok(Some(0)));
    assert_eq!(int_of("-0"), Ok(Some(0)));
    assert_eq!(int_of("9223372036854775807"), Ok(Some(i64::MAX)));
    assert_eq!(int_of("-9223372036854775808"), Ok(Some(i64::MIN)));
    assert_eq!(int_of("null"), Ok(None));
    assert_eq!(obj(b"{}").go_int("num_replicas"), Ok(None));
    for literal in ["3.0", "1e3", "1E3", "3e0", "-0.0"] {
        assert_eq!(
            int_of(literal).unwrap_err().problem,
            FieldProblem::NotAnInteger {
                literal: literal.to_owned()
            }
        );
    }
    for literal in [
        "99999999999999999999",
        "9223372036854775808",
        "-9223372036854775809",
    ] {
        assert_eq!(
            int_of(literal).unwrap_err().problem,
            FieldProblem::OutOfRange {
                literal: literal.to_owned()
            }
        );
    }
    for (value, found) in [
        ("\"3\"", "string"),
        ("true", "bool"),
        ("false", "bool"),
        ("{}", "object"),
        ("[3]", "array"),
    ] {
        assert_eq!(
            int_of(value).unwrap_err().problem,
            FieldProblem::WrongType {
                expected: "int",
                found
            },
            "{value}"
        );
    }
    let err = obj(br#"{"Num_Replicas":"3"}"#)
        .go_int("num_replicas")
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "field `Num_Replicas`: cannot unmarshal string into Go value of type int"
    );
}

#[test]
fn go_string_and_go_object_cases() {
    let object = obj(
            br#"{"name":"ORDERS","description":null,"placement":{"cluster":"C1"},"mirror":null,"sources":[],"n":3}"#,
        );
    assert_eq!(object.go_string("name").unwrap().unwrap(), "ORDERS");
    assert_eq!(object.go_string("description").unwrap(), None);
    assert_eq!(object.go_string("absent").unwrap(), None);
    assert_eq!(
        object.go_string("n").unwrap_err().problem,
        FieldProblem::WrongType {
            expected: "string",
            found: "number"
        }
    );
    let placement = object.go_object("placement").unwrap().unwrap();
    assert_eq!(object.value(placement), serde_json::json!({"cluster":"C1"}));
    assert_eq!(object.go_object("mirror").unwrap(), None);
    assert_eq!(object.go_object("absent").unwrap(), None);
    assert_eq!(
        object.go_object("sources").unwrap_err().problem,
        FieldProblem::WrongType {
            expected: "object",
            found: "array"
        }
    );
    assert!(object.go_object("name").is_err());
    let object = obj(br#"{"placement":{"cluster":"C1"},"Placement":null}"#);
    assert_eq!(object.go_object("placement").unwrap(), None);
}

#[test]
fn go_enum_compares_the_raw_text() {
    const RETENTION: &[&str] = &["limits", "interest", "workqueue"];
    let read = |doc: &str| obj(doc.as_bytes()).go_enum("retention", RETENTION);
    assert_eq!(
        read(r#"{"retention":"limits"}"#),
        Ok(Some("limits".to_owned()))
    );
    assert_eq!(
        read(r#"{"Retention":"workqueue"}"#),
        Ok(Some("workqueue".to_owned()))
    );
    assert_eq!(read(r#"{"a":1}"#), Ok(None));
    for value in [
        "null",
        r#""Limits""#,
        r#""LIMITS""#,
        r#""\u006cimits""#,
        r#"" limits""#,
        "1",
        "{}",
    ] {
        let err = read(&format!(r#"{{"retention":{value}}}"#)).unwrap_err();
        assert_eq!(
            err.problem,
            FieldProblem::NotOneOf {
                allowed: RETENTION.iter().map(|s| s.to_string()).collect(),
                found: value.to_owned()
            },
            "{value}"
        );
    }
    let err = read(r#"{"retention":null}"#).unwrap_err();
    assert_eq!(
            err.to_string(),
            "field `retention`: can not unmarshal null: expected one of \"limits\", \"interest\", \"workqueue\""
        );
    // A bad earlier occurrence fails the decode even if a later one is good.
    assert!(read(r#"{"retention":"x","retention":"limits"}"#).is_err());
}

// --- edits with duplicates and mixed case ----------------------------------------------

fn remove(doc: &str, name: &str) -> String {
    let out = remove_member(doc.as_bytes(), &members(doc), name);
    String::from_utf8(out).unwrap()
}

#[test]
fn remove_every_matching_member() {
    assert_eq!(
        remove(r#"{"placement":1,"Placement":2,"b":3}"#, "placement"),
        r#"{"b":3}"#
    );
    assert_eq!(
        remove(r#"{"a":1,"placement":1,"PLACEMENT":2}"#, "placement"),
        r#"{"a":1}"#
    );
    assert_eq!(
        remove(r#"{"placement":1,"Placement":2}"#, "placement"),
        "{}"
    );
    assert_eq!(
        remove(
            r#"{"placement":1,"a":1,"placement":2,"PlAcEmEnT":3,"b":2,"placement":4}"#,
            "placement"
        ),
        r#"{"a":1,"b":2}"#
    );
    assert_eq!(
        remove(
            r#"{"a":1,"placement":2,"b":3,"placement":4,"c":5}"#,
            "placement"
        ),
        r#"{"a":1,"b":3,"c":5}"#
    );
    assert_eq!(
        remove("{ \"placement\" : 1 , \"Placement\" : 2 }", "placement"),
        "{  }"
    );
    assert_eq!(
        remove(
            "{ \"placement\" : 1 , \"Placement\" : 2 , \"b\" : 3 }",
            "placement"
        ),
        "{ \"b\" : 3 }"
    );
}

#[test]
fn replace_every_matching_member() {
    let doc = r#"{"num_replicas":3,"a":"x","NUM_REPLICAS":5,"Num_Replicas":{"x":[1]}}"#;
    let out = replace_value(doc.as_bytes(), &members(doc), "num_replicas", "1");
    assert_eq!(
        String::from_utf8(out).unwrap(),
        r#"{"num_replicas":1,"a":"x","NUM_REPLICAS":1,"Num_Replicas":1}"#
    );
    let doc = "{ \"Num_replicas\" : 3 }";
    let out = replace_value(doc.as_bytes(), &members(doc), "num_replicas", "10");
    assert_eq!(String::from_utf8(out).unwrap(), "{ \"Num_replicas\" : 10 }");
}

// --- rendering -----------------------------------------------------------------------

#[test]
fn render_pretty_shows_order_and_duplicates() {
    let doc = b"{\"b\":1,\"a\":{\"x\":[1,2.50,{}],\"x\":[]},\"b\":\"\\u003c\xff\\ud800\",\"c\":{\"d\":null}}";
    let want = r#"{
  "b": 1,
  "a": {
    "x": [
      1,
      2.50,
      {}
    ],
    "x": []
  },
  "b": "<��",
  "c": {
    "d": null
  }
}"#;
    assert_eq!(render_pretty(doc).unwrap(), want);
    assert_eq!(render_pretty(b" {} ").unwrap(), "{}");
    assert_eq!(
        render_pretty(br#"{"s":"a\"b\\c\n\u0001"}"#).unwrap(),
        "{\n  \"s\": \"a\\\"b\\\\c\\n\\u0001\"\n}"
    );
    assert_eq!(render_pretty(b"[1]"), None);
    assert_eq!(render_pretty(b"{"), None);
    // Same layout as serde_json where there are no duplicates.
    let doc = br#"{"a":[1,{"b":true,"c":"x"}],"d":{},"e":[]}"#;
    let value: Value = serde_json::from_slice(doc).unwrap();
    assert_eq!(
        render_pretty(doc).unwrap(),
        serde_json::to_string_pretty(&value).unwrap()
    );
}

// --- fuzz-style ----------------------------------------------------------------------

const ORDERS_META: &str = r#"{"Created":"2026-11-21T11:04:24.963324741Z","name":"ORDERS","description":"orders \u003c\u0026\u003e test","subjects":["orders.\u003e"],"retention":"limits","max_consumers":-1,"max_msgs":-1,"max_bytes":-1,"max_age":0,"max_msgs_per_subject":-1,"max_msg_size":-1,"discard":"old","storage":"file","num_replicas":3,"duplicate_window":120000000000,"placement":{"cluster":"C1"},"compression":"none","allow_direct":false,"mirror_direct":false,"sealed":false,"deny_delete":false,"deny_purge":false,"allow_rollup_hdrs":false,"consumer_limits":{},"allow_msg_ttl":false,"metadata":{"_nats.req.level":"0"}}"#;

#[test]
fn reads_a_real_meta_inf() {
    let object = obj(ORDERS_META.as_bytes());
    assert_eq!(object.members.len(), 26);
    assert_eq!(object.go_string("name").unwrap().unwrap(), "ORDERS");
    assert_eq!(
        object.go_string("description").unwrap().unwrap(),
        "orders <&> test"
    );
    assert_eq!(object.go_int("num_replicas").unwrap(), Some(3));
    assert_eq!(object.go_int("max_msgs").unwrap(), Some(-1));
    assert_eq!(
        object
            .go_enum("storage", &["file", "memory"])
            .unwrap()
            .unwrap(),
        "file"
    );
    let placement = object.go_object("placement").unwrap().unwrap();
    assert_eq!(object.raw(placement), br#"{"cluster":"C1"}"#);
    // Agrees with serde_json on a document both accept.
    let value: Value = serde_json::from_str(ORDERS_META).unwrap();
    for m in &object.members {
        let key = object.key(m);
        assert_eq!(value[key.as_ref()], object.value(m), "{key}");
    }
}

struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

const KEYS: &[&str] = &[
    "num_replicas",
    "Num_replicas",
    "NUM_REPLICAS",
    "num_replica\\u017f",
    "\\u004eum_replicas",
    "placement",
    "Placement",
    "PLACEMENT",
    "name",
    "a",
    "",
    "pl\\u0061cement",
    "x\\ud800",
    "k\u{212A}",
];
const SCALARS: &[&str] = &[
    "1",
    "-0",
    "3.5e-2",
    "1e400",
    "true",
    "false",
    "null",
    "\"s\"",
    "\"\\ud800\"",
    "\"\\\"\"",
    "\"\u{e9}\"",
    "99999999999999999999",
];

fn gen_value(rng: &mut XorShift, out: &mut Vec<u8>, depth: usize) {
    match rng.below(if depth > 3 { 1 } else { 4 }) {
        0 => out.extend_from_slice(rng.pick(SCALARS).as_bytes()),
        1 => {
            out.push(b'[');
            for i in 0..rng.below(3) {
                if i > 0 {
                    out.push(b',');
                }
                gen_value(rng, out, depth + 1);
            }
            out.push(b']');
        }
        2 => out.extend_from_slice(b"\"\xff\xc3(\""),
        _ => gen_object(rng, out, depth + 1),
    }
}

fn gen_ws(rng: &mut XorShift, out: &mut Vec<u8>) {
    if rng.below(4) == 0 {
        out.extend_from_slice(rng.pick(&[" ", "\n", "\t", "\r\n  "]).as_bytes());
    }
}

fn gen_object(rng: &mut XorShift, out: &mut Vec<u8>, depth: usize) {
    out.push(b'{');
    for i in 0..rng.below(6) {
        if i > 0 {
            gen_ws(rng, out);
            out.push(b',');
        }
        gen_ws(rng, out);
        out.push(b'"');
        out.extend_from_slice(rng.pick(KEYS).as_bytes());
        out.push(b'"');
        gen_ws(rng, out);
        out.push(b':');
        gen_ws(rng, out);
        gen_value(rng, out, depth);
    }
    gen_ws(rng, out);
    out.push(b'}');
}

/// Checks the invariants for one input; returns whether it parsed.
fn check(input: &[u8]) -> bool {
    // Go's syntax agrees with serde_json's where serde_json's extra checks (UTF-8,
    // lone surrogates) cannot apply; the generated documents are shallow.
    let lowered = input.to_ascii_lowercase();
    // serde_json also refuses numbers beyond f64 (Go accepts the syntax).
    let differential = std::str::from_utf8(input).is_ok()
        && !lowered.windows(3).any(|w| w == b"\\ud")
        && !lowered
            .windows(4)
            .any(|w| w[0] == b'e' && w[1..].iter().filter(|c| c.is_ascii_digit()).count() == 3);
    if differential {
        let serde_ok = serde_json::from_slice::<Value>(input).is_ok();
        let ours = validate(input);
        assert_eq!(
            ours.is_ok(),
            serde_ok,
            "{:?}: {ours:?}",
            String::from_utf8_lossy(input)
        );
    }
    let Ok(object) = parse_object(input) else {
        assert_eq!(render_pretty(input), None);
        return false;
    };
    let show = || String::from_utf8_lossy(input).into_owned();
    let raw_member = |o: &Object, m: &Member| o.bytes()[m.span()].to_vec();

    let replaced = replace_value(input, &object.members, "num_replicas", "1");
    let after = parse_object(&replaced).unwrap_or_else(|e| panic!("{}: {e}", show()));
    assert_eq!(after.members.len(), object.members.len(), "{}", show());
    for (before, now) in object.members.iter().zip(&after.members) {
        assert_eq!(object.key(before), after.key(now));
        if fold_eq(&object.key(before), "num_replicas") {
            assert_eq!(after.raw(now), b"1");
        } else {
            assert_eq!(raw_member(&object, before), raw_member(&after, now));
        }
    }

    let removed = remove_member(input, &object.members, "placement");
    let after = parse_object(&removed).unwrap_or_else(|e| panic!("{}: {e}", show()));
    let kept: Vec<&Member> = object
        .members
        .iter()
        .filter(|m| !fold_eq(&object.key(m), "placement"))
        .collect();
    assert_eq!(after.members.len(), kept.len(), "{}", show());
    for (before, now) in kept.iter().zip(&after.members) {
        assert_eq!(raw_member(&object, before), raw_member(&after, now));
    }
    assert!(after.all("placement").next().is_none());

    let pretty = render_pretty(input).unwrap();
    let reparsed = parse_object(pretty.as_bytes()).unwrap();
    let keys = |o: &Object| {
        o.members
            .iter()
            .map(|m| o.key(m).into_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(keys(&reparsed), keys(&object));

    // Typed reads never panic.
    let _ = object.go_int("num_replicas");
    let _ = object.go_string("name");
    let _ = object.go_object("placement");
    let _ = object.go_enum("a", &["s"]);
    true
}

#[test]
fn fuzz_never_panics_and_edits_stay_valid() {
    const ALPHABET: &[u8] =
        b"{}[]:,\"\\ \n\t\r0123456789-+.eEtrufalsnxu\x00\x1f\x7f\x80\xbf\xc3\xe2\xed\xef\xff";
    let base = ORDERS_META.as_bytes();
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    let mut parsed = 0;
    for round in 0..20_000 {
        let input: Vec<u8> = match round % 5 {
            0 => (0..rng.below(40)).map(|_| *rng.pick(ALPHABET)).collect(),
            1 => base[..rng.below(base.len() + 1)].to_vec(),
            2 => {
                let mut doc = base.to_vec();
                let at = rng.below(doc.len());
                match rng.below(3) {
                    0 => doc[at] = *rng.pick(ALPHABET),
                    1 => {
                        doc.remove(at);
                    }
                    _ => doc.insert(at, *rng.pick(ALPHABET)),
                }
                doc
            }
            _ => {
                let mut doc = Vec::new();
                gen_object(&mut rng, &mut doc, 0);
                if round % 5 == 4 && !doc.is_empty() {
                    let at = rng.below(doc.len());
                    doc[at] = *rng.pick(ALPHABET);
                }
                doc
            }
        };
        if check(&input) {
            parsed += 1;
        }
    }
    // Enough inputs reached the edit checks to mean something.
    assert!(parsed > 5_000, "only {parsed} inputs parsed");
}
