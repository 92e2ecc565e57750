//! Sharding across real `ferry serve` processes: three replicas with `--shards 3` own
//! disjoint tenant sets that cover every tenant, the shard can come from a StatefulSet pod
//! name, a replica refuses work for a tenant it does not own, and a missing shard stops
//! start-up.

mod ops_support;

use std::collections::BTreeSet;

use ops_support::{Ferry, config, get_json, post, repo};
use serde_json::Value;

const TENANTS: [&str; 9] = [
    "sandbox", "prod", "client-a", "client-b", "client-c", "eu", "us", "apac", "staging",
];

fn owned(ready: &Value) -> BTreeSet<String> {
    ready["shard"]["owned"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn three_replicas_own_disjoint_tenant_sets_covering_every_tenant() {
    let dir = tempfile::tempdir().unwrap();
    repo(dir.path());
    config(dir.path(), &TENANTS, "");
    let mut replicas: Vec<Ferry> = (0..3)
        .map(|i| {
            let shard = i.to_string();
            Ferry::start(
                dir.path(),
                &format!("state-{i}"),
                &["--shards", "3", "--shard", &shard],
                &[],
            )
        })
        .collect();
    let mut sets = Vec::new();
    for (i, replica) in replicas.iter_mut().enumerate() {
        let ready = replica.wait_ready();
        assert_eq!(ready["shard"]["index"], i);
        assert_eq!(ready["shard"]["count"], 3);
        assert_eq!(ready["shard"]["hash"], "fnv1a-64");
        let set = owned(&ready);
        let scheduled: BTreeSet<String> = ready["tenants"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(set, scheduled, "a replica schedules exactly what it owns");
        sets.push(set);
    }
    for i in 0..3 {
        for j in (i + 1)..3 {
            assert!(
                sets[i].is_disjoint(&sets[j]),
                "replicas {i} and {j} share tenants: {:?} {:?}",
                sets[i],
                sets[j]
            );
        }
    }
    let all: BTreeSet<String> = sets.iter().flatten().cloned().collect();
    let want: BTreeSet<String> = TENANTS.iter().map(|t| (*t).to_owned()).collect();
    assert_eq!(all, want, "together the replicas own every tenant");
    // The placement is the documented hash: FNV-1a 64 of the name, modulo 3.
    for (i, set) in sets.iter().enumerate() {
        for t in set {
            assert_eq!(ferry::daemon::shard::shard_of_key(t, 3) as usize, i, "{t}");
        }
    }

    // The API of replica 0 lists every tenant, with its owner.
    let (_, list) = get_json(&replicas[0].url("/api/v1/tenants"));
    let tenants = list["tenants"].as_array().unwrap();
    assert_eq!(tenants.len(), TENANTS.len());
    for t in tenants {
        let name = t["name"].as_str().unwrap();
        let owner = ferry::daemon::shard::shard_of_key(name, 3);
        assert_eq!(t["shard"], owner, "{name}");
        assert_eq!(t["owned"], owner == 0, "{name}");
        if owner != 0 {
            assert_eq!(t["syncState"], "unknown");
        }
    }
    // A replica refuses to reconcile another replica's tenant, naming the owner.
    let other = tenants
        .iter()
        .find(|t| t["owned"] == false)
        .expect("replica 0 does not own every tenant");
    let name = other["name"].as_str().unwrap();
    let (status, body) = post(
        &replicas[0].url(&format!("/api/v1/tenants/{name}/reconcile")),
        None,
    );
    assert_eq!(status, 409, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains(&format!("is owned by shard {} of 3", other["shard"])),
        "{body}"
    );
}

#[test]
fn the_shard_comes_from_the_statefulset_pod_name() {
    let dir = tempfile::tempdir().unwrap();
    repo(dir.path());
    config(dir.path(), &TENANTS, "");
    let mut ferry = Ferry::start(
        dir.path(),
        "state",
        &[],
        &[("FERRY_SHARDS", "3"), ("POD_NAME", "ferry-2")],
    );
    let ready = ferry.wait_listening();
    assert_eq!(ready["shard"]["index"], 2);
    let want: BTreeSet<String> = TENANTS
        .iter()
        .filter(|t| ferry::daemon::shard::shard_of_key(t, 3) == 2)
        .map(|t| (*t).to_owned())
        .collect();
    assert_eq!(owned(&ready), want);
    let (_, metrics) = ops_support::get(&ferry.url("/metrics")).unwrap();
    assert!(
        metrics.contains(&format!("ferry_owned_tenants {}\n", want.len())),
        "{metrics}"
    );
}

#[test]
fn more_shards_without_a_shard_stop_start_up_with_64() {
    let dir = tempfile::tempdir().unwrap();
    repo(dir.path());
    config(dir.path(), &["sandbox"], "");
    let mut ferry = Ferry::start(
        dir.path(),
        "state",
        &["--shards", "3"],
        &[("POD_NAME", "laptop")],
    );
    assert_eq!(ferry.wait_exit(), Some(64), "{}", ferry.log());
    assert!(
        ferry.log().contains(
            "--shards 3 needs this replica's shard: pass --shard (FERRY_SHARD), or run it in a pod whose name ends in -<ordinal> (POD_NAME, currently \"laptop\")"
        ),
        "{}",
        ferry.log()
    );
    let mut ferry = Ferry::start(dir.path(), "state", &["--shards", "3", "--shard", "3"], &[]);
    assert_eq!(ferry.wait_exit(), Some(64), "{}", ferry.log());
    assert!(
        ferry
            .log()
            .contains("shard 3 does not exist with --shards 3")
    );
}
