//! Numerical parity with transformers on a tiny random Janus checkpoint
//! (fixtures from `xtask/parity/janus_tiny_reference.py`, see docs/parity.md).
//! Every stage must agree within 1e-4 (max abs, f32); token choices exactly.

use std::path::PathBuf;

use burn::prelude::*;
use duet_model::Cpu;
use duet_model::checkpoint;
use duet_model::janus::Janus;
use duet_model::weights::WeightMap;

type B = Cpu;
const TOL: f32 = 1e-4;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/janus-tiny")
}

struct Fx {
    model: Janus<B>,
    refs: WeightMap,
    dev: burn::prelude::Device<B>,
}

fn fx() -> Fx {
    let dev = Default::default();
    let (_, model) =
        checkpoint::load::<B>(&dir().join("checkpoint"), &dev).expect("fixture checkpoint loads");
    let refs = WeightMap::open(&dir().join("reference.safetensors")).unwrap();
    Fx { model, refs, dev }
}

impl Fx {
    fn f<const D: usize>(&self, key: &str) -> Tensor<B, D> {
        let (v, shape) = self.refs.f32(key).unwrap();
        Tensor::from_data(TensorData::new(v, shape), &self.dev)
    }
    fn ids(&self, key: &str) -> (Vec<u32>, Vec<usize>) {
        let (v, shape) = self.refs.i64(key).unwrap();
        (v.into_iter().map(|x| x as u32).collect(), shape)
    }
}

fn max_abs<const D: usize>(a: Tensor<B, D>, b: Tensor<B, D>) -> f32 {
    assert_eq!(a.dims(), b.dims(), "shapes differ");
    (a - b).abs().max().into_scalar()
}

fn check<const D: usize>(stage: &str, a: Tensor<B, D>, b: Tensor<B, D>) {
    let e = max_abs(a, b);
    println!("parity {stage:<36} max abs err {e:.3e}");
    assert!(e <= TOL, "{stage}: max abs error {e:.3e} > {TOL:e}");
}

fn argmax_row(t: Tensor<B, 2>) -> Vec<i64> {
    t.argmax(1).into_data().iter::<i64>().collect()
}

#[test]
fn understanding_path() {
    let f = fx();
    let pixels: Tensor<B, 4> = f.f("und_pixel_values");
    let vis = f.model.vision_model.forward(pixels.clone());
    for (i, h) in vis.hidden_states.iter().enumerate() {
        check(
            &format!("vision hidden {i}"),
            h.clone(),
            f.f(&format!("und_vision_hidden_{i}")),
        );
    }
    check(
        "vision post-LN",
        vis.last_hidden_state.clone(),
        f.f("und_vision_last_hidden_post_ln"),
    );
    let aligned = f.model.aligner.forward(vis.last_hidden_state);
    check("aligner", aligned.clone(), f.f("und_image_embeds_aligned"));
    let (ids, shape) = f.ids("und_input_ids");
    let merged = f
        .model
        .merge_embeddings(&ids, shape[0], Some(aligned))
        .unwrap();
    check(
        "merged input embeddings",
        merged,
        f.f("und_inputs_embeds_merged"),
    );
    let (logits, out) = f
        .model
        .forward_understanding(&ids, shape[0], Some(pixels), true)
        .unwrap();
    for (i, h) in out.layer_outputs.iter().enumerate() {
        check(
            &format!("LM layer {i} output"),
            h.clone(),
            f.f(&format!("und_lm_layer_out_{i}")),
        );
    }
    let n = out.layer_outputs.len();
    check(
        "LM final norm",
        out.last_hidden_state,
        f.f(&format!("und_lm_hidden_{n}")),
    );
    check("text logits", logits.clone(), f.f("und_logits"));
    let [b, t, v] = logits.dims();
    let last: Tensor<B, 2> = logits.slice([0..b, t - 1..t, 0..v]).reshape([b, v]);
    let (want, _) = f.refs.i64("und_next_token_greedy").unwrap();
    assert_eq!(argmax_row(last), want);
}

