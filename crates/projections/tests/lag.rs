//! Lag and the running worker: lag counts events appended but not projected;
//! the spawned worker follows the log head, and `wait_for` gives read-your-writes.

mod support;

use std::time::Duration;

use eventlog::EventLog;
use projections::Error;
use support::*;

#[test]
fn lag_is_the_number_of_events_not_yet_projected() {
    let fixture = Fixture::new();
    let projector = fixture.projector(2);
    assert_eq!((projector.lag(), projector.checkpoint()), (0, 0));
    let events = concat([team(), answered(10, "74990000001", 1, 0, 30)]);
    fixture.append(&events);
    assert_eq!(projector.lag(), events.len() as u64);
    assert_eq!(projector.checkpoint(), 0);
    projector.catch_up_blocking().unwrap();
    assert_eq!(projector.lag(), 0);
    assert_eq!(projector.checkpoint(), events.len() as u64);
    fixture.append(&missed(11, "74990000002", &[1], 100));
    assert_eq!(projector.lag(), 2);
    projector.catch_up_blocking().unwrap();
    assert_eq!(projector.lag(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_worker_follows_the_log_and_wait_for_gives_read_your_writes() {
    let fixture = Fixture::new();
    fixture.append_async(&team()).await;
    let handle = fixture.projector(1024).spawn().unwrap();
    handle.wait_for(2, Duration::from_secs(10)).await.unwrap();
    assert_eq!(handle.views().agents().unwrap().len(), 3);

    for round in 0..5u64 {
        let events = answered(10 + round, "74990000001", 1, round as i64 * 100, 30);
        fixture.append_async(&events).await;
        let last = fixture.log.head() - 1;
        let checkpoint = handle
            .wait_for(last, Duration::from_secs(10))
            .await
            .unwrap();
        assert!(checkpoint > last);
        let id = format!("call-{}-alice", 10 + round);
        assert!(handle.views().ticket(&id).unwrap().is_some(), "{id}");
    }
    assert_eq!(handle.lag(), 0);

    // A position nobody appended yet: a timeout, not a hang.
    let err = handle
        .wait_for(fixture.log.head() + 10, Duration::from_millis(50))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Timeout { .. }), "{err}");

    // A blocking catch-up takes turns with the worker.
    fixture
        .append_async(&missed(30, "74990000002", &[2], 1000))
        .await;
    let caught_up = tokio::task::spawn_blocking({
        let handle = handle.clone();
        move || handle.catch_up_blocking()
    })
    .await
    .unwrap()
    .unwrap();
    assert_eq!(caught_up, fixture.log.head());
    tokio::task::spawn_blocking(move || handle.shutdown())
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_that_fails_reports_it_to_waiters() {
    let fixture = Fixture::new();
    fixture.append_async(&team()).await;
    fixture.projector(1024).catch_up_blocking().unwrap();
    let fixture = fixture.edit_views_raw(|tree| {
        tree.insert("D", &b"CVD\x01garbage"[..]).unwrap();
    });
    let handle = fixture.projector(1024).spawn().unwrap();
    fixture.append_async(&[agent("dave", &[4], 0)]).await;
    let err = handle
        .wait_for(3, Duration::from_secs(10))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Stopped { .. }), "{err}");
    assert!(err.to_string().contains("directory"), "{err}");
    assert!(handle.progress().borrow().failure.is_some());
    assert_eq!(handle.lag(), 1);
}
