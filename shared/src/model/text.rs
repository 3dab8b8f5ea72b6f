//! Text folding for comparisons and search: case- and accent-insensitive.

/// Folds `s` for comparison: transliterated to ASCII, lower-cased, whitespace collapsed.
/// "Ácme  Corp" and "acme corp" fold to the same string.
pub fn fold(s: &str) -> String {
    let ascii = deunicode::deunicode(s).to_lowercase();
    let cleaned: String = ascii
        .chars()
        .map(|c| if c.is_control() || c == '#' { ' ' } else { c })
        .collect();
    cleaned.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The searchable words of `s`: folded, split on anything not a letter or digit.
pub fn words(s: &str) -> Vec<String> {
    let folded = fold(s);
    let mut out: Vec<String> = folded
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_owned)
        .collect();
    out.dedup();
    out
}

/// Longest prefix kept in the search index; longer query words are matched by filtering.
pub const MAX_INDEXED_PREFIX: usize = 16;

/// Every distinct indexed prefix of every word of `s` (1..=MAX_INDEXED_PREFIX chars).
pub fn index_prefixes(s: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for w in words(s) {
        for n in 1..=w.len().min(MAX_INDEXED_PREFIX) {
            out.push(w[..n].to_owned());
        }
    }
    out.sort();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folding_ignores_case_accents_and_spacing() {
        assert_eq!(fold("  Ácme   CORPORATION "), "acme corporation");
        assert_eq!(fold("Société Générale"), "societe generale");
    }

    #[test]
    fn prefixes_cover_each_word_and_are_capped() {
        let p = index_prefixes("Acme Corporation");
        assert!(p.contains(&"a".to_string()));
        assert!(p.contains(&"acme".to_string()));
        assert!(p.contains(&"corp".to_string()));
        assert!(p.contains(&"corporation".to_string()));
        let long = index_prefixes("Supercalifragilistic");
        assert!(long.contains(&"supercalifragili".to_string()));
        assert!(!long.contains(&"supercalifragilis".to_string()));
    }
}
