//! AdamW with global-norm gradient clipping, learning-rate schedules, and
//! optimizer state that is saved by parameter path.
//!
//! duet keeps its own AdamW instead of burn's adaptor for three reasons:
//! burn clips each parameter's gradient separately while TRL/HF clip by the
//! global norm (`max_grad_norm`); burn keys its state by random `ParamId`s,
//! which change when a checkpoint is reloaded; and the RL trainer must see
//! the gradient norm (to log it and to refuse non-finite gradients) before
//! anything is applied.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use burn::module::{AutodiffModule, ModuleMapper, ModuleVisitor, Param, ParamId};
use burn::optim::GradientsParams;
use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;
use serde::{Deserialize, Serialize};

use crate::error::{Result, RlError};
use crate::tensors;

/// AdamW hyper-parameters, under TRL/HF `TrainingArguments` names.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdamWConfig {
    pub adam_beta1: f64,
    pub adam_beta2: f64,
    pub adam_epsilon: f64,
    /// Decoupled weight decay (PyTorch's AdamW), applied to every parameter.
    pub weight_decay: f64,
    /// Clip the global L2 norm of all gradients to this; `None` = no clipping.
    pub max_grad_norm: Option<f64>,
}

impl Default for AdamWConfig {
    /// HF `TrainingArguments` defaults.
    fn default() -> Self {
        AdamWConfig {
            adam_beta1: 0.9,
            adam_beta2: 0.999,
            adam_epsilon: 1e-8,
            weight_decay: 0.0,
            max_grad_norm: Some(1.0),
        }
    }
}

/// First and second moments of one parameter, flattened.
#[derive(Clone)]
struct Moments<B: Backend> {
    m: Tensor<B, 1>,
    v: Tensor<B, 1>,
}

/// The optimizer: configuration, step count and per-parameter moments.
pub struct AdamW<B: Backend> {
    pub config: AdamWConfig,
    /// Updates applied so far (bias correction uses it).
    pub step: u64,
    state: HashMap<ParamId, Moments<B>>,
}

/// What one update reports.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct UpdateStats {
    /// Global gradient L2 norm before clipping.
    pub grad_norm: f64,
}

/// `path.to.param` → id, for every float parameter of a module.
#[derive(Default)]
struct Paths {
    stack: Vec<String>,
    found: Vec<(String, ParamId, Vec<usize>)>,
}

impl<B: Backend> ModuleVisitor<B> for Paths {
    fn enter_module(&mut self, name: &str, _: &str) {
        self.stack.push(name.to_string());
    }
    fn exit_module(&mut self, _: &str, _: &str) {
        self.stack.pop();
    }
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        let shape = param.lazy_shape().dims::<D>().to_vec();
        self.found.push((self.stack.join("."), param.id, shape));
    }
}

/// Every float parameter of `module` as (path, id, shape), in visit order.
pub fn param_paths<B: Backend, M: Module<B>>(module: &M) -> Vec<(String, ParamId, Vec<usize>)> {
    let mut p = Paths::default();
    module.visit(&mut p);
    p.found
}

/// Sum of squared gradient entries, and whether every entry is finite.
struct GradNorm<'a, B: AutodiffBackend> {
    grads: &'a GradientsParams,
    sum_sq: f64,
    finite: bool,
    _b: std::marker::PhantomData<B>,
}

impl<B: AutodiffBackend> ModuleVisitor<B> for GradNorm<'_, B> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        if let Some(g) = self.grads.get::<B::InnerBackend, D>(param.id) {
            let s: f64 = g.square().sum().into_scalar().elem();
            self.finite &= s.is_finite();
            self.sum_sq += s;
        }
    }
}

struct Update<'a, B: AutodiffBackend> {
    opt: &'a mut AdamW<B::InnerBackend>,
    grads: GradientsParams,
    lr: f64,
    clip: f64,
}

impl<B: AutodiffBackend> ModuleMapper<B> for Update<'_, B> {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<B, D>>) -> Param<Tensor<B, D>> {
        let (id, tensor, mapper) = param.consume();
        let Some(grad) = self.grads.remove::<B::InnerBackend, D>(id) else {
            return Param::from_mapped_value(id, tensor, mapper);
        };
        let c = &self.opt.config;
        let t = self.opt.step as i32;
        let shape = tensor.shape();
        let n = shape.num_elements();
        let g = grad.reshape([n]) * self.clip;
        let prev = self.opt.state.remove(&id);
        let (m, v) = match prev {
            Some(s) => (s.m, s.v),
            None => (g.zeros_like(), g.zeros_like()),
        };
        let m = m * c.adam_beta1 + g.clone() * (1.0 - c.adam_beta1);
        let v = v * c.adam_beta2 + g.square() * (1.0 - c.adam_beta2);
        let m_hat = m.clone() / (1.0 - c.adam_beta1.powi(t));
        let v_hat = v.clone() / (1.0 - c.adam_beta2.powi(t));
        let update = m_hat / v_hat.sqrt().add_scalar(c.adam_epsilon);
        let p = tensor.inner().reshape([n]);
        let p = p.clone() * (1.0 - self.lr * c.weight_decay) - update * self.lr;
        self.opt.state.insert(id, Moments { m, v });
        let p = Tensor::<B, D>::from_inner(p.reshape(shape)).require_grad();
        Param::from_mapped_value(id, p, mapper)
    }
}

