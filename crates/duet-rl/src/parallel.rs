//! Two losses of one optimisation step, each with its forward and backward
//! pass on its own thread, gradients summed.
//!
//! Why: burn-flex runs almost every op on the calling thread — a whole
//! pretraining run used 107 % of this machine's 2 cores — while a step of a
//! unified model holds two independent losses (understanding and
//! generation). The second thread works on a copy of the module — the same
//! weights and parameter ids behind fresh autodiff leaves — so the two
//! losses build disjoint graphs: burn-autodiff 0.21 merges graphs that share
//! a node, and a merge racing a backward pass deadlocks (graph lock, then
//! the locator lock, against the reverse order). The summed gradient is the
//! gradient of the summed loss; the sum is taken in a fixed order, so a step
//! is as deterministic as on one thread.

use burn::module::{AutodiffModule, ModuleMapper, Param};
use burn::optim::{GradientsAccumulator, GradientsParams};
use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;

use crate::error::{Result, RlError};

/// A loss to differentiate (`None`: this part contributes nothing) and
/// whatever the caller wants back from its forward pass.
pub type Part<B, T> = Result<(Option<Tensor<B, 1>>, T)>;

/// Gradients a part computed itself (`None`: none) and its output.
pub type GradPart<T> = Result<(Option<GradientsParams>, T)>;

/// `f(c, chunk)` for every chunk `c` of `items` (chunks of `size`), the
/// first half of the chunks on this thread and the second half on another,
/// results in chunk order. A chunk's result may depend only on its index
/// and items (seed it from `c`), so it does not matter which thread ran it.
/// `done(n)` reports progress on this thread: after each of its chunks, and
/// once for the other thread's items when it has finished.
pub fn chunks_on_two<T, R, F>(
    items: &[T],
    size: usize,
    f: F,
    done: &mut dyn FnMut(usize),
) -> Result<Vec<R>>
where
    T: Sync,
    R: Send,
    F: Fn(usize, &[T]) -> Result<R> + Sync,
{
    let chunks: Vec<&[T]> = items.chunks(size.max(1)).collect();
    let cut = chunks.len().div_ceil(2);
    let (first, second) = chunks.split_at(cut);
    let (mine, theirs) = side_by_side(
        "worker",
        || {
            first
                .iter()
                .enumerate()
                .map(|(c, chunk)| {
                    let r = f(c, chunk);
                    done(chunk.len());
                    r
                })
                .collect::<Result<Vec<R>>>()
        },
        || {
            second
                .iter()
                .enumerate()
                .map(|(k, c)| f(cut + k, c))
                .collect::<Result<Vec<R>>>()
        },
    );
    let mut out = mine?;
    out.extend(theirs?);
    done(second.iter().map(|c| c.len()).sum());
    Ok(out)
}

/// Runs `a` on this thread and `b` on a second one, and returns both
/// results; a panic in `b` becomes an error naming `what`.
pub fn side_by_side<A, B>(
    what: &str,
    a: impl FnOnce() -> Result<A>,
    b: impl FnOnce() -> Result<B> + Send,
) -> (Result<A>, Result<B>)
where
    B: Send,
{
    std::thread::scope(|s| {
        let h = s.spawn(b);
        let ra = a();
        let rb = h.join().unwrap_or_else(|p| {
            Err(RlError::Data(format!(
                "the {what} thread panicked: {}",
                panic_message(&p)
            )))
        });
        (ra, rb)
    })
}

/// [`side_by_side`] on rayon's pool (`rayon::join`): both parts run on its
/// workers, so the kernels burn-flex itself parallelises with rayon (GEMMs
/// above ~7 M multiply-adds) nest by work stealing instead of adding two
/// more runnable threads to two cores — a GRPO update's forward and
/// backward passes ran 22 % faster this way (docs/benchmarks.md). With one
/// worker the parts run one after the other. A part must not wait on
/// anything the other holds: the training parts build disjoint autodiff
/// graphs ([`join_grads`]).
pub fn in_pool<A: Send, B: Send>(
    what: &str,
    a: impl FnOnce() -> Result<A> + Send,
    b: impl FnOnce() -> Result<B> + Send,
) -> (Result<A>, Result<B>) {
    let (ra, rb) = rayon::join(
        || std::panic::catch_unwind(std::panic::AssertUnwindSafe(a)),
        || std::panic::catch_unwind(std::panic::AssertUnwindSafe(b)),
    );
    let err = |p: Box<dyn std::any::Any + Send>| {
        RlError::Data(format!("the {what} part panicked: {}", panic_message(&*p)))
    };
    (
        ra.unwrap_or_else(|p| Err(err(p))),
        rb.unwrap_or_else(|p| Err(err(p))),
    )
}

/// The message of a thread's panic payload.
pub(crate) fn panic_message(p: &(dyn std::any::Any + Send)) -> &str {
    p.downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| p.downcast_ref::<&str>().copied())
        .unwrap_or("(no message)")
}

/// The module's parameters behind fresh autodiff leaves (same values, ids
/// and `require_grad`). burn's `fork` does this through a tracked
/// `to_device` whose node is dropped at once: an orphan in the graph of the
/// parameter it copied, freed only once that parameter dies. A parameter
/// that gets no gradient lives the whole run, so every step added one node
/// per such parameter that burn-autodiff then scanned on every backward
/// pass (a VQ step went from 0.27 s to 0.88 s over 1500 steps).
struct FreshLeaves;

impl<B: AutodiffBackend> ModuleMapper<B> for FreshLeaves {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<B, D>>) -> Param<Tensor<B, D>> {
        let (id, tensor, mapper) = param.consume();
        // `detach` keeps `require_grad` and starts a new graph.
        Param::from_mapped_value(id, tensor.detach(), mapper)
    }
}

