//! The bad-input corpus: store paths, metadata files, key files, manifests, backup
//! directories, concurrency and output failures that js-recover must refuse. Each case
//! asserts its exit code, an `error:` line with a `hint:` (clap's own words for usage
//! errors), that nothing in the scratch directory (store, plan, backup) changed by a byte,
//! a mode or a link, and that the command ended within its time limit: no FIFO, device or
//! link may hang or mislead it.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::fixtures::{example_store_path, js_recover};
use crate::support::fsutil::copy_tree;

/// A scratch directory: `store/`, `plan.json`, and after apply `backup/`.
struct Fx {
    dir: tempfile::TempDir,
    store: PathBuf,
    plan: PathBuf,
    backup: PathBuf,
}

impl Fx {
    fn planned() -> Fx {
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().join("store");
        copy_tree(&example_store_path(), &store);
        let plan = dir.path().join("plan.json");
        js_recover()
            .arg("plan")
            .arg(&store)
            .arg("--out")
            .arg(&plan)
            .assert()
            .success();
        let backup = dir.path().join("backup");
        Fx {
            dir,
            store,
            plan,
            backup,
        }
    }

    fn applied() -> Fx {
        let fx = Fx::planned();
        js_recover()
            .arg("apply")
            .arg(&fx.plan)
            .arg("--backup-dir")
            .arg(&fx.backup)
            .assert()
            .success();
        fx
    }

    fn p(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn s(&self, rel: &str) -> PathBuf {
        self.store.join(rel)
    }

    /// Rewrites the plan with `f` applied to its JSON.
    fn edit_plan(&self, f: impl FnOnce(&mut serde_json::Value)) {
        let mut v: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&self.plan).unwrap()).unwrap();
        f(&mut v);
        std::fs::write(&self.plan, serde_json::to_vec_pretty(&v).unwrap()).unwrap();
    }
}

const ORDERS: &str = "jetstream/A/streams/ORDERS";

fn os(parts: &[&dyn AsRef<std::ffi::OsStr>]) -> Vec<OsString> {
    parts.iter().map(|p| p.as_ref().to_os_string()).collect()
}

fn mkfifo(path: &Path) {
    let _ = std::fs::remove_file(path);
    rustix::fs::mknodat(
        rustix::fs::CWD,
        path,
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o600),
        0,
    )
    .unwrap();
}

fn symlink_out(path: &Path, fx: &Fx) {
    let outside = fx.p("outside-copy");
    std::fs::copy(path, &outside).unwrap();
    std::fs::remove_file(path).unwrap();
    std::os::unix::fs::symlink(&outside, path).unwrap();
}

/// Moves directory `path` out of the store and leaves a link to it.
fn dir_symlink_out(path: &Path, fx: &Fx) {
    let outside = fx.p(&format!(
        "outside-{}",
        path.file_name().unwrap().to_string_lossy()
    ));
    std::fs::rename(path, &outside).unwrap();
    std::os::unix::fs::symlink(&outside, path).unwrap();
}

fn replace_in(path: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.contains(from), "{from} not in {}", path.display());
    std::fs::write(path, text.replacen(from, to, 1)).unwrap();
}

/// One entry: mode (with its type), size, link target, contents of a regular file.
type Seen = (u32, u64, Option<PathBuf>, Option<Vec<u8>>);

/// Every entry under `dir`: kind, mode, size, link target and, for regular files only,
/// contents. Never opens a FIFO or a device.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Seen> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            let m = std::fs::symlink_metadata(&p).unwrap();
            let link = m
                .file_type()
                .is_symlink()
                .then(|| std::fs::read_link(&p).unwrap());
            let bytes = m.is_file().then(|| std::fs::read(&p).unwrap());
            if m.is_dir() {
                stack.push(p.clone());
            }
            out.insert(p, (m.mode(), m.len() * u64::from(!m.is_dir()), link, bytes));
        }
    }
    out
}

struct Case {
    name: &'static str,
    /// Builds the fixture and returns the command's arguments.
    setup: fn() -> (Fx, Vec<OsString>),
    code: i32,
    /// Words the message must contain.
    says: &'static str,
}

macro_rules! case {
    ($name:literal, $code:literal, $says:literal, $setup:expr) => {
        Case {
            name: $name,
            setup: $setup,
            code: $code,
            says: $says,
        }
    };
}

