//! Cross-modal semantic completion (PairUni §2.1.1): every understanding item
//! gets a caption, every generation item a multiple-choice QA, so that either
//! can stand as a full (image, prompt, question, answer) quadruple.
//!
//! Who writes the completion ([`Annotator`]) is separate from who checks it
//! ([`Verifier`]): the ShapeWorld oracle can check a model's captions, and a
//! completion that contradicts its source is asked for again a bounded number
//! of times, then reported with the item's id.

use serde::{Deserialize, Serialize};

use super::items::{GenItem, UndItem, letter_index};
use crate::error::{DataError, Result};
use crate::records::OPTION_LETTERS;

/// A multiple-choice question with its answer letter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct McQa {
    pub question: String,
    pub options: Vec<String>,
    pub answer: String,
}

/// Writes completions. Batched so that a model can caption many images in
/// one forward pass and an external program can work on several at once.
/// `attempt` counts retries from 0, so a sampling annotator can vary its
/// answer (or raise its temperature) when the last one was rejected.
pub trait Annotator {
    /// Shown in errors.
    fn name(&self) -> String;
    /// One caption per item, in order.
    fn captions(&mut self, items: &[&UndItem], attempt: usize) -> Result<Vec<String>>;
    /// One QA per item, in order.
    fn questions(&mut self, items: &[&GenItem], attempt: usize) -> Result<Vec<McQa>>;
    /// Items per call (a model's batch size, a program's pipeline depth).
    fn batch_size(&self) -> usize {
        16
    }
}

/// Checks completions against their source; `Err` carries the reason.
pub trait Verifier {
    fn check_caption(&self, item: &UndItem, caption: &str) -> std::result::Result<(), String>;
    fn check_qa(&self, item: &GenItem, qa: &McQa) -> std::result::Result<(), String>;
}

/// Form only: a non-empty caption; a QA with 2–9 distinct non-empty options
/// and an answer letter among them. Content checks need a world model (the
/// ShapeWorld oracle) or a second model.
#[derive(Debug, Clone, Copy, Default)]
pub struct FormCheck;

impl Verifier for FormCheck {
    fn check_caption(&self, _item: &UndItem, caption: &str) -> std::result::Result<(), String> {
        if caption.trim().is_empty() {
            return Err("empty caption".into());
        }
        Ok(())
    }

    fn check_qa(&self, _item: &GenItem, qa: &McQa) -> std::result::Result<(), String> {
        check_qa_form(qa)
    }
}

/// The form rules of [`FormCheck`] for a QA, shared with content checkers.
pub fn check_qa_form(qa: &McQa) -> std::result::Result<(), String> {
    if qa.question.trim().is_empty() {
        return Err("empty question".into());
    }
    let n = qa.options.len();
    if !(2..=OPTION_LETTERS.len()).contains(&n) {
        return Err(format!(
            "{n} options; 2 to {} are needed",
            OPTION_LETTERS.len()
        ));
    }
    if qa.options.iter().any(|o| o.trim().is_empty()) {
        return Err("an empty option".into());
    }
    let mut seen = std::collections::HashSet::new();
    if let Some(dup) = qa.options.iter().find(|o| !seen.insert(o.trim())) {
        return Err(format!("option `{dup}` is listed twice"));
    }
    match letter_index(&qa.answer) {
        Some(i) if i < n => Ok(()),
        _ => Err(format!(
            "answer `{}` is not one of the option letters A–{}",
            qa.answer,
            OPTION_LETTERS[n - 1]
        )),
    }
}

/// Completion settings.
#[derive(Debug, Clone, Copy)]
pub struct CompletionOptions {
    /// Requests per item before giving up (the first one included).
    pub max_attempts: usize,
}

impl Default for CompletionOptions {
    fn default() -> Self {
        CompletionOptions { max_attempts: 3 }
    }
}

/// Captions for `items`, each accepted by `verifier`; items whose every
/// attempt is rejected give [`DataError::Inconsistent`] naming the first.
pub fn complete_captions(
    ann: &mut dyn Annotator,
    verifier: &dyn Verifier,
    items: &[&UndItem],
    opts: CompletionOptions,
    progress: &mut dyn FnMut(usize),
) -> Result<Vec<String>> {
    complete(
        items,
        opts,
        "caption",
        ann,
        progress,
        |a, batch, attempt| a.captions(batch, attempt),
        |item, c| verifier.check_caption(item, c),
        |item| item.id.clone(),
    )
}

/// QAs for `items`, as [`complete_captions`].
pub fn complete_questions(
    ann: &mut dyn Annotator,
    verifier: &dyn Verifier,
    items: &[&GenItem],
    opts: CompletionOptions,
    progress: &mut dyn FnMut(usize),
) -> Result<Vec<McQa>> {
    complete(
        items,
        opts,
        "question",
        ann,
        progress,
        |a, batch, attempt| a.questions(batch, attempt),
        |item, qa| check_qa_form(qa).and_then(|()| verifier.check_qa(item, qa)),
        |item| item.id.clone(),
    )
}

/// The retry loop shared by both directions: request a batch, keep what
/// passes, re-request the rest with the next attempt number.
#[allow(clippy::too_many_arguments)]
fn complete<'a, I, C>(
    items: &[&'a I],
    opts: CompletionOptions,
    kind: &'static str,
    ann: &mut dyn Annotator,
    progress: &mut dyn FnMut(usize),
    request: impl Fn(&mut dyn Annotator, &[&'a I], usize) -> Result<Vec<C>>,
    check: impl Fn(&I, &C) -> std::result::Result<(), String>,
    id: impl Fn(&I) -> String,
) -> Result<Vec<C>> {
    let batch = ann.batch_size().max(1);
    let attempts = opts.max_attempts.max(1);
    let mut out: Vec<Option<C>> = (0..items.len()).map(|_| None).collect();
    let mut done = 0;
    for start in (0..items.len()).step_by(batch) {
        let mut pending: Vec<usize> = (start..(start + batch).min(items.len())).collect();
        let mut last_reason = vec![String::new(); items.len()];
        for attempt in 0..attempts {
            let ask: Vec<&'a I> = pending.iter().map(|&i| items[i]).collect();
            let got = request(ann, &ask, attempt)?;
            if got.len() != ask.len() {
                return Err(DataError::Annotator {
                    annotator: ann.name(),
                    item: id(ask[0]),
                    reason: format!("{} {kind}s for a batch of {}", got.len(), ask.len()),
                });
            }
            let mut still = Vec::new();
            for (i, c) in pending.into_iter().zip(got) {
                match check(items[i], &c) {
                    Ok(()) => {
                        out[i] = Some(c);
                        done += 1;
                        progress(done);
                    }
                    Err(reason) => {
                        last_reason[i] = reason;
                        still.push(i);
                    }
                }
            }
            pending = still;
            if pending.is_empty() {
                break;
            }
        }
        if let Some(&i) = pending.first() {
            return Err(DataError::Inconsistent {
                annotator: ann.name(),
                item: id(items[i]),
                kind,
                attempts,
                reason: std::mem::take(&mut last_reason[i]),
            });
        }
    }
    Ok(out
        .into_iter()
        .map(|c| c.expect("every item accepted"))
        .collect())
}
