//! Object detection behind a trait, and a classical detector for ShapeWorld.
//!
//! GenEval scores images from detections (class, box, confidence) and a colour
//! per detected object; anything that yields those can stand behind
//! [`Detector`]. [`ShapeDetector`] needs no learned weights: ShapeWorld objects
//! are flat-coloured shapes on a known background, so colour separation,
//! connected components and a few shape statistics recover them exactly.

use duet_data::geometry::BBox;
use duet_data::shapeworld::{BACKGROUND, Color, Shape, ShapeWorldConfig};
use image::RgbImage;

/// One detected object.
#[derive(Debug, Clone, PartialEq)]
pub struct Detection {
    pub class: String,
    pub bbox: BBox,
    /// Confidence in [0, 1], compared against GenEval's thresholds.
    pub score: f64,
    /// The colour name, when the detector classifies colour.
    pub color: Option<String>,
}

/// Anything that finds objects in an image.
pub trait Detector {
    fn detect(&self, image: &RgbImage) -> Vec<Detection>;
}

/// A shape's signature, in units of its size `s` (its bounding square):
/// fill ratio, and the cumulants that a symmetric blur leaves unchanged —
/// fourth of the horizontal and vertical mass, third of the vertical — plus
/// the log ratio of vertical to horizontal variance.
#[derive(Debug, Clone, Copy)]
struct Signature {
    fill: f64,
    k4x: f64,
    k4y: f64,
    k3y: f64,
    log_var_ratio: f64,
}

/// Mass cumulants of a weighted point set: (mean, κ2, κ3, κ4) of one axis.
fn cumulants(points: &[(f64, f64)]) -> (f64, f64, f64, f64) {
    let w: f64 = points.iter().map(|p| p.1).sum();
    let mean = points.iter().map(|p| p.0 * p.1).sum::<f64>() / w;
    let m = |k: i32| {
        points
            .iter()
            .map(|p| (p.0 - mean).powi(k) * p.1)
            .sum::<f64>()
            / w
    };
    let (m2, m3, m4) = (m(2), m(3), m(4));
    (mean, m2, m3, m4 - 3.0 * m2 * m2)
}

/// Measures a shape's signature by rasterising it finely.
fn signature_of(shape: Shape) -> Signature {
    let n = 400;
    let mut xs = Vec::new();
    let mut ys = Vec::new();
    for i in 0..n {
        for j in 0..n {
            let u = (i as f64 + 0.5) / n as f64 - 0.5;
            let v = (j as f64 + 0.5) / n as f64 - 0.5;
            if shape.contains(u, v) {
                xs.push((u, 1.0));
                ys.push((v, 1.0));
            }
        }
    }
    let (_, vx, _, k4x) = cumulants(&xs);
    let (_, vy, k3y, k4y) = cumulants(&ys);
    Signature {
        fill: xs.len() as f64 / (n * n) as f64,
        k4x,
        k4y,
        k3y,
        log_var_ratio: (vy / vx).ln(),
    }
}

/// Residual units: a unit residual is a quarter of the smallest gap between
/// two shapes' cumulant (κ4: circle vs diamond under the circle hypothesis;
/// κ3: triangle vs the rest) or an aspect mismatch of 15 %.
const K4_UNIT: f64 = 0.0004;
const K3_UNIT: f64 = 0.0019;
const RATIO_UNIT: f64 = 0.15;
/// Spread of the fit factor: clean renders sit within ~1.5 units of their
/// prototype (coverage is quantised to 1/16), a blob that fits no shape is
/// 10+ units away.
const FIT_SIGMA: f64 = 4.0;
/// Width in pixels of the background ring searched for blurred-out mass.
const RING: i64 = 2;
/// Temperature of the posterior over the four hypotheses (squared units).
const POSTERIOR_T: f64 = 0.5;

/// The classical ShapeWorld detector.
#[derive(Debug, Clone)]
pub struct ShapeDetector {
    background: [f64; 3],
    palette: Vec<(Color, [f64; 3])>,
    /// A pixel is foreground when farther than this from the background.
    fg_threshold: f64,
    /// Components with less coverage (in pixels) are noise.
    min_area: f64,
    /// Signatures of the four shapes.
    signatures: Vec<(Shape, Signature)>,
}

fn rgb(p: [u8; 3]) -> [f64; 3] {
    [p[0] as f64, p[1] as f64, p[2] as f64]
}

fn dist2(a: [f64; 3], b: [f64; 3]) -> f64 {
    (0..3).map(|i| (a[i] - b[i]).powi(2)).sum()
}

