//! Reader for nats-server configuration files (the NATS "conf" format).
//!
//! This module owns turning a nats-server config (and the files it `include`s)
//! into a tree of [`Map`]/[`Node`] values that remembers, for every key and
//! value, which file and which bytes it came from ([`Span`]). Callers use the
//! tree to read settings (`jetstream { store_dir: ... }`) and use the spans to
//! rewrite a config textually (drop a `cluster { ... }` block, replace a value)
//! without re-serialising it, so comments and layout survive.
//!
//! The grammar is nats-server's own: `conf/lex.go` (a state-machine lexer) and
//! `conf/parse.go` (which builds the map, expands variables and includes).
//! This is an independent recursive-descent reading of those files; where
//! their behaviour is surprising but observable (a `[1]` array holding the
//! *string* `"1]"`, `2m` meaning two million, an unclosed top-level `{` or a
//! quote opened on the last byte accepted as end of input, a lone `/` after
//! a value ignored) it is reproduced on purpose, because the server is what
//! actually reads these files. The few places where we knowingly differ are
//! listed on [`parse_str`].
//!
//! Hostile input is expected (configs are read from machines being
//! recovered): parsing never panics, always makes progress, caps nesting at
//! 128 levels and include chains at 32, and only ever reads regular files.

use std::fs;
use std::io::{self, Read};
use std::num::IntErrorKind;
use std::path::{Component, Path, PathBuf};

/// Deepest nesting of maps, arrays, `{ }` blocks, includes and environment
/// expansions together; past it parsing fails instead of exhausting the stack.
const MAX_DEPTH: usize = 128;
/// Longest chain of `include`s below the main file.
const MAX_INCLUDE_DEPTH: usize = 32;
/// Config files are small; anything bigger is not one.
const MAX_FILE_BYTES: u64 = 64 << 20;

/// Where a value or entry came from: which file and which bytes of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Span {
    /// Index into [`Conf::files`] / [`Conf::sources`].
    pub file: usize,
    /// Byte offset of the first byte.
    pub start: usize,
    /// Byte offset one past the last byte.
    pub end: usize,
}

/// A parsed value, with nats-server's types.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    String(String),
    /// Unit suffixes already applied (`1K` = 1000, `1KiB` = 1024).
    Integer(i64),
    Float(f64),
    Bool(bool),
    /// An ISO8601 Zulu datetime, kept as written (`2016-01-02T15:04:05Z`).
    Datetime(String),
    Array(Vec<Node>),
    Map(Map),
}

impl Value {
    /// The text of a string value.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Integer(n) => Some(*n),
            _ => None,
        }
    }

    pub fn as_map(&self) -> Option<&Map> {
        match self {
            Value::Map(m) => Some(m),
            _ => None,
        }
    }

    pub fn as_array(&self) -> Option<&[Node]> {
        match self {
            Value::Array(a) => Some(a),
            _ => None,
        }
    }
}

/// A value and where its text is.
///
/// Quoted strings, `( ... )` blocks, arrays and maps include their delimiters.
/// A value obtained through a variable (`$NAME`) has the span of the `$NAME`
/// reference; when it came from a map key, its children keep the spans of
/// their definition; when it came from the environment, every node inside it
/// has the span of the reference.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub value: Value,
    /// Span of the value text.
    pub span: Span,
}

/// One `key: value` of a map.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// The key as written (case kept, quotes removed).
    pub key: String,
    /// The key text, including its quotes if it was quoted.
    pub key_span: Span,
    pub node: Node,
    /// From the first byte of the key to the last byte of the value
    /// (not including a trailing separator or comment); for an entry that came
    /// from an include, the span of the `include ...` statement in the including file.
    pub span: Span,
    /// Set when this entry was brought in by an `include`: the span of that statement.
    pub included_by: Option<Span>,
}

/// A map's entries in document order, includes expanded in place.
///
/// Repeated keys are all kept (a rewrite must see every `cluster` block);
/// lookups take the last one, which is what a later assignment means.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Map {
    pub entries: Vec<Entry>,
}

