//! Group-relative advantages (GRPO and its variants), reward aggregation
//! across components, and PairGRPO's per-pair weights.
//!
//! Conventions follow TRL's `GRPOTrainer` so numbers mean what its users
//! expect: the group mean is the baseline, the standard deviation is the
//! unbiased one (torch's default), `std_eps` is added to it (TRL: 1e-4), and
//! an unscorable sample (`None`) is left out of the group statistics and gets
//! advantage 0.

use serde::{Deserialize, Serialize};

use duet_data::pairs::record::PairType;

/// How advantages are scaled after the group mean is subtracted
/// (TRL `scale_rewards`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ScaleRewards {
    /// Divide by the group's standard deviation (GRPO).
    #[default]
    Group,
    /// Divide by the standard deviation of the whole batch (PPO-Lite).
    Batch,
    /// No division (Dr. GRPO).
    None,
}

/// How several reward components become one scalar per sample
/// (TRL `multi_objective_aggregation`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Aggregation {
    /// Weighted sum of the raw rewards, then the usual advantage.
    #[default]
    SumThenNormalize,
    /// Each component normalised within its group first, then the weighted
    /// sum, then normalised over the batch (GDPO); keeps a binary component
    /// from drowning a dense one (LVRPO's reviewers' concern).
    NormalizeThenSum,
}

/// PairGRPO's advantage weight for a retrieved pair of similarity `s`
/// (aligned pairs always weigh 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum PairWeightFn {
    /// 1 for every pair (plain paired GRPO).
    One,
    /// `s`.
    Linear,
    /// `√s` (PairUni's choice).
    #[default]
    Sqrt,
}

impl PairWeightFn {
    /// The weight of a pair; similarities below 0 count as 0.
    pub fn weight(self, pair_type: PairType, similarity: f64) -> f64 {
        if pair_type == PairType::Aligned {
            return 1.0;
        }
        let s = similarity.clamp(0.0, 1.0);
        match self {
            PairWeightFn::One => 1.0,
            PairWeightFn::Linear => s,
            PairWeightFn::Sqrt => s.sqrt(),
        }
    }
}

/// Advantages of one batch and what the logs report about them.
#[derive(Debug, Clone, PartialEq)]
pub struct Advantages {
    pub values: Vec<f64>,
    /// Per group (in order of first appearance): whether all its scored
    /// rewards were equal (TRL `frac_reward_zero_std` averages this).
    pub zero_std: Vec<bool>,
    /// The group id of each entry of `zero_std`.
    pub group_ids: Vec<usize>,
}

impl Advantages {
    pub fn frac_zero_std(&self) -> f64 {
        if self.zero_std.is_empty() {
            return 0.0;
        }
        self.zero_std.iter().filter(|&&z| z).count() as f64 / self.zero_std.len() as f64
    }
}

/// Mean and unbiased standard deviation of the scored values (0 for fewer
/// than two).
fn mean_std(v: &[f64]) -> (f64, f64) {
    if v.is_empty() {
        return (0.0, 0.0);
    }
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    if v.len() < 2 {
        return (mean, 0.0);
    }
    let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (mean, var.sqrt())
}

/// Groups in order of first appearance: `(group id, member indices)`.
fn groups_of(groups: &[usize]) -> Vec<(usize, Vec<usize>)> {
    let mut out: Vec<(usize, Vec<usize>)> = Vec::new();
    for (i, &g) in groups.iter().enumerate() {
        match out.iter_mut().find(|(id, _)| *id == g) {
            Some((_, m)) => m.push(i),
            None => out.push((g, vec![i])),
        }
    }
    out
}

/// Group-relative advantages: `r − mean(group)`, divided per `scale` by the
/// group's or the batch's standard deviation plus `std_eps`.
pub fn advantages(
    rewards: &[Option<f64>],
    groups: &[usize],
    scale: ScaleRewards,
    std_eps: f64,
) -> Advantages {
    assert_eq!(rewards.len(), groups.len(), "one group id per reward");
    let mut values = vec![0.0; rewards.len()];
    let mut zero_std = Vec::new();
    let mut group_ids = Vec::new();
    let scored_all: Vec<f64> = rewards.iter().flatten().copied().collect();
    let (_, batch_std) = mean_std(&scored_all);
    for (g, members) in groups_of(groups) {
        let scored: Vec<f64> = members.iter().filter_map(|&i| rewards[i]).collect();
        let (mean, std) = mean_std(&scored);
        let all_equal = scored.windows(2).all(|w| w[0] == w[1]);
        zero_std.push(all_equal);
        group_ids.push(g);
        let denom = match scale {
            ScaleRewards::Group => std + std_eps,
            ScaleRewards::Batch => batch_std + std_eps,
            ScaleRewards::None => 1.0,
        };
        for &i in &members {
            values[i] = match rewards[i] {
                // Equal rewards give exactly 0, never 0/0.
                Some(r) if !all_equal => (r - mean) / denom,
                _ => 0.0,
            };
        }
    }
    Advantages {
        values,
        zero_std,
        group_ids,
    }
}

/// One scalar reward per sample from `components[k][i]` with `weights[k]`,
/// for [`Aggregation::SumThenNormalize`]: the weighted sum over the scored
/// components (`None` when none scored the sample).
pub fn weighted_sum(components: &[Vec<Option<f64>>], weights: &[f64]) -> Vec<Option<f64>> {
    let n = components.first().map_or(0, Vec::len);
    (0..n)
        .map(|i| {
            let mut any = false;
            let mut s = 0.0;
            for (c, w) in components.iter().zip(weights) {
                if let Some(r) = c[i] {
                    any = true;
                    s += w * r;
                }
            }
            any.then_some(s)
        })
        .collect()
}

/// Advantages from several reward components, aggregated per `agg`.
pub fn combined_advantages(
    components: &[Vec<Option<f64>>],
    weights: &[f64],
    groups: &[usize],
    agg: Aggregation,
    scale: ScaleRewards,
    std_eps: f64,
) -> Advantages {
    match agg {
        Aggregation::SumThenNormalize => {
            advantages(&weighted_sum(components, weights), groups, scale, std_eps)
        }
        Aggregation::NormalizeThenSum => {
            let per: Vec<Vec<Option<f64>>> = components
                .iter()
                .map(|c| {
                    let a = advantages(c, groups, ScaleRewards::Group, std_eps);
                    c.iter().zip(a.values).map(|(r, v)| r.map(|_| v)).collect()
                })
                .collect();
            let summed = weighted_sum(&per, weights);
            // Batch normalisation of the summed, already centred values.
            // (The centred components sum to 0 over each group, so the batch
            // mean is 0 and only the scale remains.)
            let scored: Vec<f64> = summed.iter().flatten().copied().collect();
            let (_, std) = mean_std(&scored);
            let mut out = advantages(&summed, groups, ScaleRewards::None, std_eps);
            for (v, s) in out.values.iter_mut().zip(&summed) {
                *v = match s {
                    Some(x) if scale != ScaleRewards::None && std + std_eps > 0.0 => {
                        x / (std + std_eps)
                    }
                    Some(_) if scale != ScaleRewards::None => 0.0,
                    Some(x) => *x,
                    None => 0.0,
                };
            }
            // Zero-variance flags come from the raw components: a group is
            // uninformative when every component is constant in it.
            let raw = advantages(&weighted_sum(components, weights), groups, scale, std_eps);
            out.zero_std = raw.zero_std;
            out
        }
    }
}
