//! The full-size turn of a baseline JPEG, in bands shared by both threads: lossless from its DCT
//! coefficients (`turn.c`), or, where that cannot keep every pixel, re-encoded from its planes
//! (`planes.rs`): whichever [`BandSource`] one thread makes ready, any thread codes its bands.
//!
//! libjpeg-turbo's own transform (`tj3Transform`) holds the source's DCT coefficients *and* the
//! whole turned copy, then Huffman-codes it on one thread: for a 16 MP 4:4:4 photo that is
//! 190 MB first touched in a fresh process (47,000 page faults, `perf`) and the render's
//! longest step. Here the source's coefficients are read once (and the display path makes its
//! pixels from them as they are read, [`Turn::pixels`]); each band of the upright picture
//! is then turned block by block and coded on its own, by whichever thread is free (the display
//! path joins in when it is done), and the bands are joined with restart markers as the banded
//! re-encode's are ([`join_bands`]). Only a band's coefficients are held beside the source's.

use std::ffi::{c_char, c_int, c_long, c_uint, c_ulong, c_void, CStr};
use std::ops::Range;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, OnceLock};

use turbojpeg::Subsamp;

use super::orient::Orientation;
use super::turbo::{join_bands, Bands};
use super::{pixel_buffer, ImageError};

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
    fn aghub_coefs_read(
        data: *const u8,
        len: c_ulong,
        region: extern "C" fn(*mut c_void, *mut c_void, c_ulong),
        rows_read: extern "C" fn(*mut c_void, c_uint),
        ctx: *mut c_void,
        ok: *mut c_int,
        message: *mut c_char,
    ) -> *mut RawCoefs;
    #[allow(clippy::too_many_arguments)]
    fn aghub_coefs_replay(
        data: *const u8,
        len: c_ulong,
        bases: *const *mut c_void,
        nbases: c_int,
        wait: extern "C" fn(*mut c_void, c_uint) -> c_long,
        ctx: *mut c_void,
        scale_num: c_uint,
        scale_denom: c_uint,
        grey: c_int,
        pixels: *mut u8,
        width: c_uint,
        height: c_uint,
        message: *mut c_char,
    ) -> c_int;
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
    /// Reads `input`'s coefficients, telling `reading` where they go and how far it is.
    fn read(input: &[u8], reading: &Reading) -> Result<Coefficients, String> {
        extern "C" fn region(ctx: *mut c_void, start: *mut c_void, len: c_ulong) {
            // SAFETY: `ctx` is the `&Reading` passed below, alive for the whole call.
            let reading = unsafe { &*(ctx as *const Reading) };
            reading.give(start as usize, len as usize);
        }
        extern "C" fn rows_read(ctx: *mut c_void, rows: c_uint) {
            // SAFETY: as in `region`.
            let reading = unsafe { &*(ctx as *const Reading) };
            reading.advance(rows);
        }
        let mut message = [0 as c_char; MESSAGE_LEN];
        let mut ok: c_int = 0;
        // SAFETY: `input` and `reading` outlive the call; libjpeg copies nothing from `input`
        // that it keeps (the coefficients are decoded into its own memory).
        let raw = unsafe {
            aghub_coefs_read(
                input.as_ptr(),
                input.len() as c_ulong,
                region,
                rows_read,
                reading as *const Reading as *mut c_void,
                &mut ok,
                message.as_mut_ptr(),
            )
        };
        if raw.is_null() {
            reading.end(false);
            return Err(message_text(&message));
        }
        let coefs = Coefficients(raw);
        if ok == 0 {
            // The display path may be copying rows it was told are read: the arrays are freed
            // (with `coefs`) once it has stopped.
            reading.end(false);
            reading.release();
            return Err(message_text(&message));
        }
        Ok(coefs)
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

/// What the thread reading a lossless turn's coefficients shares with the display path while
/// it reads: where the coefficient arrays are (one run of memory a component, given before any
/// is written) and how many iMCU rows are read.
///
/// The display path makes its scaled pixels from the rows already read ([`Turn::pixels`]), so
/// the Huffman codes are decoded once for both paths and both threads work meanwhile. It first
/// faults the arrays' pages in ahead of the reader: a fresh process first touches every page of
/// a photo's coefficients (48 MB for 16 MP at 4:2:0), at ~1.6 µs a page here, a fifth of the
/// photo's CPU (`perf`); `MADV_POPULATE_WRITE` makes the same pages present at about two thirds
/// of the cost without changing what is in them, so it may run while the reader writes. A
/// server that reuses its memory finds the pages present, and the call only walks them.
#[derive(Default)]
pub(super) struct Reading {
    state: Mutex<ReadingState>,
    changed: Condvar,
}

#[derive(Default)]
struct ReadingState {
    /// (start, length) of each component's array, in component order.
    arrays: Vec<(usize, usize)>,
    /// Every array has been given (or none will be).
    given: bool,
    /// iMCU rows read: `u32::MAX` once the read has ended well.
    rows: u32,
    /// The read has ended, well or not.
    ended: bool,
    /// The display path is copying from the arrays ([`Reading::replay`]).
    replaying: bool,
    /// The arrays are no longer there to copy from ([`Reading::release`]).
    released: bool,
}

impl Reading {
    /// One more array (`len` 0: no more).
    fn give(&self, start: usize, len: usize) {
        let mut state = lock(&self.state);
        if len == 0 {
            state.given = true;
            self.changed.notify_all();
        } else if !state.given {
            state.arrays.push((start, len));
        }
    }

    fn advance(&self, rows: u32) {
        lock(&self.state).rows = rows;
        self.changed.notify_all();
    }

    /// The read is over: every row is read if `ok`, else no more will be.
    fn end(&self, ok: bool) {
        let mut state = lock(&self.state);
        if !state.ended {
            state.ended = true;
            state.given = true;
            if ok {
                state.rows = u32::MAX;
            }
        }
        self.changed.notify_all();
    }

    fn wait<T>(&self, mut done: impl FnMut(&mut ReadingState) -> Option<T>) -> T {
        let mut state = lock(&self.state);
        loop {
            if let Some(value) = done(&mut state) {
                return value;
            }
            state = self
                .changed
                .wait(state)
                .unwrap_or_else(|poisoned| poisoned.into_inner());
        }
    }

    /// The arrays, once given (none if the read failed first).
    fn arrays(&self) -> Vec<(usize, usize)> {
        self.wait(|state| state.given.then(|| state.arrays.clone()))
    }

    /// Waits until `rows` iMCU rows are read: how many are, or fewer if they never will be.
    fn rows(&self, rows: u32) -> u32 {
        self.wait(|state| (state.rows >= rows || state.ended).then_some(state.rows))
    }

    /// Runs `copy`, which reads the arrays, unless the read has already failed (`None`): until
    /// it returns, a failed read keeps its arrays.
    fn replay<T>(&self, copy: impl FnOnce() -> T) -> Option<T> {
        struct Done<'a>(&'a Reading);
        impl Drop for Done<'_> {
            fn drop(&mut self) {
                lock(&self.0.state).replaying = false;
                self.0.changed.notify_all();
            }
        }
        {
            let mut state = lock(&self.state);
            if state.released || (state.ended && state.rows != u32::MAX) {
                return None;
            }
            state.replaying = true;
        }
        let _done = Done(self);
        Some(copy())
    }

    /// Waits for the display path to stop copying from the arrays, and keeps it from starting:
    /// then they may be freed.
    fn release(&self) {
        self.wait(|state| {
            (!state.replaying).then(|| {
                state.released = true;
            })
        });
    }

    /// Faults in the arrays' pages, a slice of each at a time: the reader writes all of them
    /// row by row.
    pub(super) fn prefault(arrays: &[(usize, usize)]) {
        const SLICES: usize = 32;
        for i in 0..SLICES {
            for &(start, len) in arrays {
                let slice = len.div_ceil(SLICES);
                let from = start + (i * slice).min(len);
                populate(from, (start + len).min(from + slice) - from);
            }
        }
    }
}

