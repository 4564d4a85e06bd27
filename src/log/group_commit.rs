//! Group commit: one flush for many appenders. The first appender to find no flush running
//! becomes the leader and flushes everything written so far; the others wait for it, and the
//! next leader covers whatever arrived during the flush.

use parking_lot::{Condvar, Mutex};

/// Leader election for flushes.
#[derive(Debug, Default)]
pub struct GroupCommit {
    flushing: Mutex<bool>,
    done: Condvar,
}

/// What a caller of `GroupCommit::enter` must do.
#[derive(Debug, PartialEq, Eq)]
pub enum Turn {
    /// Flush, then call `GroupCommit::leave`.
    Lead,
    /// A flush finished while waiting: check the durable LSN again.
    Recheck,
}

impl GroupCommit {
    /// Becomes the leader when no flush runs, else waits for the running one to finish.
    /// `is_done` is checked under the lock, so a caller never waits for nothing.
    pub fn enter(&self, is_done: impl Fn() -> bool) -> Turn {
        let mut flushing = self.flushing.lock();
        if is_done() {
            return Turn::Recheck;
        }
        if *flushing {
            self.done.wait(&mut flushing);
            return Turn::Recheck;
        }
        *flushing = true;
        Turn::Lead
    }

    /// Ends a leader's flush and wakes the waiters.
    pub fn leave(&self) {
        *self.flushing.lock() = false;
        self.done.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};

    #[test]
    fn one_leader_at_a_time() {
        let group = Arc::new(GroupCommit::default());
        let leaders = Arc::new(AtomicU64::new(0));
        let max_leaders = Arc::new(AtomicU64::new(0));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let (group, leaders, max_leaders) =
                    (group.clone(), leaders.clone(), max_leaders.clone());
                std::thread::spawn(move || {
                    for _ in 0..200 {
                        if group.enter(|| false) == Turn::Lead {
                            let now = leaders.fetch_add(1, Ordering::SeqCst) + 1;
                            max_leaders.fetch_max(now, Ordering::SeqCst);
                            std::thread::yield_now();
                            leaders.fetch_sub(1, Ordering::SeqCst);
                            group.leave();
                        }
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        assert_eq!(max_leaders.load(Ordering::SeqCst), 1);
    }
}
