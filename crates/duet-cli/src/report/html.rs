//! The report page: plain HTML and CSS, no scripts, no external resources.

use std::fmt::Write;
use std::path::Path;

use base64::Engine;
use image::RgbImage;
use serde_json::Value;

use super::RunData;

/// One prompt of the before/after grid.
pub struct SampleRow {
    pub prompt: String,
    pub task: String,
    pub before: Option<RgbImage>,
    pub after: Option<RgbImage>,
    /// Accepted samples (before, after).
    pub correct: (usize, usize),
}

pub struct Page<'a> {
    pub run: &'a Path,
    pub data: &'a RunData,
    /// (file name, SVG text).
    pub charts: &'a [(String, String)],
    pub tasks: &'a [(String, Option<f64>, Option<f64>)],
    pub types: &'a [(String, Option<f64>, Option<f64>)],
    pub samples: &'a [SampleRow],
    pub timing_means: Vec<(String, f64)>,
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn img(i: &RgbImage, alt: &str) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(duet_data::shapeworld::png_bytes(i));
    format!(
        "<img alt=\"{}\" src=\"data:image/png;base64,{b64}\">",
        esc(alt)
    )
}

fn f3(v: Option<f64>) -> String {
    v.map_or("–".into(), |v| format!("{v:.3}"))
}

fn delta(b: Option<f64>, a: Option<f64>) -> String {
    match (b, a) {
        (Some(b), Some(a)) => {
            let d = a - b;
            let class = if d > 1e-9 {
                "up"
            } else if d < -1e-9 {
                "down"
            } else {
                ""
            };
            format!("<td class=\"{class}\">{d:+.3}</td>")
        }
        _ => "<td>–</td>".into(),
    }
}

fn num(v: &Value, path: &[&str]) -> Option<f64> {
    path.iter().try_fold(v, |v, k| v.get(*k))?.as_f64()
}

fn table(out: &mut String, head: &str, rows: &[(String, Option<f64>, Option<f64>)]) {
    let _ = write!(
        out,
        "<table><tr><th>{head}</th><th>before</th><th>after</th><th>Δ</th></tr>"
    );
    for (k, b, a) in rows {
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td>{}</tr>",
            esc(k),
            f3(*b),
            f3(*a),
            delta(*b, *a)
        );
    }
    out.push_str("</table>");
}

const CSS: &str = "body{font-family:system-ui,sans-serif;max-width:1320px;margin:2em auto;padding:0 1em;color:#222}\
h1{margin-bottom:.2em}.sub{color:#666;margin-top:0}\
.cards{display:flex;gap:1em;flex-wrap:wrap}.card{border:1px solid #ddd;border-radius:8px;padding:.8em 1.2em;min-width:200px}\
.card .v{font-size:1.6em;font-weight:600}.charts{display:flex;flex-wrap:wrap;gap:1em}.charts div{border:1px solid #eee}\
table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border-bottom:1px solid #eee;padding:.25em .8em;text-align:right}\
td:first-child,th:first-child{text-align:left}.up{color:#007a55;font-weight:600}.down{color:#c0392b;font-weight:600}\
.grid td{vertical-align:middle}.grid img{image-rendering:pixelated}code,pre{background:#f6f6f6;padding:.1em .3em}\
pre{padding:.8em;overflow-x:auto}";

