//! Dispatch chains: the polymorphic inline cache of a send site.
//!
//! States, in the order a site moves through them:
//! - **uninitialized**: no entry; the first execution looks the selector up;
//! - **cached** (monomorphic with one entry, polymorphic with up to
//!   [`SEND_CACHE_LIMIT`]): each entry is (receiver shape → target), checked in
//!   order with one pointer compare;
//! - **generic**: once a site has seen more shapes than the limit, the entries
//!   are dropped and every execution goes through the VM's global lookup cache.
//!
//! A target is either the method found by lookup or, when lookup fails, the
//! receiver class's `doesNotUnderstand:arguments:` handler, cached the same way,
//! so a failed lookup happens once per shape and not on every send.
//!
//! Entries are plain `Copy` data ([`CacheEntry`]) readable through
//! [`DispatchChain::entries`], so the JIT and the statistics can see what a site
//! has learned.
//!
//! Under `--verify-caches` an entry's shape is stored tagged ([`VERIFY_TAG`]),
//! so the guard loop never matches it and every execution takes the cold
//! path, which finds the entry with [`DispatchChain::lookup_verifying`] and
//! checks it against a full lookup before using it. The chain grows, goes
//! generic and is invalidated exactly as without verification, and the fast
//! path is the same code whether verification is on or off.

use std::cell::{Cell, UnsafeCell};

use crate::method::MethodData;
use crate::object::Shape;

/// Maximum entries in a chain before the site goes generic. Six, as in
/// TruffleSOM: beyond that, a linear guard sequence costs more than a hashed
/// lookup, and real sites almost never need more.
pub const SEND_CACHE_LIMIT: usize = 6;

/// The bit set in the shape pointer of an entry added under
/// `--verify-caches`; shapes are at least 8-byte aligned, so it is free.
pub const VERIFY_TAG: usize = 1;

fn tagged(shape: *const Shape) -> *const Shape {
    shape.map_addr(|a| a | VERIFY_TAG)
}

fn untagged(shape: *const Shape) -> *const Shape {
    shape.map_addr(|a| a & !VERIFY_TAG)
}

/// What a cached send calls.
#[derive(Clone, Copy)]
pub enum Target {
    /// The method lookup found.
    Method(&'static MethodData),
    /// Lookup failed; call this `doesNotUnderstand:arguments:` handler with the
    /// selector and an argument array built at call time.
    Dnu(&'static MethodData),
    /// Placeholder of an unused entry slot; never returned by a lookup.
    Empty,
}

impl Target {
    /// The invoked method (the handler for DNU targets).
    pub fn method(self) -> Option<&'static MethodData> {
        match self {
            Target::Method(m) | Target::Dnu(m) => Some(m),
            Target::Empty => None,
        }
    }
}

/// One cached (shape → target) pair.
#[derive(Clone, Copy)]
pub struct CacheEntry {
    /// The receiver shape this entry guards on.
    pub shape: *const Shape,
    /// What to call for that shape.
    pub target: Target,
}

/// The observable state of a chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChainState {
    /// Never executed.
    Uninitialized,
    /// One entry.
    Monomorphic,
    /// Two to [`SEND_CACHE_LIMIT`] entries.
    Polymorphic,
    /// Over the limit: lookups go through the global cache.
    Generic,
}

/// The inline cache of one send site.
pub struct DispatchChain {
    entries: UnsafeCell<[CacheEntry; SEND_CACHE_LIMIT]>,
    len: Cell<u8>,
    generic: Cell<bool>,
    registered: Cell<bool>,
}

impl Default for DispatchChain {
    fn default() -> Self {
        DispatchChain {
            entries: UnsafeCell::new(
                [CacheEntry {
                    shape: std::ptr::null(),
                    target: Target::Empty,
                }; SEND_CACHE_LIMIT],
            ),
            len: Cell::new(0),
            generic: Cell::new(false),
            registered: Cell::new(false),
        }
    }
}

