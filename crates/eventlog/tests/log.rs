//! The sled log on a real temporary directory: positions, dedupe, quarantine,
//! conflicts, reopening, bounds.

use domain::{CallGearKind, CallGearNotification, Event, Source, Timestamp};
use eventlog::{
    AppendOutcome, Error, EventLog, NewEvent, NewQuarantine, Options, QuarantineOutcome, SledLog,
};

fn event(session: u64, key_byte: u8) -> NewEvent {
    let mut key = [0u8; 32];
    key[..8].copy_from_slice(&session.to_be_bytes());
    key[8] = key_byte;
    NewEvent {
        received_at: Timestamp(1_700_000_000_000_000 + session as i64),
        source: Source::CallGear,
        kind: "end".into(),
        dedupe_key: key,
        time_zone: "UTC".into(),
        raw: format!("{{\"call_session_id\":{session}}}").into_bytes(),
        event: Event::CallGear(Box::new(CallGearNotification::new(
            CallGearKind::End,
            session,
        ))),
    }
}

fn open(dir: &tempfile::TempDir) -> SledLog {
    SledLog::open(Options::new(dir.path().join("log"))).unwrap()
}

#[test]
fn positions_are_gap_free_and_duplicates_append_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(&dir);
    let first = log
        .append(vec![event(1, 0), event(2, 0)], None)
        .wait()
        .unwrap();
    assert_eq!(
        first,
        vec![AppendOutcome::Accepted(0), AppendOutcome::Accepted(1)]
    );
    // A repeat of an earlier delivery, and a repeat inside the same request.
    let second = log
        .append(vec![event(2, 0), event(3, 0), event(3, 0)], None)
        .wait()
        .unwrap();
    assert_eq!(
        second,
        vec![
            AppendOutcome::Duplicate(1),
            AppendOutcome::Accepted(2),
            AppendOutcome::Duplicate(2)
        ]
    );
    assert_eq!(log.head(), 3);
    let read = log.read(0, 100).unwrap();
    let positions: Vec<u64> = read.iter().map(|e| e.position).collect();
    assert_eq!(positions, vec![0, 1, 2]);
    assert_eq!(read[2].raw, b"{\"call_session_id\":3}");
    assert_eq!(log.read(1, 1).unwrap().len(), 1);
    assert!(log.read(3, 10).unwrap().is_empty());
}

#[test]
fn reopening_keeps_everything_and_keeps_appending() {
    let dir = tempfile::tempdir().unwrap();
    {
        let log = open(&dir);
        log.append((0..50).map(|i| event(i, 1)).collect(), None)
            .wait()
            .unwrap();
        log.quarantine(NewQuarantine {
            received_at: Timestamp(5),
            source: Source::CallGear,
            kind: "end".into(),
            reason: "not JSON".into(),
            raw: b"{oops".to_vec(),
        })
        .wait()
        .unwrap();
        log.close();
    }
    let log = open(&dir);
    assert_eq!(log.head(), 50);
    // Dedupe survives the restart.
    let again = log
        .append(vec![event(7, 1), event(50, 1)], None)
        .wait()
        .unwrap();
    assert_eq!(
        again,
        vec![AppendOutcome::Duplicate(7), AppendOutcome::Accepted(50)]
    );
    let all = log.read(0, 1000).unwrap();
    assert_eq!(all.len(), 51);
    assert!(all.iter().enumerate().all(|(i, e)| e.position == i as u64));
    let q = log.quarantined().unwrap();
    assert_eq!(q.len(), 1);
    assert_eq!(q[0].raw, b"{oops");
    assert_eq!(q[0].reason, "not JSON");
}

#[test]
fn quarantine_keeps_one_copy_and_can_be_cleared() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(&dir);
    let item = |raw: &[u8]| NewQuarantine {
        received_at: Timestamp(1),
        source: Source::CallGear,
        kind: "handset".into(),
        reason: "broken".into(),
        raw: raw.to_vec(),
    };
    assert_eq!(
        log.quarantine(item(b"[1")).wait().unwrap(),
        QuarantineOutcome::Stored(0)
    );
    assert_eq!(
        log.quarantine(item(b"[1")).wait().unwrap(),
        QuarantineOutcome::AlreadyThere(0)
    );
    assert_eq!(
        log.quarantine(item(b"[2")).wait().unwrap(),
        QuarantineOutcome::Stored(1)
    );
    assert!(log.remove_quarantined(0).wait().unwrap());
    assert!(!log.remove_quarantined(0).wait().unwrap());
    let left: Vec<u64> = log.quarantined().unwrap().iter().map(|q| q.id).collect();
    assert_eq!(left, vec![1]);
    // Removed content may be quarantined again, under a new id.
    assert_eq!(
        log.quarantine(item(b"[1")).wait().unwrap(),
        QuarantineOutcome::Stored(2)
    );
    // Quarantine never touches the log.
    assert_eq!(log.head(), 0);
}

