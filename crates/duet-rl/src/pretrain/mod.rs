//! Supervised stages that build the embedded ShapeWorld base: the tokenizer
//! (done), then the VQ-VAE, the contrastive encoder and SFT (the pretraining
//! issue).

pub mod tokenizer;