pub fn page(p: &Page) -> String {
    let d = p.data;
    let mut o = String::new();
    let _ = write!(
        o,
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>duet demo report</title><style>{CSS}</style></head><body>"
    );
    let _ = write!(
        o,
        "<h1>duet: PairGRPO on the embedded ShapeWorld base</h1><p class=\"sub\">Run directory <code>{}</code>. \
         Every number below is read from the run's own files (<code>rl/metrics.jsonl</code>, \
         <code>rl/eval_before.json</code>, <code>rl/eval_after.json</code>, <code>report.json</code>, \
         <code>timings.json</code>).</p>",
        esc(&p.run.display().to_string())
    );

    // Headline cards.
    let b = d.before.as_ref();
    o.push_str("<div class=\"cards\">");
    for (label, path) in [
        ("GenEval overall (test)", &["geneval", "overall"][..]),
        ("images correct (test)", &["geneval", "correct_images"][..]),
        ("GenEval dense (test)", &["geneval", "mean_dense_score"][..]),
        ("MC accuracy (test)", &["mc_accuracy"][..]),
    ] {
        let (bv, av) = (b.and_then(|b| num(b, path)), num(&d.after, path));
        let _ = write!(
            o,
            "<div class=\"card\">{label}<div class=\"v\">{} → {}</div>{}</div>",
            f3(bv),
            f3(av),
            match (bv, av) {
                (Some(bv), Some(av)) => format!("Δ {:+.3}", av - bv),
                _ => String::new(),
            }
        );
    }
    o.push_str("</div>");

    o.push_str("<h2>Training</h2><div class=\"charts\">");
    for (name, svg) in p
        .charts
        .iter()
        .filter(|c| c.0 != "geneval_tasks.svg" && c.0 != "mc_types.svg")
    {
        let _ = write!(o, "<div title=\"report/{name}\">{svg}</div>");
    }
    o.push_str("</div>");

    o.push_str("<h2>Held-out test split, before and after</h2><div class=\"charts\">");
    for (name, svg) in p
        .charts
        .iter()
        .filter(|c| c.0 == "geneval_tasks.svg" || c.0 == "mc_types.svg")
    {
        let _ = write!(o, "<div title=\"report/{name}\">{svg}</div>");
    }
    o.push_str("</div><div class=\"cards\"><div>");
    let mut g = vec![(
        "overall".to_string(),
        b.and_then(|b| num(b, &["geneval", "overall"])),
        num(&d.after, &["geneval", "overall"]),
    )];
    g.extend(p.tasks.iter().cloned());
    table(&mut o, "GenEval task", &g);
    o.push_str("</div><div>");
    let mut m = vec![(
        "all".to_string(),
        b.and_then(|b| num(b, &["mc_accuracy"])),
        num(&d.after, &["mc_accuracy"]),
    )];
    m.extend(p.types.iter().cloned());
    table(&mut o, "MC question type", &m);
    o.push_str("</div></div>");

    o.push_str(
        "<h2>Samples: same prompts, same seeds</h2><p>Green frame: GenEval's rules accept the \
         image (ShapeDetector); red: they do not. Files: <code>report/grid_before.png</code>, \
         <code>report/grid_after.png</code>.</p><table class=\"grid\"><tr><th>prompt</th><th>before</th><th>after</th></tr>",
    );
    for s in p.samples {
        let cell = |i: &Option<RgbImage>, what: &str| {
            i.as_ref()
                .map_or(String::new(), |i| img(i, &format!("{what}: {}", s.prompt)))
        };
        let _ = write!(
            o,
            "<tr><td>{}<br><small>{} · accepted {} → {}</small></td><td>{}</td><td>{}</td></tr>",
            esc(&s.prompt),
            esc(&s.task),
            s.correct.0,
            s.correct.1,
            cell(&s.before, "before"),
            cell(&s.after, "after")
        );
    }
    o.push_str("</table>");

    if let Some(r) = &d.pretrain {
        o.push_str("<h2>The pretrained base</h2><table>");
        for (label, path, unit) in [
            ("VQ PSNR (held-out)", &["vq", "psnr_db"][..], " dB"),
            ("VQ codebook usage", &["vq", "codebook_usage"][..], ""),
            ("VQ exact scene recovery", &["vq", "exact_recovery"][..], ""),
            (
                "encoder image→caption top-1",
                &["encoder_retrieval_top1"][..],
                "",
            ),
        ] {
            let _ = write!(
                o,
                "<tr><td>{label}</td><td>{}{unit}</td></tr>",
                f3(num(r, path))
            );
        }
        o.push_str("</table>");
    }

    o.push_str("<h2>Timings</h2><table><tr><th>stage</th><th>seconds</th></tr>");
    if let Some(t) = d
        .timings
        .as_ref()
        .and_then(|t| t.get("stages"))
        .and_then(Value::as_object)
    {
        for (k, v) in t {
            let _ = write!(
                o,
                "<tr><td>{}</td><td>{:.1}</td></tr>",
                esc(k),
                v.as_f64().unwrap_or(f64::NAN)
            );
        }
    }
    for (k, v) in &p.timing_means {
        let _ = write!(o, "<tr><td>mean {}</td><td>{v:.2}</td></tr>", esc(k));
    }
    o.push_str("</table>");

    if let Some(c) = &d.rl_config {
        o.push_str("<h2>RL configuration</h2><pre>");
        o.push_str(&esc(&serde_json::to_string_pretty(c).unwrap_or_default()));
        o.push_str("</pre>");
    }
    o.push_str("</body></html>\n");
    o
}