/// Runs `a` and `b` on two threads; returns the gradients of the sum of
/// their losses with respect to `model`'s parameters, and their outputs.
pub fn grads_of_two<B, M, TA, TB>(
    model: &M,
    a: impl FnOnce(&M) -> Part<B, TA> + Send,
    b: impl FnOnce(&M) -> Part<B, TB> + Send,
) -> Result<(GradientsParams, TA, TB)>
where
    B: AutodiffBackend,
    M: AutodiffModule<B> + Sync,
    TA: Send,
    TB: Send,
{
    fn diff<B: AutodiffBackend, M: AutodiffModule<B>, T>(
        m: &M,
        (loss, t): (Option<Tensor<B, 1>>, T),
    ) -> (Option<GradientsParams>, T) {
        (
            loss.map(|l| GradientsParams::from_grads(l.backward(), m)),
            t,
        )
    }
    join_grads(
        model,
        |m| a(m).map(|r| diff(m, r)),
        |m| b(m).map(|r| diff(m, r)),
    )
}

/// Like [`grads_of_two`] for parts that run several backward passes
/// themselves (micro-batches) and return their accumulated gradients.
pub fn join_grads<B, M, TA, TB>(
    model: &M,
    a: impl FnOnce(&M) -> GradPart<TA> + Send,
    b: impl FnOnce(&M) -> GradPart<TB> + Send,
) -> Result<(GradientsParams, TA, TB)>
where
    B: AutodiffBackend,
    M: AutodiffModule<B> + Sync,
    TA: Send,
    TB: Send,
{
    // `devices` reads every parameter, which initialises lazy ones: a clone
    // of an uninitialised parameter would draw its own random values.
    model.devices();
    let forked = model.clone().map(&mut FreshLeaves);
    let (ra, rb) = in_pool("training", || a(model), || b(&forked));
    let (ga, ta) = ra?;
    let (gb, tb) = rb?;
    let mut acc = GradientsAccumulator::<M>::new();
    for g in [ga, gb].into_iter().flatten() {
        acc.accumulate(model, g);
    }
    Ok((acc.grads(), ta, tb))
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::Autodiff;
    use burn::nn::{Linear, LinearConfig};
    use duet_model::Cpu;

    type A = Autodiff<Cpu>;

    fn grad_vec(g: &GradientsParams, layer: &Linear<A>) -> Vec<f32> {
        g.get::<Cpu, 2>(layer.weight.id)
            .expect("weight gradient")
            .into_data()
            .to_vec()
            .unwrap()
    }

    #[test]
    fn chunks_on_two_keeps_chunk_order_and_reports_every_item() {
        let items: Vec<u32> = (0..11).collect();
        let mut seen = 0;
        let out = chunks_on_two(
            &items,
            3,
            |c, chunk| Ok((c, chunk.iter().sum::<u32>())),
            &mut |n| seen += n,
        )
        .unwrap();
        assert_eq!(out, vec![(0, 3), (1, 12), (2, 21), (3, 19)]);
        assert_eq!(seen, 11);
        let err = chunks_on_two(
            &items,
            3,
            |c, _| {
                if c == 3 {
                    Err(RlError::Data("chunk 3 failed".into()))
                } else {
                    Ok(c)
                }
            },
            &mut |_| {},
        )
        .unwrap_err();
        assert!(err.to_string().contains("chunk 3 failed"), "{err}");
    }

    #[test]
    fn two_threads_give_the_gradient_of_the_summed_loss() {
        let dev = Default::default();
        let layer = LinearConfig::new(3, 2).init::<A>(&dev);
        let x = |v: [f32; 6]| Tensor::<A, 2>::from_data(TensorData::new(v.to_vec(), [2, 3]), &dev);
        let xa = x([1.0, 2.0, 3.0, -1.0, 0.5, 0.0]);
        let xb = x([0.3, -2.0, 1.0, 4.0, 1.5, -0.5]);
        let loss = |m: &Linear<A>, x: Tensor<A, 2>| m.forward(x).powf_scalar(2.0).sum();
        let (g, ta, tb) = grads_of_two(
            &layer,
            |m| Ok((Some(loss(m, xa.clone())), 1)),
            |m| Ok((Some(loss(m, xb.clone()) * 0.5), 2)),
        )
        .unwrap();
        assert_eq!((ta, tb), (1, 2));
        let whole = loss(&layer, xa.clone()) + loss(&layer, xb.clone()) * 0.5;
        let want = GradientsParams::from_grads(whole.backward(), &layer);
        let (got, want) = (grad_vec(&g, &layer), grad_vec(&want, &layer));
        for (a, b) in got.iter().zip(&want) {
            assert!(
                (a - b).abs() <= 1e-5 * b.abs().max(1.0),
                "{got:?} vs {want:?}"
            );
        }
        // A part without a loss contributes nothing; an error is passed on.
        let (g, _, _) = grads_of_two(
            &layer,
            |m| Ok((Some(loss(m, xa.clone())), ())),
            |_| Ok((None, ())),
        )
        .unwrap();
        let alone = GradientsParams::from_grads(loss(&layer, xa.clone()).backward(), &layer);
        assert_eq!(grad_vec(&g, &layer), grad_vec(&alone, &layer));
        let err = grads_of_two(
            &layer,
            |_| Ok((None, ())),
            |_| -> Part<A, ()> { Err(RlError::Data("second part failed".into())) },
        )
        .unwrap_err();
        assert!(err.to_string().contains("second part failed"), "{err}");
    }
}
