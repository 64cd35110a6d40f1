//! The simplest cluster config there is: no `accounts` block, so every client is in the
//! global account (`$G`) without a password, and the system account is the server's own
//! `$SYS`. After quorum is lost, `prepare` of the survivor writes a `standalone.conf`
//! that, served as written, gives every stream and consumer back to a client that logs in
//! as the cluster's clients did: no user, no password.

use async_nats::jetstream::{self, stream};

use crate::fixtures::{assert_same_tree, js_recover, prepare_json, tree};
use crate::support::fsutil::copy_tree;
use crate::support::observe::account_state;
use crate::support::scenario::{consume, create_stream, durable, publish};
use crate::support::standalone::{assert_matches, serve_written};
use crate::support::{Cluster, ClusterOpts, Expectations, SurvivorStop};

const VERSION: &str = "2.12.8";

#[tokio::test(flavor = "multi_thread")]
async fn a_cluster_without_accounts_is_served_from_the_global_account() {
    let mut cluster = Cluster::start(&ClusterOpts {
        version: VERSION.into(),
        accounts: Some(String::new()),
        ..ClusterOpts::default()
    })
    .await;
    let client = async_nats::connect(cluster.url(0)).await.unwrap();
    let js = jetstream::new(client.clone());
    let orders = create_stream(
        &js,
        stream::Config {
            name: "ORDERS".into(),
            subjects: vec!["orders.>".into()],
            num_replicas: 3,
            ..Default::default()
        },
    )
    .await;
    let events = create_stream(
        &js,
        stream::Config {
            name: "EVENTS".into(),
            subjects: vec!["events.>".into()],
            retention: stream::RetentionPolicy::Interest,
            num_replicas: 3,
            ..Default::default()
        },
    )
    .await;
    let picker = durable(&orders, "picker", 0).await;
    let audit = durable(&events, "audit", 0).await;
    publish(&js, "orders", &["orders.new", "orders.paid"], 40).await;
    publish(&js, "events", &["events.a"], 25).await;
    consume(&picker, 15, 10).await;
    consume(&audit, 12, 12).await;

    let keep = cluster.meta_leader().await;
    cluster.wait_replicated_to(keep).await;
    let mut expected = Expectations::default();
    expected
        .accounts
        .insert("$G".into(), account_state(&client).await);
    assert_eq!(expected.accounts["$G"].streams.len(), 2);
    drop(client);
    let copy = cluster.lose_quorum_with(keep, SurvivorStop::Kill).await;

    let work = tempfile::tempdir().unwrap();
    let store = work.path().join("store");
    copy_tree(copy.path(), &store);
    let original = tree(&store);
    let backup = work.path().join("backup");
    let report = prepare_json(&store, &backup, &[]);
    let accounts: Vec<&str> = report["next"]["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(accounts, ["$G"], "{report:#}");
    let script = std::fs::read_to_string(backup.join("restore.sh")).unwrap();
    for name in ["ORDERS", "EVENTS"] {
        assert!(script.contains(&format!("{name} --replicas 3")), "{script}");
    }

    // Served as written, from a copy (the store is rolled back below).
    let served = work.path().join("served");
    copy_tree(&store, &served);
    let mut server = serve_written(VERSION, &backup, Some(&served), &[]).await;
    let client = async_nats::connect(server.url()).await.unwrap();
    let mut actual = Expectations::default();
    actual
        .accounts
        .insert("$G".into(), account_state(&client).await);
    drop(client);
    server.stop().await;
    assert_matches(&expected, &actual);

    js_recover().arg("rollback").arg(&backup).assert().success();
    assert_same_tree(&original, &tree(&store));
}
