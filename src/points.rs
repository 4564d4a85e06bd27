//! Yield points: named places in the flush, seal and truncation protocols where a test can
//! hold the thread that reaches them, to force one interleaving. No-ops outside tests.

/// A place in a protocol where another thread's step can change the outcome.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Point {
    /// A flush leader has taken its range and LSN under the writer lock and released it.
    FlushTaken,
    /// A flush leader's msync has returned, before it raises the durable LSN.
    FlushDone,
    /// A suffix truncation has removed the files past the cut and created the segment that
    /// continues the log, before readers are shown the cut.
    SuffixCut,
    /// A suffix truncation inside the active segment has shown readers the cut and lowered
    /// the durable LSN, before it removes the records in place, and again before each of the
    /// rewind's flushes (its writes done, not yet durable).
    Rewinding,
}

/// Marks `point` on this thread (a test's hook for the thread may hold it there).
#[cfg(not(test))]
#[inline(always)]
pub fn reach(_point: Point) {}

/// Marks `point` on this thread (a test's hook for the thread may hold it there).
#[cfg(test)]
pub fn reach(point: Point) {
    hook::run(point);
}

#[cfg(test)]
pub mod hook {
    //! Per-thread hooks: a test arms the threads it spawns, so parallel tests never see
    //! each other's hooks.
    use std::cell::RefCell;

    use super::Point;

    type Hook = Box<dyn FnMut(Point)>;

    thread_local! {
        static HOOK: RefCell<Option<Hook>> = const { RefCell::new(None) };
    }

    /// Runs `hook` at every point this thread reaches from now on.
    pub fn set(hook: impl FnMut(Point) + 'static) {
        HOOK.with(|slot| *slot.borrow_mut() = Some(Box::new(hook)));
    }

    pub(super) fn run(point: Point) {
        HOOK.with(|slot| {
            if let Some(hook) = slot.borrow_mut().as_mut() {
                hook(point);
            }
        });
    }
}
