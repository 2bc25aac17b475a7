//! duet-eval
