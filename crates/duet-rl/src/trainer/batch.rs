//! One step's experience: which items are drawn (a data cursor over
//! per-epoch shuffles, so a resumed run draws the same items), their
//! rollouts, rewards and advantages — with DAPO-style dynamic sampling.

use std::collections::BTreeMap;
use std::time::Instant;

use burn::prelude::*;
use duet_model::prompts::JanusTokenizer;
use duet_model::{GenerationIds, Janus};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

use super::config::RlConfig;
use super::data::RlData;
use super::rollout::{self, GenRollout, UndRollout};
use crate::advantage::{Advantages, combined_advantages};
use crate::error::Result;
use crate::rewards::{Reward, Sample, ScoreCtx, check_finite};

/// Where the trainer is in each item list (saved in checkpoints).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Cursor {
    pub und: u64,
    pub generation: u64,
    pub pairs: u64,
}

/// The `k`-th draw from `n` items: epoch-wise shuffles seeded by `seed`.
pub fn nth(n: usize, k: u64, seed: u64) -> usize {
    let epoch = k / n as u64;
    let mut order: Vec<usize> = (0..n).collect();
    let mut rng =
        rand_chacha::ChaCha8Rng::seed_from_u64(seed ^ epoch.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    order.shuffle(&mut rng);
    order[(k % n as u64) as usize]
}

/// A group: one item of one task, its G rollouts and its advantage weight.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Group {
    pub understanding: bool,
    pub item: usize,
    /// PairGRPO's pair weight (1 outside pair mode).
    pub weight: f64,
}

/// Everything one step learned from.
pub struct Experience {
    pub groups: Vec<Group>,
    /// Rows with their group index, in group order.
    pub und: Vec<(UndRollout, usize)>,
    pub generation: Vec<(GenRollout, usize)>,
    /// Per reward component, per row (und rows first, then generation rows).
    pub components: Vec<Vec<Option<f64>>>,
    /// Advantages per row (same order), pair weights applied.
    pub advantages: Advantages,
    /// Groups dropped by dynamic sampling.
    pub dropped_groups: usize,
    pub rollout_s: f64,
    pub reward_s: f64,
}

impl Experience {
    /// The group of each row (und rows first).
    pub fn row_groups(&self) -> Vec<usize> {
        self.und
            .iter()
            .map(|r| r.1)
            .chain(self.generation.iter().map(|r| r.1))
            .collect()
    }
}

/// Draws the next groups per the cursor: pairs in pair mode, else
/// `prompts_per_step` items of each trained task.
fn draw(cfg: &RlConfig, data: &RlData, cursor: &mut Cursor) -> Vec<Group> {
    let mut groups = Vec::new();
    if !data.pairs.is_empty() {
        for _ in 0..cfg.prompts_per_step {
            let k = nth(data.pair_draws.len(), cursor.pairs, cfg.seed ^ 0x5041);
            let p = data.pairs[data.pair_draws[k]];
            cursor.pairs += 1;
            let w = cfg.pair_weight.weight(p.pair_type, p.similarity);
            if cfg.train_understanding {
                groups.push(Group {
                    understanding: true,
                    item: p.und,
                    weight: w,
                });
            }
            if cfg.train_generation {
                groups.push(Group {
                    understanding: false,
                    item: p.generation,
                    weight: w,
                });
            }
        }
        return groups;
    }
    if cfg.train_understanding && !data.und_draws.is_empty() {
        for _ in 0..cfg.prompts_per_step {
            let k = nth(data.und_draws.len(), cursor.und, cfg.seed ^ 0x554e);
            groups.push(Group {
                understanding: true,
                item: data.und_draws[k],
                weight: 1.0,
            });
            cursor.und += 1;
        }
    }
    if cfg.train_generation && !data.generation.is_empty() {
        for _ in 0..cfg.prompts_per_step {
            groups.push(Group {
                understanding: false,
                item: nth(data.generation.len(), cursor.generation, cfg.seed ^ 0x4745),
                weight: 1.0,
            });
            cursor.generation += 1;
        }
    }
    groups
}

