//! duet-rl: reinforcement-learning post-training of unified models.
//!
//! GRPO and its variants, PairGRPO over understanding–generation pairs, dual
//! self-rewards and LVRPO alignment rewards, and the trainer that runs them,
//! generic over a burn `AutodiffBackend`.
//! Not implemented yet: this crate is filled by the RL issue.
