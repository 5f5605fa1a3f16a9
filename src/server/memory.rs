//! Giving the memory a build freed back to the system, after the first build
//! and after each reload.
//!
//! A build holds the parsed site and the rendered set at once; once the site
//! is dropped, the C allocator keeps the freed pages in the middle of its
//! heap unless asked, and the server's resident size would stay at the
//! build's peak. It is never called on a request.

/// Hands the memory freed by a build back to the system (glibc only; a no-op
/// elsewhere).
pub(crate) fn release_freed() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free pages of the allocator's own heap
    // to the kernel; it takes no pointers and has no preconditions.
    unsafe {
        libc::malloc_trim(0);
    }
}
