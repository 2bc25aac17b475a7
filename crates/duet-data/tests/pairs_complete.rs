//! The completion loop: rejected completions are asked for again with the
//! next attempt number, and after the last attempt the item is named.

use duet_data::error::Result;
use duet_data::pairs::complete::{check_qa_form, complete_captions, complete_questions};
use duet_data::pairs::{Annotator, CompletionOptions, FormCheck, GenItem, McQa, UndItem};

/// Answers badly for the first `bad` attempts, then well.
struct Flaky {
    bad: usize,
}

impl Annotator for Flaky {
    fn name(&self) -> String {
        "flaky".into()
    }
    fn captions(&mut self, items: &[&UndItem], attempt: usize) -> Result<Vec<String>> {
        let c = if attempt < self.bad {
            ""
        } else {
            "a red circle"
        };
        Ok(items.iter().map(|_| c.to_string()).collect())
    }
    fn questions(&mut self, items: &[&GenItem], attempt: usize) -> Result<Vec<McQa>> {
        let answer = if attempt < self.bad { "E" } else { "B" };
        Ok(items
            .iter()
            .map(|_| McQa {
                question: "q".into(),
                options: vec!["a".into(), "b".into()],
                answer: answer.into(),
            })
            .collect())
    }
}

fn und(id: &str) -> UndItem {
    UndItem {
        id: id.into(),
        image: None,
        question: "q".into(),
        options: vec![],
        answer: "a".into(),
        tag: String::new(),
        line: 0,
    }
}

fn gen_item(id: &str) -> GenItem {
    GenItem {
        id: id.into(),
        image: None,
        prompt: "p".into(),
        tag: String::new(),
        line: 0,
    }
}

#[test]
fn rejected_completions_are_retried_then_named() {
    let items = [und("u1"), und("u2")];
    let refs: Vec<&UndItem> = items.iter().collect();
    let opts = CompletionOptions { max_attempts: 3 };
    let mut calls = 0;
    let got = complete_captions(&mut Flaky { bad: 2 }, &FormCheck, &refs, opts, &mut |_| {
        calls += 1
    })
    .unwrap();
    assert_eq!(got, ["a red circle", "a red circle"]);
    assert_eq!(calls, 2);
    let err = complete_captions(&mut Flaky { bad: 3 }, &FormCheck, &refs, opts, &mut |_| {})
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("item `u1`") && err.contains("3 attempts"),
        "{err}"
    );
    assert!(err.contains("empty caption"), "{err}");
}

#[test]
fn qa_with_an_answer_outside_the_options_is_rejected() {
    let items = [gen_item("g1")];
    let refs: Vec<&GenItem> = items.iter().collect();
    let opts = CompletionOptions { max_attempts: 1 };
    let err = complete_questions(&mut Flaky { bad: 1 }, &FormCheck, &refs, opts, &mut |_| {})
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("item `g1`") && err.contains("answer `E`"),
        "{err}"
    );
    let qa = McQa {
        question: "q".into(),
        options: vec!["a".into(), "a".into()],
        answer: "A".into(),
    };
    assert!(check_qa_form(&qa).unwrap_err().contains("listed twice"));
}
