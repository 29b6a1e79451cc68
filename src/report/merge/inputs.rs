//! Whether summaries belong to one run: the same profile, and shards that are distinct slices
//! of one split (an error otherwise), all of the split (a warning otherwise).

use std::collections::{BTreeMap, BTreeSet};

use super::MergeError;
use crate::engine::Shard;
use crate::report::summary::Summary;

/// Profiles agree, shards are distinct slices of one split; every input has a start time.
pub(super) fn check_inputs(inputs: &[(String, Summary)]) -> Result<(), MergeError> {
    let (first, first_summary) = &inputs[0];
    let mut shards: BTreeMap<u32, &str> = BTreeMap::new();
    let mut count: Option<(u32, &str)> = None;
    for (file, s) in inputs {
        if s.profile != first_summary.profile {
            return Err(MergeError::ProfileMismatch {
                first: first.clone(),
                first_profile: first_summary.profile.clone(),
                file: file.clone(),
                profile: s.profile.clone(),
            });
        }
        let Some(shard) = s.shard else { continue };
        match count {
            None => count = Some((shard.count, file)),
            Some((n, other)) if n != shard.count => {
                return Err(MergeError::ShardCountMismatch {
                    first: other.to_string(),
                    first_count: n,
                    file: file.clone(),
                    count: shard.count,
                })
            }
            Some(_) => {}
        }
        if let Some(other) = shards.insert(shard.index, file) {
            return Err(MergeError::DuplicateShard {
                index: shard.index,
                count: shard.count,
                first: other.to_string(),
                file: file.clone(),
            });
        }
    }
    Ok(())
}

/// A warning when the inputs are fewer shards than their split has (not an error: a partial
/// merge is still a true summary of the shards given).
pub fn missing_shards(shards: &[Shard]) -> Option<String> {
    let count = shards.first()?.count;
    let present: BTreeSet<u32> = shards.iter().map(|s| s.index).collect();
    (present.len() < count as usize).then(|| {
        let list: Vec<String> = present.iter().map(|i| format!("{i}/{count}")).collect();
        format!(
            "merging {} of {count} shards ({}); the summary covers only these",
            present.len(),
            list.join(", ")
        )
    })
}
