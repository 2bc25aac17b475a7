//! ShapeWorld: a generated world of coloured shapes on a plain background.
//!
//! Every scene is realised from a GenEval prompt (so the prompt is exactly
//! true of its image), rendered antialiased to PNG, and described by a caption
//! and multiple-choice questions whose answers follow from the scene graph.
//! Because the world is known, understanding answers and generated images can
//! be checked exactly, on a CPU, with no downloads.

pub mod config;
pub mod dataset;
pub mod halves;
pub mod prompts;
pub mod questions;
pub mod render;
pub mod scene;
pub mod vocab;

pub use config::{Layout, OptionOrder, ShapeWorldConfig};
pub use dataset::{GenerateOptions, GenerationItem, Manifest, SceneRecord, add_rl_split, generate};
pub use render::{load_png, png_bytes, render};
pub use scene::{Object, Scene, realise};
pub use vocab::{BACKGROUND, Color, Shape};
