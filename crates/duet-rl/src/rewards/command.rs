//! A reward computed by a user's program, over JSON lines on its stdin and
//! stdout (protocol in docs/rl.md): one request per sample, one reply per
//! request, `{"id": N, "reward": number | null}`, each within the time-out.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::Duration;

use burn::prelude::*;
use serde::Deserialize;

use super::{Reward, Sample, ScoreCtx};
use crate::error::{Result, RlError};

pub struct CommandReward {
    name: String,
    command: String,
    timeout: Duration,
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<std::io::Result<String>>,
    images: tempfile_dir::Dir,
}

/// A private directory for the PNGs sent to the program.
mod tempfile_dir {
    pub struct Dir(pub std::path::PathBuf);
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

#[derive(Deserialize)]
struct Reply {
    id: usize,
    reward: Option<f64>,
}

fn err(command: &str, detail: String) -> RlError {
    RlError::Data(format!("reward command `{command}`: {detail}"))
}

impl CommandReward {
    pub fn spawn(name: String, command: &str, timeout_s: f64) -> Result<Self> {
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(command)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| err(command, format!("cannot start: {e}")))?;
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
        let dir = std::env::temp_dir().join(format!("duet-reward-{}-{}", std::process::id(), name));
        std::fs::create_dir_all(&dir).map_err(|e| RlError::io(&dir, e))?;
        Ok(CommandReward {
            name,
            command: command.to_string(),
            timeout: Duration::from_secs_f64(timeout_s.max(0.001)),
            stdin: child.stdin.take(),
            child,
            lines,
            images: tempfile_dir::Dir(dir),
        })
    }

    fn request(&self, i: usize, s: &Sample) -> Result<serde_json::Value> {
        Ok(match s {
            Sample::Understanding {
                item,
                image,
                response,
                ..
            } => {
                let path = self.images.0.join(format!("{i}.png"));
                image
                    .save(&path)
                    .map_err(|e| err(&self.command, format!("{}: {e}", path.display())))?;
                serde_json::json!({"id": i, "task": "understanding", "item_id": item.id,
                    "question": item.question, "image": path, "completion": response})
            }
            Sample::Generation { item, image, .. } => {
                let path = self.images.0.join(format!("{i}.png"));
                image
                    .save(&path)
                    .map_err(|e| err(&self.command, format!("{}: {e}", path.display())))?;
                serde_json::json!({"id": i, "task": "generation", "item_id": item.id,
                    "prompt": item.meta.prompt, "metadata": item.meta, "image": path})
            }
        })
    }
}

impl Drop for CommandReward {
    fn drop(&mut self) {
        self.stdin.take();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl<B: Backend> Reward<B> for CommandReward {
    fn name(&self) -> &str {
        &self.name
    }
    fn score(&mut self, _: &ScoreCtx<B>, samples: &[Sample]) -> Result<Vec<Option<f64>>> {
        let mut text = String::new();
        for (i, s) in samples.iter().enumerate() {
            text.push_str(&self.request(i, s)?.to_string());
            text.push('\n');
        }
        let stdin = self
            .stdin
            .as_mut()
            .ok_or_else(|| err(&self.command, "stdin closed".into()))?;
        stdin
            .write_all(text.as_bytes())
            .and_then(|_| stdin.flush())
            .map_err(|e| err(&self.command, format!("writing requests: {e}")))?;
        let mut out: Vec<Option<Option<f64>>> = vec![None; samples.len()];
        let item_id = |i: usize| match samples[i] {
            Sample::Understanding { item, .. } => item.id.clone(),
            Sample::Generation { item, .. } => item.id.clone(),
        };
        for _ in 0..samples.len() {
            let pending = out.iter().position(Option::is_none).unwrap_or(0);
            let line = match self.lines.recv_timeout(self.timeout) {
                Ok(Ok(l)) => l,
                Ok(Err(e)) => return Err(err(&self.command, format!("reading replies: {e}"))),
                Err(RecvTimeoutError::Timeout) => {
                    return Err(err(
                        &self.command,
                        format!(
                            "no reply within {:.1} s (waiting for request {pending}, item `{}`)",
                            self.timeout.as_secs_f64(),
                            item_id(pending)
                        ),
                    ));
                }
                Err(RecvTimeoutError::Disconnected) => {
                    return Err(err(
                        &self.command,
                        format!(
                            "exited before replying to request {pending} (item `{}`)",
                            item_id(pending)
                        ),
                    ));
                }
            };
            let r: Reply = serde_json::from_str(&line).map_err(|e| {
                err(&self.command, format!("malformed reply `{line}`: {e} (expected {{\"id\": N, \"reward\": number|null}})"))
            })?;
            if r.id >= samples.len() || out[r.id].is_some() {
                return Err(err(
                    &self.command,
                    format!("reply `{line}` names an unknown or already answered id"),
                ));
            }
            out[r.id] = Some(r.reward);
        }
        Ok(out.into_iter().map(|x| x.flatten()).collect())
    }
}
