//! MMMU's answer parsing (`utils/eval_utils.py`), reproduced rule for rule,
//! including its quirks — scores comparable with MMMU's must parse the same
//! way. One deliberate difference: where MMMU falls back to
//! `random.choice`, duet returns [`McParse::Fallback`], which is scored wrong
//! and counted. `<answer>…</answer>` tags, the output format of RL-tuned
//! models, are read first.

use std::sync::LazyLock;

use fancy_regex::Regex;

/// The content of the last `<answer>…</answer>` in `response`, trimmed.
pub fn answer_tag(response: &str) -> Option<&str> {
    let start = response.rfind("<answer>")? + "<answer>".len();
    let end = response[start..].find("</answer>")? + start;
    Some(response[start..end].trim())
}

/// What the multiple-choice parser made of a response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum McParse {
    Letter(String),
    /// No candidate found: MMMU would pick a random letter here.
    Fallback,
}

/// MMMU's `parse_multi_choice_response`.
///
/// Strip `, . ! ? ; : '` (each in turn, from both ends; whitespace is kept);
/// pad with spaces; candidates are letters written `(X)`, else ` X `, else (for
/// responses of more than five words) options whose text occurs in the
/// response; several candidates → the one occurring last (ties → the first).
pub fn parse_multi_choice(
    response: &str,
    all_choices: &[String],
    index2ans: &[(String, String)],
) -> McParse {
    let mut r = response;
    for c in [',', '.', '!', '?', ';', ':', '\''] {
        r = r.trim_matches(c);
    }
    let r = format!(" {r} ");
    let mut candidates: Vec<&String> = Vec::new();
    let mut brackets = false;
    let mut by_content = false;
    for ch in all_choices {
        if r.contains(&format!("({ch})")) {
            candidates.push(ch);
            brackets = true;
        }
    }
    if candidates.is_empty() {
        for ch in all_choices {
            if r.contains(&format!(" {ch} ")) {
                candidates.push(ch);
            }
        }
    }
    let lower = r.to_lowercase();
    if candidates.is_empty() && r.split_whitespace().count() > 5 {
        for (letter, ans) in index2ans {
            if lower.contains(&ans.to_lowercase()) {
                candidates.push(letter);
                by_content = true;
            }
        }
    }
    match candidates.len() {
        0 => McParse::Fallback,
        1 => McParse::Letter(candidates[0].clone()),
        _ => {
            let pos = |c: &String| -> Option<usize> {
                if by_content {
                    let ans = index2ans
                        .iter()
                        .find(|(l, _)| l == c)
                        .map(|(_, a)| a.to_lowercase())?;
                    lower.rfind(&ans)
                } else if brackets {
                    r.rfind(&format!("({c})"))
                } else {
                    r.rfind(&format!(" {c} "))
                }
            };
            // np.argmax: the first maximum wins ties.
            let mut best = 0;
            let mut best_pos = pos(candidates[0]);
            for (k, c) in candidates.iter().enumerate().skip(1) {
                let p = pos(c);
                if p > best_pos {
                    best = k;
                    best_pos = p;
                }
            }
            McParse::Letter(candidates[best].clone())
        }
    }
}

/// A normalised open-answer prediction or gold value.
#[derive(Debug, Clone, PartialEq)]
pub enum Norm {
    Num(f64),
    Text(String),
}

static COMMAS: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"-?\b\d{1,3}(?:,\d{3})+\b").expect("valid"));
static SCIENTIFIC: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"-?\d+(?:\.\d+)?[eE][+-]?\d+").expect("valid"));
static SIMPLE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"-?(?:\d+\.\d+|\.\d+|\d+\b)(?![eE][+-]?\d+)(?![,\d])").expect("valid")
});

/// MMMU's `extract_numbers`: comma-grouped, scientific, then simple numbers
/// (the passes overlap, as in MMMU).
pub fn extract_numbers(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    for re in [&*COMMAS, &*SCIENTIFIC, &*SIMPLE] {
        out.extend(
            re.find_iter(s)
                .filter_map(|m| m.ok())
                .map(|m| m.as_str().to_string()),
        );
    }
    out
}

