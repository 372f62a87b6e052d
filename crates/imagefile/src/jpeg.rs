//! JPEG decoding as Pillow does it: libjpeg-turbo's decompressor (through the `mozjpeg` crate,
//! whose C library is a libjpeg-turbo fork with the same decoder), with Pillow's settings, which
//! are libjpeg's defaults: the accurate integer IDCT (`JDCT_ISLOW`), fancy (triangular) chroma
//! upsampling, libjpeg's YCbCr-to-RGB tables, no EXIF rotation (`Image.open` does not rotate).
//! Built without SIMD (no `nasm` needed): libjpeg-turbo's SIMD paths give the same pixels as its
//! C paths.
//!
//! Grayscale files decode as L, YCbCr and RGB files as RGB, as Pillow's modes are. CMYK and
//! YCCK files are left to the `image` crate ([`decode`] returns `None`): Pillow keeps them as
//! CMYK, which a `DynamicImage` cannot hold.
//!
//! libjpeg reports fatal errors through `error_exit`, which here unwinds (as the `mozjpeg`
//! crate's own error manager does) and is caught in [`decode`]. Warnings are ignored, as
//! Pillow ignores them, except running out of data before the last pixel row is out (a file
//! without its end marker included: the entropy decoder reads on, looking for it): libjpeg
//! would fill the rest with grey, where Pillow refuses the file ("image file is truncated").

use std::os::raw::c_int;
use std::panic::{self, AssertUnwindSafe};

use image::{DynamicImage, GrayImage, RgbImage};
use mozjpeg::{ColorSpace, Decompress};
use mozjpeg_sys::{JWRN_JPEG_EOF, jpeg_common_struct, jpeg_error_mgr};

/// The unwind payload of a fatal libjpeg error: its formatted message.
struct Fatal(String);

/// The unwind payload of a file that ends before the decoder is done with it.
struct Truncated;

/// libjpeg's message for the error or warning in `cinfo.err`.
fn message(cinfo: &mut jpeg_common_struct) -> String {
    // SAFETY: `cinfo.err` is the error manager that `jpeg_std_error` filled in (see
    // `error_manager`); its `format_message` writes at most JMSG_LENGTH_MAX (80) bytes,
    // NUL-terminated, into the buffer (declared `&[u8; 80]` by the bindings, hence the pointer
    // type that says it is written).
    unsafe {
        let Some(err) = cinfo.err.as_ref() else {
            return "libjpeg error".to_owned();
        };
        let code = err.msg_code;
        let Some(format) = err.format_message else {
            return format!("libjpeg error {code}");
        };
        let format: unsafe extern "C-unwind" fn(&mut jpeg_common_struct, *mut [u8; 80]) =
            std::mem::transmute(format);
        let mut buffer = [0u8; 80];
        format(cinfo, &mut buffer);
        let end = buffer.iter().position(|&b| b == 0).unwrap_or(buffer.len());
        String::from_utf8_lossy(&buffer[..end]).into_owned()
    }
}

/// libjpeg's `error_exit`: unwind to [`decode`] with the message (never returns to libjpeg).
extern "C-unwind" fn error_exit(cinfo: &mut jpeg_common_struct) {
    let text = message(cinfo);
    panic::resume_unwind(Box::new(Fatal(text)));
}

/// libjpeg's `emit_message`: trace messages and warnings are dropped, except the end of data.
extern "C-unwind" fn emit_message(cinfo: &mut jpeg_common_struct, level: c_int) {
    // SAFETY: as in `message`, `cinfo.err` is our error manager.
    let code = unsafe { cinfo.err.as_ref().map(|err| err.msg_code) };
    if level < 0 && code == Some(JWRN_JPEG_EOF) {
        panic::resume_unwind(Box::new(Truncated));
    }
}

/// libjpeg's standard error manager with our `error_exit` and `emit_message`.
fn error_manager() -> jpeg_error_mgr {
    // SAFETY: the struct is plain data (integers, pointers, optional function pointers), all
    // valid when zeroed; `jpeg_std_error` fills in its fields and keeps no pointer to it.
    let mut err: jpeg_error_mgr = unsafe { std::mem::zeroed() };
    unsafe { mozjpeg_sys::jpeg_std_error(&mut err) };
    err.error_exit = Some(error_exit);
    err.emit_message = Some(emit_message);
    err
}

/// What an unwind out of libjpeg says, as an error message.
fn describe(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(Fatal(text)) = payload.downcast_ref::<Fatal>() {
        format!("JPEG decoding failed: {text}")
    } else if payload.is::<Truncated>() {
        "JPEG file is truncated (its data ends before the last pixel row)".to_owned()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        format!("JPEG decoder panicked: {text}")
    } else if let Some(text) = payload.downcast_ref::<&str>() {
        format!("JPEG decoder panicked: {text}")
    } else {
        "JPEG decoder panicked".to_owned()
    }
}

/// Decodes a JPEG file's bytes as Pillow does: `Ok(Some(L or RGB image))`, `Ok(None)` for CMYK
/// and YCCK files (left to the `image` crate), or the decoder's message.
pub(crate) fn decode(bytes: &[u8]) -> Result<Option<DynamicImage>, String> {
    let mut decompress = panic::catch_unwind(AssertUnwindSafe(|| {
        Decompress::builder()
            .with_err(error_manager())
            .from_mem(bytes)
    }))
    .map_err(|payload| describe(payload.as_ref()))?
    .map_err(|e| format!("JPEG decoding failed: {e}"))?;
    let gray = match decompress.color_space() {
        ColorSpace::JCS_GRAYSCALE => true,
        ColorSpace::JCS_YCbCr | ColorSpace::JCS_RGB => false,
        _ => return Ok(None),
    };
    let (width, height) = decompress.size();
    let (width, height) = (
        u32::try_from(width).map_err(|_| "JPEG too wide".to_owned())?,
        u32::try_from(height).map_err(|_| "JPEG too tall".to_owned())?,
    );
    // Pillow's settings, written out although they are libjpeg's defaults.
    decompress.dct_method(mozjpeg::DctMethod::IntegerSlow);
    decompress.do_fancy_upsampling(true);
    let (started, pixels) = panic::catch_unwind(AssertUnwindSafe(|| {
        let mut started = if gray {
            decompress.grayscale()?
        } else {
            decompress.rgb()?
        };
        let pixels: Vec<u8> = started.read_scanlines()?;
        Ok::<_, std::io::Error>((started, pixels))
    }))
    .map_err(|payload| describe(payload.as_ref()))?
    .map_err(|e| format!("JPEG decoding failed: {e}"))?;
    // Past the last row Pillow stops asking for data (a `jpeg_finish_decompress` that
    // suspends is not an error there, the rows are kept); a fatal error still is.
    match panic::catch_unwind(AssertUnwindSafe(|| started.finish())) {
        Ok(_) => {}
        Err(payload) if payload.is::<Truncated>() => {}
        Err(payload) => return Err(describe(payload.as_ref())),
    }
    let image = if gray {
        GrayImage::from_raw(width, height, pixels).map(DynamicImage::ImageLuma8)
    } else {
        RgbImage::from_raw(width, height, pixels).map(DynamicImage::ImageRgb8)
    };
    image
        .map(Some)
        .ok_or_else(|| "JPEG decoder returned fewer pixels than its size".to_owned())
}