impl Map {
    /// The value of the last entry whose key equals `key` ignoring ASCII case.
    ///
    /// Case-insensitive because nats-server lowercases option names
    /// (`strings.ToLower(k)` in server/opts.go).
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.get_any(&[key])
    }

    /// Same, trying several names (`&["store_dir", "storedir", "store"]`): the last entry in
    /// document order whose key matches any of them.
    pub fn get_any(&self, keys: &[&str]) -> Option<&Node> {
        self.entries
            .iter()
            .rev()
            .find(|e| keys.iter().any(|k| e.key.eq_ignore_ascii_case(k)))
            .map(|e| &e.node)
    }
}

/// A parsed config: every file read, its text, and the merged top-level map.
#[derive(Debug, Clone, PartialEq)]
pub struct Conf {
    /// `files[0]` is the main file (or the name given to [`parse_str`]).
    pub files: Vec<PathBuf>,
    /// The text of each file, which the spans index into.
    pub sources: Vec<String>,
    pub root: Map,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfError {
    #[error("cannot read `{path}`")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("`{path}` line {line}: {message}")]
    Syntax {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("`{path}` line {line}: variable `{name}` is not defined")]
    Variable {
        path: PathBuf,
        line: usize,
        name: String,
    },
    #[error("`{path}` includes itself (through `{via}`)")]
    IncludeCycle { path: PathBuf, via: PathBuf },
}

type Result<T> = std::result::Result<T, ConfError>;

/// Parses the file at `path` (and its includes). `env` looks up environment variables.
///
/// Includes are resolved against the directory of the including file as
/// written, so pass an absolute `path` unless the current directory is the
/// one nats-server ran in.
pub fn parse_file(path: &Path, env: &dyn Fn(&str) -> Option<String>) -> Result<Conf> {
    let mut loader = Loader::new(env);
    let root = loader.load(path, 0)?;
    Ok(Conf {
        files: loader.files,
        sources: loader.sources,
        root,
    })
}

/// Parses text (includes resolved relative to `dir`); `name` is used in errors.
///
/// Deliberate differences from nats-server, all on inputs it handles by
/// accident rather than by design:
/// - a map key without a value (`{a: }`, or a `,` alone on its own line in a
///   map, which lex.go reads as a key) and an unknown unit suffix (`1kbb`) are
///   errors; the server files the map under the wrong key, or drops the value;
/// - a NUL byte is an ordinary character (lex.go mistakes it for end of input);
/// - only ASCII digits start numbers (the server lexes other Unicode digits as
///   numbers, then fails to convert them);
/// - `\xHH` escapes producing invalid UTF-8 give U+FFFD, and files that are not
///   UTF-8 are refused, since spans must index the exact bytes;
/// - `include` inside an environment variable's value is not followed;
/// - include cycles and over-deep nesting are reported instead of recursing.
pub fn parse_str(
    text: &str,
    name: &Path,
    dir: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Conf> {
    let mut loader = Loader::new(env);
    loader.files.push(name.to_path_buf());
    loader.sources.push(text.to_owned());
    loader.open.push((identity(name), name.to_path_buf()));
    let root = Parser::new(&mut loader, text, 0, name, Some(dir.to_path_buf()), 0).document()?;
    Ok(Conf {
        files: loader.files,
        sources: loader.sources,
        root,
    })
}

/// State shared by the parsers of the main file, its includes and the
/// environment values they expand.
struct Loader<'e> {
    env: &'e dyn Fn(&str) -> Option<String>,
    files: Vec<PathBuf>,
    sources: Vec<String>,
    /// Files being parsed right now, outermost first: (identity, path as named).
    open: Vec<(PathBuf, PathBuf)>,
    /// Environment variables being expanded right now (parse.go's
    /// `envVarReferences`), to report `A=$A` instead of recursing.
    env_active: Vec<String>,
}

impl<'e> Loader<'e> {
    fn new(env: &'e dyn Fn(&str) -> Option<String>) -> Self {
        Loader {
            env,
            files: Vec::new(),
            sources: Vec::new(),
            open: Vec::new(),
            env_active: Vec::new(),
        }
    }

