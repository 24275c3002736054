//! Group commit for the embedded adapters' redb files: one writer thread per file takes every
//! write waiting when it is free and applies them, in the order they came, in one durable redb
//! transaction (one sync to disk for all of them), then answers each. A write is answered only
//! once its transaction is on disk, exactly as when each had its own; concurrent writers (API
//! requests, dispatcher workers) share the sync instead of queueing for one each.
//!
//! Each write is a closure that checks its conditions before it writes anything, so a write
//! refused by its condition (the error [`Writer::write`]'s `refused` accepts) leaves the batch
//! as if it had not run, and the others commit. Any other error may have left a write half
//! done: the whole batch is abandoned (nothing of it written) and every write in it fails with
//! that error, as a failed commit fails them all.

use redb::{Database, WriteTransaction};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, Sender};

/// The most writes one transaction takes (a bound on how long the first waits for the last).
const MAX_BATCH: usize = 256;

/// One write waiting for the writer thread.
trait Job: Send {
    /// Applies the write in `tx`; false if its error may have left it half done.
    fn run(&mut self, tx: &WriteTransaction) -> bool;
    /// Answers the writer: its own result once `committed` is `Ok`, else that error.
    fn finish(self: Box<Self>, committed: Result<(), String>);
}

struct Pending<T, E, F> {
    f: Option<F>,
    result: Option<Result<T, E>>,
    reply: tokio::sync::oneshot::Sender<Result<T, E>>,
    refused: fn(&E) -> bool,
    lift: fn(String) -> E,
}

impl<T: Send, E: Send + std::fmt::Display, F: FnOnce(&WriteTransaction) -> Result<T, E> + Send> Job for Pending<T, E, F> {
    fn run(&mut self, tx: &WriteTransaction) -> bool {
        let Some(f) = self.f.take() else { return true };
        let r = f(tx);
        let whole = match &r {
            Ok(_) => true,
            Err(e) => (self.refused)(e),
        };
        self.result = Some(r);
        whole
    }

    fn finish(self: Box<Self>, committed: Result<(), String>) {
        let out = match (committed, self.result) {
            (Ok(()), Some(r)) => r,
            (Err(e), _) => Err((self.lift)(e)),
            (Ok(()), None) => Err((self.lift)("the write was not run".into())),
        };
        let _ = self.reply.send(out); // the caller may have gone; the write stands either way
    }
}

/// The writer of one redb file.
pub(crate) struct Writer {
    jobs: Option<Sender<Box<dyn Job>>>,
    thread: Option<std::thread::JoinHandle<()>>,
    /// Set once redb answers that an earlier I/O error (a full disk) stopped it: it takes no
    /// write until the file is opened again.
    broken: Arc<std::sync::atomic::AtomicBool>,
}

/// Dropping the writer lets its thread finish the writes it has and waits for it, so the file
/// is closed (and may be opened again) when the drop returns.
impl Drop for Writer {
    fn drop(&mut self) {
        self.jobs.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Writer {
    /// Starts the writer thread of `db` (named `herald-NAME`); it ends when the writer is dropped.
    pub fn start(db: Arc<Database>, name: &str) -> std::io::Result<Self> {
        let (jobs, queue) = std::sync::mpsc::channel::<Box<dyn Job>>();
        let broken = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = broken.clone();
        let thread = std::thread::Builder::new().name(format!("herald-{name}")).spawn(move || run(&db, &queue, &flag))?;
        Ok(Writer { jobs: Some(jobs), thread: Some(thread), broken })
    }

    /// Whether the file takes no more writes until it is opened again (see `broken`).
    pub fn broken(&self) -> bool {
        self.broken.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Runs `f` in the next batch's transaction and answers once that transaction is on disk:
    /// `f`'s result, or the commit's error (`lift`ed). `f` must check before it writes: an
    /// error for which `refused` is true must leave nothing written.
    pub async fn write<T, E, F>(&self, f: F, refused: fn(&E) -> bool, lift: fn(String) -> E) -> Result<T, E>
    where
        T: Send + 'static,
        E: Send + std::fmt::Display + 'static,
        F: FnOnce(&WriteTransaction) -> Result<T, E> + Send + 'static,
    {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let job = Box::new(Pending { f: Some(f), result: None, reply, refused, lift });
        let sent = self.jobs.as_ref().map(|j| j.send(job));
        if !matches!(sent, Some(Ok(()))) {
            return Err(lift("the writer thread has stopped".into()));
        }
        answer.await.map_err(|_| lift("the writer thread has stopped".into()))?
    }
}

fn run(db: &Database, queue: &Receiver<Box<dyn Job>>, broken: &std::sync::atomic::AtomicBool) {
    let stopped = |e: &redb::StorageError| {
        if matches!(e, redb::StorageError::PreviousIo) {
            broken.store(true, std::sync::atomic::Ordering::Relaxed);
        }
    };
    while let Ok(first) = queue.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH
            && let Ok(next) = queue.try_recv()
        {
            batch.push(next);
        }
        let tx = match db.begin_write() {
            Ok(tx) => tx,
            Err(e) => {
                if let redb::TransactionError::Storage(e) = &e {
                    stopped(e);
                }
                let e = e.to_string();
                batch.into_iter().for_each(|j| j.finish(Err(e.clone())));
                continue;
            }
        };
        let mut broken = None;
        for (i, job) in batch.iter_mut().enumerate() {
            if !job.run(&tx) {
                broken = Some(i);
                break;
            }
        }
        if let Some(i) = broken {
            drop(tx); // abandoned: nothing of the batch is written
            for (j, job) in batch.into_iter().enumerate() {
                // The broken write answers its own error; the others that it took down with it
                // are told the batch was abandoned.
                job.finish(if j == i { Ok(()) } else { Err("abandoned with a write that failed in the same commit".into()) });
            }
            continue;
        }
        let committed = tx.commit().map_err(|e| {
            if let redb::CommitError::Storage(e) = &e {
                stopped(e);
            }
            e.to_string()
        });
        batch.into_iter().for_each(|j| j.finish(committed.clone()));
    }
}
