//! Sharding: which tenants one `ferry serve` replica owns.
//!
//! Replica `N` of `M` (`--shard N --shards M`) owns the tenants whose **placement key**
//! hashes to `N` modulo `M`. The hash is FNV-1a 64-bit over the key's UTF-8 bytes
//! (offset basis `0xcbf29ce484222325`, prime `0x100000001b3`), fixed across versions: a
//! tenant stays on its replica (and its state volume) through upgrades.
//!
//! The placement key of a tenant is the name of the root of its `promoteFrom` chain (its
//! own name when it promotes from nobody). Promotion reads what the source tenant applied
//! cleanly from the replica's own state store, so a tenant must live on the same replica
//! as the tenant it promotes from; hashing the chain's root keeps every promotion chain
//! together. A tenant without `promoteFrom` is placed by its own name.
//!
//! When `--shard` is not given but `--shards` is above 1, the shard is the ordinal at the
//! end of the pod name (`POD_NAME`, else the host name), as in a StatefulSet pod
//! `ferry-2`. This module only computes ownership; it must not start, stop or mark
//! anything.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::config;

/// Name of the hash, as shown by `/readyz` and the docs.
pub const HASH_NAME: &str = "fnv1a-64";

const FNV_OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// Errors of choosing a shard.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// `--shards` is zero.
    #[error("--shards (FERRY_SHARDS) must be at least 1, got 0")]
    NoShards,
    /// `--shard` is not below `--shards`.
    #[error(
        "shard {index} does not exist with --shards {count}: shards are numbered 0 to {last}; fix --shard (FERRY_SHARD) or --shards (FERRY_SHARDS)"
    )]
    OutOfRange {
        /// The shard asked for.
        index: u32,
        /// How many shards there are.
        count: u32,
        /// The last valid shard.
        last: u32,
    },
    /// `--shards` is above 1 and no shard could be found.
    #[error(
        "--shards {count} needs this replica's shard: pass --shard (FERRY_SHARD), or run it in a pod whose name ends in -<ordinal> (POD_NAME{host})"
    )]
    Unknown {
        /// How many shards there are.
        count: u32,
        /// `, currently "name"` when a host name was found, else empty.
        host: String,
    },
}

/// FNV-1a, 64-bit, over `bytes`.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(FNV_OFFSET_BASIS, |hash, b| {
        (hash ^ u64::from(*b)).wrapping_mul(FNV_PRIME)
    })
}

/// The shard (of `count`) that `key` hashes to.
pub fn shard_of_key(key: &str, count: u32) -> u32 {
    let count = u64::from(count.max(1));
    // The remainder is below `count`, itself a u32.
    u32::try_from(fnv1a64(key.as_bytes()) % count).unwrap_or(0)
}

/// One replica's place among the shards. `Shard::default()` is the only replica.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Shard {
    /// This replica's shard, `0..count`.
    pub index: u32,
    /// How many shards (replicas) there are.
    pub count: u32,
}

impl Default for Shard {
    fn default() -> Self {
        Shard { index: 0, count: 1 }
    }
}

impl std::fmt::Display for Shard {
    /// `1/3`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl Shard {
    /// Shard `index` of `count`.
    ///
    /// # Errors
    /// [`Error::NoShards`], [`Error::OutOfRange`].
    pub fn new(index: u32, count: u32) -> Result<Shard, Error> {
        if count == 0 {
            return Err(Error::NoShards);
        }
        if index >= count {
            return Err(Error::OutOfRange {
                index,
                count,
                last: count - 1,
            });
        }
        Ok(Shard { index, count })
    }

    /// The shard from the flags: `flag` (`--shard`) when given; with one shard, 0;
    /// otherwise the ordinal ending `host` (the pod name).
    ///
    /// # Errors
    /// [`Error::NoShards`], [`Error::OutOfRange`], and [`Error::Unknown`] when `--shards`
    /// is above 1 and neither `--shard` nor an ordinal in `host` gives the shard.
    pub fn resolve(flag: Option<u32>, count: u32, host: Option<&str>) -> Result<Shard, Error> {
        if count == 0 {
            return Err(Error::NoShards);
        }
        if let Some(index) = flag {
            return Shard::new(index, count);
        }
        if count == 1 {
            return Ok(Shard::default());
        }
        match host.and_then(ordinal) {
            Some(index) => Shard::new(index, count),
            None => Err(Error::Unknown {
                count,
                host: host
                    .map(|h| format!(", currently {h:?}"))
                    .unwrap_or_default(),
            }),
        }
    }

    /// Whether this replica owns the tenant placed by `key` (see [`placement_key`]).
    pub fn owns_key(&self, key: &str) -> bool {
        shard_of_key(key, self.count) == self.index
    }

    /// The configured tenants this replica owns, in configuration order.
    pub fn owned<'t>(&self, tenants: &'t [config::Tenant]) -> Vec<&'t config::Tenant> {
        tenants
            .iter()
            .filter(|t| self.owns_key(placement_key(tenants, &t.name)))
            .collect()
    }

    /// Which shard owns each configured tenant.
    pub fn assignment(&self, tenants: &[config::Tenant]) -> BTreeMap<String, u32> {
        tenants
            .iter()
            .map(|t| {
                (
                    t.name.clone(),
                    shard_of_key(placement_key(tenants, &t.name), self.count),
                )
            })
            .collect()
    }
}

/// The key a tenant is placed by: the root of its `promoteFrom` chain (the tenant itself
/// when it promotes from nobody, or from a tenant not in `tenants`). A cycle (refused by
/// configuration validation) ends at the tenant where it closes.
pub fn placement_key<'t>(tenants: &'t [config::Tenant], name: &'t str) -> &'t str {
    let mut current = name;
    let mut seen = vec![name];
    while let Some(from) = tenants
        .iter()
        .find(|t| t.name == current)
        .and_then(|t| t.promote_from.as_deref())
    {
        if seen.contains(&from) || !tenants.iter().any(|t| t.name == from) {
            break;
        }
        seen.push(from);
        current = from;
    }
    current
}

