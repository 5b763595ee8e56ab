//! The heap: a non-moving mark-sweep collector with a precise heap and
//! conservative roots.
//!
//! Small objects live in aligned blocks of [`BLOCK_SIZE`] bytes, each block cut
//! into cells of one size class; free cells form a per-class free list threaded
//! through their header. Objects larger than the biggest class get their own
//! allocation. Objects never move, so raw pointers held anywhere stay valid.
//!
//! Sweeping is lazy: a collection only marks; each block is swept when the
//! allocator next needs cells of its class (so the cells it frees are reused
//! while the block is in cache), and whatever is still unswept when the next
//! collection starts is swept then.
//!
//! Invariants:
//! - every cell of a swept block is either a live object or a `Kind::Free` cell
//!   on the free list of its class; an unswept block may also hold dead objects,
//!   which is why marking never runs while a block is unswept;
//! - no cell is ever partially initialised when a collection can run
//!   (allocation initialises the header before returning);
//! - [`Heap::find_object`] maps any address inside a live object (interior
//!   pointers included) to that object, which is what makes conservative scanning
//!   of native stacks sound;
//! - permanent objects are marked and traced like others but never freed.
//!
//! The collector itself does not know the roots: [`Heap::collect`] takes a
//! closure that reports them (the VM's globals, its value stack and the native
//! stack words of the interpreter thread).

use crate::object::{self, Header, Kind};
use crate::value::Value;
use std::alloc::{alloc, dealloc, Layout};
use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

/// Size and alignment of a small-object block. Power of two, so the block of an
/// address is found by masking.
pub const BLOCK_SIZE: usize = 64 * 1024;

/// Cell sizes of the small-object classes. Larger objects are allocated alone.
const SIZE_CLASSES: [usize; 14] = [
    32, 48, 64, 80, 96, 128, 160, 192, 256, 384, 512, 768, 1024, 2048,
];

/// Minimum number of bytes allocated between two collections; after a
/// collection the budget grows to the surviving bytes, so collection work stays
/// proportional to allocation.
pub const MIN_GC_BUDGET: usize = 32 * 1024 * 1024;

