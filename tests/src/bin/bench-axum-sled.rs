//! The floor `scripts/bench-peers` measures Gust against: an axum handler
//! that parses a JSON body, inserts it into sled under a fresh key and
//! flushes (each request its own flush) before answering 202, with Gust's
//! allocator. Serves
//! `POST /hooks/{anything}` on the address given as its one argument.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use serde_json::Value;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

struct Store {
    db: sled::Db,
    next: AtomicU64,
}

async fn accept(State(store): State<Arc<Store>>, Json(event): Json<Value>) -> StatusCode {
    let key = store.next.fetch_add(1, Ordering::Relaxed).to_be_bytes();
    let stored = serde_json::to_vec(&event)
        .map_err(|_| ())
        .and_then(|bytes| store.db.insert(key, bytes).map_err(|_| ()));
    // The blocking flush on the blocking pool: concurrent `flush_async`
    // calls deadlock in sled 0.34 (spacejam/sled#1308).
    let db = store.db.clone();
    let flushed = tokio::task::spawn_blocking(move || db.flush()).await;
    match (stored, flushed) {
        (Ok(_), Ok(Ok(_))) => StatusCode::ACCEPTED,
        _ => StatusCode::SERVICE_UNAVAILABLE,
    }
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(listen), Some(dir)) = (args.next(), args.next()) else {
        eprintln!("usage: bench-axum-sled ADDRESS DATA_DIR");
        std::process::exit(2);
    };
    let db = sled::Config::new()
        .path(dir)
        .mode(sled::Mode::HighThroughput)
        .open()
        .map_err(std::io::Error::other)?;
    let store = Arc::new(Store {
        db,
        next: AtomicU64::new(0),
    });
    let app = axum::Router::new()
        .route("/hooks/{workflow}", post(accept))
        .with_state(store);
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    println!("listening on {}", listener.local_addr()?);
    axum::serve(listener, app).await
}
