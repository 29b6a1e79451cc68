//! "Did you mean" for unknown names: config keys, pattern kinds, threshold metrics, timezones.
//! A foundation: config and schedule both use it. The edit distance and the hint text built
//! on it live here.

/// The optimal-string-alignment distance between `a` and `b`: inserts, deletes, substitutions
/// and swaps of neighbours (`"timoeut"` is one edit from `"timeout"`), each counting one.
pub(crate) fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    // Three rows: two back (for swaps), the last, the current.
    let mut before: Vec<usize> = vec![0; b.len() + 1];
    let mut last: Vec<usize> = (0..=b.len()).collect();
    for i in 1..=a.len() {
        let mut row = vec![i; b.len() + 1];
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            row[j] = (last[j - 1] + cost).min(last[j] + 1).min(row[j - 1] + 1);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                row[j] = row[j].min(before[j - 2] + 1);
            }
        }
        before = std::mem::replace(&mut last, row);
    }
    last[b.len()]
}

/// The one of `known` nearest to `word` when it is close enough to be a typo: one edit for
/// names of up to four letters, two for longer ones (`"expected_status"` for
/// `"expect_status"`); the first of equally near ones.
pub(crate) fn nearest<'a>(word: &str, known: &[&'a str]) -> Option<&'a str> {
    let limit = if word.chars().count() <= 4 { 1 } else { 2 };
    known
        .iter()
        .map(|k| (edit_distance(word, k), *k))
        .filter(|&(d, _)| d > 0 && d <= limit)
        .min_by_key(|&(d, _)| d)
        .map(|(_, k)| k)
}

/// `"; did you mean \"ramp\"?"` for the nearest of `known` to `word` (see `nearest`), else "".
pub(crate) fn did_you_mean(word: &str, known: &[&str]) -> String {
    nearest(word, known)
        .map(|k| format!("; did you mean {k:?}?"))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typos_are_recognised() {
        assert_eq!(edit_distance("timout", "timeout"), 1);
        assert_eq!(edit_distance("timeoutt", "timeout"), 1);
        assert_eq!(edit_distance("tmieout", "timeout"), 1);
        assert_eq!(edit_distance("rat", "rate"), 1);
        assert_eq!(edit_distance("url", "url"), 0);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("expected_status", "expect_status"), 2);
    }

    #[test]
    fn the_nearest_close_key_is_suggested() {
        let keys = ["name", "method", "expect_status", "rate", "users"];
        assert_eq!(nearest("expected_status", &keys), Some("expect_status"));
        assert_eq!(nearest("methd", &keys), Some("method"));
        assert_eq!(nearest("rat", &keys), Some("rate"));
        // Too far to be a typo of anything, or not a typo at all.
        assert_eq!(nearest("rps", &keys), None);
        assert_eq!(nearest("users", &keys), None);
        assert_eq!(nearest("xyzzy", &keys), None);
        assert_eq!(
            did_you_mean("nme", &keys),
            "; did you mean \"name\"?".to_string()
        );
    }
}
