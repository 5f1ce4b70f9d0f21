//! Container and TTL reaping (ZooKeeper's `ContainerManager`): which nodes the leader deletes
//! on a sweep. A container goes once it had children and has none left; a TTL node once it has
//! no children and was not modified for its TTL. Each sweep deletes at most a budget of them,
//! so that a burst of expiries does not flood the pipeline.

use crate::tree::{DataTree, NodeKind};

/// Nodes deleted per sweep: `max_per_minute` spread over the sweeps of a minute, at least one.
pub fn budget(max_per_minute: u32, interval_ms: u128) -> usize {
    (max_per_minute as u128 * interval_ms / 60_000).max(1) as usize
}

/// Up to `budget` paths to delete now (`wall_ms`: the leader's wall clock, which TTLs count in).
pub fn candidates(tree: &DataTree, wall_ms: i64, budget: usize) -> Vec<String> {
    // Containers and TTL nodes carry a stored owner: only those nodes are looked at.
    tree.nodes_with_owner()
        .filter(|n| {
            n.num_children == 0
                && match n.kind() {
                    NodeKind::Container => n.cversion > 0,
                    NodeKind::Ttl(ttl) => wall_ms - n.mtime > ttl,
                    _ => false,
                }
        })
        .map(|n| n.path())
        .take(budget)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_spreads_the_rate_over_the_sweeps_of_a_minute() {
        assert_eq!(budget(10_000, 60_000), 10_000);
        assert_eq!(budget(10_000, 6_000), 1_000);
        assert_eq!(budget(1, 100), 1, "at least one per sweep");
    }

    #[test]
    fn an_empty_tree_has_nothing_to_reap() {
        assert!(candidates(&DataTree::new(), 1_000_000, 10).is_empty());
    }
}