impl ShapeDetector {
    /// A detector for scenes drawn with `cfg` (its smallest object size sets
    /// the noise floor).
    pub fn new(cfg: &ShapeWorldConfig) -> Self {
        let background = rgb(BACKGROUND);
        let palette: Vec<_> = Color::ALL.iter().map(|&c| (c, rgb(c.rgb()))).collect();
        let nearest = palette
            .iter()
            .map(|(_, c)| dist2(*c, background).sqrt())
            .fold(f64::INFINITY, f64::min);
        let s = cfg.min_size_px();
        ShapeDetector {
            background,
            palette,
            fg_threshold: 0.35 * nearest,
            // A quarter of the smallest triangle's area.
            min_area: 0.125 * s * s,
            signatures: Shape::ALL
                .iter()
                .map(|&sh| (sh, signature_of(sh)))
                .collect(),
        }
    }

    /// 8-connected components of the foreground mask, as pixel index lists,
    /// and each pixel's component label (`usize::MAX` for background).
    fn components(&self, img: &RgbImage) -> (Vec<Vec<usize>>, Vec<usize>) {
        let (w, h) = (img.width() as usize, img.height() as usize);
        let thr2 = self.fg_threshold * self.fg_threshold;
        let fg: Vec<bool> = img
            .pixels()
            .map(|p| dist2(rgb(p.0), self.background) > thr2)
            .collect();
        let mut seen = vec![false; w * h];
        let mut out = Vec::new();
        for start in 0..w * h {
            if !fg[start] || seen[start] {
                continue;
            }
            seen[start] = true;
            let mut stack = vec![start];
            let mut comp = Vec::new();
            while let Some(i) = stack.pop() {
                comp.push(i);
                for j in neighbours(i, w, h, 1) {
                    if fg[j] && !seen[j] {
                        seen[j] = true;
                        stack.push(j);
                    }
                }
            }
            out.push(comp);
        }
        let mut label = vec![usize::MAX; w * h];
        for (k, comp) in out.iter().enumerate() {
            for &i in comp {
                label[i] = k;
            }
        }
        (out, label)
    }

    /// Classifies one component; `None` when it is too small to be an object.
    fn classify(&self, img: &RgbImage, comp: &[usize], label: &[usize]) -> Option<Detection> {
        let (w, h) = (img.width() as usize, img.height() as usize);
        let px = |i: usize| rgb(img.get_pixel((i % w) as u32, (i / w) as u32).0);
        // Colour: the palette entry nearest the mean of the component's core
        // (pixels far from the background, away from blended rims).
        let d: Vec<f64> = comp
            .iter()
            .map(|&i| dist2(px(i), self.background).sqrt())
            .collect();
        let dmax = d.iter().cloned().fold(0.0, f64::max);
        let core: Vec<[f64; 3]> = comp
            .iter()
            .zip(&d)
            .filter(|(_, di)| **di >= 0.6 * dmax)
            .map(|(&i, _)| px(i))
            .collect();
        let mut mean = [0.0; 3];
        for p in &core {
            (0..3).for_each(|c| mean[c] += p[c] / core.len() as f64);
        }
        let (color, c) = *self
            .palette
            .iter()
            .min_by(|a, b| dist2(a.1, mean).total_cmp(&dist2(b.1, mean)))?;
        // Coverage α of each pixel (its projection onto background → colour),
        // over the component and the background ring around it, where blur
        // leaves part of the object's mass (ring pixels near another object
        // are left out); tiny α is noise.
        let dir: [f64; 3] = std::array::from_fn(|k| c[k] - self.background[k]);
        let norm2 = dist2(c, self.background);
        let alpha = |i: usize| {
            let p = px(i);
            let a = ((0..3)
                .map(|k| (p[k] - self.background[k]) * dir[k])
                .sum::<f64>()
                / norm2)
                .clamp(0.0, 1.0);
            if a < 0.1 { 0.0 } else { a }
        };
        let me = label[comp[0]];
        let mut pixels: Vec<usize> = comp.to_vec();
        let mut member = std::collections::HashSet::<usize>::from_iter(comp.iter().copied());
        for &i in comp {
            for j in neighbours(i, w, h, RING) {
                if label[j] == usize::MAX
                    && member.insert(j)
                    && neighbours(j, w, h, RING).all(|k| label[k] == usize::MAX || label[k] == me)
                {
                    pixels.push(j);
                }
            }
        }
        let cov: Vec<(f64, f64, f64)> = pixels
            .iter()
            .map(|&i| ((i % w) as f64 + 0.5, (i / w) as f64 + 0.5, alpha(i)))
            .filter(|t| t.2 > 0.0)
            .collect();
        let area: f64 = cov.iter().map(|t| t.2).sum();
        if area < self.min_area {
            return None;
        }
        let (cx, vx, _, k4x) = cumulants(&cov.iter().map(|t| (t.0, t.2)).collect::<Vec<_>>());
        let (cy_mass, vy, k3y, k4y) =
            cumulants(&cov.iter().map(|t| (t.1, t.2)).collect::<Vec<_>>());
        // Each hypothesis fixes the size through the (blur-proof) area; its
        // predicted cumulants are then compared with the measured ones.
        let residual = |sig: &Signature| {
            let s2 = area / sig.fill;
            let r = [
                (k4x / (s2 * s2) - sig.k4x) / K4_UNIT,
                (k4y / (s2 * s2) - sig.k4y) / K4_UNIT,
                (k3y / s2.powf(1.5) - sig.k3y) / K3_UNIT,
                ((vy / vx).ln() - sig.log_var_ratio) / RATIO_UNIT,
            ];
            r.iter().map(|x| x * x).sum::<f64>()
        };
        let d2: Vec<f64> = self
            .signatures
            .iter()
            .map(|(_, sig)| residual(sig))
            .collect();
        let (best, &d_best) = d2.iter().enumerate().min_by(|a, b| a.1.total_cmp(b.1))?;
        // Posterior over the four hypotheses, times how well the best fits.
        let z: f64 = d2.iter().map(|x| (-(x - d_best) / POSTERIOR_T).exp()).sum();
        let fit = (-d_best / (2.0 * FIT_SIGMA * FIT_SIGMA)).exp();
        let (shape, sig) = self.signatures[best];
        let side = (area / sig.fill).sqrt();
        // The box centre is the centroid, except for the (upward) triangle,
        // whose centroid lies a sixth of its height below the box centre.
        let cy = if shape == Shape::Triangle {
            cy_mass - side / 6.0
        } else {
            cy_mass
        };
        Some(Detection {
            class: shape.name().to_string(),
            bbox: BBox::from([
                cx - side / 2.0,
                cy - side / 2.0,
                cx + side / 2.0,
                cy + side / 2.0,
            ]),
            score: fit / z,
            color: Some(color.name().to_string()),
        })
    }
}

