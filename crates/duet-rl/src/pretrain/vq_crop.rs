//! Grid-aligned crops of training images for the VQ, and the matching part
//! of an image's code grid.

use image::RgbImage;
use rand::Rng;

/// A `size`-pixel crop and its offset, grid-aligned: of three random offsets,
/// the one showing the most shape pixels (most crops would otherwise be
/// background only).
pub(crate) fn crop(
    img: &RgbImage,
    size: usize,
    grid: usize,
    rng: &mut impl Rng,
) -> (RgbImage, (usize, usize)) {
    let (w, h) = (img.width() as usize, img.height() as usize);
    if size >= w.min(h) {
        return (img.clone(), (0, 0));
    }
    let (nx, ny) = ((w - size) / grid + 1, (h - size) / grid + 1);
    let bg = duet_data::shapeworld::BACKGROUND;
    let mut best = (0usize, 0usize, 0usize);
    for k in 0..3 {
        let (x, y) = (
            rng.random_range(0..nx) * grid,
            rng.random_range(0..ny) * grid,
        );
        let fg = (y..y + size)
            .flat_map(|yy| (x..x + size).map(move |xx| (xx, yy)))
            .filter(|&(xx, yy)| img.get_pixel(xx as u32, yy as u32).0 != bg)
            .count();
        if k == 0 || fg > best.2 {
            best = (x, y, fg);
        }
    }
    let out =
        image::imageops::crop_imm(img, best.0 as u32, best.1 as u32, size as u32, size as u32)
            .to_image();
    (out, (best.0, best.1))
}

/// The codes of the `crop` of `full` taken at pixel offset `at` (both
/// multiples of the `grid`-pixel patch), row-major.
pub(crate) fn crop_codes(
    codes: &[u32],
    full: &RgbImage,
    crop: &RgbImage,
    at: (usize, usize),
    grid: usize,
) -> Vec<u32> {
    let side = full.width() as usize / grid;
    let (w, h) = (crop.width() as usize / grid, crop.height() as usize / grid);
    (0..h)
        .flat_map(|r| {
            let row = (at.1 / grid + r) * side + at.0 / grid;
            codes[row..row + w].iter().copied()
        })
        .collect()
}