/// The StatefulSet ordinal ending a pod or host name: `ferry-2` → 2. Only the part before
/// the first `.` counts (`ferry-2.ferry.ns.svc` → 2).
pub fn ordinal(host: &str) -> Option<u32> {
    let short = host.trim().split('.').next()?;
    let (_, digits) = short.rsplit_once('-')?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// This replica's pod or host name: `POD_NAME`, else `HOSTNAME`, else the kernel's host
/// name.
pub fn host_name() -> Option<String> {
    ["POD_NAME", "HOSTNAME"]
        .iter()
        .filter_map(|v| std::env::var(v).ok())
        .map(|v| v.trim().to_owned())
        .find(|v| !v.is_empty())
        .or_else(|| {
            std::fs::read_to_string("/proc/sys/kernel/hostname")
                .ok()
                .map(|h| h.trim().to_owned())
                .filter(|h| !h.is_empty())
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::testing::tenant;

    #[test]
    fn fnv1a_64_matches_the_reference_vectors() {
        // From the FNV reference test suite (draft-eastlake-fnv, test vectors for FNV-1a 64).
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x8594_4171_f739_67e8);
        assert_eq!(fnv1a64(b"chongo was here!\n"), 0x4681_0940_eff5_f915);
    }

    #[test]
    fn placement_is_fixed_for_known_names() {
        // Pinned: changing these moves tenants between replicas (and their state volumes).
        let placed: Vec<u32> = ["sandbox", "prod", "client-a", "client-b"]
            .iter()
            .map(|n| shard_of_key(n, 3))
            .collect();
        assert_eq!(placed, vec![2, 0, 1, 1]);
        assert_eq!(shard_of_key("anything", 1), 0);
    }

    #[test]
    fn three_replicas_own_disjoint_sets_covering_every_tenant() {
        let tenants: Vec<config::Tenant> = (0..500)
            .map(|i| tenant(&format!("tenant-{i}"), None))
            .collect();
        let shards: Vec<Shard> = (0..3).map(|i| Shard::new(i, 3).unwrap()).collect();
        let mut owner: BTreeMap<&str, u32> = BTreeMap::new();
        for s in &shards {
            for t in s.owned(&tenants) {
                assert!(
                    owner.insert(&t.name, s.index).is_none(),
                    "{} is owned twice",
                    t.name
                );
            }
        }
        assert_eq!(owner.len(), tenants.len(), "every tenant has an owner");
        for s in &shards {
            let n = owner.values().filter(|i| **i == s.index).count();
            assert!(
                (100..=240).contains(&n),
                "shard {s} owns {n} of 500: the hash spreads tenants"
            );
        }
        assert_eq!(
            shards[1].assignment(&tenants)["tenant-7"],
            owner["tenant-7"]
        );
    }

    #[test]
    fn a_promotion_chain_lives_on_one_replica() {
        let tenants = vec![
            tenant("sandbox", None),
            tenant("prod", Some("sandbox")),
            tenant("client", Some("prod")),
            tenant("loop-a", Some("loop-b")),
            tenant("loop-b", Some("loop-a")),
            tenant("orphan", Some("missing")),
        ];
        assert_eq!(placement_key(&tenants, "client"), "sandbox");
        assert_eq!(placement_key(&tenants, "prod"), "sandbox");
        assert_eq!(placement_key(&tenants, "orphan"), "orphan");
        assert_eq!(placement_key(&tenants, "loop-a"), "loop-b");
        for count in 1..8 {
            let a = Shard::new(0, count).unwrap().assignment(&tenants);
            assert_eq!(a["sandbox"], a["prod"]);
            assert_eq!(a["sandbox"], a["client"]);
        }
    }

    #[test]
    fn the_shard_comes_from_the_flag_or_the_pod_ordinal() {
        assert_eq!(
            Shard::resolve(Some(2), 3, Some("ferry-0")).unwrap(),
            Shard { index: 2, count: 3 }
        );
        assert_eq!(
            Shard::resolve(None, 3, Some("ferry-1")).unwrap(),
            Shard { index: 1, count: 3 }
        );
        assert_eq!(
            Shard::resolve(None, 1, Some("laptop")).unwrap(),
            Shard::default()
        );
        assert_eq!(
            Shard::resolve(None, 3, Some("laptop"))
                .unwrap_err()
                .to_string(),
            "--shards 3 needs this replica's shard: pass --shard (FERRY_SHARD), or run it in a pod whose name ends in -<ordinal> (POD_NAME, currently \"laptop\")"
        );
        assert_eq!(
            Shard::resolve(None, 3, Some("ferry-5"))
                .unwrap_err()
                .to_string(),
            "shard 5 does not exist with --shards 3: shards are numbered 0 to 2; fix --shard (FERRY_SHARD) or --shards (FERRY_SHARDS)"
        );
        assert_eq!(
            Shard::resolve(Some(0), 0, None).unwrap_err().to_string(),
            "--shards (FERRY_SHARDS) must be at least 1, got 0"
        );
    }

    #[test]
    fn ordinals_are_read_from_statefulset_pod_names() {
        assert_eq!(ordinal("ferry-0"), Some(0));
        assert_eq!(ordinal("my-ferry-12"), Some(12));
        assert_eq!(ordinal("ferry-2.ferry-headless.ops.svc"), Some(2));
        assert_eq!(ordinal("ferry"), None);
        assert_eq!(ordinal("ferry-"), None);
        assert_eq!(ordinal("ferry-7b9c"), None);
    }
}