#[test]
fn two_cfg_generation_steps() {
    let f = fx();
    let (ids, shape) = f.ids("gen_cfg_input_ids");
    let embeds = f.model.merge_embeddings(&ids, shape[0], None).unwrap();
    let mut cache = f.model.new_cache();
    let h = f.model.decode(embeds.clone(), Some(&mut cache));
    let [b, t, d] = h.dims();
    let h1: Tensor<B, 2> = h.slice([0..b, t - 1..t, 0..d]).reshape([b, d]);
    check(
        "gen step 1 last hidden",
        h1.clone(),
        f.f("gen_step1_last_hidden"),
    );
    let l1 = f.model.image_logits(h1);
    check(
        "gen step 1 logits [cond; uncond]",
        l1.clone(),
        f.f("gen_step1_logits_cond_uncond"),
    );
    let k = l1.dims()[1];
    let guided = |l: Tensor<B, 2>| {
        let cond = l.clone().slice([0..1, 0..k]);
        let uncond = l.slice([1..2, 0..k]);
        uncond.clone() + (cond - uncond) * 5.0
    };
    let g1 = guided(l1);
    check(
        "gen step 1 guided logits",
        g1.clone(),
        f.f("gen_step1_logits_guided"),
    );
    let tok1 = argmax_row(g1);
    assert_eq!(tok1, f.refs.i64("gen_step1_token").unwrap().0);
    let codes =
        Tensor::<B, 2, Int>::from_data(TensorData::new(vec![tok1[0], tok1[0]], [2, 1]), &f.dev);
    let next = f.model.image_token_embeddings(codes);
    check(
        "gen step 2 input embeddings",
        next.clone(),
        f.f("gen_step2_input_embeds"),
    );
    let h2 = f.model.decode(next.clone(), Some(&mut cache));
    let l2 = f.model.image_logits(h2.reshape([2, d]));
    check(
        "gen step 2 logits (KV cache)",
        l2.clone(),
        f.f("gen_step2_logits_cond_uncond"),
    );
    let full = Tensor::cat(vec![embeds, next], 1);
    let h2n = f.model.decode(full, None);
    let h2n: Tensor<B, 2> = h2n.slice([0..2, t..t + 1, 0..d]).reshape([2, d]);
    check(
        "gen step 2 logits (no cache)",
        f.model.image_logits(h2n),
        f.f("gen_step2_logits_cond_uncond_nocache"),
    );
    let g2 = guided(l2);
    check(
        "gen step 2 guided logits",
        g2.clone(),
        f.f("gen_step2_logits_guided"),
    );
    assert_eq!(argmax_row(g2), f.refs.i64("gen_step2_token").unwrap().0);
}

#[test]
fn vq_decode_and_encode() {
    let f = fx();
    let (codes, shape) = f.refs.i64("gen_generate_greedy_tokens").unwrap();
    let codes = Tensor::<B, 2, Int>::from_data(TensorData::new(codes, shape), &f.dev);
    let entries = f.model.vqmodel.codebook_entries(codes.clone()).unwrap();
    check(
        "VQ codebook entries (L2-normalised)",
        entries,
        f.f("vq_decode_codebook_entry_l2norm"),
    );
    let img = f.model.vqmodel.decode_codes(codes).unwrap();
    check(
        "VQ decoded pixels",
        img.permute([0, 2, 3, 1]),
        f.f("vq_decoded_bhwc"),
    );
    let input: Tensor<B, 4> = f.f("vq_encode_input");
    let enc = f.model.vqmodel.encode(input);
    check("VQ encoder output", enc.encoder_out, f.f("vq_encoder_out"));
    check(
        "VQ quantised latents",
        enc.quantized.clone(),
        f.f("vq_quantized"),
    );
    let got: Vec<i64> = enc.codes.clone().into_data().iter::<i64>().collect();
    assert_eq!(got, f.refs.i64("vq_codes").unwrap().0, "VQ codes");
    // transformers' VQ forward decodes the codes (normalised), not the latents.
    let rt = f.model.vqmodel.decode_codes(enc.codes).unwrap();
    check(
        "VQ round trip (encode → codes → decode)",
        rt,
        f.f("vq_roundtrip_decoded_bchw"),
    );
}

fn image_cfg(use_cache: bool) -> duet_model::generate::ImageGenConfig {
    duet_model::generate::ImageGenConfig {
        num_tokens: 16,
        cfg_scale: 5.0,
        pad_id: 3,
        bos_id: 1,
        boi_id: 4,
        sampling: duet_model::sampling::SamplingConfig::greedy(),
        use_cache,
    }
}

