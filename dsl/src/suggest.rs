//! "Did you mean" suggestions by edit distance.

/// The Levenshtein distance between `a` and `b`, counted in characters.
pub(crate) fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.chars().enumerate() {
        cur[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitute = prev[j] + usize::from(ca != *cb);
            cur[j + 1] = substitute.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

/// The candidate closest to `name`, if one is close enough: within a third of the name's length
/// (at least one edit, but never every character), or equal ignoring case and underscores. Ties go
/// to the earlier candidate.
pub(crate) fn closest<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let squash = |s: &str| s.to_lowercase().replace('_', "");
    let length = name.chars().count();
    let limit = (length / 3).max(1).min(length.saturating_sub(1));
    let mut best: Option<(usize, &'a str)> = None;
    for candidate in candidates {
        if candidate == name {
            continue;
        }
        let distance = if squash(candidate) == squash(name) {
            0
        } else {
            edit_distance(name, candidate)
        };
        if distance <= limit && best.is_none_or(|(d, _)| distance < d) {
            best = Some((distance, candidate));
        }
    }
    best.map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances() {
        assert_eq!(edit_distance("", ""), 0);
        assert_eq!(edit_distance("abc", ""), 3);
        assert_eq!(edit_distance("sofmax", "softmax"), 1);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("été", "ete"), 2);
    }

    #[test]
    fn closest_names() {
        let ops = ["softmax", "log_softmax", "sum", "max"];
        assert_eq!(closest("sofmax", ops), Some("softmax"));
        assert_eq!(closest("logsoftmax", ops), Some("log_softmax"));
        assert_eq!(closest("smu", ops), None);
        assert_eq!(closest("mux", ops), Some("max"));
        assert_eq!(closest("zzzzzz", ops), None);
        assert_eq!(closest("max", ops), None);
        // A suggestion never replaces every character of a name.
        assert_eq!(closest("y", ["x", "yy"]), None);
        assert_eq!(closest("ab", ["ax"]), Some("ax"));
    }
}
