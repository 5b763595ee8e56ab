//! The heap: a non-moving mark-sweep collector with a precise heap and
//! conservative roots.
//!
//! Small objects live in aligned blocks of [`BLOCK_SIZE`] bytes, each block cut
//! into cells of one size class after a small in-band [`BlockHeader`]. Objects
//! larger than the biggest class get their own allocation. Objects never move,
//! so raw pointers held anywhere stay valid.
//!
//! Allocation is a bump pointer through a block with no live cells, or a pop
//! from the free list of a partially live block. A collection only marks,
//! counting survivors per block; sweeping is lazy: when the allocator needs
//! cells of a class it takes the next unswept block of that class, resets it in
//! O(1) for bump allocation if nothing in it survived, or threads its dead
//! cells onto the free list otherwise. Whatever is still unswept when the next
//! collection starts is swept then.
//!
//! Invariants:
//! - in a swept block, every cell below `top` is a live object or a
//!   `Kind::Free` cell on its class's free list, and cells at or above `top`
//!   were never handed out since the block was last reset; an unswept block may
//!   also hold dead objects, which is why marking never runs while a block is
//!   unswept;
//! - the `top` of the block being bump-allocated is written back before every
//!   collection, so [`Heap::find_object`] never reports a cell above it;
//! - [`Heap::find_object`] maps any address inside a live object (interior
//!   pointers included) to that object, which makes conservative scanning of
//!   native stacks sound;
//! - permanent objects are never freed; a block holding one is never reset.
//!
//! The collector does not know the roots: [`Heap::collect`] takes a closure
//! that reports them (the VM's globals, its value stack and the native stack
//! words of the interpreter thread).

use crate::object::{self, Header, Kind};
use crate::value::Value;
use std::alloc::{alloc, dealloc, Layout};
use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

/// Size and alignment of a small-object block. Power of two, so the block of an
/// address is found by masking.
pub const BLOCK_SIZE: usize = 64 * 1024;

/// Bytes at the start of each block reserved for its [`BlockHeader`].
const BLOCK_HEADER_SIZE: usize = 64;

/// Cell sizes of the small-object classes. Larger objects are allocated alone.
const SIZE_CLASSES: [usize; 14] = [
    32, 48, 64, 80, 96, 128, 160, 192, 256, 384, 512, 768, 1024, 2048,
];

/// Largest object served from size-class blocks.
const MAX_SMALL: usize = SIZE_CLASSES[SIZE_CLASSES.len() - 1];

/// Size class of every 16-byte size step up to `MAX_SMALL`, so that finding
/// the class of an allocation is one table load.
const CLASS_OF_STEP: [u8; MAX_SMALL / 16 + 1] = {
    let mut t = [0u8; MAX_SMALL / 16 + 1];
    let mut step = 0;
    while step <= MAX_SMALL / 16 {
        let size = step * 16;
        let mut c = 0;
        while SIZE_CLASSES[c] < size {
            c += 1;
        }
        t[step] = c as u8;
        step += 1;
    }
    t
};

#[inline(always)]
fn class_index(size: usize) -> Option<usize> {
    if size <= MAX_SMALL {
        Some(CLASS_OF_STEP[size.div_ceil(16)] as usize)
    } else {
        None
    }
}

/// Minimum number of bytes allocated between two collections; after a
/// collection the budget grows to the surviving bytes, so collection work stays
/// proportional to allocation.
pub const MIN_GC_BUDGET: usize = 32 * 1024 * 1024;

/// The in-band header at the start of each small-object block.
#[repr(C)]
struct BlockHeader {
    /// Cell size of the block's class.
    cell_size: usize,
    /// Index of the size class.
    class: usize,
    /// End of the handed-out part: cells at or above it are unused.
    top: usize,
    /// Cells marked by the current collection.
    live: usize,
    /// Permanent objects in the block; such a block is never reset.
    permanent: usize,
    /// Whether an object needing finalization was ever allocated here.
    has_finalizers: bool,
}

