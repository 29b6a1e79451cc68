//! "Did you mean" for unknown names: config keys, pattern kinds. A foundation: config and
//! schedule both use it. Only the one-edit check and
//! the hint text built on it live here; the calendar's timezone suggestions use a Levenshtein
//! distance of their own, since timezone names are long enough for more than one slip.

/// True when `a` is one edit (insert, delete, substitute or swap of neighbours) away from `b`:
/// a typo.
pub(crate) fn one_edit_apart(a: &str, b: &str) -> bool {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    if a == b || a.len().abs_diff(b.len()) > 1 {
        return false;
    }
    let prefix = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let suffix = a[prefix..]
        .iter()
        .rev()
        .zip(b[prefix..].iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    match (a.len() - prefix - suffix, b.len() - prefix - suffix) {
        (1, 1) | (0, 1) | (1, 0) => true,
        // A swap of two neighbours: "timoeut" vs "timeout".
        (2, 2) => a[prefix] == b[prefix + 1] && a[prefix + 1] == b[prefix],
        _ => false,
    }
}

/// `"; did you mean \"ramp\"?"` for the first of `known` one edit away from `word`, else "".
pub(crate) fn did_you_mean(word: &str, known: &[&str]) -> String {
    known
        .iter()
        .find(|k| one_edit_apart(word, k))
        .map(|k| format!("; did you mean {k:?}?"))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typos_are_recognised() {
        assert!(one_edit_apart("timout", "timeout"));
        assert!(one_edit_apart("timeoutt", "timeout"));
        assert!(one_edit_apart("tmieout", "timeout"));
        assert!(one_edit_apart("rat", "rate"));
        assert!(!one_edit_apart("users", "rate"));
        assert!(!one_edit_apart("url", "url"));
    }
}
