pub mod data;
pub mod demo;
pub mod eval;
pub mod infer;
pub mod model;
pub mod pairs;
pub mod pretrain;
pub mod rl;