const _: () = assert!(std::mem::size_of::<BlockHeader>() <= BLOCK_HEADER_SIZE);

#[inline(always)]
fn block_of(addr: usize) -> usize {
    addr & !(BLOCK_SIZE - 1)
}

#[inline(always)]
fn block_header<'a>(block: usize) -> &'a mut BlockHeader {
    // SAFETY: callers pass the start of a block this heap allocated; its first
    // bytes hold the header, written in `add_block`.
    unsafe { &mut *(block as *mut BlockHeader) }
}

#[inline(always)]
fn cells_start(block: usize) -> usize {
    block + BLOCK_HEADER_SIZE
}

#[inline(always)]
fn cells_end(block: usize, cell_size: usize) -> usize {
    let start = cells_start(block);
    start + (BLOCK_SIZE - BLOCK_HEADER_SIZE) / cell_size * cell_size
}

/// Collector statistics, answered by `system gcStats`.
#[derive(Default, Clone, Debug)]
pub struct GcStats {
    /// Number of collections so far.
    pub collections: u64,
    /// Time spent collecting.
    pub total_time: Duration,
    /// Bytes allocated since start.
    pub allocated_bytes: u64,
    /// Bytes live after the last collection.
    pub live_bytes: usize,
}

/// The per-class allocation state: a bump region and a free list.
#[derive(Clone, Copy)]
struct ClassAlloc {
    cursor: usize,
    limit: usize,
    block: usize,
    free: *mut Header,
}

/// Addresses of the allocation state of one size class (see
/// [`Heap::bump_refs`]): compiled code allocates inline by the same rule as
/// the heap (no collection due, room left in the bump region), and calls
/// the runtime otherwise.
#[derive(Clone, Copy, Debug)]
pub struct BumpRefs {
    /// The bump cursor (`usize`).
    pub cursor: *mut usize,
    /// The end of the bump region (`usize`).
    pub limit: *const usize,
    /// Bytes allocated since the last collection (`usize`).
    pub bytes_since_gc: *mut usize,
    /// Bytes allowed between collections (`usize`).
    pub budget: *const usize,
    /// `--gc-stress` (`bool`): every allocation collects first.
    pub stress: *const bool,
    /// The statistics' allocated bytes (`u64`).
    pub allocated: *mut u64,
}

/// The object heap.
pub struct Heap {
    classes: [ClassAlloc; SIZE_CLASSES.len()],
    unswept: [Vec<usize>; SIZE_CLASSES.len()],
    blocks: HashSet<usize>,
    all_blocks: Vec<usize>,
    large: BTreeMap<usize, usize>,
    min_addr: usize,
    max_addr: usize,
    bytes_since_gc: usize,
    budget: usize,
    /// When set, every allocation is preceded by a full collection.
    pub stress: bool,
    /// Statistics.
    pub stats: GcStats,
    mark_stack: Vec<Value>,
}

/// Receives roots during a collection.
pub struct Marker<'h> {
    heap: &'h mut Heap,
    live_bytes: usize,
}

impl Marker<'_> {
    /// A precise root: must be a valid value (or a non-pointer).
    #[inline]
    pub fn mark_value(&mut self, v: Value) {
        if v.is_ptr() {
            let h = object::header(v);
            if !h.is_marked() {
                h.set_marked(true);
                let size = object::object_size(h.kind(), h.len());
                self.live_bytes += size;
                if size <= MAX_SMALL {
                    block_header(block_of(v.bits() as usize)).live += 1;
                }
                self.heap.mark_stack.push(v);
            }
        }
    }

    /// A conservative root: any word; marks the object it points into, if any.
    #[inline]
    pub fn mark_word(&mut self, w: usize) {
        if w < self.heap.min_addr || w >= self.heap.max_addr {
            return;
        }
        if let Some(v) = self.heap.find_object(w) {
            self.mark_value(v);
        }
    }

    /// Scans a memory range word by word, conservatively.
    ///
    /// # Safety
    /// `[start, end)` must be readable memory.
    pub unsafe fn mark_range(&mut self, start: usize, end: usize) {
        let mut p = start.next_multiple_of(8);
        while p + 8 <= end {
            // SAFETY: the caller guarantees the range is readable; `p` is aligned.
            let w = unsafe { *(p as *const usize) };
            self.mark_word(w);
            p += 8;
        }
    }
}