/// Python's `float(s.replace(',', ''))`, for MMMU's `check_is_number`.
fn python_float(s: &str) -> Option<f64> {
    let s = s.replace(',', "");
    let s = s.trim();
    // Python accepts single underscores between digits.
    let b = s.as_bytes();
    for (i, &c) in b.iter().enumerate() {
        if c == b'_'
            && !(i > 0 && i + 1 < b.len() && b[i - 1].is_ascii_digit() && b[i + 1].is_ascii_digit())
        {
            return None;
        }
    }
    s.replace('_', "").parse::<f64>().ok()
}

/// Python's `round(x, 2)` (correctly rounded, ties to even on the exact
/// binary value — which is what Rust's formatting does).
fn round2(x: f64) -> f64 {
    if !x.is_finite() {
        return x;
    }
    format!("{x:.2}").parse().expect("formatted float parses")
}

/// MMMU's `normalize_str`: numbers rounded to 2 decimals; other strings
/// lower-cased, a single character padded both ways (" c", "c ").
pub fn normalize(s: &str) -> Vec<Norm> {
    let s = s.trim();
    if let Some(x) = python_float(s) {
        return vec![Norm::Num(round2(x))];
    }
    let s = s.to_lowercase();
    if s.chars().count() == 1 {
        vec![Norm::Text(format!(" {s}")), Norm::Text(format!("{s} "))]
    } else {
        vec![Norm::Text(s)]
    }
}

/// MMMU's `get_key_subresponses`.
fn key_subresponses(response: &str) -> Vec<String> {
    let response = response.trim().trim_matches('.').to_lowercase();
    // MMMU splits on ". " before a capital or on newlines, but only after
    // lower-casing, so in effect on newlines alone.
    let subs: Vec<&str> = response.split('\n').collect();
    let mut indicators = vec![
        "could be ",
        "so ",
        "is ",
        "thus ",
        "therefore ",
        "final ",
        "answer ",
        "result ",
    ];
    let mut keys = Vec::new();
    for (i, resp) in subs.iter().enumerate() {
        if i == subs.len() - 1 {
            indicators.push("=");
        }
        let mut shortest: Option<String> = None;
        for ind in &indicators {
            if resp.contains(ind) {
                let tail = resp.rsplit(ind).next().unwrap_or("").trim().to_string();
                // `if not shortest` treats "" like None.
                match &shortest {
                    Some(s) if !s.is_empty() => {
                        if tail.chars().count() < s.chars().count() {
                            shortest = Some(tail);
                        }
                    }
                    _ => shortest = Some(tail),
                }
            }
        }
        if let Some(s) = shortest
            && !s.is_empty()
            && ![":", ",", ".", "!", "?", ";", "'"].contains(&s.trim())
        {
            keys.push(s);
        }
    }
    if keys.is_empty() {
        vec![response]
    } else {
        keys
    }
}

/// MMMU's `parse_open_response`: key phrases and the numbers in them,
/// normalised and de-duplicated.
pub fn parse_open(response: &str) -> Vec<Norm> {
    let keys = key_subresponses(response);
    let mut raw = keys.clone();
    for k in &keys {
        raw.extend(extract_numbers(k));
    }
    let mut out: Vec<Norm> = Vec::new();
    for r in raw {
        for n in normalize(&r) {
            if !out.contains(&n) {
                out.push(n);
            }
        }
    }
    out
}