fn cases() -> Vec<Case> {
    vec![
        // --- store paths ---
        case!("plan a missing store", 1, "does not exist", || {
            let fx = Fx::planned();
            let a = os(&[&"plan", &fx.p("nope")]);
            (fx, a)
        }),
        case!("inspect a missing store", 1, "does not exist", || {
            let fx = Fx::planned();
            let a = os(&[&"inspect", &fx.p("nope")]);
            (fx, a)
        }),
        case!("prepare a missing store", 1, "does not exist", || {
            let fx = Fx::planned();
            let a = os(&[&"prepare", &fx.p("nope")]);
            (fx, a)
        }),
        case!(
            "plan a regular file",
            1,
            "is not a nats-server store",
            || {
                let fx = Fx::planned();
                let a = os(&[&"plan", &fx.plan]);
                (fx, a)
            }
        ),
        case!(
            "plan an empty directory",
            1,
            "has no `jetstream` directory",
            || {
                let fx = Fx::planned();
                std::fs::create_dir(fx.p("empty")).unwrap();
                let a = os(&[&"plan", &fx.p("empty")]);
                (fx, a)
            }
        ),
        case!(
            "plan a store whose jetstream is a file",
            1,
            "is not a nats-server store",
            || {
                let fx = Fx::planned();
                std::fs::create_dir(fx.p("odd")).unwrap();
                std::fs::write(fx.p("odd/jetstream"), b"x").unwrap();
                let a = os(&[&"plan", &fx.p("odd")]);
                (fx, a)
            }
        ),
        case!(
            "plan a store whose jetstream/ is a link",
            1,
            "is a symbolic link, not a directory",
            || {
                let fx = Fx::planned();
                dir_symlink_out(&fx.s("jetstream"), &fx);
                let a = os(&[&"plan", &fx.store]);
                (fx, a)
            }
        ),
        case!(
            "plan a jetstream/ link given directly",
            1,
            "is a symbolic link, not a directory",
            || {
                let fx = Fx::planned();
                dir_symlink_out(&fx.s("jetstream"), &fx);
                let a = os(&[&"plan", &fx.s("jetstream")]);
                (fx, a)
            }
        ),
        case!(
            "plan with streams/ a link",
            1,
            "is a symbolic link, not a directory",
            || {
                let fx = Fx::planned();
                dir_symlink_out(&fx.s("jetstream/A/streams"), &fx);
                let a = os(&[&"plan", &fx.store]);
                (fx, a)
            }
        ),
        case!(
            "plan with a stream directory linked out of the store",
            1,
            "is a symbolic link, not a directory",
            || {
                let fx = Fx::planned();
                dir_symlink_out(&fx.s(ORDERS), &fx);
                let a = os(&[&"plan", &fx.store]);
                (fx, a)
            }
        ),
        case!(
            "plan with obs/ a link",
            1,
            "is a symbolic link, not a directory",
            || {
                let fx = Fx::planned();
                dir_symlink_out(&fx.s(&format!("{ORDERS}/obs")), &fx);
                let a = os(&[&"plan", &fx.store]);
                (fx, a)
            }
        ),
        case!(
            "plan with msgs/ a link",
            1,
            "is a symbolic link, not a directory",
            || {
                let fx = Fx::planned();
                dir_symlink_out(&fx.s(&format!("{ORDERS}/msgs")), &fx);
                let a = os(&[&"plan", &fx.store]);
                (fx, a)
            }
        ),
        case!(
            "plan with _js_ a link",
            1,
            "is a symbolic link, not a directory",
            || {
                let fx = Fx::planned();
                dir_symlink_out(&fx.s("jetstream/$SYS/_js_"), &fx);
                let a = os(&[&"plan", &fx.store]);
                (fx, a)
            }
        ),
        // --- metadata files ---
        case!(
            "plan with meta.inf a FIFO",
            1,
            "is a FIFO (named pipe), not a regular file",
            || {
                let fx = Fx::planned();
                mkfifo(&fx.s(&format!("{ORDERS}/meta.inf")));
                let a = os(&[&"plan", &fx.store]);
                (fx, a)
            }
        ),
        case!(
            "inspect with meta.inf a FIFO",
            1,
            "is a FIFO (named pipe), not a regular file",
            || {
                let fx = Fx::planned();
                mkfifo(&fx.s(&format!("{ORDERS}/meta.inf")));
                let a = os(&[&"inspect", &fx.store]);
                (fx, a)
            }
        ),
        case!(
            "plan with meta.sum a FIFO",
            1,
            "is a FIFO (named pipe), not a regular file",
            || {
                let fx = Fx::planned();
                mkfifo(&fx.s(&format!("{ORDERS}/meta.sum")));
                let a = os(&[&"plan", &fx.store]);
                (fx, a)
            }
        ),
        case!(
            "plan with meta.key a FIFO",
            1,
            "is a FIFO (named pipe), not a regular file",
            || {
                let fx = Fx::planned();
                mkfifo(&fx.s(&format!("{ORDERS}/meta.key")));
                let a = os(&[&"plan", &fx.store]);
                (fx, a)
            }
        ),
        case!(
            "plan with o.dat a FIFO",
            1,
            "is a FIFO (named pipe), not a regular file",
            || {
                let fx = Fx::planned();
                mkfifo(&fx.s(&format!("{ORDERS}/obs/AUDIT/o.dat")));
                let a = os(&[&"plan", &fx.store]);
                (fx, a)
            }
        ),
        case!(
            "inspect with index.db a FIFO",
            1,
            "is a FIFO (named pipe), not a regular file",
            || {
                let fx = Fx::planned();
                mkfifo(&fx.s(&format!("{ORDERS}/msgs/index.db")));
                let a = os(&[&"inspect", &fx.store]);
                (fx, a)
            }
        ),
        case!(
            "plan with a consumer meta.inf a FIFO",
            1,
            "is a FIFO (named pipe), not a regular file",
            || {
                let fx = Fx::planned();
                mkfifo(&fx.s(&format!("{ORDERS}/obs/AUDIT/meta.inf")));
                let a = os(&[&"plan", &fx.store]);
                (fx, a)
            }
        ),
        case!(
            "plan with meta.inf a link out of the store",
            1,
            "is a symbolic link, not a regular file",
            || {
                let fx = Fx::planned();
                symlink_out(&fx.s(&format!("{ORDERS}/meta.inf")), &fx);
                let a = os(&[&"plan", &fx.store]);
                (fx, a)
            }
        ),
        case!(
            "plan with meta.sum a link",
            1,
            "is a symbolic link, not a regular file",
            || {
                let fx = Fx::planned();
                symlink_out(&fx.s(&format!("{ORDERS}/meta.sum")), &fx);
                let a = os(&[&"plan", &fx.store]);
                (fx, a)
            }
        ),
        case!(
            "plan with meta.inf a directory",
            1,
            "is a directory, not a regular file",
            || {
                let fx = Fx::planned();
                let m = fx.s(&format!("{ORDERS}/meta.inf"));
                std::fs::remove_file(&m).unwrap();
                std::fs::create_dir(&m).unwrap();
                let a = os(&[&"plan", &fx.store]);
                (fx, a)
            }
        ),
        case!(
            "plan with a truncated meta.inf",
            1,
            "unexpected end of JSON input",
            || {
                let fx = Fx::planned();
                let m = fx.s(&format!("{ORDERS}/meta.inf"));
                let b = std::fs::read(&m).unwrap();
                std::fs::write(&m, &b[..b.len() / 2]).unwrap();
                let a = os(&[&"plan", &fx.store]);
                (fx, a)
            }
        ),
        case!("plan with an empty meta.inf", 1, "empty file", || {
            let fx = Fx::planned();
            std::fs::write(fx.s(&format!("{ORDERS}/meta.inf")), b"").unwrap();
            let a = os(&[&"plan", &fx.store]);
            (fx, a)
        }),
        case!(
            "plan with a meta.inf that is an array",
            1,
            "not a JSON object",
            || {
                let fx = Fx::planned();
                std::fs::write(fx.s(&format!("{ORDERS}/meta.inf")), b"[1]").unwrap();
                let a = os(&[&"plan", &fx.store]);
                (fx, a)
            }
        ),
        case!(
            "plan with a byte-order mark",
            1,
            "is not valid JSON",
            || {
                let fx = Fx::planned();
                let m = fx.s(&format!("{ORDERS}/meta.inf"));
                let b = std::fs::read(&m).unwrap();
                std::fs::write(&m, [b"\xef\xbb\xbf".as_slice(), &b].concat()).unwrap();
                let a = os(&[&"plan", &fx.store]);
                (fx, a)
            }
        ),
        case!(
            "plan with num_replicas a string",
            1,
            "cannot unmarshal string into Go value of type int",
            || {
                let fx = Fx::planned();
                replace_in(
                    &fx.s(&format!("{ORDERS}/meta.inf")),
                    "\"num_replicas\":3",
                    "\"num_replicas\":\"3\"",
                );
                let a = os(&[&"plan", &fx.store]);
                (fx, a)
            }
        ),
        case!("plan with num_replicas 3.0", 1, "not an integer", || {
            let fx = Fx::planned();
            replace_in(
                &fx.s(&format!("{ORDERS}/meta.inf")),
                "\"num_replicas\":3",
                "\"num_replicas\":3.0",
            );
            let a = os(&[&"plan", &fx.store]);
            (fx, a)
        }),
        case!("plan with num_replicas 1e3", 1, "not an integer", || {
            let fx = Fx::planned();
            replace_in(
                &fx.s(&format!("{ORDERS}/meta.inf")),
                "\"num_replicas\":3",
                "\"num_replicas\":1e3",
            );
            let a = os(&[&"plan", &fx.store]);
            (fx, a)
        }),
        case!("plan with a huge num_replicas", 1, "out of range", || {
            let fx = Fx::planned();
            replace_in(
                &fx.s(&format!("{ORDERS}/meta.inf")),
                "\"num_replicas\":3",
                "\"num_replicas\":123456789012345678901234",
            );
            let a = os(&[&"plan", &fx.store]);
            (fx, a)
        }),
        case!(
            "plan with an unknown retention",
            1,
            "would be refused by nats-server",
            || {
                let fx = Fx::planned();
                replace_in(
                    &fx.s(&format!("{ORDERS}/meta.inf")),
                    "\"retention\":\"limits\"",
                    "\"retention\":\"Limits\"",
                );
                let a = os(&[&"plan", &fx.store]);
                (fx, a)
            }
        ),
        case!(
            "plan with an unknown consumer ack_policy",
            1,
            "would be refused by nats-server",
            || {
                let fx = Fx::planned();
                replace_in(
                    &fx.s(&format!("{ORDERS}/obs/AUDIT/meta.inf")),
                    "\"ack_policy\":\"explicit\"",
                    "\"ack_policy\":7",
                );
                let a = os(&[&"plan", &fx.store]);
                (fx, a)
            }
        ),
        // --- key files ---
        case!("a missing key file", 1, "cannot read the key file", || {
            let fx = Fx::planned();
            let a = os(&[&"plan", &fx.store, &"--key-file", &fx.p("no.key")]);
            (fx, a)
        }),
        case!("an empty key file", 1, "is empty", || {
            let fx = Fx::planned();
            std::fs::write(fx.p("k"), b"\n").unwrap();
            let a = os(&[&"plan", &fx.store, &"--key-file", &fx.p("k")]);
            (fx, a)
        }),
        case!(
            "a key file that is a directory",
            1,
            "is a directory, not a regular file",
            || {
                let fx = Fx::planned();
                std::fs::create_dir(fx.p("k")).unwrap();
                let a = os(&[&"inspect", &fx.store, &"--key-file", &fx.p("k")]);
                (fx, a)
            }
        ),
        case!(
            "a key file that is a FIFO nobody writes",
            1,
            "is empty",
            || {
                let fx = Fx::planned();
                mkfifo(&fx.p("k"));
                let a = os(&[&"plan", &fx.store, &"--key-file", &fx.p("k")]);
                (fx, a)
            }
        ),
        case!(
            "a key file that is a device",
            1,
            "is a character device",
            || {
                let fx = Fx::planned();
                let a = os(&[&"prepare", &fx.store, &"--key-file", &"/dev/null"]);
                (fx, a)
            }
        ),
        case!("a key that opens nothing", 1, "does not open", || {
            let fx = Fx::planned();
            std::fs::write(fx.s(&format!("{ORDERS}/meta.key")), [7u8; 72]).unwrap();
            std::fs::write(fx.p("k"), b"not-the-key").unwrap();
            let a = os(&[&"plan", &fx.store, &"--key-file", &fx.p("k")]);
            (fx, a)
        }),
        case!("--cipher without --key-file", 2, "--key-file", || {
            let fx = Fx::planned();
            let a = os(&[&"plan", &fx.store, &"--cipher", &"aes"]);
            (fx, a)
        }),
        case!(
            "--prev-key-file without --key-file",
            2,
            "--key-file",
            || {
                let fx = Fx::planned();
                let a = os(&[&"inspect", &fx.store, &"--prev-key-file", &fx.plan]);
                (fx, a)
            }
        ),
        // --- manifests ---
        case!(
            "apply a missing plan",
            1,
            "is not a usable plan\n  caused by: it does not exist\nhint: give the plan file",
            || {
                let fx = Fx::planned();
                let a = os(&[&"apply", &fx.p("nope.json")]);
                (fx, a)
            }
        ),
        case!(
            "apply a directory",
            1,
            "is a directory, not a plan file",
            || {
                let fx = Fx::planned();
                let a = os(&[&"apply", &fx.dir.path()]);
                (fx, a)
            }
        ),
        case!(
            "apply a store",
            1,
            "is a directory, not a plan file",
            || {
                let fx = Fx::planned();
                let a = os(&[&"apply", &fx.store]);
                (fx, a)
            }
        ),
        case!(
            "apply an empty plan file",
            1,
            "is not a usable plan",
            || {
                let fx = Fx::planned();
                std::fs::write(&fx.plan, b"").unwrap();
                let a = os(&[&"apply", &fx.plan]);
                (fx, a)
            }
        ),
        case!(
            "apply a FIFO nobody writes",
            1,
            "is not a usable plan",
            || {
                let fx = Fx::planned();
                mkfifo(&fx.p("fifo.json"));
                let a = os(&[&"apply", &fx.p("fifo.json")]);
                (fx, a)
            }
        ),
        case!("apply text that is not JSON", 1, "it is not a plan", || {
            let fx = Fx::planned();
            std::fs::write(&fx.plan, b"hello").unwrap();
            let a = os(&[&"apply", &fx.plan]);
            (fx, a)
        }),
        case!(
            "apply another schema",
            1,
            "is not `js-recover/plan`",
            || {
                let fx = Fx::planned();
                fx.edit_plan(|v| v["schema"] = "js-recover/other".into());
                let a = os(&[&"apply", &fx.plan]);
                (fx, a)
            }
        ),
        case!("apply a future schema version", 1, "version 99", || {
            let fx = Fx::planned();
            fx.edit_plan(|v| v["schema_version"] = 99.into());
            let a = os(&[&"apply", &fx.plan]);
            (fx, a)
        }),
        case!("apply a path with ..", 1, "leaves the store", || {
            let fx = Fx::planned();
            fx.edit_plan(|v| v["changes"][0]["path"] = "jetstream/../../etc/passwd".into());
            let a = os(&[&"apply", &fx.plan]);
            (fx, a)
        }),
        case!(
            "apply an absolute change path",
            1,
            "leaves the store",
            || {
                let fx = Fx::planned();
                fx.edit_plan(|v| v["changes"][0]["path"] = "/etc/passwd".into());
                let a = os(&[&"apply", &fx.plan]);
                (fx, a)
            }
        ),
        case!(
            "apply an edit of a message block",
            1,
            "plans edit nothing else",
            || {
                let fx = Fx::planned();
                fx.edit_plan(|v| {
                    v["changes"][0]["path"] = "jetstream/A/streams/ORDERS/msgs/1.blk".into()
                });
                let a = os(&[&"apply", &fx.plan]);
                (fx, a)
            }
        ),
        case!(
            "apply an edit whose after does not hash",
            1,
            "does not match `after_sha256`",
            || {
                let fx = Fx::planned();
                fx.edit_plan(|v| v["changes"][0]["after_sha256"] = "00".repeat(32).into());
                let a = os(&[&"apply", &fx.plan]);
                (fx, a)
            }
        ),
        case!(
            "apply an edit whose before does not hash",
            1,
            "does not match `before_sha256`",
            || {
                let fx = Fx::planned();
                fx.edit_plan(|v| v["changes"][0]["before_sha256"] = "00".repeat(32).into());
                let a = os(&[&"apply", &fx.plan]);
                (fx, a)
            }
        ),
        case!("apply a path changed twice", 1, "is changed twice", || {
            let fx = Fx::planned();
            fx.edit_plan(|v| {
                let first = v["changes"][0].clone();
                v["changes"].as_array_mut().unwrap().push(first);
            });
            let a = os(&[&"apply", &fx.plan]);
            (fx, a)
        }),
        case!(
            "apply a mode that is not a permission",
            1,
            "is not a permission mode",
            || {
                let fx = Fx::planned();
                fx.edit_plan(|v| v["changes"][0]["mode"] = "170600".into());
                let a = os(&[&"apply", &fx.plan]);
                (fx, a)
            }
        ),
        case!(
            "apply a relative store",
            1,
            "is not an absolute path",
            || {
                let fx = Fx::planned();
                fx.edit_plan(|v| v["store"] = "store".into());
                let a = os(&[&"apply", &fx.plan]);
                (fx, a)
            }
        ),
        case!(
            "apply a plan for a store that is gone",
            1,
            "is not a nats-server store",
            || {
                let fx = Fx::planned();
                let gone = fx.p("gone").display().to_string();
                fx.edit_plan(|v| v["store"] = gone.into());
                let a = os(&[&"apply", &fx.plan]);
                (fx, a)
            }
        ),
        case!(
            "apply after meta.inf changed",
            3,
            "its contents changed",
            || {
                let fx = Fx::planned();
                replace_in(
                    &fx.s(&format!("{ORDERS}/meta.inf")),
                    "\"sealed\":false",
                    "\"sealed\":true",
                );
                let a = os(&[&"apply", &fx.plan]);
                (fx, a)
            }
        ),
        case!(
            "apply after meta.inf became a FIFO",
            3,
            "is a FIFO (named pipe), not a regular file",
            || {
                let fx = Fx::planned();
                mkfifo(&fx.s(&format!("{ORDERS}/meta.inf")));
                let a = os(&[&"apply", &fx.plan]);
                (fx, a)
            }
        ),
        case!(
            "apply after meta.inf became a link",
            3,
            "is a symbolic link, not a regular file",
            || {
                let fx = Fx::planned();
                symlink_out(&fx.s(&format!("{ORDERS}/meta.inf")), &fx);
                let a = os(&[&"apply", &fx.plan]);
                (fx, a)
            }
        ),
        case!("apply after a mode changed", 3, "its mode is", || {
            let fx = Fx::planned();
            let m = fx.s(&format!("{ORDERS}/meta.inf"));
            std::fs::set_permissions(&m, std::fs::Permissions::from_mode(0o640)).unwrap();
            let a = os(&[&"apply", &fx.plan]);
            (fx, a)
        }),
        case!(
            "apply after the Raft state changed",
            3,
            "its contents changed",
            || {
                let fx = Fx::planned();
                std::fs::write(fx.s("jetstream/$SYS/_js_/extra"), b"x").unwrap();
                let a = os(&[&"apply", &fx.plan]);
                (fx, a)
            }
        ),
        case!(
            "apply with a temporary file left by a killed apply",
            3,
            "is left over from an apply",
            || {
                let fx = Fx::planned();
                std::fs::write(fx.s(&format!("{ORDERS}/.meta.inf.js-recover.tmp")), b"x").unwrap();
                let a = os(&[&"apply", &fx.plan]);
                (fx, a)
            }
        ),
        case!(
            "apply into a backup directory inside the store",
            1,
            "is inside the store",
            || {
                let fx = Fx::planned();
                let a = os(&[&"apply", &fx.plan, &"--backup-dir", &fx.s("jetstream/bk")]);
                (fx, a)
            }
        ),
        case!(
            "prepare into a backup directory inside the store (its plan file is not left there)",
            1,
            "is inside the store",
            || {
                let fx = Fx::planned();
                let a = os(&[
                    &"prepare",
                    &fx.store,
                    &"--backup-dir",
                    &fx.s("jetstream/bk"),
                ]);
                (fx, a)
            }
        ),
        case!(
            "apply into a foreign non-empty directory",
            1,
            "already exists and is not empty",
            || {
                let fx = Fx::planned();
                std::fs::create_dir(fx.p("foreign")).unwrap();
                std::fs::write(fx.p("foreign/x"), b"x").unwrap();
                let a = os(&[&"apply", &fx.plan, &"--backup-dir", &fx.p("foreign")]);
                (fx, a)
            }
        ),
        case!(
            "apply into a backup directory whose parent is missing",
            1,
            "cannot find",
            || {
                let fx = Fx::planned();
                let a = os(&[&"apply", &fx.plan, &"--backup-dir", &fx.p("no/such/bk")]);
                (fx, a)
            }
        ),
        case!(
            "plan --out inside the store",
            1,
            "is inside the store",
            || {
                let fx = Fx::planned();
                let a = os(&[&"plan", &fx.store, &"--out", &fx.s("plan.json")]);
                (fx, a)
            }
        ),
        // --- backup directories ---
        case!(
            "rollback a missing backup directory",
            5,
            "it does not exist",
            || {
                let fx = Fx::applied();
                let a = os(&[&"rollback", &fx.p("nope")]);
                (fx, a)
            }
        ),
        case!(
            "rollback a store",
            5,
            "is a nats-server store, not a backup directory",
            || {
                let fx = Fx::applied();
                let a = os(&[&"rollback", &fx.store]);
                (fx, a)
            }
        ),
        case!(
            "status of a store",
            5,
            "is a nats-server store, not a backup directory",
            || {
                let fx = Fx::applied();
                let a = os(&[&"status", &fx.store]);
                (fx, a)
            }
        ),
        case!("rollback a file", 5, "it is not a directory", || {
            let fx = Fx::applied();
            let a = os(&[&"rollback", &fx.plan]);
            (fx, a)
        }),
        case!(
            "rollback a directory with no journal",
            5,
            "has no `journal.jsonl`",
            || {
                let fx = Fx::applied();
                std::fs::create_dir(fx.p("other")).unwrap();
                let a = os(&[&"rollback", &fx.p("other")]);
                (fx, a)
            }
        ),
        case!(
            "rollback with the journal a FIFO",
            5,
            "is a FIFO (named pipe), not a regular file",
            || {
                let fx = Fx::applied();
                mkfifo(&fx.backup.join("journal.jsonl"));
                let a = os(&[&"rollback", &fx.backup]);
                (fx, a)
            }
        ),
        case!(
            "status with the journal a FIFO",
            5,
            "is a FIFO (named pipe), not a regular file",
            || {
                let fx = Fx::applied();
                mkfifo(&fx.backup.join("journal.jsonl"));
                let a = os(&[&"status", &fx.backup]);
                (fx, a)
            }
        ),
        case!(
            "rollback with manifest.json missing",
            5,
            "`manifest.json` is missing",
            || {
                let fx = Fx::applied();
                std::fs::remove_file(fx.backup.join("manifest.json")).unwrap();
                let a = os(&[&"rollback", &fx.backup]);
                (fx, a)
            }
        ),
        case!(
            "rollback with manifest.json a FIFO",
            5,
            "is a FIFO (named pipe), not a regular file",
            || {
                let fx = Fx::applied();
                mkfifo(&fx.backup.join("manifest.json"));
                let a = os(&[&"rollback", &fx.backup]);
                (fx, a)
            }
        ),
        case!(
            "rollback with snapshot-before.json missing",
            5,
            "`snapshot-before.json` is missing",
            || {
                let fx = Fx::applied();
                std::fs::remove_file(fx.backup.join("snapshot-before.json")).unwrap();
                let a = os(&[&"rollback", &fx.backup]);
                (fx, a)
            }
        ),
        case!(
            "rollback with snapshot-after.json damaged",
            5,
            "does not match the sha256 the journal recorded",
            || {
                let fx = Fx::applied();
                let p = fx.backup.join("snapshot-after.json");
                let mut b = std::fs::read(&p).unwrap();
                b.push(b' ');
                std::fs::write(&p, b).unwrap();
                let a = os(&[&"rollback", &fx.backup]);
                (fx, a)
            }
        ),
        case!(
            "rollback with an edited manifest",
            5,
            "not the plan the journal recorded",
            || {
                let fx = Fx::applied();
                let p = fx.backup.join("manifest.json");
                let mut b = std::fs::read(&p).unwrap();
                b.push(b'\n');
                std::fs::write(&p, b).unwrap();
                let a = os(&[&"rollback", &fx.backup]);
                (fx, a)
            }
        ),
        case!(
            "rollback with an edited journal",
            5,
            "its journal does not verify",
            || {
                let fx = Fx::applied();
                replace_in(
                    &fx.backup.join("journal.jsonl"),
                    "\"kind\":\"applied\"",
                    "\"kind\":\"applied\" ",
                );
                let a = os(&[&"rollback", &fx.backup]);
                (fx, a)
            }
        ),
        case!(
            "rollback with a saved directory changed",
            5,
            "changed since it was saved",
            || {
                let fx = Fx::applied();
                let removed = std::fs::read_dir(fx.backup.join("removed"))
                    .unwrap()
                    .next()
                    .unwrap()
                    .unwrap()
                    .path();
                std::fs::write(removed.join("extra"), b"x").unwrap();
                let a = os(&[&"rollback", &fx.backup]);
                (fx, a)
            }
        ),
        case!(
            "rollback after the store was moved",
            5,
            "no longer exists",
            || {
                let fx = Fx::applied();
                std::fs::rename(&fx.store, fx.p("moved")).unwrap();
                let a = os(&[&"rollback", &fx.backup]);
                (fx, a)
            }
        ),
        case!(
            "rollback --store naming another store",
            5,
            "does not hold what this backup's store held",
            || {
                let fx = Fx::applied();
                copy_tree(
                    &example_store_path().join("jetstream/B"),
                    &fx.p("other/jetstream/B"),
                );
                let a = os(&[&"rollback", &fx.backup, &"--store", &fx.p("other")]);
                (fx, a)
            }
        ),
        case!(
            "rollback after apply's file changed",
            3,
            "changed since apply",
            || {
                let fx = Fx::applied();
                replace_in(
                    &fx.s(&format!("{ORDERS}/meta.inf")),
                    "\"sealed\":false",
                    "\"sealed\":true",
                );
                let a = os(&[&"rollback", &fx.backup]);
                (fx, a)
            }
        ),
        case!(
            "rollback after apply's file became a FIFO",
            3,
            "replaced since apply: it is a FIFO",
            || {
                let fx = Fx::applied();
                mkfifo(&fx.s(&format!("{ORDERS}/meta.inf")));
                let a = os(&[&"rollback", &fx.backup]);
                (fx, a)
            }
        ),
        case!(
            "a refused rollback leaves a torn journal line as it was",
            3,
            "changed since apply",
            || {
                let fx = Fx::applied();
                let j = fx.backup.join("journal.jsonl");
                let mut b = std::fs::read(&j).unwrap();
                b.extend_from_slice(b"{\"sha256\":\"ab");
                std::fs::write(&j, b).unwrap();
                replace_in(
                    &fx.s(&format!("{ORDERS}/meta.inf")),
                    "\"sealed\":false",
                    "\"sealed\":true",
                );
                let a = os(&[&"rollback", &fx.backup]);
                (fx, a)
            }
        ),
        // --- output failures ---
        case!(
            "plan to a full disk",
            1,
            "cannot write to standard output",
            || {
                let fx = Fx::planned();
                let a = os(&[&"plan", &fx.store, &"--stdout-to-dev-full"]);
                (fx, a)
            }
        ),
        case!(
            "status to a full disk",
            1,
            "cannot write to standard output",
            || {
                let fx = Fx::applied();
                let a = os(&[&"status", &fx.backup, &"--json", &"--stdout-to-dev-full"]);
                (fx, a)
            }
        ),
        case!(
            "plan --out to an unwritable place",
            1,
            "cannot write",
            || {
                let fx = Fx::planned();
                let a = os(&[&"plan", &fx.store, &"--out", &"/proc/version"]);
                (fx, a)
            }
        ),
    ]
}