impl Default for Heap {
    fn default() -> Self {
        Self::new()
    }
}

const EMPTY_CLASS: ClassAlloc = ClassAlloc {
    cursor: 0,
    limit: 0,
    block: 0,
    free: std::ptr::null_mut(),
};

impl Heap {
    /// An empty heap.
    pub fn new() -> Heap {
        keep_freed_memory();
        Heap {
            classes: [EMPTY_CLASS; SIZE_CLASSES.len()],
            unswept: Default::default(),
            blocks: HashSet::new(),
            all_blocks: Vec::new(),
            large: BTreeMap::new(),
            min_addr: usize::MAX,
            max_addr: 0,
            bytes_since_gc: 0,
            budget: MIN_GC_BUDGET,
            stress: false,
            stats: GcStats::default(),
            mark_stack: Vec::new(),
        }
    }

    /// Where compiled code bumps the allocation cursor for objects of
    /// `size` bytes (a small size class): the addresses of the words the
    /// fast path of [`Heap::allocate_uninit`] reads and writes. Valid while
    /// the heap stays in place (the VM does not move while SOM code runs).
    pub fn bump_refs(&mut self, size: usize) -> Option<BumpRefs> {
        let ci = class_index(size)?;
        if SIZE_CLASSES[ci] != size {
            return None;
        }
        Some(BumpRefs {
            cursor: &mut self.classes[ci].cursor,
            limit: &self.classes[ci].limit,
            bytes_since_gc: &mut self.bytes_since_gc,
            budget: &self.budget,
            stress: &self.stress,
            allocated: &mut self.stats.allocated_bytes,
        })
    }

    /// Whether the allocation budget is spent and a collection is due.
    #[inline(always)]
    pub fn wants_collection(&self) -> bool {
        self.stress || self.bytes_since_gc >= self.budget
    }

    /// Allocates `size` bytes (a multiple of 16) and writes a header with the
    /// given shape and meta word. The body is zeroed.
    pub fn allocate(&mut self, size: usize, shape: *const object::Shape, meta: u64) -> Value {
        let v = self.allocate_uninit(size, shape, meta);
        // SAFETY: the cell is fresh and at least `size` bytes long.
        unsafe {
            std::ptr::write_bytes(
                v.as_ptr::<u8>().add(object::HEADER_SIZE),
                0,
                size - object::HEADER_SIZE,
            )
        };
        v
    }

    /// Like [`Heap::allocate`] but leaves the body as it was; the caller must
    /// initialise every body word before the next allocation (a collection
    /// scans bodies).
    #[inline(always)]
    pub fn allocate_uninit(
        &mut self,
        size: usize,
        shape: *const object::Shape,
        meta: u64,
    ) -> Value {
        debug_assert!(size.is_multiple_of(16) && size >= 16);
        let cell = match class_index(size) {
            Some(ci) => {
                let cell = self.alloc_small(ci);
                if meta as u8 == Kind::BigInt as u8 {
                    block_header(block_of(cell as usize)).has_finalizers = true;
                }
                cell
            }
            None => self.alloc_large(size),
        };
        self.bytes_since_gc += size;
        self.stats.allocated_bytes += size as u64;
        // SAFETY: `cell` is a fresh, exclusively owned cell of at least `size`
        // bytes, 16-byte aligned.
        unsafe {
            (*(cell as *mut Header)).shape = shape;
            (*(cell as *mut Header)).meta = meta;
        }
        Value::from_ptr(cell)
    }

