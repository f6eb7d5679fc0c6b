//! The local stack's store keeps its data in an SQLite file: a timer created before the store
//! restarts is still there after it, and fires. Dynoxide only, whatever store the other tests
//! use, since the file is what is tested.

use std::path::PathBuf;
use std::time::Duration;

use integration_tests::{FileStore, Receiver, TestApp};
use serde_json::json;

/// A directory removed when the test ends, passed or failed.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        let dir = std::env::temp_dir().join(format!(
            "timers-persistence-{}",
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timer_created_before_the_store_restarts_is_read_back_and_fires_after() {
    let dir = TempDir::new();
    let db = dir.0.join("timers.db");
    let receiver = Receiver::start().await;

    let before = FileStore::start(&db).await;
    let app = TestApp::on_endpoint(&before.endpoint, |_| {}).await;
    let created = app
        .create(json!({"url": receiver.url("/ok/kept"), "seconds": 30}))
        .await;
    let id = created["id"].as_str().unwrap().to_owned();
    before.stop().await;

    let after = FileStore::start(&db).await;
    let restarted = TestApp::on_table(&after.endpoint, app.settings.clone()).await;
    restarted.clock.set(app.now());
    assert_eq!(
        restarted.get(&id).await,
        created,
        "the timer reads as it was created"
    );

    restarted.clock.advance(Duration::from_secs(30));
    let report = restarted.sweeper().sweep(None).await.unwrap();
    assert_eq!((report.found, report.fired), (1, 1), "{report:?}");
    let hits = receiver.hits();
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].path, "/ok/kept");
    assert_eq!(hits[0].timer_id.as_deref(), Some(id.as_str()));
    assert_eq!(restarted.get(&id).await["status"], "fired");
    after.stop().await;
}