struct BlockInfo {
    cell_size: usize,
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

/// The object heap.
pub struct Heap {
    free_lists: [*mut Header; SIZE_CLASSES.len()],
    unswept: [Vec<usize>; SIZE_CLASSES.len()],
    blocks: HashMap<usize, BlockInfo>,
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
}

impl Marker<'_> {
    /// A precise root: must be a valid value (or a non-pointer).
    #[inline]
    pub fn mark_value(&mut self, v: Value) {
        if v.is_ptr() {
            let h = object::header(v);
            if !h.is_marked() {
                h.set_marked(true);
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

impl Default for Heap {
    fn default() -> Self {
        Self::new()
    }
}

impl Heap {
    /// An empty heap.
    pub fn new() -> Heap {
        Heap {
            free_lists: [std::ptr::null_mut(); SIZE_CLASSES.len()],
            unswept: Default::default(),
            blocks: HashMap::new(),
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
            Some(ci) => self.alloc_small(ci),
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
        if self.free_lists[ci].is_null() {
            self.refill(ci);
        }
        let cell = self.free_lists[ci];
        // SAFETY: free cells store the next free cell in their shape word.
        self.free_lists[ci] = unsafe { (*cell).shape as *mut Header };
        cell as *mut u8
    }

    /// Finds free cells of class `ci`: sweeps unswept blocks until one yields
    /// some, else adds a fresh block.
    #[cold]
    #[inline(never)]
    fn refill(&mut self, ci: usize) {
        while let Some(start) = self.unswept[ci].pop() {
            self.sweep_block(start, ci);
            if !self.free_lists[ci].is_null() {
                return;
            }
        }
        self.add_block(ci);
    }

    /// Sweeps one block: frees its unmarked cells onto the free list of its
    /// class and clears the marks of the survivors.
    fn sweep_block(&mut self, start: usize, ci: usize) {
        let cell_size = SIZE_CLASSES[ci];
        let n = BLOCK_SIZE / cell_size;
        // Cells are pushed from the end so the free list hands out ascending
        // addresses.
        for i in (0..n).rev() {
            let cell = (start + i * cell_size) as *mut Header;
            // SAFETY: `cell` is a cell inside a block we own.
            let h = unsafe { &mut *cell };
            if h.kind() != Kind::Free {
                if h.is_marked() || h.is_permanent() {
                    h.set_marked(false);
                    continue;
                }
                object::finalize(Value::from_ptr(cell));
                h.meta = Header::meta_word(Kind::Free, 0);
            }
            h.shape = self.free_lists[ci] as *const object::Shape;
            self.free_lists[ci] = cell;
        }
    }

    /// Sweeps every block not swept since the last collection.
    fn finish_sweep(&mut self) {
        for ci in 0..SIZE_CLASSES.len() {
            while let Some(start) = self.unswept[ci].pop() {
                self.sweep_block(start, ci);
            }
        }
    }

    #[cold]
    fn add_block(&mut self, ci: usize) {
        let cell_size = SIZE_CLASSES[ci];
        let layout = Layout::from_size_align(BLOCK_SIZE, BLOCK_SIZE).expect("block layout");
        // SAFETY: the layout has non-zero size.
        let block = unsafe { alloc(layout) };
        if block.is_null() {
            std::alloc::handle_alloc_error(layout);
        }
        let start = block as usize;
        self.min_addr = self.min_addr.min(start);
        self.max_addr = self.max_addr.max(start + BLOCK_SIZE);
        self.blocks.insert(start, BlockInfo { cell_size });
        let n = BLOCK_SIZE / cell_size;
        let mut head = self.free_lists[ci];
        for i in (0..n).rev() {
            let cell = (start + i * cell_size) as *mut Header;
            // SAFETY: the cell lies inside the fresh block.
            unsafe {
                (*cell).meta = Header::meta_word(Kind::Free, 0);
                (*cell).shape = head as *const object::Shape;
            }
            head = cell;
        }
        self.free_lists[ci] = head;
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

    /// The live object containing address `w`, if any.
    pub fn find_object(&self, w: usize) -> Option<Value> {
        let block = w & !(BLOCK_SIZE - 1);
        if let Some(info) = self.blocks.get(&block) {
            let idx = (w - block) / info.cell_size;
            if (idx + 1) * info.cell_size > BLOCK_SIZE {
                return None;
            }
            let cell = block + idx * info.cell_size;
            // SAFETY: `cell` is a cell start inside a block we own.
            let kind = unsafe { (*(cell as *const Header)).kind() };
            return (kind != Kind::Free).then(|| Value::from_ptr(cell as *const u8));
        }
        let (&start, &size) = self.large.range(..=w).next_back()?;
        (w < start + size).then(|| Value::from_ptr(start as *const u8))
    }

    /// Runs a full collection. `roots` reports every root through the marker.
    pub fn collect(&mut self, roots: impl FnOnce(&mut Marker<'_>)) {
        let t0 = Instant::now();
        // Dead objects of the last cycle must be gone before marking: a stale
        // pointer to one must not resurrect it.
        self.finish_sweep();
        let mut live = 0;
        {
            let mut marker = Marker { heap: self };
            roots(&mut marker);
            while let Some(v) = marker.heap.mark_stack.pop() {
                let h = object::header(v);
                live += object::object_size(h.kind(), h.len());
                object::for_each_reference(v, |r| marker.mark_value(r));
            }
        }
        self.sweep_large();
        self.free_lists = [std::ptr::null_mut(); SIZE_CLASSES.len()];
        let mut blocks: Vec<(usize, usize)> =
            self.blocks.iter().map(|(s, i)| (*s, i.cell_size)).collect();
        // Descending, because `refill` pops from the end: low addresses are
        // reused first, which keeps allocation order deterministic.
        blocks.sort_unstable_by(|a, b| b.cmp(a));
        for (start, cell_size) in blocks {
            let ci = class_index(cell_size).expect("block size class");
            self.unswept[ci].push(start);
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
        self.finish_sweep();
        let mut n = self.large.len();
        for (&start, info) in &self.blocks {
            for i in 0..BLOCK_SIZE / info.cell_size {
                // SAFETY: cell inside a block we own.
                let h = unsafe { &*((start + i * info.cell_size) as *const Header) };
                if h.kind() != Kind::Free {
                    n += 1;
                }
            }
        }
        n
    }

    /// Bytes reserved from the system for objects.
    pub fn reserved_bytes(&self) -> usize {
        self.blocks.len() * BLOCK_SIZE + self.large.values().sum::<usize>()
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
