//! The full-size turn of a baseline JPEG, in bands shared by both threads: lossless from its DCT
//! coefficients (`turn.c`), or, where that cannot keep every pixel, re-encoded from its planes
//! (`planes.rs`): whichever [`BandSource`] one thread makes ready, any thread codes its bands.
//!
//! libjpeg-turbo's own transform (`tj3Transform`) holds the source's DCT coefficients *and* the
//! whole turned copy, then Huffman-codes it on one thread: for a 16 MP 4:4:4 photo that is
//! 190 MB first touched in a fresh process (47,000 page faults, `perf`) and the render's
//! longest step. Here the source's coefficients are read once; each band of the upright picture
//! is then turned block by block and coded on its own, by whichever thread is free (the display
//! path joins in when it is done), and the bands are joined with restart markers as the banded
//! re-encode's are ([`join_bands`]). Only a band's coefficients are held beside the source's.

use std::ffi::{c_char, c_int, c_uint, c_ulong, c_void, CStr};
use std::ops::Range;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, OnceLock};

use turbojpeg::Subsamp;

use super::orient::Orientation;
use super::turbo::{join_bands, Bands};
use super::ImageError;

/// What a [`Turn`]'s bands are coded from.
pub(super) trait BandSource: Send + Sync {
    /// Rows `rows` of the upright picture as a JPEG of their own (the same tables and settings
    /// for every band, so that [`join_bands`] can join them).
    fn band(&self, rows: Range<usize>) -> Result<Vec<u8>, ImageError>;
}

#[repr(C)]
struct RawCoefs {
    _private: [u8; 0],
}

extern "C" {
    fn aghub_coefs_read(data: *const u8, len: c_ulong, message: *mut c_char) -> *mut RawCoefs;
    #[allow(clippy::too_many_arguments)]
    fn aghub_coefs_band(
        coefs: *const RawCoefs,
        transpose: c_int,
        flip_rows: c_int,
        flip_cols: c_int,
        row0: c_uint,
        nrows: c_uint,
        out: *mut *mut u8,
        out_len: *mut c_ulong,
        message: *mut c_char,
    ) -> c_int;
    fn aghub_coefs_free(coefs: *mut RawCoefs);
    fn aghub_free(p: *mut c_void);
}

/// libjpeg's message buffer (JMSG_LENGTH_MAX).
const MESSAGE_LEN: usize = 200;

/// A source's DCT coefficients, read by libjpeg.
struct Coefficients(*mut RawCoefs);

// SAFETY: after reading, `turn.c` only reads the coefficients, through row pointers that stay
// valid until `aghub_coefs_free` (in `Drop`); a band never calls libjpeg on the source.
unsafe impl Send for Coefficients {}
unsafe impl Sync for Coefficients {}

impl Coefficients {
    fn read(input: &[u8]) -> Result<Coefficients, String> {
        let mut message = [0 as c_char; MESSAGE_LEN];
        // SAFETY: `input` outlives the call; libjpeg copies nothing from it that it keeps (the
        // coefficients are decoded into its own memory).
        let raw = unsafe {
            aghub_coefs_read(input.as_ptr(), input.len() as c_ulong, message.as_mut_ptr())
        };
        if raw.is_null() {
            Err(message_text(&message))
        } else {
            Ok(Coefficients(raw))
        }
    }

    /// Rows `rows` of the picture turned by `orientation`, as a JPEG of their own.
    fn band(&self, orientation: Orientation, rows: &Range<usize>) -> Result<Vec<u8>, String> {
        // turn.c's terms: the stored picture transposed (or not), then its rows and columns
        // mirrored, which are the upright picture's y and x axes run backwards.
        let transpose = orientation.swaps_dimensions();
        let (flip_cols, flip_rows) = orientation.mirrors();
        let (row0, nrows) = (
            c_uint::try_from(rows.start).map_err(|e| e.to_string())?,
            c_uint::try_from(rows.len()).map_err(|e| e.to_string())?,
        );
        let mut message = [0 as c_char; MESSAGE_LEN];
        let (mut out, mut out_len) = (std::ptr::null_mut::<u8>(), 0 as c_ulong);
        // SAFETY: `self.0` is live; `out` receives a malloc'ed buffer of `out_len` bytes that
        // is copied and freed below.
        let status = unsafe {
            aghub_coefs_band(
                self.0,
                c_int::from(transpose),
                c_int::from(flip_rows),
                c_int::from(flip_cols),
                row0,
                nrows,
                &mut out,
                &mut out_len,
                message.as_mut_ptr(),
            )
        };
        if status != 0 || out.is_null() {
            return Err(message_text(&message));
        }
        // SAFETY: libjpeg wrote `out_len` bytes at `out`.
        let bytes = unsafe { std::slice::from_raw_parts(out, out_len as usize) }.to_vec();
        // SAFETY: `out` came from malloc in `turn.c` and is not used again.
        unsafe { aghub_free(out.cast()) };
        Ok(bytes)
    }
}