#[test]
fn greedy_image_generation_matches_transformers_generate() {
    let f = fx();
    let (prompt, _) = f.ids("gen_prompt_ids");
    let (want, _) = f.refs.i64("gen_generate_greedy_tokens").unwrap();
    let want: Vec<u32> = want.into_iter().map(|x| x as u32).collect();
    for use_cache in [true, false] {
        let got = duet_model::generate::generate_image_tokens(
            &f.model,
            std::slice::from_ref(&prompt),
            &image_cfg(use_cache),
        )
        .unwrap();
        assert_eq!(got[0], want, "use_cache = {use_cache}");
    }
}

#[test]
fn greedy_text_generation_starts_with_the_reference_token() {
    let f = fx();
    let (ids, shape) = f.ids("und_input_ids");
    let rows: Vec<Vec<u32>> = ids.chunks(shape[1]).map(|c| c.to_vec()).collect();
    let cfg = duet_model::generate::TextGenConfig {
        max_new_tokens: 3,
        stop_tokens: vec![],
        pad_id: 0,
        sampling: duet_model::sampling::SamplingConfig::greedy(),
    };
    let out =
        duet_model::generate::generate_text(&f.model, &rows, Some(f.f("und_pixel_values")), &cfg)
            .unwrap();
    let (want, _) = f.refs.i64("und_next_token_greedy").unwrap();
    for (r, w) in out.iter().zip(want) {
        assert_eq!(r.len(), 3);
        assert_eq!(r[0] as i64, w);
    }
}

fn log_softmax_at(row: Tensor<B, 2>, tok: i64) -> f32 {
    let lp = burn::tensor::activation::log_softmax(row, 1);
    let v: Vec<f32> = lp.into_data().to_vec().unwrap();
    v[tok as usize]
}

#[test]
fn teacher_forced_logprobs_agree_with_the_reference_logits() {
    use duet_model::logprobs::{GenLogprobMode, image_logprobs, text_logprobs};
    let f = fx();
    // Image tokens: the two reference steps, under CFG and conditionally.
    let (prompt, _) = f.ids("gen_prompt_ids");
    let (toks, _) = f.refs.i64("gen_generate_greedy_tokens").unwrap();
    let codes: Vec<u32> = toks.iter().map(|&t| t as u32).collect();
    let cfg = image_cfg(true);
    let lp = image_logprobs(
        &f.model,
        std::slice::from_ref(&prompt),
        std::slice::from_ref(&codes),
        GenLogprobMode::Cfg,
        &cfg,
    )
    .unwrap();
    let got: Vec<f32> = lp.logprobs.into_data().to_vec().unwrap();
    let want1 = log_softmax_at(f.f("gen_step1_logits_guided"), toks[0]);
    let want2 = log_softmax_at(f.f("gen_step2_logits_guided"), toks[1]);
    println!(
        "parity logprob cfg step1 {:.3e} step2 {:.3e}",
        (got[0] - want1).abs(),
        (got[1] - want2).abs()
    );
    assert!((got[0] - want1).abs() < TOL && (got[1] - want2).abs() < TOL);
    let lp = image_logprobs(&f.model, &[prompt], &[codes], GenLogprobMode::Cond, &cfg).unwrap();
    let got: Vec<f32> = lp.logprobs.into_data().to_vec().unwrap();
    let cond1: Tensor<B, 2> = f
        .f::<2>("gen_step1_logits_cond_uncond")
        .slice([0..1, 0..64]);
    assert!((got[0] - log_softmax_at(cond1, toks[0])).abs() < TOL);
    // Text: the greedy next token after the understanding prompt.
    let (ids, shape) = f.ids("und_input_ids");
    let rows: Vec<Vec<u32>> = ids.chunks(shape[1]).map(|c| c.to_vec()).collect();
    let (next, _) = f.refs.i64("und_next_token_greedy").unwrap();
    let resp: Vec<Vec<u32>> = next.iter().map(|&t| vec![t as u32]).collect();
    let lp = text_logprobs(&f.model, &rows, &resp, Some(f.f("und_pixel_values")), 0).unwrap();
    let got: Vec<f32> = lp.logprobs.into_data().to_vec().unwrap();
    let logits: Tensor<B, 3> = f.f("und_logits");
    let [b, t, v] = logits.dims();
    for r in 0..b {
        let row: Tensor<B, 2> = logits
            .clone()
            .slice([r..r + 1, t - 1..t, 0..v])
            .reshape([1, v]);
        assert!(
            (got[r] - log_softmax_at(row, next[r])).abs() < TOL,
            "row {r}"
        );
    }
}