    /// Reads and parses one file; returns its top-level map.
    fn load(&mut self, path: &Path, depth: usize) -> Result<Map> {
        let id = identity(path);
        if self.open.iter().any(|(open, _)| *open == id) {
            let via = self.open.last().map(|(_, p)| p.clone()).unwrap_or_default();
            return Err(ConfError::IncludeCycle {
                path: path.to_path_buf(),
                via,
            });
        }
        let text = read_config(path)?;
        let index = self.files.len();
        self.files.push(path.to_path_buf());
        self.sources.push(String::new());
        // parse.go: includes are relative to filepath.Dir of the including file.
        let dir = path.parent().unwrap_or(Path::new("")).to_path_buf();
        self.open.push((id, path.to_path_buf()));
        let parsed = Parser::new(self, &text, index, path, Some(dir), depth).document();
        self.open.pop();
        self.sources[index] = text;
        parsed
    }
}

/// What a file is for cycle detection: its canonical path when it exists.
fn identity(path: &Path) -> PathBuf {
    fs::canonicalize(path).unwrap_or_else(|_| go_join(Path::new(""), &path.to_string_lossy()))
}

/// Reads a config file, refusing anything that is not a regular file so that
/// a FIFO or device named in a config can never block or feed us forever.
fn read_config(path: &Path) -> Result<String> {
    let io_err = |source: io::Error| ConfError::Io {
        path: path.to_path_buf(),
        source,
    };
    let refuse = |kind: io::ErrorKind, what: &str| io_err(io::Error::new(kind, what.to_owned()));
    // stat first, so that devices are not even opened...
    if !fs::metadata(path).map_err(io_err)?.is_file() {
        return Err(refuse(io::ErrorKind::InvalidInput, "not a regular file"));
    }
    // Non-blocking, so that opening a FIFO swapped in since the `stat` cannot block.
    let file = {
        use std::os::unix::fs::OpenOptionsExt;
        fs::OpenOptions::new()
            .read(true)
            .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32)
            .open(path)
            .map_err(io_err)?
    };
    // ...and fstat what was actually opened, which the path may no longer name.
    let meta = file.metadata().map_err(io_err)?;
    if !meta.is_file() {
        return Err(refuse(io::ErrorKind::InvalidInput, "not a regular file"));
    }
    let too_big = || {
        refuse(
            io::ErrorKind::InvalidData,
            "larger than 64 MiB; not a config file",
        )
    };
    if meta.len() > MAX_FILE_BYTES {
        return Err(too_big());
    }
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(io_err)?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(too_big());
    }
    String::from_utf8(bytes).map_err(|e| {
        let valid = e.utf8_error().valid_up_to();
        ConfError::Syntax {
            path: path.to_path_buf(),
            line: count_lines(&e.as_bytes()[..valid]),
            message: "file is not valid UTF-8".to_owned(),
        }
    })
}

fn count_lines(bytes: &[u8]) -> usize {
    bytes.iter().filter(|&&b| b == b'\n').count() + 1
}

/// Go's `filepath.Join(dir, rel)`: `rel` is appended even when absolute, and
/// the result is cleaned lexically (`a/../b` is `b`), as nats-server does.
fn go_join(dir: &Path, rel: &str) -> PathBuf {
    let rel = Path::new(rel);
    let tail = rel
        .components()
        .filter(|c| !matches!(c, Component::RootDir | Component::Prefix(_)));
    let mut parts: Vec<Component> = Vec::new();
    for c in dir.components().chain(tail) {
        match c {
            Component::CurDir => {}
            Component::ParentDir => match parts.last() {
                Some(Component::Normal(_)) => {
                    parts.pop();
                }
                Some(Component::RootDir | Component::Prefix(_)) => {}
                _ => parts.push(c),
            },
            _ => parts.push(c),
        }
    }
    if parts.is_empty() {
        return PathBuf::from(".");
    }
    parts.iter().collect()
}

mod parse;
use parse::*;

#[cfg(test)]
mod tests;
