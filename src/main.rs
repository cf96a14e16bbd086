fn main() {
    limit_malloc_arenas();
    std::process::exit(aghub::cli::main());
}

/// glibc gives threads their own malloc arenas (up to 8 per core), and each arena keeps its
/// high-water mark of photo-sized buffers: under `scripts/load` the server's RSS crept to
/// 1.2 GiB with the default, and plateaued near 360 MiB (peak 450) with one arena per core at
/// the same upload throughput. mimalloc and jemalloc did not help, because libjpeg-turbo
/// allocates with glibc's malloc either way. A MALLOC_ARENA_MAX in the environment still wins.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn limit_malloc_arenas() {
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        // SAFETY: runs before any other thread starts; mallopt only sets a tuning parameter.
        unsafe { libc::mallopt(libc::M_ARENA_MAX, cores as libc::c_int) };
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn limit_malloc_arenas() {}
