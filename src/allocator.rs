//! The process's allocator: jemalloc, for Rust and for the C libraries built in. The symbols are
//! unprefixed, so the executable's `malloc` interposes glibc's for the whole process (the way
//! glibc documents for replacing it) and libjpeg-turbo's buffers come from jemalloc too.
//!
//! Why not glibc's: a photo's lossless turn holds two arrays of DCT coefficients (36 MB each for
//! 12 MP at 4:2:0), and glibc hands out allocations above its mmap threshold (32 MB at most) as
//! fresh pages from the kernel and unmaps them on free; below it, each photo's second thread
//! (new for every photo) took an arena whose freed pages the next photo did not find. Every
//! upload touched 20,000–40,000 new 4 KiB pages: `perf stat` counted 80–170 ms of kernel time
//! a 12–16 MP photo, more than the turn's own work.
//!
//! The settings (`malloc_conf`):
//! - `narenas:1`: one arena, so that a photo's buffers are where the next photo's thread looks.
//!   Small allocations stay in each thread's own cache, so the lock is taken for large ones.
//! - `dirty_decay_ms:-1`: freed pages are kept for reuse rather than handed back to the kernel
//!   (any finite decay, even 300 s, handed them back between photos: measured). The process thus
//!   keeps the memory of its busiest moment, which the decode budget (`AGHUB_DECODE_MEMORY_MB`)
//!   and the upload permits bound; `scripts/load` prints the RSS curve.
//! - Transparent huge pages (`thp:always`) were measured and left out: a fresh process faulted
//!   50× fewer pages, but a fault that had to compact memory stalled up to half a second.

#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Read by jemalloc at start-up (its own definition is weak); `MALLOC_CONF` in the environment
/// still overrides it.
#[allow(non_upper_case_globals)]
#[export_name = "malloc_conf"]
pub static malloc_conf: &[u8] = b"narenas:1,dirty_decay_ms:-1\0";