/// Makes the pages of `len` bytes at `start` present and writable, their contents unchanged.
#[cfg(target_os = "linux")]
fn populate(start: usize, len: usize) {
    const PAGE: usize = 4096;
    let end = start + len;
    let start = start & !(PAGE - 1);
    if end <= start {
        return;
    }
    // SAFETY: the range is memory of this process's heap that the caller is about to write;
    // MADV_POPULATE_WRITE only faults pages in (never changes their contents). An error
    // (a kernel before 5.14, say) only means the decoder faults them in itself.
    unsafe {
        libc::madvise(start as *mut c_void, end - start, libc::MADV_POPULATE_WRITE);
    }
}

#[cfg(not(target_os = "linux"))]
fn populate(_start: usize, _len: usize) {}

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
    /// How far [`Turn::read`] is, for [`Turn::pixels`].
    reading: Reading,
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
            reading: Reading::default(),
            next: AtomicUsize::new(0),
        })
    }

    /// Reads the source's coefficients for a lossless turn (once); false if this path does not
    /// take the photo (the caller then uses libjpeg-turbo's one-pass transform). Meanwhile
    /// [`Turn::pixels`] on the other thread makes the display path's pixels from them.
    pub(super) fn read(&self, input: &[u8]) -> bool {
        let orientation = self.orientation;
        self.provide(|| {
            let coefs = Coefficients::read(input, &self.reading)
                .inspect_err(|e| tracing::debug!(error = %e, "banded turn not taken"))
                .ok()?;
            self.reading.end(true);
            Some(Box::new(Lossless { coefs, orientation }))
        })
    }

    /// The picture at a DCT `scale` (numerator, denominator), `size` (width, height), RGB or
    /// grey: libjpeg-turbo's decode of `input`, made row by row from the coefficients
    /// [`Turn::read`] is reading on another thread (whose memory this thread first faults in
    /// ahead of it) instead of decoding the Huffman codes again. `None` if that read does not
    /// take the photo: the caller decodes `input` itself.
    pub(super) fn pixels(
        &self,
        input: &[u8],
        scale: (u32, u32),
        grey: bool,
        (width, height): (usize, usize),
    ) -> Option<Vec<u8>> {
        extern "C" fn wait(ctx: *mut c_void, rows: c_uint) -> c_long {
            // SAFETY: `ctx` is the `&Reading` passed below, alive for the whole call.
            let reading = unsafe { &*(ctx as *const Reading) };
            c_long::from(reading.rows(rows))
        }
        let arrays = self.reading.arrays();
        let bases: Vec<*mut c_void> = arrays
            .iter()
            .map(|&(start, _)| start as *mut c_void)
            .collect();
        let len = width
            .checked_mul(height)?
            .checked_mul(if grey { 1 } else { 3 })?;
        let mut pixels = pixel_buffer(len);
        let (nbases, w, h) = (
            c_int::try_from(bases.len()).ok()?,
            c_uint::try_from(width).ok()?,
            c_uint::try_from(height).ok()?,
        );
        let mut message = [0 as c_char; MESSAGE_LEN];
        let status = self.reading.replay(|| {
            Reading::prefault(&arrays);
            // SAFETY: `input`, `bases` and `self.reading` outlive the call; `pixels` holds
            // `height` rows of `width` pixels, the size `turn.c` checks the scaled picture has
            // before it writes. The arrays at `bases` are only read, each row once `wait` says
            // the reader has written it, and stay allocated while `replay` runs this (a failed
            // read waits for it before freeing them; a good one keeps them in the source).
            unsafe {
                aghub_coefs_replay(
                    input.as_ptr(),
                    input.len() as c_ulong,
                    bases.as_ptr(),
                    nbases,
                    wait,
                    &self.reading as *const Reading as *mut c_void,
                    scale.0,
                    scale.1,
                    c_int::from(grey),
                    pixels.as_mut_ptr(),
                    w,
                    h,
                    message.as_mut_ptr(),
                )
            }
        })?;
        // The pixels count only if the whole read went well (it checks the arrays were where
        // the replay took them to be).
        let read = self.reading.rows(u32::MAX) == u32::MAX;
        if status != 0 || !read {
            let error = message_text(&message);
            tracing::debug!(%error, read, "pixels from the coefficients not taken");
            return None;
        }
        Some(pixels)
    }

    /// Makes the bands' source (once): false if there is none.
    pub(super) fn provide(&self, source: impl FnOnce() -> Option<Box<dyn BandSource>>) -> bool {
        // Whatever happens here (a panic too), the threads waiting in `work` must be let go.
        struct Release<'a>(&'a Turn);
        impl Drop for Release<'_> {
            fn drop(&mut self) {
                self.0.reading.end(false);
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

    /// Codes bands until none is left; waits for the source first.
    pub(super) fn work(&self) {
        let Some(source) = self.source() else {
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

    /// The bands' source, once it is provided (waits for it).
    fn source(&self) -> Option<&dyn BandSource> {
        let mut guard = lock(&self.ready.0);
        loop {
            if let Some(source) = self.source.get() {
                return source.as_deref();
            }
            guard = self
                .ready
                .1
                .wait(guard)
                .unwrap_or_else(|poisoned| poisoned.into_inner());
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
