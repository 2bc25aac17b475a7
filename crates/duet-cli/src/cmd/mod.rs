pub mod data;
pub mod eval;
pub mod pairs;
pub mod pretrain;
pub mod rl;
