//! A hash table in 256 shards, each shared between snapshots and copied on its first write
//! after a publish: a snapshot is cloned in O(1), a change copies one shard (1/256 of the
//! table), and entries cost their size plus hashbrown's control byte.
//!
//! Why not a persistent HAMT (imbl, which the index used before): its nodes are arrays of 16 or
//! 32 slots allocated whole however few are used, and with 50,000 services the sparse nodes at
//! the bottom of the trie held more memory than the services themselves (heaptrack: 77 MB of
//! map nodes for 22 MB of objects).

use std::hash::{BuildHasher, Hash};
use std::sync::Arc;

use hashbrown::HashTable;

const SHARDS: usize = 256;

/// The shard of a hash: its top byte (hashbrown probes with the low bits and the top 7 bits,
/// so within a shard the spread is unaffected).
fn shard_of(hash: u64) -> usize {
    (hash >> 56) as usize
}

/// An entry that knows the hash of its own key (shards rehash entries when they grow).
pub trait Keyed {
    fn key_hash(&self, hasher: &foldhash::fast::RandomState) -> u64;
}

/// A sharded, copy-on-write hash table of `T`, looked up by hash and an equality test.
#[derive(Clone)]
pub struct Shards<T> {
    hasher: foldhash::fast::RandomState,
    tables: Arc<[Arc<HashTable<T>>]>,
}

impl<T> Default for Shards<T> {
    fn default() -> Self {
        Self {
            hasher: foldhash::fast::RandomState::default(),
            tables: (0..SHARDS).map(|_| Arc::new(HashTable::new())).collect(),
        }
    }
}

impl<T: Clone + Keyed> Shards<T> {
    /// The hash of `key` in this table (keys hash with the table's own seed).
    pub fn hash(&self, key: impl Hash) -> u64 {
        self.hasher.hash_one(key)
    }

    pub fn find(&self, hash: u64, eq: impl FnMut(&T) -> bool) -> Option<&T> {
        self.tables[shard_of(hash)].find(hash, eq)
    }

    /// The shard holding `hash`, writable: copied first if a snapshot shares it.
    fn table_mut(&mut self, hash: u64) -> &mut HashTable<T> {
        let tables = Arc::make_mut(&mut self.tables);
        Arc::make_mut(&mut tables[shard_of(hash)])
    }

    /// Inserts `value`, replacing the entry `eq` matches.
    pub fn insert(&mut self, hash: u64, value: T, eq: impl FnMut(&T) -> bool) {
        let hasher = self.hasher.clone();
        match self.table_mut(hash).entry(hash, eq, |e| e.key_hash(&hasher)) {
            hashbrown::hash_table::Entry::Occupied(mut e) => *e.get_mut() = value,
            hashbrown::hash_table::Entry::Vacant(e) => {
                e.insert(value);
            }
        }
    }

    /// Removes the entry `eq` matches; copies its shard only if there is one.
    pub fn remove(&mut self, hash: u64, mut eq: impl FnMut(&T) -> bool) -> Option<T> {
        self.find(hash, &mut eq)?;
        let hasher = self.hasher.clone();
        let table = self.table_mut(hash);
        let removed = table.find_entry(hash, eq).ok()?.remove().0;
        // A shard that emptied a lot gives its memory back (a relist that deleted many).
        if table.capacity() > 64 && table.len() < table.capacity() / 4 {
            table.shrink_to_fit(|e| e.key_hash(&hasher));
        }
        Some(removed)
    }

    /// Every entry, shard by shard.
    pub fn iter(&self) -> impl Iterator<Item = &T> {
        self.tables.iter().flat_map(|t| t.iter())
    }

    pub fn len(&self) -> usize {
        self.tables.iter().map(|t| t.len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    impl Keyed for (u32, &'static str) {
        fn key_hash(&self, hasher: &foldhash::fast::RandomState) -> u64 {
            hasher.hash_one(self.0)
        }
    }

    #[test]
    fn snapshots_keep_their_view_while_the_table_changes() {
        let mut table: Shards<(u32, &'static str)> = Shards::default();
        let insert = |t: &mut Shards<(u32, &'static str)>, k: u32, v: &'static str| {
            let h = t.hash(k);
            t.insert(h, (k, v), |e| e.0 == k);
        };
        for k in 0..1000 {
            insert(&mut table, k, "one");
        }
        let snapshot = table.clone();
        insert(&mut table, 7, "two");
        let h = table.hash(8u32);
        assert_eq!(table.remove(h, |e| e.0 == 8), Some((8, "one")));
        let get = |t: &Shards<(u32, &'static str)>, k: u32| t.find(t.hash(k), |e| e.0 == k).map(|e| e.1);
        assert_eq!((get(&snapshot, 7), get(&snapshot, 8)), (Some("one"), Some("one")));
        assert_eq!((get(&table, 7), get(&table, 8)), (Some("two"), None));
        assert_eq!((snapshot.len(), table.len()), (1000, 999));
        // Only the shards written to were copied.
        let shared = table
            .tables
            .iter()
            .zip(snapshot.tables.iter())
            .filter(|(a, b)| Arc::ptr_eq(a, b))
            .count();
        assert!(shared >= SHARDS - 2, "{shared} shards still shared");
        // Emptied shards shrink and still find what is left.
        for k in 0..990 {
            let h = table.hash(k);
            table.remove(h, |e| e.0 == k);
        }
        assert_eq!(table.len(), 10);
        for k in 990..1000 {
            assert!(get(&table, k).is_some(), "{k}");
        }
    }
}
