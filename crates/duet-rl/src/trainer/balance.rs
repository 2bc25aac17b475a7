//! How multiple-choice items are drawn (`mc_draws`): uniformly,
//! letter-balanced, or with the training split's subject × letter mix.
//!
//! When the drawn items' gold letters are skewed (PairGRPO's pairs over-draw
//! ShapeWorld's count questions, whose ascending options make A or B the
//! answer 89 % of the time), an accuracy reward pays the policy for
//! preferring those letters, and the preference spreads to every question
//! type sharing the answer head. `split` draws the training split's own
//! mix, so only letter preferences the test split shares are rewarded;
//! `letters` makes every gold letter of a subject equally likely.

use std::collections::BTreeMap;

use rand::SeedableRng;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

use duet_data::pairs::oracle::stable_hash as fnv;

use super::data::{RlData, UndKind};

/// Entries grouped by subject, then gold letter; `None` keys aside.
type Buckets<'a> = BTreeMap<&'a str, BTreeMap<&'a str, Vec<usize>>>;

fn buckets<'a>(keys: &[Option<(&'a str, &'a str)>]) -> (Buckets<'a>, Vec<usize>) {
    let mut b: Buckets = BTreeMap::new();
    let mut loose = Vec::new();
    for (i, k) in keys.iter().enumerate() {
        match k {
            Some((subject, letter)) => b
                .entry(subject)
                .or_default()
                .entry(letter)
                .or_default()
                .push(i),
            None => loose.push(i),
        }
    }
    (b, loose)
}

/// `loose` once each, then every bucket repeated (cyclically, in a seeded
/// shuffle) or thinned to `target(subject, letter, bucket)` entries.
fn redraw(
    b: Buckets,
    mut out: Vec<usize>,
    seed: u64,
    target: impl Fn(&str, &str, usize, &BTreeMap<&str, Vec<usize>>) -> usize,
) -> Vec<usize> {
    for (s, letters) in &b {
        for (l, items) in letters {
            let n = target(s, l, items.len(), letters);
            let mut items = items.clone();
            let mut rng =
                rand_chacha::ChaCha8Rng::seed_from_u64(seed ^ fnv(s) ^ fnv(l).rotate_left(17));
            items.shuffle(&mut rng);
            out.extend(items.iter().cycle().take(n).copied());
        }
    }
    out
}

/// The draw list over `keys.len()` entries: entries whose key is `None`
/// appear once; within each subject, every gold letter's entries are
/// repeated (cyclically, in a seeded shuffle) or thinned to the same count,
/// the subject's size divided by its number of distinct letters, so the
/// subject keeps its share of the draws.
pub fn letter_balanced(keys: &[Option<(&str, &str)>], seed: u64) -> Vec<usize> {
    let (b, loose) = buckets(keys);
    redraw(b, loose, seed, |_, _, _, letters| {
        let total: usize = letters.values().map(Vec::len).sum();
        (total as f64 / letters.len() as f64).round().max(1.0) as usize
    })
}

/// The draw list over `keys.len()` entries whose (subject, letter) mix is
/// that of `reference` (the training split's items): PairGRPO's pairs
/// select items unevenly (on the default base 41 % count questions, and
/// existence answered A or B 71 % of the time, against 23 % and 56 % in the
/// split), and the policy learns the selection's letter preferences. Keys
/// the reference lacks (completions tagged with a GenEval task) and `None`
/// keys keep one entry each.
pub fn split_matched(
    keys: &[Option<(&str, &str)>],
    reference: &[Option<(&str, &str)>],
    seed: u64,
) -> Vec<usize> {
    let (refs, _) = buckets(reference);
    let freq = |s: &str, l: &str| refs.get(s).and_then(|m| m.get(l)).map(Vec::len);
    let (b, loose) = buckets(keys);
    // Entries and reference items of the (subject, letter) keys both have.
    let (mut mine, mut theirs) = (0usize, 0usize);
    for (s, letters) in &b {
        for (l, items) in letters {
            if let Some(f) = freq(s, l) {
                mine += items.len();
                theirs += f;
            }
        }
    }
    redraw(b, loose, seed, |s, l, len, _| match freq(s, l) {
        Some(f) => ((mine * f) as f64 / theirs as f64).round().max(1.0) as usize,
        None => len,
    })
}

/// The (subject, gold letter) of understanding item `i`, if multiple choice.
fn key(data: &RlData, i: usize) -> Option<(&str, &str)> {
    match &data.und[i].kind {
        UndKind::Mc {
            answer, subject, ..
        } => Some((subject.as_str(), answer.as_str())),
        UndKind::Caption { .. } => None,
    }
}