/// MMMU's `eval_open`: a gold string must occur inside a predicted string; a
/// gold number must equal a predicted number (both rounded to 2 decimals).
pub fn eval_open(gold: &[String], preds: &[Norm]) -> bool {
    let golds: Vec<Norm> = gold.iter().flat_map(|g| normalize(g)).collect();
    preds.iter().any(|p| match p {
        Norm::Text(t) => golds
            .iter()
            .any(|g| matches!(g, Norm::Text(gt) if t.contains(gt.as_str()))),
        Norm::Num(x) => golds.iter().any(|g| matches!(g, Norm::Num(gx) if gx == x)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn choices() -> (Vec<String>, Vec<(String, String)>) {
        let letters: Vec<String> = ["A", "B", "C", "D"].iter().map(|s| s.to_string()).collect();
        let ans = ["yes, saturation", "no, not in saturation", "x", "y"];
        let idx = letters
            .iter()
            .cloned()
            .zip(ans.iter().map(|s| s.to_string()))
            .collect();
        (letters, idx)
    }

    fn mc(r: &str) -> McParse {
        let (c, i) = choices();
        parse_multi_choice(r, &c, &i)
    }

    fn l(s: &str) -> McParse {
        McParse::Letter(s.into())
    }

    #[test]
    fn multiple_choice_rules() {
        assert_eq!(mc("B."), l("B"), "trailing punctuation is stripped");
        assert_eq!(mc("'C'"), l("C"));
        assert_eq!(mc("(A) or (B)"), l("B"), "last bracketed letter wins");
        assert_eq!(mc("A B"), l("B"), "last bare letter wins");
        assert_eq!(
            mc("The answer is A, not B"),
            l("B"),
            "A, is not a bare letter"
        );
        assert_eq!(mc("Answer: C"), l("C"));
        assert_eq!(
            mc("(C) because D"),
            l("C"),
            "brackets are tried before bare letters"
        );
        // Option text, only for responses of more than five words; "y" also
        // occurs in "yes", tie at the same position → the first candidate.
        assert_eq!(
            mc("I think the correct one is yes, saturation for sure"),
            l("A")
        );
        assert_eq!(mc("definitely no, not in saturation here ok"), l("B"));
        assert_eq!(
            mc("not in saturation"),
            McParse::Fallback,
            "five words or fewer: no text match"
        );
        // Whitespace is not stripped, so these fall through, as in MMMU.
        assert_eq!(mc("B. "), McParse::Fallback);
        assert_eq!(mc("b"), McParse::Fallback);
    }

    #[test]
    fn answer_tags_are_read_first() {
        assert_eq!(
            answer_tag("<think>A or B</think><answer> (B) </answer>"),
            Some("(B)")
        );
        assert_eq!(
            answer_tag("<answer>A</answer> then <answer>C</answer>"),
            Some("C")
        );
        assert_eq!(answer_tag("no tags"), None);
        assert_eq!(answer_tag("<answer>unclosed"), None);
    }

    #[test]
    fn number_extraction_matches_mmmu() {
        assert_eq!(extract_numbers("1.5e3"), vec!["1.5e3", "1", "3"]);
        assert_eq!(extract_numbers("1,234.5"), vec!["1,234", "234.5"]);
        assert_eq!(extract_numbers("x=.5, y=3."), vec!["3"]);
        assert_eq!(extract_numbers("12,34"), vec!["34"]);
        assert_eq!(extract_numbers("a1b 7"), vec!["7"]);
        assert_eq!(extract_numbers("1,250 dollars"), vec!["1,250", "250"]);
    }

    #[test]
    fn normalisation_matches_python() {
        assert_eq!(normalize("2.675"), vec![Norm::Num(2.67)]);
        assert_eq!(normalize("0.125"), vec![Norm::Num(0.12)]);
        assert_eq!(normalize("1,000"), vec![Norm::Num(1000.0)]);
        assert_eq!(normalize("1_000"), vec![Norm::Num(1000.0)]);
        assert_eq!(
            normalize(" C "),
            vec![Norm::Text(" c".into()), Norm::Text("c ".into())]
        );
        assert_eq!(normalize("MgS"), vec![Norm::Text("mgs".into())]);
    }

    #[test]
    fn open_answers() {
        assert_eq!(parse_open("The answer is 42."), vec![Norm::Num(42.0)]);
        assert_eq!(
            parse_open("So the result is 3.14159. Thus x = 5"),
            vec![Norm::Num(5.0)]
        );
        let p = parse_open("This is it\nTherefore the final answer is B");
        assert!(p.contains(&Norm::Text("it".into())) && p.contains(&Norm::Text(" b".into())));
        assert_eq!(
            parse_open("The value is"),
            vec![Norm::Text("the value is".into())]
        );
        let p = parse_open("Step 1\nSo the total is 1,250 dollars\nThe answer is 1250.");
        assert!(p.contains(&Norm::Num(1250.0)) && p.contains(&Norm::Num(250.0)));
        // Gold inside prediction, not the reverse; numbers by value.
        assert!(eval_open(
            &["MgS".into()],
            &parse_open("the compound is mgs crystals")
        ));
        assert!(!eval_open(&["MgS crystals".into()], &parse_open("so mgs")));
        assert!(eval_open(&["0.9965".into()], &parse_open("answer 1")));
        assert!(eval_open(
            &["24/7".into(), "3.429".into()],
            &parse_open("3.43")
        ));
        assert!(eval_open(&["C".into()], &parse_open("the answer is c")));
        assert!(!eval_open(&["30".into()], &[Norm::Text("30".into())]));
    }
}
