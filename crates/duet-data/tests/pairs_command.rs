//! The external-command annotator against tiny shell programs: a good reply,
//! a malformed one, one that never comes, a program that exits, an error
//! reply. Every failure names the item.

use std::time::Duration;

use duet_data::pairs::{Annotator, CommandAnnotator, GenItem, UndItem};

fn und(id: &str) -> UndItem {
    UndItem {
        id: id.into(),
        image: Some("/tmp/x.png".into()),
        question: "How many circles?".into(),
        options: vec!["1".into(), "2".into()],
        answer: "B".into(),
        tag: "count".into(),
        line: 1,
    }
}

/// Replies to every request line with `reply`, where `ID` becomes the id.
fn echo(reply: &str) -> String {
    format!(
        r#"while IFS= read -r line; do id=$(printf '%s' "$line" | sed 's/^{{"id":"\([^"]*\)".*/\1/'); printf '%s\n' '{reply}' | sed "s/ID/$id/g"; done"#
    )
}

fn spawn(cmd: &str, timeout_ms: u64) -> CommandAnnotator {
    CommandAnnotator::spawn(cmd, Duration::from_millis(timeout_ms), 4).unwrap()
}

#[test]
fn good_replies_are_matched_by_id() {
    let mut a = spawn(&echo(r#"{"id":"ID","caption":"caption of ID"}"#), 5000);
    let items = [und("u1"), und("u2"), und("u3")];
    let refs: Vec<&UndItem> = items.iter().collect();
    assert_eq!(
        a.captions(&refs, 0).unwrap(),
        ["caption of u1", "caption of u2", "caption of u3"]
    );
    // The program keeps running between batches.
    assert_eq!(a.captions(&refs[..1], 1).unwrap(), ["caption of u1"]);
    let mut q = spawn(
        &echo(r#"{"id":"ID","question":"Q?","options":["a","b"],"answer":"A"}"#),
        5000,
    );
    let g = GenItem {
        id: "g7".into(),
        image: Some("/tmp/g.png".into()),
        prompt: "p".into(),
        tag: String::new(),
        line: 1,
    };
    let got = q.questions(&[&g], 0).unwrap();
    assert_eq!(
        (got[0].question.as_str(), got[0].answer.as_str()),
        ("Q?", "A")
    );
}

#[test]
fn malformed_reply_is_named() {
    let mut a = spawn(&echo("this is not json"), 5000);
    let err = a.captions(&[&und("u1")], 0).unwrap_err().to_string();
    assert!(
        err.contains("item `u1`") && err.contains("malformed reply `this is not json`"),
        "{err}"
    );
    let mut a = spawn(&echo(r#"{"id":"ID","captoin":"typo"}"#), 5000);
    let err = a.captions(&[&und("u2")], 0).unwrap_err().to_string();
    assert!(
        err.contains("item `u2`") && err.contains("unknown field `captoin`"),
        "{err}"
    );
    let mut a = spawn(&echo(r#"{"id":"ID"}"#), 5000);
    let err = a.captions(&[&und("u3")], 0).unwrap_err().to_string();
    assert!(
        err.contains("item `u3`") && err.contains("no `caption`"),
        "{err}"
    );
}

#[test]
fn silent_program_times_out_naming_the_item() {
    let mut a = spawn("sleep 30", 300);
    let start = std::time::Instant::now();
    let err = a.captions(&[&und("slow1")], 0).unwrap_err().to_string();
    assert!(
        err.contains("item `slow1`") && err.contains("no reply within 0.3 s"),
        "{err}"
    );
    assert!(start.elapsed() < Duration::from_secs(5));
}

#[test]
fn exiting_program_and_error_replies_are_named() {
    let mut a = spawn("read -r line; echo 'quota exhausted' >&2; exit 3", 5000);
    let err = a.captions(&[&und("u1")], 0).unwrap_err().to_string();
    assert!(
        err.contains("item `u1`") && err.contains("exited before replying"),
        "{err}"
    );
    assert!(
        err.contains("exit status: 3") && err.contains("quota exhausted"),
        "{err}"
    );
    let mut a = spawn(&echo(r#"{"id":"ID","error":"rate limited"}"#), 5000);
    let err = a.captions(&[&und("u5")], 0).unwrap_err().to_string();
    assert!(
        err.contains("item `u5`") && err.contains("the program says: rate limited"),
        "{err}"
    );
    let mut a = spawn(&echo(r#"{"id":"other","caption":"x"}"#), 5000);
    let err = a.captions(&[&und("u6")], 0).unwrap_err().to_string();
    assert!(err.contains("unexpected id `other`"), "{err}");
}