/// Pixel indices within Chebyshev distance `r` of pixel `i` (itself excluded).
fn neighbours(i: usize, w: usize, h: usize, r: i64) -> impl Iterator<Item = usize> {
    let (x, y) = ((i % w) as i64, (i / w) as i64);
    (-r..=r)
        .flat_map(move |dy| (-r..=r).map(move |dx| (x + dx, y + dy)))
        .filter_map(move |(nx, ny)| {
            let inside = nx >= 0 && ny >= 0 && nx < w as i64 && ny < h as i64 && (nx, ny) != (x, y);
            inside.then(|| ny as usize * w + nx as usize)
        })
}

impl Detector for ShapeDetector {
    fn detect(&self, image: &RgbImage) -> Vec<Detection> {
        let (comps, label) = self.components(image);
        let mut out: Vec<Detection> = comps
            .iter()
            .filter_map(|c| self.classify(image, c, &label))
            .collect();
        out.sort_by(|a, b| b.score.total_cmp(&a.score));
        out
    }
}

/// How a detection set compares with a ground-truth scene.
#[derive(Debug, Clone, PartialEq)]
pub enum SceneMatch {
    Exact,
    Mismatch(String),
}

/// True when `dets` recover `scene` exactly: one detection per object with the
/// same shape and colour and a box centre within `tol_px` pixels, and nothing
/// else.
pub fn match_scene(
    dets: &[Detection],
    scene: &duet_data::shapeworld::Scene,
    tol_px: f64,
) -> SceneMatch {
    if dets.len() != scene.objects.len() {
        return SceneMatch::Mismatch(format!(
            "{} objects, {} detections",
            scene.objects.len(),
            dets.len()
        ));
    }
    let mut used = vec![false; dets.len()];
    for o in &scene.objects {
        let hit = dets.iter().enumerate().position(|(k, d)| {
            let (cx, cy) = d.bbox.center();
            !used[k]
                && d.class == o.shape.name()
                && d.color.as_deref() == Some(o.color.name())
                && (cx - o.center[0]).hypot(cy - o.center[1]) <= tol_px
        });
        match hit {
            Some(k) => used[k] = true,
            None => {
                let near = dets
                    .iter()
                    .map(|d| {
                        let (cx, cy) = d.bbox.center();
                        format!(
                            "{} {} at ({cx:.1}, {cy:.1})",
                            d.color.as_deref().unwrap_or("?"),
                            d.class
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("; ");
                return SceneMatch::Mismatch(format!(
                    "{} at ({:.1}, {:.1}) not found among: {near}",
                    o.description(),
                    o.center[0],
                    o.center[1]
                ));
            }
        }
    }
    SceneMatch::Exact
}