/// Models and tokens a step uses.
pub struct StepCtx<'a, B: Backend> {
    pub policy: &'a Janus<B>,
    pub frozen: Option<&'a Janus<B>>,
    pub tokenizer: &'a JanusTokenizer,
    pub ids: &'a GenerationIds,
    pub data: &'a RlData,
    pub cfg: &'a RlConfig,
    /// The weight of each reward function, in order.
    pub weights: &'a [f64],
}

/// Rolls out, scores and computes advantages for one step.
pub fn collect<B: Backend>(
    ctx: &StepCtx<B>,
    rewards: &mut [Box<dyn Reward<B>>],
    cursor: &mut Cursor,
    seed: u64,
) -> Result<Experience> {
    let cfg = ctx.cfg;
    let mut groups: Vec<Group> = Vec::new();
    let mut und: Vec<(UndRollout, usize)> = Vec::new();
    let mut generation: Vec<(GenRollout, usize)> = Vec::new();
    let mut und_comp: Vec<Vec<Option<f64>>> = vec![Vec::new(); rewards.len()];
    let mut gen_comp: Vec<Vec<Option<f64>>> = vec![Vec::new(); rewards.len()];
    let (mut rollout_s, mut reward_s) = (0.0, 0.0);
    let rounds = if cfg.dynamic_sampling {
        cfg.max_refill_rounds + 1
    } else {
        1
    };
    let mut target = 0;
    let weights = ctx.weights;
    let mut adv = None;
    for round in 0..rounds {
        let new = draw(cfg, ctx.data, cursor);
        if round == 0 {
            target = new.len();
        }
        let base = groups.len();
        groups.extend_from_slice(&new);
        let t = Instant::now();
        let und_items: Vec<(usize, usize)> = new
            .iter()
            .enumerate()
            .filter(|(_, g)| g.understanding)
            .map(|(k, g)| (base + k, g.item))
            .collect();
        let gen_items: Vec<(usize, usize)> = new
            .iter()
            .enumerate()
            .filter(|(_, g)| !g.understanding)
            .map(|(k, g)| (base + k, g.item))
            .collect();
        let round_seed = seed.wrapping_add(round as u64 * 7_919);
        // The two tasks' rollouts on two threads: burn-flex runs an op on
        // the calling thread, and the rollouts are independent (own seeds),
        // so this gives the same samples in about the time of the longer.
        let und_rollout = || -> Result<Vec<UndRollout>> {
            if und_items.is_empty() {
                return Ok(Vec::new());
            }
            let items: Vec<usize> = und_items.iter().map(|x| x.1).collect();
            rollout::understanding(
                ctx.policy,
                ctx.tokenizer,
                ctx.ids,
                ctx.data,
                &items,
                cfg,
                round_seed,
            )
        };
        let gen_rollout = || -> Result<Vec<GenRollout>> {
            if gen_items.is_empty() {
                return Ok(Vec::new());
            }
            let items: Vec<usize> = gen_items.iter().map(|x| x.1).collect();
            rollout::generation(
                ctx.policy,
                ctx.tokenizer,
                ctx.ids,
                ctx.data,
                &items,
                cfg,
                round_seed ^ 0xA5A5,
            )
        };
        let (ur, gr) = if und_items.is_empty() || gen_items.is_empty() {
            (und_rollout(), gen_rollout())
        } else {
            crate::parallel::side_by_side("generation rollout", und_rollout, gen_rollout)
        };
        let (ur, gr) = (ur?, gr?);
        rollout_s += t.elapsed().as_secs_f64();
        let t = Instant::now();
        let g = cfg.num_generations;
        let ur: Vec<(UndRollout, usize)> = ur
            .into_iter()
            .enumerate()
            .map(|(k, r)| (r, und_items[k / g].0))
            .collect();
        let gr: Vec<(GenRollout, usize)> = gr
            .into_iter()
            .enumerate()
            .map(|(k, r)| (r, gen_items[k / g].0))
            .collect();
        let samples: Vec<Sample> = ur
            .iter()
            .map(|(r, _)| {
                let item = &ctx.data.und[r.item];
                Sample::Understanding {
                    item,
                    image: &ctx.data.images[item.image],
                    codes: &ctx.data.codes[item.image],
                    response: &r.text,
                }
            })
            .chain(gr.iter().map(|(r, _)| Sample::Generation {
                item: &ctx.data.generation[r.item],
                codes: &r.codes,
                image: &r.image,
            }))
            .collect();
        let sctx = ScoreCtx {
            policy: ctx.policy,
            frozen: ctx.frozen,
            tokenizer: ctx.tokenizer,
            ids: ctx.ids,
        };
        for (k, reward) in rewards.iter_mut().enumerate() {
            let s = reward.score(&sctx, &samples)?;
            check_finite(reward.name(), &s, &samples)?;
            und_comp[k].extend_from_slice(&s[..ur.len()]);
            gen_comp[k].extend_from_slice(&s[ur.len()..]);
        }
        drop(samples);
        reward_s += t.elapsed().as_secs_f64();
        und.extend(ur);
        generation.extend(gr);
        let a = advantages_of(
            cfg,
            &groups,
            &und,
            &generation,
            &und_comp,
            &gen_comp,
            weights,
        );
        let informative = a.zero_std.iter().filter(|z| !**z).count();
        adv = Some(a);
        if !cfg.dynamic_sampling || informative >= target {
            break;
        }
    }
    let mut advantages = adv.expect("at least one round");
    let components: Vec<Vec<Option<f64>>> = und_comp
        .into_iter()
        .zip(gen_comp)
        .map(|(mut u, g)| {
            u.extend(g);
            u
        })
        .collect();
    let mut dropped_groups = 0;
    if cfg.dynamic_sampling {
        // Rows of zero-variance groups carry no signal: leave them out.
        let zero: BTreeMap<usize, bool> = advantages
            .group_ids
            .iter()
            .copied()
            .zip(advantages.zero_std.iter().copied())
            .collect();
        dropped_groups = zero.values().filter(|z| **z).count();
        let keep_und: Vec<bool> = und.iter().map(|r| !zero[&r.1]).collect();
        let keep_gen: Vec<bool> = generation.iter().map(|r| !zero[&r.1]).collect();
        let keep: Vec<bool> = keep_und.iter().chain(&keep_gen).copied().collect();
        advantages.values = advantages
            .values
            .iter()
            .zip(&keep)
            .filter(|(_, k)| **k)
            .map(|(v, _)| *v)
            .collect();
        let mut it = keep_und.iter();
        und.retain(|_| *it.next().unwrap());
        let mut it = keep_gen.iter();
        generation.retain(|_| *it.next().unwrap());
    }
    Ok(Experience {
        groups,
        und,
        generation,
        components,
        advantages,
        dropped_groups,
        rollout_s,
        reward_s,
    })
}

