//! Where one cached CFG decode step spends its time (shapeworld preset,
//! batch 16 → 32 rows): `cargo run -p duet-model --example step_profile`.

use std::time::Instant;

use burn::prelude::*;
use duet_model::{Cpu, JanusConfig};

fn main() {
    let (cfg, _) = JanusConfig::preset("shapeworld").unwrap();
    let dev = Default::default();
    let m = cfg.init::<Cpu>(&dev);
    let rows = 32;
    let ids: Vec<u32> = (0..rows * 5).map(|i| (i % 50) as u32 + 10).collect();
    let embeds = m.merge_embeddings(&ids, rows, None).unwrap();
    let mut cache = m.new_cache();
    let t = Instant::now();
    let _ = m.decode(embeds, Some(&mut cache)).into_data();
    println!("prefill: {:?}", t.elapsed());
    let codes = Tensor::<Cpu, 2, Int>::zeros([rows, 1], &dev);
    let n = 20;
    let (mut t_emb, mut t_dec, mut t_head, mut t_host) = (0.0, 0.0, 0.0, 0.0);
    for _ in 0..n {
        let t = Instant::now();
        let e = m.image_token_embeddings(codes.clone());
        let _ = e.clone().into_data();
        t_emb += t.elapsed().as_secs_f64();
        let t = Instant::now();
        let h = m.decode(e, Some(&mut cache));
        let h = h.reshape([rows, 128]);
        let _ = h.clone().into_data();
        t_dec += t.elapsed().as_secs_f64();
        let t = Instant::now();
        let l = m.image_logits(h);
        let _ = l.clone().into_data();
        t_head += t.elapsed().as_secs_f64();
        let t = Instant::now();
        let _v: Vec<f32> = l.into_data().to_vec().unwrap();
        t_host += t.elapsed().as_secs_f64();
    }
    // One layer's pieces on a [rows, 1, 128] input.
    let layer = &m.language_model.layers[0];
    let x = Tensor::<Cpu, 3>::random([rows, 1, 128], burn::tensor::Distribution::Default, &dev);
    let pos = Tensor::<Cpu, 2, Int>::zeros([rows, 1], &dev);
    let rope = duet_model::rope::rope_tables(pos, 32, 10000.0);
    let (mut t_norm, mut t_attn, mut t_mlp, mut t_rope) = (0.0, 0.0, 0.0, 0.0);
    let mut c2 = m.new_cache();
    for _ in 0..n {
        let t = Instant::now();
        let y = layer.input_layernorm.forward(x.clone());
        let _ = y.clone().into_data();
        t_norm += t.elapsed().as_secs_f64();
        let t = Instant::now();
        let a = layer
            .self_attn
            .forward(y.clone(), &rope, Some((&mut c2, 0)), None);
        let _ = a.into_data();
        t_attn += t.elapsed().as_secs_f64();
        let t = Instant::now();
        let b = layer.mlp.forward(y);
        let _ = b.into_data();
        t_mlp += t.elapsed().as_secs_f64();
        let t = Instant::now();
        let p = Tensor::<Cpu, 2, Int>::zeros([rows, 1], &dev);
        let r = duet_model::rope::rope_tables(p, 32, 10000.0);
        let _ = r.cos.into_data();
        t_rope += t.elapsed().as_secs_f64();
    }
    let ms = |x: f64| 1000.0 * x / n as f64;
    println!(
        "one layer: rmsnorm {:.2} ms, attention {:.2} ms, mlp {:.2} ms, rope tables {:.2} ms",
        ms(t_norm),
        ms(t_attn),
        ms(t_mlp),
        ms(t_rope)
    );
    println!(
        "per step: embed {:.2} ms, decoder {:.2} ms, gen head {:.2} ms, to host {:.2} ms",
        ms(t_emb),
        ms(t_dec),
        ms(t_head),
        ms(t_host)
    );
}

#[allow(dead_code)]
pub fn parts() {}
