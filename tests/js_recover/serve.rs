//! After apply: the `standalone.conf` apply writes beside the backup serves the prepared
//! store on a real nats-server (no test-side config), and `restore.sh` names every stream
//! the store holds with the replicas it had in the lost cluster.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

use crate::fixtures::{example_store_path, js_recover, prepare_json};
use crate::support::fsutil::copy_tree;
use crate::support::net::free_port;
use crate::support::standalone::serve_written;
use crate::support::{Server, ServerSpec, Standalone, SysAccount};

/// The release that wrote the example store.
const VERSION: &str = "2.12.8";

#[tokio::test]
async fn the_written_standalone_config_serves_every_stream_and_restore_names_each() {
    let dir = tempfile::tempdir().unwrap();
    let (store, backup) = (dir.path().join("store"), dir.path().join("backup"));
    copy_tree(&example_store_path(), &store);
    let report = prepare_json(&store, &backup, &[]);
    let config_path = backup.join("standalone.conf");
    assert_eq!(report["next"]["config"], config_path.display().to_string());
    let config = std::fs::read_to_string(&config_path).unwrap();
    for block in ["cluster", "gateway", "leafnodes", "routes"] {
        assert!(
            !config.lines().any(|l| l.trim_start().starts_with(block)),
            "{block}: {config}"
        );
    }
    assert!(config.contains("listen: 127.0.0.1:4222"), "{config}");

    // The config as written; only its port moves (tests run side by side).
    let server = serve_written(VERSION, &backup, None, &[]).await;
    let got = server.served().await;
    // Each account's user and password from the file let a client in.
    for account in report["next"]["accounts"].as_array().unwrap() {
        let name = account["name"].as_str().unwrap();
        let password = config
            .split(&format!("{name}: {{"))
            .nth(1)
            .and_then(|rest| rest.split("password: \"").nth(1))
            .and_then(|rest| rest.split('"').next())
            .unwrap_or_else(|| panic!("no password for {name}: {config}"));
        let client = async_nats::ConnectOptions::with_user_and_password(
            account["user"].as_str().unwrap().into(),
            password.into(),
        )
        .connect(server.url())
        .await
        .unwrap_or_else(|e| panic!("account {name}: {e}"));
        let js = async_nats::jetstream::new(client);
        let mut names = js.stream_names();
        let mut listed = Vec::new();
        while let Some(n) = futures::StreamExt::next(&mut names).await {
            listed.push(n.unwrap());
        }
        let expected: Vec<&str> = got
            .keys()
            .filter(|(a, _)| a == name)
            .map(|(_, s)| s.as_str())
            .collect();
        listed.sort();
        assert_eq!(listed, expected, "account {name}");
    }
    drop(server);

    // The same as a server configured by hand (the tests' accounts) serves.
    let other = dir.path().join("other");
    copy_tree(&example_store_path(), &other);
    prepare_json(&other, &dir.path().join("other-backup"), &[]);
    let by_hand = Standalone::start(VERSION, &other, SysAccount::Default).await;
    let want = by_hand.server.served().await;
    drop(by_hand);
    assert_eq!(got, want);
    assert_eq!(got.len(), 6, "{got:?}");

    // restore.sh: a backup per account, a restore per stream, with the replicas the
    // cluster had (the plan's inventory).
    let script = std::fs::read_to_string(backup.join("restore.sh")).unwrap();
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(backup.join("manifest.json")).unwrap()).unwrap();
    let mut had = BTreeMap::new();
    for s in manifest["inventory"]["streams"].as_array().unwrap() {
        if s["class"] != "missing" {
            had.insert(
                (
                    s["account"].as_str().unwrap().to_string(),
                    s["name"].as_str().unwrap().to_string(),
                ),
                s["replicas"].as_i64().unwrap(),
            );
        }
    }
    let mut restores = BTreeMap::new();
    for line in script.lines().filter(|l| l.contains(" stream restore ")) {
        let path = line.split("stream restore \"$EXPORT\"/").nth(1).unwrap();
        let (path, replicas) = path.split_once(" --replicas ").unwrap();
        let (account, stream) = path.split_once('/').unwrap();
        restores.insert(
            (account.to_string(), stream.to_string()),
            replicas.parse::<i64>().unwrap(),
        );
    }
    let accounts: std::collections::BTreeSet<&String> = got.keys().map(|(a, _)| a).collect();
    for a in accounts {
        assert!(
            script.contains(&format!("account backup \"$EXPORT\"/{a} --force")),
            "{script}"
        );
    }
    assert_eq!(
        restores.keys().collect::<Vec<_>>(),
        got.keys().collect::<Vec<_>>()
    );
    for (key, replicas) in &restores {
        assert_eq!(Some(replicas), had.get(key), "{key:?}: {script}");
    }
    assert!(restores.values().any(|r| *r == 3), "{restores:?}");
}