/// Draw lists for understanding items and for pairs (a pair is keyed by
/// its understanding half).
pub fn draw_lists(data: &RlData, mode: McDraws, seed: u64) -> (Vec<usize>, Vec<usize>) {
    let und: Vec<_> = (0..data.und.len()).map(|i| key(data, i)).collect();
    let pairs: Vec<_> = data.pairs.iter().map(|p| key(data, p.und)).collect();
    let (su, sp) = (seed ^ 0x554e, seed ^ 0x5041);
    match mode {
        McDraws::Uniform => ((0..und.len()).collect(), (0..pairs.len()).collect()),
        McDraws::Letters => (letter_balanced(&und, su), letter_balanced(&pairs, sp)),
        McDraws::Split => {
            // The split's own items are the first `split_und` of `und`.
            let reference = &und[..data.split_und];
            (
                (0..und.len()).collect(),
                split_matched(&pairs, reference, sp),
            )
        }
    }
}

/// How multiple-choice items (pairs: by their understanding half) are drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum McDraws {
    /// Each once per epoch.
    #[default]
    Uniform,
    /// Within each subject every gold letter equally often.
    Letters,
    /// Pairs resampled to the training split's subject × letter mix
    /// (understanding items of the split are drawn uniformly).
    Split,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(keys: &[Option<(&str, &str)>], list: &[usize]) -> BTreeMap<(String, String), usize> {
        let mut c = BTreeMap::new();
        for &i in list {
            let (s, l) = keys[i].map_or(("-", "-"), |k| k);
            *c.entry((s.to_string(), l.to_string())).or_default() += 1;
        }
        c
    }

    #[test]
    fn every_letter_of_a_subject_is_drawn_equally_often() {
        // count: A ×6, B ×3, C ×1 (10 items, 3 letters → 3 each);
        // spatial: A ×1, B ×1; one caption item.
        let mut keys = vec![Some(("count", "A")); 6];
        keys.extend(vec![Some(("count", "B")); 3]);
        keys.push(Some(("count", "C")));
        keys.push(Some(("spatial", "A")));
        keys.push(Some(("spatial", "B")));
        keys.push(None);
        let list = letter_balanced(&keys, 7);
        let c = counts(&keys, &list);
        let get = |s: &str, l: &str| c[&(s.to_string(), l.to_string())];
        assert_eq!(
            [get("count", "A"), get("count", "B"), get("count", "C")],
            [3, 3, 3]
        );
        assert_eq!([get("spatial", "A"), get("spatial", "B")], [1, 1]);
        assert_eq!(get("-", "-"), 1);
        // The lone C item is repeated; three of the six A items are kept.
        assert_eq!(list.iter().filter(|&&i| i == 9).count(), 3);
        let a_kept: Vec<usize> = list.iter().copied().filter(|&i| i < 6).collect();
        assert_eq!(a_kept.len(), 3);
        assert!(a_kept.windows(2).all(|w| w[0] != w[1]));
        // Same seed, same list; another seed keeps other A items or order.
        assert_eq!(list, letter_balanced(&keys, 7));
        assert!((0..20).any(|s| letter_balanced(&keys, s) != list));
    }

    #[test]
    fn pairs_are_redrawn_to_the_reference_mix() {
        // Pairs: count A ×6, B ×2; existence A ×2; one GenEval-tagged item.
        let mut keys = vec![Some(("count", "A")); 6];
        keys.extend(vec![Some(("count", "B")); 2]);
        keys.extend(vec![Some(("existence", "A")); 2]);
        keys.push(Some(("two_object", "C")));
        // Split: count A 1, B 1; existence A 2 (C, D unmatched by pairs).
        let reference = vec![
            Some(("count", "A")),
            Some(("count", "B")),
            Some(("existence", "A")),
            Some(("existence", "A")),
            Some(("existence", "C")),
        ];
        let list = split_matched(&keys, &reference, 3);
        let c = counts(&keys, &list);
        let get = |s: &str, l: &str| c[&(s.to_string(), l.to_string())];
        // 10 matched entries over 4 matched reference items: 2.5 per item.
        assert_eq!(get("count", "A"), 3); // round(2.5)
        assert_eq!(get("count", "B"), 3);
        assert_eq!(get("existence", "A"), 5);
        assert_eq!(get("two_object", "C"), 1);
        assert_eq!(list.len(), 12);
    }
}
