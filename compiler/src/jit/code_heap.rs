//! Executable memory for compiled units.
//!
//! Code is relocation-free (every address it needs is an immediate), so a
//! unit's bytes are copied into their own anonymous mapping, which is then
//! made read+execute. Memory is never writable and executable at once.
//! A unit's mapping is unmapped when the runtime releases the unit (it was
//! invalidated and no return address on the native stack points into it),
//! so live code stays bounded by what is valid or running
//! ([`CodeHeap::live_bytes`]).

use std::cell::{Cell, RefCell};
use std::collections::HashMap;

/// The mappings holding compiled code.
#[derive(Default)]
pub(crate) struct CodeHeap {
    bytes: Cell<usize>,
    maps: RefCell<HashMap<usize, usize>>,
}

impl CodeHeap {
    /// Copies `code` into fresh executable memory; answers its address.
    pub fn install(&self, code: &[u8]) -> Result<*const u8, String> {
        // SAFETY: sysconf has no preconditions.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(4096) as usize;
        let len = code.len().max(1).next_multiple_of(page);
        // SAFETY: an anonymous private mapping of `len` bytes at an address of
        // the kernel's choice; the result is checked before use.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err("cannot map memory for compiled code".into());
        }
        // SAFETY: the mapping is `len >= code.len()` writable bytes, fresh
        // and so disjoint from `code`; afterwards it is switched to read+execute.
        unsafe {
            std::ptr::copy_nonoverlapping(code.as_ptr(), p as *mut u8, code.len());
            if libc::mprotect(p, len, libc::PROT_READ | libc::PROT_EXEC) != 0 {
                libc::munmap(p, len);
                return Err("cannot make compiled code executable".into());
            }
        }
        self.bytes.set(self.bytes.get() + len);
        self.maps.borrow_mut().insert(p as usize, len);
        Ok(p as *const u8)
    }

    /// Unmaps the code installed at `addr`.
    ///
    /// # Safety
    /// No activation runs that code and nothing will call it again.
    pub unsafe fn free(&self, addr: usize) {
        if let Some(len) = self.maps.borrow_mut().remove(&addr) {
            // SAFETY: `addr` is a mapping of `len` bytes made by `install`,
            // unused per the caller's contract.
            unsafe { libc::munmap(addr as *mut libc::c_void, len) };
            self.bytes.set(self.bytes.get() - len);
        }
    }

    /// Number of live mappings.
    pub fn live_units(&self) -> usize {
        self.maps.borrow().len()
    }

    /// Bytes of executable memory in use.
    pub fn live_bytes(&self) -> usize {
        self.bytes.get()
    }
}