impl DispatchChain {
    /// The cached target for `shape`, if any.
    #[inline(always)]
    pub fn lookup(&self, shape: *const Shape) -> Option<Target> {
        // SAFETY: the array is only written by `add`/`reset`, never while a
        // reference from here is alive (targets are copied out).
        let entries = unsafe { &*self.entries.get() };
        for e in &entries[..self.len.get() as usize] {
            if std::ptr::eq(e.shape, shape) {
                return Some(e.target);
            }
        }
        None
    }

    /// The target of an entry for `shape` added under `--verify-caches`
    /// (which [`DispatchChain::lookup`] never matches); for the cold path,
    /// which verifies it.
    #[cold]
    pub fn lookup_verifying(&self, shape: *const Shape) -> Option<Target> {
        let key = tagged(shape);
        // SAFETY: see `lookup`.
        let entries = unsafe { &*self.entries.get() };
        entries[..self.chain_len()]
            .iter()
            .find(|e| std::ptr::eq(e.shape, key))
            .map(|e| e.target)
    }

    /// Adds an entry (tagged when `verify`, see [`VERIFY_TAG`]); answers
    /// false (and turns generic) when the chain is full.
    pub fn add(&self, mut entry: CacheEntry, verify: bool) -> bool {
        let n = self.len.get() as usize;
        if n >= SEND_CACHE_LIMIT {
            self.make_generic();
            return false;
        }
        if verify {
            entry.shape = tagged(entry.shape);
        }
        // SAFETY: no reference into the array outlives a call of `lookup`.
        unsafe { (*self.entries.get())[n] = entry };
        self.len.set(n as u8 + 1);
        true
    }

    /// Removes the entries whose shape matches `stale`; answers how many.
    /// The order of the remaining entries is kept.
    pub fn invalidate(&self, mut stale: impl FnMut(*const Shape) -> bool) -> usize {
        // SAFETY: see `lookup`; invalidation runs between evaluations of the
        // site, never while a reference into the array is held.
        let entries = unsafe { &mut *self.entries.get() };
        let n = self.chain_len();
        let mut kept = 0;
        for i in 0..n {
            if !stale(untagged(entries[i].shape)) {
                entries[kept] = entries[i];
                kept += 1;
            }
        }
        self.len.set(kept as u8);
        n - kept
    }

    /// Marks the chain as known to the VM's dependency registry; answers
    /// whether it was new there.
    pub fn mark_registered(&self) -> bool {
        !self.registered.replace(true)
    }

    /// Whether the chain is known to the VM's dependency registry.
    pub fn is_registered(&self) -> bool {
        self.registered.get()
    }

    /// Drops all entries and goes generic.
    pub fn make_generic(&self) {
        self.len.set(0);
        self.generic.set(true);
    }

    /// Drops all entries and goes back to uninitialized.
    pub fn reset(&self) {
        self.len.set(0);
        self.generic.set(false);
    }

    /// Whether the chain is generic.
    #[inline(always)]
    pub fn is_generic(&self) -> bool {
        self.generic.get()
    }

    /// Number of cached entries.
    pub fn chain_len(&self) -> usize {
        self.len.get() as usize
    }

    /// A copy of the cached entries, in guard order.
    pub fn entries(&self) -> Vec<CacheEntry> {
        // SAFETY: see `lookup`.
        let entries = unsafe { &*self.entries.get() };
        entries[..self.chain_len()]
            .iter()
            .map(|e| CacheEntry {
                shape: untagged(e.shape),
                target: e.target,
            })
            .collect()
    }

    /// The observable state.
    pub fn state(&self) -> ChainState {
        if self.is_generic() {
            ChainState::Generic
        } else {
            match self.chain_len() {
                0 => ChainState::Uninitialized,
                1 => ChainState::Monomorphic,
                _ => ChainState::Polymorphic,
            }
        }
    }
}
