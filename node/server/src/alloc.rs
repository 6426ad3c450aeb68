//! Allocator tuning. glibc raises its mmap threshold each time a large block is freed, so later
//! large blocks (Argon2id's 19 MiB per password check, big message bodies) come from per-thread
//! arenas and stay there: the outbound benchmark's server grew to 426 MB, against 88 MB with the
//! threshold fixed. Fixing it at 1 MiB returns such blocks to the system when freed.

/// Applies the tuning; call once at startup.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub fn tune() {
    // SAFETY: mallopt only sets an allocator parameter (glibc serialises it internally); no
    // memory is touched and the argument is a plain integer.
    #[allow(unsafe_code)]
    let ok = unsafe { libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20) };
    if ok != 1 {
        tracing::warn!("could not set glibc's mmap threshold; memory may stay high after peaks");
    }
}

/// Applies the tuning; other allocators need none.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn tune() {}
