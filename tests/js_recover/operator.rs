//! Operator (JWT) mode on a real cluster: accounts are named by their public keys, the
//! system account too, and nothing in the store says how to log in. js-recover says so
//! (`operator-mode`), and with `--node-config` the standalone.conf it writes keeps the
//! node's operator, system account and resolver: served as written, every stream of both
//! accounts comes back with its messages and its consumers' progress, to the accounts'
//! own users.

use async_nats::jetstream::{self, stream};
use base64::Engine as _;
use nkeys::KeyPair;
use serde_json::{json, Value};

use crate::fixtures::js_recover;
use crate::support::scenario::{consume, create_stream, durable, publish};
use crate::support::{Cluster, ClusterOpts, Server, ServerSpec};

/// A JWT as nats-io/jwt (v2) encodes one: header, claims, ed25519 signature by `signer`,
/// each base64url without padding.
fn jwt(claims: Value, signer: &KeyPair) -> String {
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut claims = claims;
    claims["iat"] = json!(chrono::Utc::now().timestamp());
    // A unique id; the server does not check how it was made.
    claims["jti"] = json!(hex::encode(sha2::Digest::finalize(
        <sha2::Sha256 as sha2::Digest>::new_with_prefix(claims.to_string())
    )));
    let signed = format!(
        "{}.{}",
        b64.encode(r#"{"typ":"JWT","alg":"ed25519-nkey"}"#),
        b64.encode(claims.to_string())
    );
    let signature = signer.sign(signed.as_bytes()).expect("sign");
    format!("{signed}.{}", b64.encode(signature))
}

/// An account's JWT: JetStream enabled with global limits (R1 fits), unless `jetstream`
/// is false (the system account).
fn account_jwt(operator: &KeyPair, account: &KeyPair, name: &str, jetstream: bool) -> String {
    let storage = if jetstream { -1 } else { 0 };
    jwt(
        json!({
            "iss": operator.public_key(), "sub": account.public_key(), "name": name,
            "nats": {
                "limits": {
                    "subs": -1, "data": -1, "payload": -1, "imports": -1, "exports": -1,
                    "wildcards": true, "conn": -1, "leaf": -1,
                    "mem_storage": storage, "disk_storage": storage,
                    "streams": -1, "consumer": -1
                },
                "default_permissions": { "pub": {}, "sub": {} },
                "type": "account", "version": 2
            }
        }),
        operator,
    )
}

/// A user of `account` with every permission, as a `.creds` file's text.
fn creds(account: &KeyPair, name: &str) -> String {
    let user = KeyPair::new_user();
    let token = jwt(
        json!({
            "iss": account.public_key(), "sub": user.public_key(), "name": name,
            "nats": { "pub": {}, "sub": {}, "subs": -1, "data": -1, "payload": -1,
                      "type": "user", "version": 2 }
        }),
        account,
    );
    format!(
        "-----BEGIN NATS USER JWT-----\n{token}\n------END NATS USER JWT------\n\n\
         -----BEGIN USER NKEY SEED-----\n{}\n------END USER NKEY SEED------\n",
        user.seed().expect("seed")
    )
}

async fn connect(url: &str, creds: &str) -> jetstream::Context {
    let client = async_nats::ConnectOptions::with_credentials(creds)
        .expect("creds parse")
        .connect(url)
        .await
        .unwrap_or_else(|e| panic!("connect to {url} with creds: {e}"));
    jetstream::new(client)
}

/// (messages, first sequence, consumer name -> (ack floor, delivered)) of a stream.
type Seen = (u64, u64, Vec<(String, u64, u64)>);

async fn seen(js: &jetstream::Context, name: &str) -> Seen {
    let mut s = js.get_stream(name).await.expect("stream");
    let info = s.info().await.expect("stream info").clone();
    let mut consumers = Vec::new();
    for c in ["proc", "audit"] {
        if let Ok(mut consumer) = s.get_consumer::<jetstream::consumer::pull::Config>(c).await {
            let i = consumer.info().await.expect("consumer info");
            consumers.push((
                c.to_string(),
                i.ack_floor.stream_sequence,
                i.delivered.stream_sequence,
            ));
        }
    }
    (info.state.messages, info.state.first_sequence, consumers)
}

#[tokio::test(flavor = "multi_thread")]
async fn an_operator_mode_survivor_is_said_so_and_served_from_its_own_config() {
    let operator = KeyPair::new_operator();
    let (sys, a, b) = (
        KeyPair::new_account(),
        KeyPair::new_account(),
        KeyPair::new_account(),
    );
    let operator_jwt = jwt(
        json!({
            "iss": operator.public_key(), "sub": operator.public_key(), "name": "OP",
            "nats": { "system_account": sys.public_key(), "type": "operator", "version": 2 }
        }),
        &operator,
    );
    let accounts = format!(
        "operator: \"{operator_jwt}\"\nsystem_account: {sys_pub}\nresolver: MEMORY\n\
         resolver_preload: {{\n  {sys_pub}: \"{}\"\n  {}: \"{}\"\n  {}: \"{}\"\n}}\n",
        account_jwt(&operator, &sys, "SYS", false),
        a.public_key(),
        account_jwt(&operator, &a, "A", true),
        b.public_key(),
        account_jwt(&operator, &b, "B", true),
        sys_pub = sys.public_key(),
    );
    let mut cluster = Cluster::start(&ClusterOpts {
        accounts: Some(accounts),
        ..ClusterOpts::default()
    })
    .await;
    let (creds_a, creds_b) = (creds(&a, "ua"), creds(&b, "ub"));

    // A: a limits stream, R3, with an R3 consumer part way through it.
    let js_a = connect(&cluster.url(0), &creds_a).await;
    let orders = create_stream(
        &js_a,
        stream::Config {
            name: "ORDERS".into(),
            subjects: vec!["orders.>".into()],
            num_replicas: 3,
            ..Default::default()
        },
    )
    .await;
    publish(&js_a, "orders", &["orders.new", "orders.paid"], 40).await;
    consume(&durable(&orders, "proc", 3).await, 20, 15).await;
    // B: an interest stream, whose unacknowledged messages only its consumer keeps.
    let js_b = connect(&cluster.url(0), &creds_b).await;
    let events = create_stream(
        &js_b,
        stream::Config {
            name: "EVENTS".into(),
            subjects: vec!["events.>".into()],
            retention: stream::RetentionPolicy::Interest,
            num_replicas: 3,
            ..Default::default()
        },
    )
    .await;
    let audit = durable(&events, "audit", 3).await;
    publish(&js_b, "events", &["events.a"], 30).await;
    consume(&audit, 12, 10).await;

    let keep = (cluster.meta_leader().await + 1) % cluster.nodes.len();
    cluster.wait_replicated_to(keep).await;
    let (want_a, want_b) = (seen(&js_a, "ORDERS").await, seen(&js_b, "EVENTS").await);
    assert_eq!(want_b.0, 20, "interest stream before the loss: {want_b:?}");
    let (node_config, port, http_port) = {
        let node = &cluster.nodes[keep];
        (node.config_path.clone(), node.port, node.http_port)
    };
    let copy = cluster.lose_quorum(keep).await;
    let store = copy.path();

    // Said so by inspect, and in the plan naming both accounts.
    js_recover()
        .arg("inspect")
        .arg(store)
        .assert()
        .success()
        .stdout(predicates::str::contains("operator (JWT) mode"));
    let out = js_recover()
        .args(["plan", "--json"])
        .arg(store)
        .assert()
        .success();
    let plan: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    let warned: Vec<&Value> = plan["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|w| w["code"] == "operator-mode")
        .collect();
    assert_eq!(warned.len(), 1, "{:#}", plan["warnings"]);
    let message = warned[0]["message"].as_str().unwrap();
    for account in [&a, &b] {
        assert!(message.contains(&account.public_key()), "{message}");
    }

    let backup = tempfile::tempdir().unwrap();
    let backup = backup.path().join("backup");
    js_recover()
        .args(["prepare", "--json"])
        .arg(store)
        .arg("--backup-dir")
        .arg(&backup)
        .arg("--node-config")
        .arg(&node_config)
        .assert()
        .success();
    let config = std::fs::read_to_string(backup.join("standalone.conf")).unwrap();
    assert!(config.contains(&operator_jwt), "{config}");
    assert!(!config.contains("routes"), "{config}");

    // Served as written (the node's own ports, free since it died).
    let server = Server::start(ServerSpec {
        version: cluster.version.clone(),
        name: "standalone".into(),
        work_dir: backup.clone(),
        port,
        http_port,
        config,
        env: Vec::new(),
    })
    .await;
    let js_a = connect(&server.url(), &creds_a).await;
    let js_b = connect(&server.url(), &creds_b).await;
    assert_eq!(seen(&js_a, "ORDERS").await, want_a, "{}", server.log());
    assert_eq!(seen(&js_b, "EVENTS").await, want_b, "{}", server.log());
    // Nothing else, under the names the account JWTs give (`/jsz` names accounts so).
    let served: Vec<(String, String)> = server.served().await.into_keys().collect();
    assert_eq!(
        served,
        [("A", "ORDERS"), ("B", "EVENTS")].map(|(a, s)| (a.to_string(), s.to_string()))
    );
}