#[test]
fn accounts_named_by_public_keys_are_operator_mode_and_said_so() {
    const KEY: &str = "ADNP6ZYWDMJMW2ZMQKJTQGF5LBK5JCCCOFTXLLKW2YJRCYJHB3K7XBMN";
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    copy_tree(&example_store_path(), &store);
    std::fs::rename(
        store.join("jetstream/A"),
        store.join(format!("jetstream/{KEY}")),
    )
    .unwrap();
    let out = js_recover()
        .args(["inspect", "--json"])
        .arg(&store)
        .assert()
        .success();
    let report: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    let warning = report["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["code"] == "operator-mode")
        .unwrap_or_else(|| panic!("no operator-mode warning: {}", report["warnings"]));
    let message = warning["message"].as_str().unwrap();
    assert!(
        message.contains(KEY) && message.contains("R1 tier"),
        "{message}"
    );

    let backup = dir.path().join("backup");
    let report = prepare_json(&store, &backup, &[]);
    let config = std::fs::read_to_string(backup.join("standalone.conf")).unwrap();
    assert!(config.contains("Operator (JWT) mode"), "{config}");
    assert!(config.contains(&format!("#   {KEY}")), "{config}");
    assert!(!config.contains(&format!("{KEY}: {{")), "{config}");
    // The other account is configured as usual.
    assert!(config.contains("B: {"), "{config}");
    let script = std::fs::read_to_string(backup.join("restore.sh")).unwrap();
    assert!(script.contains("--creds"), "{script}");
    let operator: Vec<&Value> = report["next"]["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["operator_mode"] == true)
        .collect();
    assert_eq!(operator.len(), 1);
    assert_eq!(operator[0]["name"], KEY);
}

#[tokio::test]
async fn a_config_derived_from_the_nodes_own_serves_every_stream_with_its_users() {
    use crate::support::config::{accounts_block, jetstream_block};
    let dir = tempfile::tempdir().unwrap();
    let (store, backup) = (dir.path().join("store"), dir.path().join("backup"));
    copy_tree(&example_store_path(), &store);
    // The node's config as the cluster ran it: accounts in an included file (relative),
    // a cluster block with routes, the old store_dir, a port of its own.
    let node_dir = dir.path().join("etc");
    std::fs::create_dir(&node_dir).unwrap();
    std::fs::write(
        node_dir.join("accounts.conf"),
        accounts_block(SysAccount::Default),
    )
    .unwrap();
    let (port, http_port) = (free_port(), free_port());
    let node = node_dir.join("nats.conf");
    std::fs::write(
        &node,
        format!(
            "server_name: n1\nlisten: 127.0.0.1:{port}\nhttp: 127.0.0.1:{http_port}\n\
             include accounts.conf\n{}\
             cluster {{\n  name: C1\n  listen: 127.0.0.1:{}\n  routes: [nats://127.0.0.1:1, nats://127.0.0.1:2]\n}}\n",
            jetstream_block(Path::new("/var/lib/nats-gone"), None),
            free_port()
        ),
    )
    .unwrap();
    // A config that cannot be used stops prepare before anything changes.
    let before = crate::fixtures::tree(&store);
    js_recover()
        .args(["prepare"])
        .arg(&store)
        .arg("--node-config")
        .arg(dir.path().join("missing.conf"))
        .assert()
        .failure()
        .stderr(predicates::str::contains("nothing was changed"));
    crate::fixtures::assert_same_tree(&before, &crate::fixtures::tree(&store));

    let report = prepare_json(
        &store,
        &backup,
        &["--node-config".as_ref(), node.as_os_str()],
    );
    assert_eq!(
        report["next"]["from_node_config"],
        node.display().to_string()
    );
    let config = std::fs::read_to_string(backup.join("standalone.conf")).unwrap();
    assert!(!config.contains("routes: ["), "{config}");
    assert!(
        config.contains(&format!("store_dir: \"{}\"", store.display())),
        "{config}"
    );

    // Served as written, where it was written: the include still resolves.
    let server = Server::start(ServerSpec {
        version: VERSION.into(),
        name: "standalone".into(),
        work_dir: backup.clone(),
        port,
        http_port,
        config,
        env: Vec::new(),
    })
    .await;
    let got = server.served().await;
    assert_eq!(got.len(), 6, "{got:?}");
    // The node's own users still get in.
    let client = async_nats::ConnectOptions::with_user_and_password("a".into(), "a".into())
        .connect(server.url())
        .await
        .unwrap();
    let js = async_nats::jetstream::new(client);
    assert!(js.get_stream("ORDERS").await.is_ok());
    let log = server.log();
    assert!(!log.contains("route connections"), "{log}");
    let script = std::fs::read_to_string(backup.join("restore.sh")).unwrap();
    assert!(script.contains("STANDALONE_CONTEXT_A"), "{script}");
}
