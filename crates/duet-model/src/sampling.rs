//! Token sampling from logits: temperature, top-k, top-p and a seeded RNG,
//! applied in transformers' order (temperature → top-k → top-p). Sampling is
//! done on the host: one row of logits per sequence is small, and a seeded
//! ChaCha stream makes runs reproducible on every backend.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// How to pick the next token.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SamplingConfig {
    /// 0 means greedy (argmax).
    pub temperature: f64,
    /// Keep the k most likely tokens; 0 keeps all (note: transformers
    /// silently uses 50 when unset, the original Janus code uses all).
    pub top_k: usize,
    /// Keep the smallest set whose probability reaches `top_p`; 1 keeps all.
    pub top_p: f64,
    pub seed: u64,
}

impl Default for SamplingConfig {
    fn default() -> Self {
        SamplingConfig {
            temperature: 1.0,
            top_k: 0,
            top_p: 1.0,
            seed: 0,
        }
    }
}

impl SamplingConfig {
    pub fn greedy() -> Self {
        SamplingConfig {
            temperature: 0.0,
            ..Default::default()
        }
    }
}

/// `log softmax(logits)[t]`, accumulated in f64.
pub fn log_softmax_at(logits: &[f32], t: usize) -> f32 {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let lse = max as f64
        + logits
            .iter()
            .map(|&v| ((v - max) as f64).exp())
            .sum::<f64>()
            .ln();
    (logits[t] as f64 - lse) as f32
}

/// A seeded sampler.
pub struct Sampler {
    cfg: SamplingConfig,
    rng: ChaCha8Rng,
    last_logprob: f32,
}

impl Sampler {
    pub fn new(cfg: SamplingConfig) -> Self {
        let rng = ChaCha8Rng::seed_from_u64(cfg.seed);
        Sampler {
            cfg,
            rng,
            last_logprob: 0.0,
        }
    }

    /// `log softmax(logits)[token]` of the last pick: the log-probability the
    /// sampled-from logits (before temperature and truncation) gave it, what
    /// an RL trainer compares its own log-probs with.
    pub fn last_logprob(&self) -> f32 {
        self.last_logprob
    }

    /// Picks a token and records its log-probability.
    pub fn sample(&mut self, logits: &[f32]) -> u32 {
        let t = self.pick(logits);
        self.last_logprob = log_softmax_at(logits, t as usize);
        t
    }

    /// Picks a token from `logits` with `banned` tokens excluded, recording
    /// its log-probability under the unrestricted logits (what a trainer's
    /// teacher-forced pass computes).
    pub fn sample_excluding(&mut self, logits: &mut [f32], banned: &[u32]) -> u32 {
        let saved: Vec<(usize, f32)> = banned
            .iter()
            .filter_map(|&b| logits.get(b as usize).map(|&v| (b as usize, v)))
            .collect();
        for &(i, _) in &saved {
            logits[i] = f32::NEG_INFINITY;
        }
        let t = self.pick(logits);
        for &(i, v) in &saved {
            logits[i] = v;
        }
        self.last_logprob = log_softmax_at(logits, t as usize);
        t
    }

    /// Picks a token from one row of logits.
    fn pick(&mut self, logits: &[f32]) -> u32 {
        let argmax = || {
            logits
                .iter()
                .enumerate()
                .fold((0usize, f32::NEG_INFINITY), |best, (i, &v)| {
                    if v > best.1 { (i, v) } else { best }
                })
                .0 as u32
        };
        if self.cfg.temperature <= 0.0 {
            return argmax();
        }
        let t = self.cfg.temperature as f32;
        let mut order: Vec<usize> = (0..logits.len()).collect();
        order.sort_by(|&a, &b| logits[b].total_cmp(&logits[a]).then(a.cmp(&b)));
        if self.cfg.top_k > 0 {
            order.truncate(self.cfg.top_k);
        }
        let max = logits[order[0]] / t;
        let mut probs: Vec<f64> = order
            .iter()
            .map(|&i| ((logits[i] / t - max) as f64).exp())
            .collect();
        let z: f64 = probs.iter().sum();
        probs.iter_mut().for_each(|p| *p /= z);
        if self.cfg.top_p < 1.0 {
            let mut acc = 0.0;
            let mut keep = probs.len();
            for (i, p) in probs.iter().enumerate() {
                acc += p;
                if acc >= self.cfg.top_p {
                    keep = i + 1;
                    break;
                }
            }
            probs.truncate(keep);
            let z: f64 = probs.iter().sum();
            probs.iter_mut().for_each(|p| *p /= z);
        }
        let mut u: f64 = self.rng.random();
        for (i, p) in probs.iter().enumerate() {
            if u < *p {
                return order[i] as u32;
            }
            u -= p;
        }
        order[probs.len() - 1] as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excluded_tokens_are_never_drawn_and_logprobs_stay_unrestricted() {
        let mut logits = [0.0f32, 5.0, 1.0, 0.5];
        let mut s = Sampler::new(SamplingConfig::default());
        for _ in 0..300 {
            let t = s.sample_excluding(&mut logits, &[1]);
            assert_ne!(t, 1);
            assert_eq!(logits[1], 5.0, "logits are restored");
            assert!((s.last_logprob() - log_softmax_at(&logits, t as usize)).abs() < 1e-7);
        }
    }

    #[test]
    fn greedy_top_k_and_top_p() {
        let logits = [0.0f32, 3.0, 1.0, 2.9];
        assert_eq!(Sampler::new(SamplingConfig::greedy()).sample(&logits), 1);
        let mut s = Sampler::new(SamplingConfig {
            top_k: 2,
            ..Default::default()
        });
        for _ in 0..200 {
            let t = s.sample(&logits);
            assert!(t == 1 || t == 3, "top-2 keeps tokens 1 and 3, got {t}");
        }
        let mut s = Sampler::new(SamplingConfig {
            top_p: 0.3,
            ..Default::default()
        });
        for _ in 0..50 {
            assert_eq!(s.sample(&logits), 1, "the top token alone passes p = 0.3");
        }
    }

    #[test]
    fn sampling_follows_the_distribution_and_the_seed() {
        let logits = [0.0f32, (3.0f32).ln()]; // p = 0.25, 0.75
        let mut s = Sampler::new(SamplingConfig::default());
        let ones = (0..4000).filter(|_| s.sample(&logits) == 1).count();
        assert!((ones as f64 / 4000.0 - 0.75).abs() < 0.03, "{ones}");
        let run = |seed| {
            let mut s = Sampler::new(SamplingConfig {
                seed,
                ..Default::default()
            });
            (0..32).map(|_| s.sample(&logits)).collect::<Vec<_>>()
        };
        assert_eq!(run(7), run(7));
        assert_ne!(run(7), run(8));
    }
}
