//! Record shapes of the benchmarks duet speaks, so that files written here are
//! read by the benchmarks' own tools and theirs are read here.

use serde::{Deserialize, Deserializer, Serialize};

use crate::geometry::Relation;

/// GenEval's six tasks (`tag` in its metadata).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Task {
    SingleObject,
    TwoObject,
    Counting,
    Colors,
    Position,
    ColorAttr,
}

impl Task {
    /// In GenEval's suite order.
    pub const ALL: [Task; 6] = [
        Task::SingleObject,
        Task::TwoObject,
        Task::Counting,
        Task::Colors,
        Task::Position,
        Task::ColorAttr,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Task::SingleObject => "single_object",
            Task::TwoObject => "two_object",
            Task::Counting => "counting",
            Task::Colors => "colors",
            Task::Position => "position",
            Task::ColorAttr => "color_attr",
        }
    }
}

/// One line of GenEval's `evaluation_metadata.jsonl`. Field order matches
/// GenEval's own file (tag, include, exclude, prompt) so lines we write read
/// like theirs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GenEvalMetadata {
    pub tag: Task,
    pub include: Vec<IncludeClause>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclude: Vec<ExcludeClause>,
    pub prompt: String,
}

/// "At least `count` objects of `class` (with `color`, in `position` relative
/// to the objects matched by include clause `position.1`)".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IncludeClause {
    pub class: String,
    pub count: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub color: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub position: Option<(Relation, usize)>,
}

/// "Fewer than `count` objects of `class`" (GenEval's counting uses n + 1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExcludeClause {
    pub class: String,
    pub count: u32,
}

/// A multiple-choice item in MMMU's record shape. MMMU stores `options` as a
/// string holding a Python list; duet writes a JSON list and reads both.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct McItem {
    /// `<split>_<subject>_<n>`, as MMMU's ids (`validation_Art_Theory_3`).
    pub id: String,
    /// The question; `<image 1>` marks where the image goes, as in MMMU.
    pub question: String,
    #[serde(deserialize_with = "options_list_or_python_repr")]
    pub options: Vec<String>,
    /// The correct option's letter.
    pub answer: String,
    /// MMMU's subject; for ShapeWorld, the question type.
    pub subject: String,
    #[serde(default = "default_question_type")]
    pub question_type: String,
    /// Image path, relative to the file holding the record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_1: Option<String>,
}

fn default_question_type() -> String {
    "multiple-choice".to_string()
}

/// Option letters, A–I as in MMMU.
pub const OPTION_LETTERS: [char; 9] = ['A', 'B', 'C', 'D', 'E', 'F', 'G', 'H', 'I'];

/// The letter of option `i` (0-based).
pub fn option_letter(i: usize) -> char {
    OPTION_LETTERS[i]
}

/// Accepts `["a", "b"]` or MMMU's `"['a', 'b']"`.
pub(crate) fn options_list_or_python_repr<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        List(Vec<String>),
        Repr(String),
    }
    match Raw::deserialize(d)? {
        Raw::List(v) => Ok(v),
        Raw::Repr(s) => parse_python_str_list(&s).ok_or_else(|| {
            serde::de::Error::custom(format!("options: expected a list of strings, found `{s}`"))
        }),
    }
}

/// Parses a Python list literal of string literals (single or double quoted,
/// with backslash escapes), the form MMMU's `options` column takes.
pub fn parse_python_str_list(s: &str) -> Option<Vec<String>> {
    let s = s.trim();
    let inner = s.strip_prefix('[')?.strip_suffix(']')?;
    let mut out = Vec::new();
    let mut chars = inner.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let Some(q) = chars.next() else { break };
        if q != '\'' && q != '"' {
            return None;
        }
        let mut item = String::new();
        loop {
            match chars.next()? {
                '\\' => match chars.next()? {
                    'n' => item.push('\n'),
                    't' => item.push('\t'),
                    c => item.push(c),
                },
                c if c == q => break,
                c => item.push(c),
            }
        }
        out.push(item);
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        match chars.next() {
            None => break,
            Some(',') => continue,
            Some(_) => return None,
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn geneval_lines_round_trip_in_geneval_key_order() {
        let line = r#"{"tag":"position","include":[{"class":"square","count":1},{"class":"circle","count":1,"position":["left of",0]}],"prompt":"a photo of a circle left of a square"}"#;
        let m: GenEvalMetadata = serde_json::from_str(line).unwrap();
        assert_eq!(m.include[1].position, Some((Relation::LeftOf, 0)));
        assert_eq!(serde_json::to_string(&m).unwrap(), line);
        let counting = r#"{"tag":"counting","include":[{"class":"circle","count":2}],"exclude":[{"class":"circle","count":3}],"prompt":"a photo of two circles"}"#;
        let m: GenEvalMetadata = serde_json::from_str(counting).unwrap();
        assert_eq!(serde_json::to_string(&m).unwrap(), counting);
    }

    #[test]
    fn unknown_tag_is_rejected() {
        let line = r#"{"tag":"texture","include":[],"prompt":"x"}"#;
        let err = serde_json::from_str::<GenEvalMetadata>(line).unwrap_err();
        assert!(
            err.to_string().contains("unknown variant `texture`"),
            "{err}"
        );
    }

    #[test]
    fn mmmu_python_list_options_are_read() {
        let rec = r#"{"id":"validation_Art_1","question":"q","options":"['it\\'s', \"b\", 'c']","answer":"B","subject":"Art"}"#;
        let m: McItem = serde_json::from_str(rec).unwrap();
        assert_eq!(m.options, vec!["it's", "b", "c"]);
        assert_eq!(m.question_type, "multiple-choice");
        assert_eq!(parse_python_str_list("[]"), Some(vec![]));
        assert_eq!(parse_python_str_list("['a' 'b']"), None);
    }
}

/// One entry of MMMU's answer file (`answer_dict_val.json`): id → this.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnswerEntry {
    /// `multiple-choice` or `short-answer` (anything else is scored as open).
    pub question_type: String,
    pub ground_truth: GroundTruth,
}

/// A single answer, or (for a few MMMU open items) a list of accepted ones.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum GroundTruth {
    One(String),
    Many(Vec<String>),
}

impl GroundTruth {
    pub fn as_slice(&self) -> &[String] {
        match self {
            GroundTruth::One(s) => std::slice::from_ref(s),
            GroundTruth::Many(v) => v,
        }
    }
}

/// MMMU's answer file as an ordered map (serialised in item order, as MMMU's
/// own file is).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AnswerFile(pub Vec<(String, AnswerEntry)>);

impl Serialize for AnswerFile {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.0.iter().map(|(k, v)| (k, v)))
    }
}

impl AnswerFile {
    /// The answer file for a list of multiple-choice items.
    pub fn from_items(items: &[McItem]) -> Self {
        AnswerFile(
            items
                .iter()
                .map(|it| {
                    let entry = AnswerEntry {
                        question_type: it.question_type.clone(),
                        ground_truth: GroundTruth::One(it.answer.clone()),
                    };
                    (it.id.clone(), entry)
                })
                .collect(),
        )
    }
}
