//! Shared budgets that keep one client, or a burst of them, from taking the whole server:
//! upload permits (global and per account) and decode memory (by bytes, not by cores).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

const MIB: u64 = 1024 * 1024;

/// Memory that photo decoding may use at once. Each decode reserves its estimate
/// (`imaging::decode_estimate`, from the header) before it starts and gives it back when it
/// ends, so the peak is bounded by bytes whatever the number of cores. An image whose
/// estimate exceeds the whole budget is not refused (the pixel limits already bound it): it
/// reserves the whole budget and so runs alone.
pub struct DecodeBudget {
    permits: Arc<Semaphore>,
    total_mib: u32,
    in_use_mib: AtomicU64,
    peak_mib: AtomicU64,
}

/// A reservation of decode memory; released when dropped.
pub struct DecodeReservation {
    _permit: OwnedSemaphorePermit,
    mib: u32,
    budget: Arc<DecodeBudget>,
}

impl DecodeBudget {
    pub fn new(total_mib: usize) -> Arc<Self> {
        // Counted in MiB: a tokio semaphore takes at most u32 permits at once.
        let total_mib = u32::try_from(total_mib.max(1)).unwrap_or(u32::MAX >> 4);
        Arc::new(Self {
            permits: Arc::new(Semaphore::new(total_mib as usize)),
            total_mib,
            in_use_mib: AtomicU64::new(0),
            peak_mib: AtomicU64::new(0),
        })
    }

    /// Waits until `bytes` (rounded up to MiB, at most the whole budget) are free.
    pub async fn reserve(self: &Arc<Self>, bytes: u64) -> DecodeReservation {
        let wanted = bytes.div_ceil(MIB).clamp(1, u64::from(self.total_mib));
        let mib = u32::try_from(wanted).unwrap_or(self.total_mib);
        let permit = self
            .permits
            .clone()
            .acquire_many_owned(mib)
            .await
            .expect("the decode budget is never closed");
        let now = self.in_use_mib.fetch_add(u64::from(mib), Ordering::SeqCst) + u64::from(mib);
        self.peak_mib.fetch_max(now, Ordering::SeqCst);
        DecodeReservation {
            _permit: permit,
            mib,
            budget: self.clone(),
        }
    }

    pub fn total_mib(&self) -> u64 {
        u64::from(self.total_mib)
    }

    /// MiB reserved right now.
    pub fn in_use_mib(&self) -> u64 {
        self.in_use_mib.load(Ordering::SeqCst)
    }

    /// Most MiB ever reserved at once since start (a gauge for tests and operators).
    pub fn peak_mib(&self) -> u64 {
        self.peak_mib.load(Ordering::SeqCst)
    }
}

impl Drop for DecodeReservation {
    fn drop(&mut self) {
        self.budget
            .in_use_mib
            .fetch_sub(u64::from(self.mib), Ordering::SeqCst);
    }
}

/// Upload permits: `global` at once for the whole instance, and at most `per_user` of them for
/// one account. A request first waits for one of its account's slots, then for a global one,
/// so an account over its cap waits in its own line without holding a global permit: one
/// account (or a script with its token) cannot take every permit, and other GPs' uploads go
/// ahead. We wait rather than refuse with 429: the new-case form checks each photo the moment
/// it is picked, so one GP legitimately sends several requests at once; a waiting request
/// holds no memory (its body is not read) and the request timeout bounds the wait.
pub struct UploadPermits {
    global: Arc<Semaphore>,
    global_size: usize,
    per_user: usize,
    users: Mutex<HashMap<String, Arc<Semaphore>>>,
}

/// One upload's permits; released (and the account's entry forgotten when idle) on drop.
pub struct UploadPermit {
    global: Option<OwnedSemaphorePermit>,
    own: Option<OwnedSemaphorePermit>,
    user: String,
    permits: Arc<UploadPermits>,
}

impl UploadPermits {
    pub fn new(global: usize, per_user: usize) -> Arc<Self> {
        let global = global.max(1);
        Arc::new(Self {
            global: Arc::new(Semaphore::new(global)),
            global_size: global,
            per_user: per_user.clamp(1, global),
            users: Mutex::new(HashMap::new()),
        })
    }

    /// Waits for one of `user`'s slots, then for a global permit.
    pub async fn acquire(self: &Arc<Self>, user: &str) -> UploadPermit {
        // Made first so that, if the request is dropped while waiting, it is dropped last and
        // finds the account's line unused.
        let mut permit = UploadPermit {
            global: None,
            own: None,
            user: user.to_string(),
            permits: self.clone(),
        };
        let own_line = {
            let mut users = self.users.lock().expect("upload permits lock");
            users
                .entry(user.to_string())
                .or_insert_with(|| Arc::new(Semaphore::new(self.per_user)))
                .clone()
        };
        permit.own = Some(own_line.acquire_owned().await.expect("never closed"));
        permit.global = Some(
            self.global
                .clone()
                .acquire_owned()
                .await
                .expect("never closed"),
        );
        permit
    }

    /// Global permits in use now.
    pub fn in_use(&self) -> usize {
        self.global_size - self.global.available_permits()
    }

    /// Permits `user` holds now (uploads of theirs being read or processed).
    pub fn held_by(&self, user: &str) -> usize {
        let users = self.users.lock().expect("upload permits lock");
        users
            .get(user)
            .map_or(0, |s| self.per_user - s.available_permits())
    }
}

impl Drop for UploadPermit {
    fn drop(&mut self) {
        self.global.take();
        self.own.take();
        let mut users = self.permits.users.lock().expect("upload permits lock");
        // Only the map holds it: nobody of this account is uploading or waiting.
        if users
            .get(&self.user)
            .is_some_and(|s| Arc::strong_count(s) == 1)
        {
            users.remove(&self.user);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn one_account_holds_at_most_its_share_and_others_go_ahead() {
        let permits = UploadPermits::new(3, 2);
        let a1 = permits.acquire("a").await;
        let a2 = permits.acquire("a").await;
        let waiting = tokio::spawn({
            let permits = permits.clone();
            async move { permits.acquire("a").await }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!waiting.is_finished(), "a third upload of 'a' waits");
        assert_eq!(permits.held_by("a"), 2);
        let b = tokio::time::timeout(Duration::from_secs(1), permits.acquire("b"))
            .await
            .expect("'b' gets the permit 'a' is not allowed to take");
        assert_eq!(permits.in_use(), 3);
        drop(a1);
        let a3 = waiting.await.unwrap();
        assert_eq!(permits.held_by("a"), 2);
        drop((a2, a3, b));
        assert_eq!(permits.in_use(), 0);
        assert!(
            permits.users.lock().unwrap().is_empty(),
            "idle accounts are forgotten"
        );
    }

    #[tokio::test]
    async fn decode_reservations_stay_within_the_budget() {
        let budget = DecodeBudget::new(100);
        let big = budget.reserve(70 * MIB).await;
        let waiting = tokio::spawn({
            let budget = budget.clone();
            async move { budget.reserve(40 * MIB).await }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!waiting.is_finished(), "70 + 40 MiB do not fit in 100");
        drop(big);
        let small = waiting.await.unwrap();
        assert_eq!(budget.in_use_mib(), 40);
        drop(small);
        // Larger than the whole budget: runs alone rather than never.
        let huge = budget.reserve(500 * MIB).await;
        assert_eq!(budget.in_use_mib(), 100);
        drop(huge);
        assert_eq!(budget.peak_mib(), 100);
        assert_eq!(budget.in_use_mib(), 0);
    }
}