    #[inline(always)]
    fn alloc_small(&mut self, ci: usize) -> *mut u8 {
        let c = &mut self.classes[ci];
        let size = SIZE_CLASSES[ci];
        if c.cursor + size <= c.limit {
            let cell = c.cursor;
            c.cursor += size;
            return cell as *mut u8;
        }
        if !c.free.is_null() {
            let cell = c.free;
            // SAFETY: free cells store the next free cell in their shape word.
            c.free = unsafe { (*cell).shape as *mut Header };
            return cell as *mut u8;
        }
        self.refill(ci);
        self.alloc_small(ci)
    }

    /// Finds cells of class `ci`: sweeps unswept blocks until one yields some,
    /// else adds a fresh block.
    #[cold]
    #[inline(never)]
    fn refill(&mut self, ci: usize) {
        self.retire_bump_block(ci);
        while let Some(block) = self.unswept[ci].pop() {
            if self.sweep_block(block, ci, true) {
                return;
            }
        }
        self.add_block(ci);
    }

    /// Records how far the current bump block of `ci` was used.
    fn retire_bump_block(&mut self, ci: usize) {
        let c = &mut self.classes[ci];
        if c.block != 0 {
            block_header(c.block).top = c.cursor;
            c.block = 0;
            c.cursor = 0;
            c.limit = 0;
        }
    }

    /// Makes `block` the bump region of its class.
    fn start_bump(&mut self, block: usize, ci: usize) {
        let h = block_header(block);
        let start = cells_start(block);
        h.top = start;
        self.classes[ci] = ClassAlloc {
            cursor: start,
            limit: cells_end(block, h.cell_size),
            block,
            free: self.classes[ci].free,
        };
    }

    /// Sweeps one block; answers whether it yielded free cells. A block in
    /// which nothing survived becomes the bump region of its class when
    /// `bump` is set, and is merely emptied otherwise.
    fn sweep_block(&mut self, block: usize, ci: usize, bump: bool) -> bool {
        let h = block_header(block);
        let cell_size = h.cell_size;
        let live = std::mem::take(&mut h.live);
        if live == 0 && h.permanent == 0 && !h.has_finalizers {
            if bump {
                self.start_bump(block, ci);
            } else {
                h.top = cells_start(block);
            }
            return true;
        }
        let start = cells_start(block);
        let top = h.top;
        let end = cells_end(block, cell_size);
        let mut freed = false;
        let mut free = self.classes[ci].free;
        let mut finalizers = false;
        // Cells are pushed from the end so the free list hands out ascending
        // addresses.
        let mut cell = end;
        while cell > start {
            cell -= cell_size;
            let c = cell as *mut Header;
            // SAFETY: `c` is a cell inside a block we own.
            let hd = unsafe { &mut *c };
            if cell < top && hd.kind() != Kind::Free {
                if hd.is_marked() || hd.is_permanent() {
                    hd.set_marked(false);
                    finalizers |= hd.kind() == Kind::BigInt;
                    continue;
                }
                object::finalize(Value::from_ptr(c));
            }
            hd.meta = Header::meta_word(Kind::Free, 0);
            hd.shape = free as *const object::Shape;
            free = c;
            freed = true;
        }
        self.classes[ci].free = free;
        let h = block_header(block);
        h.top = end;
        h.has_finalizers = finalizers;
        freed
    }

    /// Sweeps every block not swept since the last collection.
    fn finish_sweep(&mut self) {
        for ci in 0..SIZE_CLASSES.len() {
            while let Some(block) = self.unswept[ci].pop() {
                self.sweep_block(block, ci, false);
            }
        }
    }

