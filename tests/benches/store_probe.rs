#![allow(missing_docs, unreachable_pub)]
use std::sync::Arc;
use std::time::Instant;
use gust_engine::runtime::{RunId, RunRecord};
use gust_engine::store::{NewRun, SledStore, Store};
use serde_json::json;

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(SledStore::open(dir.path()).unwrap());
        for round in 0..3 {
            let n = 20_000usize;
            let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
            let t = Instant::now();
            let tasks: Vec<_> = (0..64).map(|_| {
                let store = store.clone(); let next = next.clone();
                tokio::spawn(async move {
                    while next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < n {
                        let record = RunRecord::queued(RunId::new(), "bench");
                        store.accept(NewRun { record, event: json!({"method":"POST","path":"/hooks/bench","headers":{"content-type":"application/json","host":"127.0.0.1:1234"},"query":{},"body":{"email":"ada@example.com","source":"website"}}) }).await.unwrap();
                    }
                })
            }).collect();
            for task in tasks { task.await.unwrap(); }
            println!("round {round}: {:.0} accepts/s", n as f64 / t.elapsed().as_secs_f64());
        }
    });
}
