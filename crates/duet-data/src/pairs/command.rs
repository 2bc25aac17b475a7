//! An annotator that is a user's program (for example one calling an LLM
//! API), spoken to in JSON lines over its stdin and stdout. The protocol is
//! in docs/pairs.md. Requests of a batch are written together and replies
//! may come in any order (matched by id), so the program can work on several
//! at once; each reply must come within the time-out, counted from the
//! previous reply, or the program is stopped and the item named.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::complete::{Annotator, McQa};
use super::items::{GenItem, UndItem};
use super::protocol::{Reply, Request, clip};
use crate::error::{DataError, Result};

/// A running annotator program.
pub struct CommandAnnotator {
    command: String,
    timeout: Duration,
    batch: usize,
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<std::io::Result<String>>,
    stderr: Arc<Mutex<String>>,
}

impl CommandAnnotator {
    /// Starts `command` through the shell (`sh -c`), so arguments and
    /// quoting work as typed.
    pub fn spawn(command: &str, timeout: Duration, batch: usize) -> Result<Self> {
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(command)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| err(command, "-", format!("cannot start: {e}")))?;
        let stdout = child.stdout.take().expect("piped");
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let stop = line.is_err();
                if tx.send(line).is_err() || stop {
                    break;
                }
            }
        });
        // Keep the end of stderr for the message when the program dies.
        let stderr = Arc::new(Mutex::new(String::new()));
        let sink = Arc::clone(&stderr);
        let pipe = child.stderr.take().expect("piped");
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(|l| l.ok()) {
                let mut s = sink.lock().unwrap_or_else(|e| e.into_inner());
                s.push_str(&line);
                s.push('\n');
                if s.len() > 4000 {
                    let cut = s.len() - 2000;
                    let cut = (cut..s.len()).find(|&i| s.is_char_boundary(i)).unwrap_or(0);
                    s.drain(..cut);
                }
            }
        });
        let stdin = child.stdin.take();
        Ok(CommandAnnotator {
            command: command.to_string(),
            timeout,
            batch: batch.max(1),
            child,
            stdin,
            lines,
            stderr,
        })
    }

    fn stderr_tail(&self) -> String {
        let s = self.stderr.lock().unwrap_or_else(|e| e.into_inner());
        let t = s.trim();
        if t.is_empty() {
            String::new()
        } else {
            format!("; its stderr ends: {}", t.lines().last().unwrap_or(""))
        }
    }

    /// Sends the requests, then collects one reply per id.
    fn exchange(&mut self, reqs: &[Request]) -> Result<HashMap<String, Reply>> {
        let first = reqs.first().map_or("-", |r| r.id);
        let mut buf = Vec::new();
        for r in reqs {
            serde_json::to_writer(&mut buf, r).expect("plain data");
            buf.push(b'\n');
        }
        let stdin = self
            .stdin
            .as_mut()
            .ok_or_else(|| err(&self.command, first, "stdin closed".into()))?;
        // A program that stopped reading shows up as a broken pipe here or as
        // end of output below; both name the item.
        if let Err(e) = stdin.write_all(&buf).and_then(|()| stdin.flush()) {
            let why = format!("cannot send the request ({e}); the program has probably exited");
            return Err(self.died(first, why));
        }
        let mut replies = HashMap::new();
        while replies.len() < reqs.len() {
            let waiting = reqs
                .iter()
                .find(|r| !replies.contains_key(r.id))
                .expect("one left")
                .id;
            let line = match self.lines.recv_timeout(self.timeout) {
                Ok(Ok(line)) => line,
                Ok(Err(e)) => return Err(self.died(waiting, format!("reading its output: {e}"))),
                Err(RecvTimeoutError::Timeout) => {
                    let _ = self.child.kill();
                    let why = format!(
                        "no reply within {:.1} s (program stopped)",
                        self.timeout.as_secs_f64()
                    );
                    return Err(err(&self.command, waiting, why));
                }
                Err(RecvTimeoutError::Disconnected) => {
                    return Err(self.died(waiting, "exited before replying".into()));
                }
            };
            if line.trim().is_empty() {
                continue;
            }
            let reply: Reply = serde_json::from_str(&line).map_err(|e| {
                err(
                    &self.command,
                    waiting,
                    format!("malformed reply `{}`: {e}", clip(&line)),
                )
            })?;
            if !reqs.iter().any(|r| r.id == reply.id) || replies.contains_key(&reply.id) {
                let why = format!("reply for unexpected id `{}`", reply.id);
                return Err(err(&self.command, waiting, why));
            }
            replies.insert(reply.id.clone(), reply);
        }
        Ok(replies)
    }

    fn died(&mut self, item: &str, why: String) -> DataError {
        // Give the stderr reader a moment to drain the program's last words.
        std::thread::sleep(Duration::from_millis(50));
        let status = match self.child.try_wait() {
            Ok(Some(s)) => format!(" ({s})"),
            _ => String::new(),
        };
        err(
            &self.command,
            item,
            format!("{why}{status}{}", self.stderr_tail()),
        )
    }
}

fn err(command: &str, item: &str, reason: String) -> DataError {
    DataError::Annotator {
        annotator: format!("command:{command}"),
        item: item.to_string(),
        reason,
    }
}

impl Annotator for CommandAnnotator {
    fn name(&self) -> String {
        format!("command:{}", self.command)
    }

    fn batch_size(&self) -> usize {
        self.batch
    }

    fn captions(&mut self, items: &[&UndItem], attempt: usize) -> Result<Vec<String>> {
        let reqs: Vec<Request> = items
            .iter()
            .map(|it| Request {
                id: &it.id,
                task: "caption",
                attempt,
                image: it.image_path().display().to_string(),
                prompt: None,
                question: Some(&it.question),
                options: Some(&it.options),
                answer: Some(&it.answer),
            })
            .collect();
        let mut replies = self.exchange(&reqs)?;
        items
            .iter()
            .map(|it| {
                let r = replies.remove(&it.id).expect("exchange returns every id");
                if let Some(e) = r.error {
                    return Err(err(&self.command, &it.id, format!("the program says: {e}")));
                }
                r.caption
                    .ok_or_else(|| err(&self.command, &it.id, "reply has no `caption`".into()))
            })
            .collect()
    }

    fn questions(&mut self, items: &[&GenItem], attempt: usize) -> Result<Vec<McQa>> {
        let reqs: Vec<Request> = items
            .iter()
            .map(|it| Request {
                id: &it.id,
                task: "qa",
                attempt,
                image: it.image_path().display().to_string(),
                prompt: Some(&it.prompt),
                question: None,
                options: None,
                answer: None,
            })
            .collect();
        let mut replies = self.exchange(&reqs)?;
        items
            .iter()
            .map(|it| {
                let r = replies.remove(&it.id).expect("exchange returns every id");
                if let Some(e) = r.error {
                    return Err(err(&self.command, &it.id, format!("the program says: {e}")));
                }
                match (r.question, r.options, r.answer) {
                    (Some(question), Some(options), Some(answer)) => Ok(McQa {
                        question,
                        options,
                        answer,
                    }),
                    _ => Err(err(
                        &self.command,
                        &it.id,
                        "reply needs `question`, `options` and `answer`".into(),
                    )),
                }
            })
            .collect()
    }
}

impl Drop for CommandAnnotator {
    /// Closing stdin asks the program to finish; one that does not is killed.
    fn drop(&mut self) {
        drop(self.stdin.take());
        for _ in 0..20 {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