/// Runs js-recover with `args` (stdout to `/dev/full` if asked), killing it after 20 s.
fn run(args: &[OsString], to_full: bool) -> std::process::Output {
    use std::io::Read;
    let stdout = if to_full {
        std::process::Stdio::from(
            std::fs::File::options()
                .write(true)
                .open("/dev/full")
                .unwrap(),
        )
    } else {
        std::process::Stdio::null()
    };
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("js-recover"))
        .args(args)
        .env("JS_RECOVER_NOW", "2026-11-21T12:00:00Z")
        .env_remove("JS_RECOVER_LOG")
        .stdin(std::process::Stdio::null())
        .stdout(stdout)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = stderr.read_to_end(&mut buf);
        buf
    });
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("{args:?} hung for 20 s");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    std::process::Output {
        status,
        stdout: Vec::new(),
        stderr: reader.join().unwrap(),
    }
}

#[test]
fn every_bad_input_is_refused_clearly_and_changes_nothing() {
    let cases = cases();
    assert!(cases.len() >= 60, "only {} cases", cases.len());
    let mut failures = Vec::new();
    for case in &cases {
        let (fx, mut args) = (case.setup)();
        let to_full = args.iter().any(|a| a == "--stdout-to-dev-full");
        args.retain(|a| a != "--stdout-to-dev-full");
        let before = snapshot(fx.dir.path());
        let out = run(&args, to_full);
        let err = String::from_utf8_lossy(&out.stderr);
        let advice = if case.code == 2 { "--help" } else { "hint: " };
        let problems = [
            (out.status.code() != Some(case.code))
                .then(|| format!("exit {:?}, expected {}", out.status.code(), case.code)),
            (!err.contains("error: ")).then(|| "no `error:` line".to_string()),
            (!err.contains(advice)).then(|| format!("no `{advice}`")),
            (!err.contains(case.says)).then(|| format!("does not say `{}`", case.says)),
            (snapshot(fx.dir.path()) != before).then(|| "the scratch directory changed".into()),
        ];
        let problems: Vec<String> = problems.into_iter().flatten().collect();
        if !problems.is_empty() {
            failures.push(format!("{}: {}\n{err}", case.name, problems.join("; ")));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[test]
fn a_concurrent_run_is_refused_and_changes_nothing() {
    let fx = Fx::planned();
    // An apply paused once its backup is made holds the store's lock.
    let mut first = std::process::Command::new(assert_cmd::cargo::cargo_bin("js-recover"))
        .arg("apply")
        .arg(&fx.plan)
        .arg("--backup-dir")
        .arg(&fx.backup)
        .env("JS_RECOVER_FAILPOINT", "backed-up@pause")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !std::fs::read_to_string(fx.backup.join("journal.jsonl"))
        .is_ok_and(|j| j.contains("backed-up"))
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the first apply did not pause"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let before = snapshot(fx.dir.path());
    for args in [
        os(&[&"plan", &fx.store]),
        os(&[&"apply", &fx.plan, &"--backup-dir", &fx.p("second")]),
        os(&[&"rollback", &fx.backup]),
        os(&[&"prepare", &fx.store]),
    ] {
        let out = js_recover()
            .args(&args)
            .timeout(Duration::from_secs(20))
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(4), "{args:?}: {err}");
        assert!(err.contains("error: ") && err.contains("hint: "), "{err}");
        assert_eq!(snapshot(fx.dir.path()), before, "{args:?}");
    }
    let _ = first.kill();
    let _ = first.wait();
    js_recover()
        .arg("rollback")
        .arg(&fx.backup)
        .assert()
        .success();
}
