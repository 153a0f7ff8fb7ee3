//! A fixed set of threads for argon2 work. Hashing is CPU- and memory-bound (19 MiB a hash):
//! running it on tokio's blocking pool lets a login burst start hundreds of hashes at once,
//! which gains no throughput on a few cores and keeps hundreds of MiB in malloc arenas. Here at
//! most one hash per CPU of the container runs; the rest wait in a bounded queue.

use std::sync::{Arc, Mutex};

use tokio::sync::{mpsc, oneshot};

use crate::domain::password::PasswordHasher;

type Job = Box<dyn FnOnce(&PasswordHasher) + Send>;

/// Waiting jobs beyond which callers wait to enqueue (backpressure on login floods).
const QUEUE_DEPTH: usize = 256;

#[derive(Debug, thiserror::Error)]
pub enum PoolError {
    #[error("cannot start hashing thread: {0}")]
    Spawn(std::io::Error),
    #[error("hashing threads are gone")]
    Stopped,
}

#[derive(Clone)]
pub struct HashingPool {
    jobs: mpsc::Sender<Job>,
}

impl HashingPool {
    /// Starts `threads` workers (at least one); they exit when the last handle is dropped.
    pub fn start(hasher: PasswordHasher, threads: usize) -> Result<Self, PoolError> {
        let (jobs, receiver) = mpsc::channel::<Job>(QUEUE_DEPTH);
        let receiver = Arc::new(Mutex::new(receiver));
        for index in 0..threads.max(1) {
            let (receiver, hasher) = (receiver.clone(), hasher.clone());
            std::thread::Builder::new()
                .name(format!("argon2-{index}"))
                .spawn(move || {
                    loop {
                        let job = match receiver.lock() {
                            Ok(mut guard) => guard.blocking_recv(),
                            Err(_) => None,
                        };
                        match job {
                            Some(job) => job(&hasher),
                            None => return,
                        }
                    }
                })
                .map_err(PoolError::Spawn)?;
        }
        Ok(Self { jobs })
    }

    /// One worker per CPU the container may use ([`runtime::cpu::available`]: its CPU limit or
    /// request, not the node's cores), so a burst holds at most that many 19 MiB blocks.
    pub fn start_per_core(hasher: PasswordHasher) -> Result<Self, PoolError> {
        Self::start(hasher, runtime::cpu::available())
    }

    /// Runs `work` on a hashing thread and returns its result.
    pub async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&PasswordHasher) -> T + Send + 'static,
    ) -> Result<T, PoolError> {
        let (reply, result) = oneshot::channel();
        let job: Job = Box::new(move |hasher| {
            // The caller may have gone away (request cancelled); nothing to tell then.
            let _ = reply.send(work(hasher));
        });
        self.jobs.send(job).await.map_err(|_| PoolError::Stopped)?;
        result.await.map_err(|_| PoolError::Stopped)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::password::{HashParams, Password};

    #[tokio::test]
    async fn hashes_on_the_pool_verify() {
        let hasher = PasswordHasher::new(HashParams {
            memory_kib: 64,
            iterations: 1,
            parallelism: 1,
        })
        .expect("params");
        let pool = HashingPool::start(hasher, 2).expect("threads");
        let hash = pool
            .run(|h| h.hash(&Password::parse("correct horse 42").expect("valid")))
            .await
            .expect("pool alive")
            .expect("hash");
        let results = futures::future::join_all((0..8).map(|i| {
            let (pool, hash) = (pool.clone(), hash.clone());
            async move {
                let candidate = if i % 2 == 0 {
                    "correct horse 42"
                } else {
                    "wrong horse 42"
                };
                pool.run(move |h| h.verify(candidate, &hash))
                    .await
                    .expect("pool alive")
            }
        }))
        .await;
        assert_eq!(
            results,
            [true, false, true, false, true, false, true, false]
        );
    }
}