impl<B: Backend> AdamW<B> {
    pub fn new(config: AdamWConfig) -> Self {
        AdamW {
            config,
            step: 0,
            state: HashMap::new(),
        }
    }

    /// One update of `module` with `grads` at learning rate `lr`. A
    /// non-finite gradient norm is an error and leaves module and state
    /// untouched (the caller still holds neither: it must not checkpoint).
    pub fn update<AB, M>(
        &mut self,
        lr: f64,
        module: M,
        grads: GradientsParams,
    ) -> Result<(M, UpdateStats)>
    where
        AB: AutodiffBackend<InnerBackend = B>,
        M: AutodiffModule<AB>,
    {
        let mut norm = GradNorm::<AB> {
            grads: &grads,
            sum_sq: 0.0,
            finite: true,
            _b: std::marker::PhantomData,
        };
        module.visit(&mut norm);
        let grad_norm = norm.sum_sq.sqrt();
        if !norm.finite || !grad_norm.is_finite() {
            return Err(RlError::NonFinite {
                what: "gradient".into(),
                detail: format!("global gradient norm is {grad_norm}"),
            });
        }
        let clip = match self.config.max_grad_norm {
            Some(max) if grad_norm > max => max / (grad_norm + 1e-6),
            _ => 1.0,
        };
        self.step += 1;
        let mut up = Update::<AB> {
            opt: self,
            grads,
            lr,
            clip,
        };
        let module = module.map(&mut up);
        Ok((module, UpdateStats { grad_norm }))
    }

    /// Writes the moments as safetensors keyed `<param path>.exp_avg` and
    /// `.exp_avg_sq` (flattened), with the step in the metadata.
    pub fn save<M: Module<B2>, B2: Backend>(&self, module: &M, path: &Path) -> Result<()> {
        let mut tensors = BTreeMap::new();
        for (name, id, _) in param_paths::<B2, M>(module) {
            if let Some(s) = self.state.get(&id) {
                tensors.insert(format!("{name}.exp_avg"), tensors::to_vec(s.m.clone()));
                tensors.insert(format!("{name}.exp_avg_sq"), tensors::to_vec(s.v.clone()));
            }
        }
        let meta = BTreeMap::from([("step".to_string(), self.step.to_string())]);
        tensors::write_safetensors(path, &tensors, meta)
    }

    /// Restores moments saved by [`AdamW::save`] for `module`'s parameters
    /// (matched by path). A moment whose size differs from its parameter's
    /// is an error naming the tensor.
    pub fn load<M: Module<B2>, B2: Backend>(
        config: AdamWConfig,
        module: &M,
        path: &Path,
        device: &B::Device,
    ) -> Result<Self> {
        let (mut tensors, meta) = tensors::read_safetensors(path)?;
        let step = meta
            .get("step")
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| RlError::Checkpoint {
                path: path.display().to_string(),
                message: "metadata has no integer `step`".into(),
            })?;
        let mut opt = AdamW::new(config);
        opt.step = step;
        for (name, id, shape) in param_paths::<B2, M>(module) {
            let n: usize = shape.iter().product();
            let mut take = |key: String| -> Result<Option<Tensor<B, 1>>> {
                match tensors.remove(&key) {
                    None => Ok(None),
                    Some(v) if v.len() == n => Ok(Some(tensors::from_vec(v, device))),
                    Some(v) => Err(RlError::Checkpoint {
                        path: path.display().to_string(),
                        message: format!(
                            "`{key}` has {} values but parameter `{name}` {shape:?} has {n}",
                            v.len()
                        ),
                    }),
                }
            };
            let m = take(format!("{name}.exp_avg"))?;
            let v = take(format!("{name}.exp_avg_sq"))?;
            if let (Some(m), Some(v)) = (m, v) {
                opt.state.insert(id, Moments { m, v });
            }
        }
        if let Some(extra) = tensors.keys().next() {
            return Err(RlError::Checkpoint {
                path: path.display().to_string(),
                message: format!("`{extra}` matches no parameter of the model"),
            });
        }
        Ok(opt)
    }
}

/// Learning-rate schedule (HF `lr_scheduler_type` + warmup).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SchedulerType {
    Constant,
    Linear,
    Cosine,
}

/// The learning rate at `step` (0-based) of `total`: linear warmup over
/// `warmup` steps, then constant, linear or cosine decay to zero, as HF's
/// `get_scheduler`.
pub fn learning_rate(
    kind: SchedulerType,
    base: f64,
    step: usize,
    warmup: usize,
    total: usize,
) -> f64 {
    if step < warmup {
        return base * (step + 1) as f64 / warmup as f64;
    }
    let span = total.saturating_sub(warmup).max(1) as f64;
    let progress = ((step - warmup) as f64 / span).min(1.0);
    match kind {
        SchedulerType::Constant => base,
        SchedulerType::Linear => base * (1.0 - progress),
        SchedulerType::Cosine => base * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos()),
    }
}

#[cfg(test)]
#[path = "optim_tests.rs"]
mod tests;