#[test]
fn quarantine_has_a_bound() {
    let dir = tempfile::tempdir().unwrap();
    let mut options = Options::new(dir.path().join("log"));
    options.quarantine_records_max = 2;
    let log = SledLog::open(options).unwrap();
    for i in 0..2u8 {
        let item = NewQuarantine {
            received_at: Timestamp(1),
            source: Source::CallGear,
            kind: "end".into(),
            reason: "x".into(),
            raw: vec![i],
        };
        log.quarantine(item).wait().unwrap();
    }
    let third = NewQuarantine {
        received_at: Timestamp(1),
        source: Source::CallGear,
        kind: "end".into(),
        reason: "x".into(),
        raw: vec![9],
    };
    assert!(matches!(
        log.quarantine(third).wait(),
        Err(Error::TooLarge(_))
    ));
}

#[test]
fn expected_head_detects_conflicts() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(&dir);
    log.append(vec![event(1, 2)], Some(0)).wait().unwrap();
    match log.append(vec![event(2, 2)], Some(0)).wait() {
        Err(Error::Conflict {
            expected: 0,
            actual: 1,
        }) => {}
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert_eq!(log.head(), 1);
    assert_eq!(
        log.append(vec![event(2, 2)], Some(1)).wait().unwrap(),
        vec![AppendOutcome::Accepted(1)]
    );
}

#[test]
fn request_size_is_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let mut options = Options::new(dir.path().join("log"));
    options.request_events_max = 3;
    let log = SledLog::open(options).unwrap();
    let too_many = (0..4).map(|i| event(i, 3)).collect();
    assert!(matches!(
        log.append(too_many, None).wait(),
        Err(Error::TooLarge(_))
    ));
    assert_eq!(log.head(), 0);
}

#[test]
fn large_values_survive_reopen() {
    // 17+ values of 200 KiB push sled leaves over its blob threshold, which takes
    // the separate blob-file path that the log syncs itself.
    let dir = tempfile::tempdir().unwrap();
    let big = vec![b'x'; 200 * 1024];
    {
        let log = open(&dir);
        let events = (0..20)
            .map(|i| {
                let mut e = event(i, 4);
                e.raw = big.clone();
                e
            })
            .collect();
        log.append(events, None).wait().unwrap();
        let blobs = std::fs::read_dir(dir.path().join("log/blobs"))
            .unwrap()
            .count();
        assert!(blobs > 0, "expected sled to write blob files");
    }
    let log = open(&dir);
    let all = log.read(0, 100).unwrap();
    assert_eq!(all.len(), 20);
    assert!(all.iter().all(|e| e.raw == big));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribers_see_the_durable_head_move() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(&dir);
    let mut head = log.subscribe();
    assert_eq!(*head.borrow_and_update(), 0);
    let receipt = log.append(vec![event(1, 5), event(2, 5)], None);
    assert_eq!(receipt.await.unwrap().len(), 2);
    head.changed().await.unwrap();
    assert_eq!(*head.borrow(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_appends_get_distinct_gap_free_positions() {
    let dir = tempfile::tempdir().unwrap();
    let log = std::sync::Arc::new(open(&dir));
    let mut tasks = Vec::new();
    for t in 0..16u64 {
        let log = log.clone();
        tasks.push(tokio::spawn(async move {
            let mut got = Vec::new();
            for i in 0..50u64 {
                let outcome = log
                    .append(vec![event(t * 1000 + i, 6)], None)
                    .await
                    .unwrap();
                got.push(outcome[0]);
            }
            got
        }));
    }
    let mut positions = Vec::new();
    for task in tasks {
        for outcome in task.await.unwrap() {
            match outcome {
                AppendOutcome::Accepted(p) => positions.push(p),
                AppendOutcome::Duplicate(p) => panic!("unexpected duplicate at {p}"),
            }
        }
    }
    positions.sort_unstable();
    assert_eq!(positions, (0..800).collect::<Vec<u64>>());
}
