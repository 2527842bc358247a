//! "Did you mean" suggestions for names that the metadata does not have.

/// The names closest to `wanted`, best first, at most three. An entity set name given where a
/// logical name was expected (`accounts` for `account`) suggests the logical name first.
pub(crate) fn closest<'a>(
    wanted: &str,
    names: impl Iterator<Item = &'a str>,
    sets: impl Iterator<Item = (&'a str, &'a str)>,
) -> Vec<String> {
    let wanted_lower = wanted.to_lowercase();
    let mut found: Vec<(usize, &str)> = Vec::new();
    for (set, name) in sets {
        if set.eq_ignore_ascii_case(wanted) {
            found.push((0, name));
        }
    }
    // Within a third of the length, and never more than the name's own length.
    let limit = (wanted.chars().count() / 3).max(2);
    for name in names {
        let lower = name.to_lowercase();
        let distance = if lower == wanted_lower {
            0
        } else {
            edit_distance(&wanted_lower, &lower)
        };
        if distance <= limit && distance < lower.chars().count() {
            found.push((distance, name));
        }
    }
    found.sort();
    let mut out: Vec<String> = Vec::new();
    for (_, name) in found {
        if !out.iter().any(|n| n == name) {
            out.push(name.to_owned());
        }
        if out.len() == 3 {
            break;
        }
    }
    out
}

/// Levenshtein distance over characters, with one row of memory.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = if ca == *cb {
                diagonal
            } else {
                1 + diagonal.min(above).min(row[j])
            };
            diagonal = above;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances() {
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("acount", "account"), 1);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }

    #[test]
    fn suggests_close_names_and_logical_name_of_a_set() {
        let names = ["account", "contact", "accountleads", "task"];
        let sets = [("accounts", "account"), ("contacts", "contact")];
        assert_eq!(
            closest("acount", names.into_iter(), sets.into_iter()),
            vec!["account".to_owned()]
        );
        assert_eq!(
            closest("contacts", names.into_iter(), sets.into_iter())[0],
            "contact"
        );
        assert!(closest("zzzzzzzz", names.into_iter(), sets.into_iter()).is_empty());
    }
}
