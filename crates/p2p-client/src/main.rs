//! `p2p-client`: the command-line entry point (the CLI view over the engine).

mod cli;

use std::process::ExitCode;

use clap::Parser as _;

fn main() -> ExitCode {
    tune_allocator();
    let args = match cli::Cli::try_parse() {
        Ok(args) => args,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        // Colours only on a terminal: not in a pipe, a file or `docker logs`.
        .with_ansi(
            std::io::IsTerminal::is_terminal(&std::io::stderr())
                && std::env::var_os("NO_COLOR").is_none(),
        )
        .init();
    match cli::run(args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("p2p-client: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Fixes glibc's allocator thresholds for the stream buffers and caps its
/// arenas (Linux with glibc only; a `GLIBC_TUNABLES` that names a malloc
/// setting, or a `MALLOC_ARENA_MAX`, wins).
///
/// yamux allocates a fresh buffer for every frame it receives, up to
/// 256 KiB (libp2p's Noise, which our own replaced, did so for every 64 KiB
/// message as well).
/// With glibc's default, sliding thresholds, the free memory at the top of
/// each thread's heap is given back to the kernel over and over and taken
/// again, zeroed: about 200,000 page faults per GiB received, and 15 to 30%
/// of the receiver's CPU time. Fixed thresholds keep up to 8 MiB of free
/// heap per arena, and blocks of 1 MiB or more (our direct-write and
/// hashing buffers) keep their own mappings. Measured on 1 GiB over TCP:
/// receiver CPU 1.82 → 1.29 s, and peak RSS unchanged (27–28 MiB over TCP,
/// 29–30 over QUIC); see docs/performance.md.
///
/// glibc gives threads up to 8 arenas per core, each holding its own free
/// memory; two suffice for our few busy threads. Measured on 10,000 small
/// files (4 runs each): receiver peak RSS 28.9–31.6 → 26.3–28.8 MiB, sender
/// about 1 MiB less, and 1 GiB over TCP no slower.
///
/// In the executable and not the library: a library must not change its
/// host process's allocator.
fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        /// Allocations from this size up get their own mapping.
        const MMAP_THRESHOLD: libc::c_int = 1024 * 1024;
        /// Free memory at the top of a heap beyond this goes back to the
        /// kernel.
        const TRIM_THRESHOLD: libc::c_int = 8 * 1024 * 1024;
        /// Arenas, at most.
        const ARENA_MAX: libc::c_int = 2;
        let tuned = std::env::var("GLIBC_TUNABLES").is_ok_and(|t| t.contains("glibc.malloc."));
        if !tuned {
            // SAFETY: `mallopt` only sets allocator parameters; glibc
            // takes its arena lock, so it is sound at any time, on any
            // thread. It is called here before any other thread exists. A
            // refused value returns 0 and leaves the default, which is
            // only slower.
            #[allow(unsafe_code)]
            unsafe {
                libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
                libc::mallopt(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD);
                if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
                    libc::mallopt(libc::M_ARENA_MAX, ARENA_MAX);
                }
            }
        }
    }
}