    #[cold]
    fn add_block(&mut self, ci: usize) {
        let cell_size = SIZE_CLASSES[ci];
        let layout = Layout::from_size_align(BLOCK_SIZE, BLOCK_SIZE).expect("block layout");
        // SAFETY: the layout has non-zero size.
        let p = unsafe { alloc(layout) };
        if p.is_null() {
            std::alloc::handle_alloc_error(layout);
        }
        let block = p as usize;
        // SAFETY: the block is fresh; its first bytes hold the header.
        unsafe {
            (block as *mut BlockHeader).write(BlockHeader {
                cell_size,
                class: ci,
                top: cells_start(block),
                live: 0,
                permanent: 0,
                has_finalizers: false,
            })
        };
        self.min_addr = self.min_addr.min(block);
        self.max_addr = self.max_addr.max(block + BLOCK_SIZE);
        self.blocks.insert(block);
        self.all_blocks.push(block);
        self.start_bump(block, ci);
    }

    fn alloc_large(&mut self, size: usize) -> *mut u8 {
        let layout = Layout::from_size_align(size, 16).expect("large layout");
        // SAFETY: non-zero size.
        let p = unsafe { alloc(layout) };
        if p.is_null() {
            std::alloc::handle_alloc_error(layout);
        }
        let start = p as usize;
        self.min_addr = self.min_addr.min(start);
        self.max_addr = self.max_addr.max(start + size);
        self.large.insert(start, size);
        p
    }

    /// Marks `v` as never to be freed.
    pub fn set_permanent(&mut self, v: Value) {
        let h = object::header(v);
        if h.is_permanent() {
            return;
        }
        h.set_permanent();
        if object::object_size(h.kind(), h.len()) <= MAX_SMALL {
            block_header(block_of(v.bits() as usize)).permanent += 1;
        }
    }

    /// The live object containing address `w`, if any.
    pub fn find_object(&self, w: usize) -> Option<Value> {
        let block = block_of(w);
        if self.blocks.contains(&block) {
            let h = block_header(block);
            let start = cells_start(block);
            if w < start || w >= h.top.min(cells_end(block, h.cell_size)) {
                return None;
            }
            let cell = start + (w - start) / h.cell_size * h.cell_size;
            // SAFETY: `cell` is a cell start below `top` in a block we own.
            let kind = unsafe { (*(cell as *const Header)).kind() };
            return (kind != Kind::Free).then(|| Value::from_ptr(cell as *const u8));
        }
        let (&start, &size) = self.large.range(..=w).next_back()?;
        (w < start + size).then(|| Value::from_ptr(start as *const u8))
    }