impl Drop for Coefficients {
    fn drop(&mut self) {
        // SAFETY: allocated by `aghub_coefs_read`, freed once.
        unsafe { aghub_coefs_free(self.0) }
    }
}

/// A source's coefficients, to be turned by `orientation` without loss.
struct Lossless {
    coefs: Coefficients,
    orientation: Orientation,
}

impl BandSource for Lossless {
    fn band(&self, rows: Range<usize>) -> Result<Vec<u8>, ImageError> {
        self.coefs
            .band(self.orientation, &rows)
            .map_err(|e| ImageError::Internal(format!("a band of a lossless turn: {e}")))
    }
}

fn message_text(message: &[c_char; MESSAGE_LEN]) -> String {
    // SAFETY: `turn.c` writes a NUL-terminated string of at most MESSAGE_LEN bytes, or leaves
    // the zeroed buffer (an empty string).
    unsafe { CStr::from_ptr(message.as_ptr()) }
        .to_string_lossy()
        .into_owned()
}

type BandResult = Result<Vec<u8>, ImageError>;

/// One turn in bands: [`Turn::read`] (or [`Turn::provide`]) on one thread, [`Turn::work`] on
/// any number, then [`Turn::finish`].
pub(super) struct Turn {
    orientation: Orientation,
    height: usize,
    bands: Bands,
    ranges: Vec<Range<usize>>,
    /// Set once by [`Turn::provide`]; `None` when this path does not take the photo (for the
    /// lossless turn: progressive, a warning, an error): the caller then does without.
    source: OnceLock<Option<Box<dyn BandSource>>>,
    /// Wakes the threads waiting in [`Turn::work`] for `source`.
    ready: (Mutex<()>, Condvar),
    next: AtomicUsize,
    /// Each band's JPEG (or why it failed), once coded.
    coded: Mutex<Vec<Option<BandResult>>>,
}

impl Turn {
    /// A turn of a `width` × `height` (upright) picture with `subsamp` (upright), or `None` when
    /// there is nothing to share between `threads`.
    pub(super) fn plan(
        orientation: Orientation,
        (width, height): (usize, usize),
        subsamp: Subsamp,
        threads: u32,
    ) -> Option<Turn> {
        if threads < 2 || orientation == Orientation::Normal {
            return None;
        }
        let bands = Bands::for_full_size(width, height, subsamp, threads)?;
        let ranges = bands.ranges(height);
        Some(Turn {
            orientation,
            height,
            bands,
            coded: Mutex::new(ranges.iter().map(|_| None).collect()),
            ranges,
            source: OnceLock::new(),
            ready: (Mutex::new(()), Condvar::new()),
            next: AtomicUsize::new(0),
        })
    }

    /// Reads the source's coefficients for a lossless turn (once); false if this path does not
    /// take the photo (the caller then uses libjpeg-turbo's one-pass transform).
    pub(super) fn read(&self, input: &[u8]) -> bool {
        let orientation = self.orientation;
        self.provide(|| {
            let coefs = Coefficients::read(input)
                .inspect_err(|e| tracing::debug!(error = %e, "banded turn not taken"))
                .ok()?;
            Some(Box::new(Lossless { coefs, orientation }))
        })
    }

    /// Makes the bands' source (once): false if there is none.
    pub(super) fn provide(&self, source: impl FnOnce() -> Option<Box<dyn BandSource>>) -> bool {
        // Whatever happens here (a panic too), the threads waiting in `work` must be let go.
        struct Release<'a>(&'a Turn);
        impl Drop for Release<'_> {
            fn drop(&mut self) {
                let _ = self.0.source.set(None);
                let _guard = lock(&self.0.ready.0);
                self.0.ready.1.notify_all();
            }
        }
        let _release = Release(self);
        let source = source();
        let taken = source.is_some();
        let _ = self.source.set(source);
        taken
    }

    /// Codes bands until none is left; waits for [`Turn::read`] first.
    pub(super) fn work(&self) {
        let source = {
            let mut guard = lock(&self.ready.0);
            loop {
                if let Some(source) = self.source.get() {
                    break source;
                }
                guard = self
                    .ready
                    .1
                    .wait(guard)
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
            }
        };
        let Some(source) = source else {
            return;
        };
        loop {
            let i = self.next.fetch_add(1, Ordering::Relaxed);
            let Some(rows) = self.ranges.get(i) else {
                return;
            };
            let band = source.band(rows.clone());
            lock(&self.coded)[i] = Some(band);
        }
    }

    /// The turned JPEG, once every thread's [`Turn::work`] has returned; `None` if a band
    /// failed (not expected: the caller then does without).
    pub(super) fn finish(self) -> Option<Vec<u8>> {
        let coded = self
            .coded
            .into_inner()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .into_iter()
            .collect::<Option<Result<Vec<_>, ImageError>>>()?
            .inspect_err(|e| tracing::warn!(error = %e, "a band of a turn failed"))
            .ok()?;
        join_bands(&coded, self.height, self.bands.interval)
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
