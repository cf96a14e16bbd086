//! Downscaling with `fast_image_resize` (SIMD convolution: AVX2/SSE4.1/NEON),
//! Lanczos3 like vips' default. Resizing is done on gamma-encoded values, as
//! vips and browsers do for photos.

use fast_image_resize::images::{Image, ImageRef};
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};
use image::{DynamicImage, GrayImage, RgbImage, RgbaImage};

use super::ImageError;

/// Size that fits `long_edge` on the longer side, keeping the aspect ratio and
/// never upscaling.
pub(super) fn fit_long_edge(width: u32, height: u32, long_edge: u32) -> (u32, u32) {
    let long = width.max(height);
    if long <= long_edge {
        return (width, height);
    }
    let scale = |v: u32| {
        ((u64::from(v) * u64::from(long_edge) + u64::from(long) / 2) / u64::from(long)).max(1)
            as u32
    };
    if width >= height {
        (long_edge, scale(height))
    } else {
        (scale(width), long_edge)
    }
}

/// Resizes an 8-bit grey, RGB or RGBA image to exactly `width`×`height`.
pub(super) fn resize(
    img: &DynamicImage,
    width: u32,
    height: u32,
) -> Result<DynamicImage, ImageError> {
    if img.width() == width && img.height() == height {
        return Ok(img.clone());
    }
    let (pixel_type, bytes) = match img {
        DynamicImage::ImageLuma8(i) => (PixelType::U8, i.as_raw().as_slice()),
        DynamicImage::ImageRgb8(i) => (PixelType::U8x3, i.as_raw().as_slice()),
        DynamicImage::ImageRgba8(i) => (PixelType::U8x4, i.as_raw().as_slice()),
        _ => {
            return Err(ImageError::Internal(
                "resize: unexpected pixel layout".into(),
            ))
        }
    };
    let src = ImageRef::new(img.width(), img.height(), bytes, pixel_type).map_err(internal)?;
    let mut dst = Image::new(width, height, pixel_type);
    let options = ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FilterType::Lanczos3));
    Resizer::new()
        .resize(&src, &mut dst, &options)
        .map_err(internal)?;
    let buf = dst.into_vec();
    let out = match pixel_type {
        PixelType::U8 => GrayImage::from_raw(width, height, buf).map(DynamicImage::ImageLuma8),
        PixelType::U8x3 => RgbImage::from_raw(width, height, buf).map(DynamicImage::ImageRgb8),
        _ => RgbaImage::from_raw(width, height, buf).map(DynamicImage::ImageRgba8),
    };
    out.ok_or_else(|| ImageError::Internal("resize: buffer size mismatch".into()))
}

fn internal(e: impl std::fmt::Display) -> ImageError {
    ImageError::Internal(format!("resize: {e}"))
}