/// Advantages of all rows so far. Understanding and generation rows are
/// normalised separately (their rewards live on different scales, so they
/// never share a group or a batch statistic), then scaled by the pair
/// weight.
fn advantages_of(
    cfg: &RlConfig,
    groups: &[Group],
    und: &[(UndRollout, usize)],
    generation: &[(GenRollout, usize)],
    und_comp: &[Vec<Option<f64>>],
    gen_comp: &[Vec<Option<f64>>],
    weights: &[f64],
) -> Advantages {
    let part = |rows: Vec<usize>, comps: &[Vec<Option<f64>>]| {
        combined_advantages(
            comps,
            weights,
            &rows,
            cfg.multi_objective_aggregation,
            cfg.scale_rewards,
            cfg.reward_std_eps,
        )
    };
    let mut a = part(und.iter().map(|r| r.1).collect(), und_comp);
    let b = part(generation.iter().map(|r| r.1).collect(), gen_comp);
    a.values.extend(b.values);
    a.zero_std.extend(b.zero_std);
    a.group_ids.extend(b.group_ids);
    let row_groups: Vec<usize> = und
        .iter()
        .map(|r| r.1)
        .chain(generation.iter().map(|r| r.1))
        .collect();
    for (v, g) in a.values.iter_mut().zip(&row_groups) {
        *v *= groups[*g].weight;
    }
    a
}