    /// Runs a full collection. `roots` reports every root through the marker.
    pub fn collect(&mut self, roots: impl FnOnce(&mut Marker<'_>)) {
        let t0 = Instant::now();
        for ci in 0..SIZE_CLASSES.len() {
            self.retire_bump_block(ci);
            self.classes[ci].free = std::ptr::null_mut();
        }
        // Dead objects of the last cycle must be gone before marking: a stale
        // pointer to one must not resurrect it.
        self.finish_sweep();
        for ci in 0..SIZE_CLASSES.len() {
            self.classes[ci].free = std::ptr::null_mut();
        }
        let live = {
            let mut marker = Marker {
                heap: self,
                live_bytes: 0,
            };
            roots(&mut marker);
            while let Some(v) = marker.heap.mark_stack.pop() {
                object::for_each_reference(v, |r| marker.mark_value(r));
            }
            marker.live_bytes
        };
        self.sweep_large();
        // Descending, because `refill` pops from the end: low addresses are
        // reused first, which keeps allocation order deterministic.
        let mut blocks = self.all_blocks.clone();
        blocks.sort_unstable_by(|a, b| b.cmp(a));
        for block in blocks {
            let ci = block_header(block).class;
            self.unswept[ci].push(block);
        }
        self.stats.live_bytes = live;
        self.stats.collections += 1;
        self.stats.total_time += t0.elapsed();
        self.bytes_since_gc = 0;
        self.budget = MIN_GC_BUDGET.max(live);
    }

    fn sweep_large(&mut self) {
        let dead: Vec<(usize, usize)> = self
            .large
            .iter()
            .filter_map(|(&start, &size)| {
                // SAFETY: large objects are live allocations we own.
                let h = unsafe { &mut *(start as *mut Header) };
                if h.is_marked() || h.is_permanent() {
                    h.set_marked(false);
                    None
                } else {
                    Some((start, size))
                }
            })
            .collect();
        for (start, size) in dead {
            object::finalize(Value::from_ptr(start as *const u8));
            self.large.remove(&start);
            // SAFETY: allocated in `alloc_large` with this exact layout.
            unsafe { dealloc(start as *mut u8, Layout::from_size_align(size, 16).unwrap()) };
        }
    }

    /// Number of objects not known to be free; exact right after a
    /// collection, once every block is swept. For tests and statistics.
    pub fn object_count(&mut self) -> usize {
        for ci in 0..SIZE_CLASSES.len() {
            self.retire_bump_block(ci);
        }
        self.finish_sweep();
        let mut n = self.large.len();
        for &block in &self.all_blocks {
            let h = block_header(block);
            let mut cell = cells_start(block);
            let top = h.top.min(cells_end(block, h.cell_size));
            while cell < top {
                // SAFETY: cell below `top` inside a block we own.
                if unsafe { (*(cell as *const Header)).kind() } != Kind::Free {
                    n += 1;
                }
                cell += h.cell_size;
            }
        }
        n
    }

    /// Bytes reserved from the system for objects.
    pub fn reserved_bytes(&self) -> usize {
        self.all_blocks.len() * BLOCK_SIZE + self.large.values().sum::<usize>()
    }
}

/// Large objects come from the system allocator, and a collection frees
/// many at once (Sieve frees 700 Arrays of 40 KB per iteration); glibc then
/// trims the top of its heap, giving the pages back to the kernel, and the
/// next allocations fault every page in again, zeroed (Sieve's iterations
/// took 50 to 58 ms instead of 40 until the heap settled). A high trim
/// threshold keeps freed memory for reuse by later allocations.
fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        /// Free memory at the top of glibc's heap kept before trimming.
        const TRIM_THRESHOLD: libc::c_int = 256 << 20;
        // SAFETY: mallopt only changes one of glibc's tuning parameters;
        // repeating it is harmless.
        unsafe {
            libc::mallopt(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD);
        }
    }
}

/// Calls `f` with the address from which the current native stack must be
/// scanned, after spilling the callee-saved registers into that stack range, so
/// that a pointer held only in a register is seen by the conservative scan.
#[inline(never)]
pub fn with_registers_spilled<R>(f: impl FnOnce(usize) -> R) -> R {
    let mut regs = [0usize; 12];
    #[cfg(target_arch = "x86_64")]
    // SAFETY: only stores callee-saved registers into our own local array.
    unsafe {
        std::arch::asm!(
            "mov [{0}], rbx",
            "mov [{0} + 8], rbp",
            "mov [{0} + 16], r12",
            "mov [{0} + 24], r13",
            "mov [{0} + 32], r14",
            "mov [{0} + 40], r15",
            in(reg) regs.as_mut_ptr(),
            options(nostack, preserves_flags)
        );
    }
    #[cfg(target_arch = "aarch64")]
    // SAFETY: only stores callee-saved registers into our own local array.
    unsafe {
        std::arch::asm!(
            "stp x19, x20, [{0}]",
            "stp x21, x22, [{0}, #16]",
            "stp x23, x24, [{0}, #32]",
            "stp x25, x26, [{0}, #48]",
            "stp x27, x28, [{0}, #64]",
            "str x29, [{0}, #80]",
            in(reg) regs.as_mut_ptr(),
            options(nostack, preserves_flags)
        );
    }
    let sp = regs.as_ptr() as usize;
    let r = f(sp);
    std::hint::black_box(&regs);
    r
}
