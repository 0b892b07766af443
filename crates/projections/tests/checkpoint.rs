//! Checkpoints, restarts and rebuilds: however the log is processed — in one
//! go, across restarts, in batches of any size, or rebuilt from position 0 —
//! the views come out byte for byte the same.

mod support;

use domain::Event;
use projections::{Error, Options, RebuildProgress};
use support::*;

/// The dump of `events` projected in one go with the default batch size.
fn one_go(events: &[Event]) -> Vec<u8> {
    let fixture = Fixture::new();
    fixture.append(events);
    fixture.projector(1024).catch_up_blocking().unwrap();
    fixture.views.dump().unwrap()
}

/// The workload appended and projected: its events, the fixture and the views' dump.
fn caught_up() -> (Vec<Event>, Fixture, Vec<u8>) {
    let events = workload();
    let fixture = Fixture::new();
    fixture.append(&events);
    fixture.projector(1024).catch_up_blocking().unwrap();
    let before = fixture.views.dump().unwrap();
    (events, fixture, before)
}

#[test]
fn a_restart_resumes_from_the_stored_checkpoint() {
    let events = workload();
    let (first, second) = events.split_at(events.len() / 2);

    let fixture = Fixture::new();
    fixture.append(first);
    assert_eq!(
        fixture.projector(4).catch_up_blocking().unwrap(),
        first.len() as u64
    );
    fixture.append(second); // appended, not yet projected
    let fixture = fixture.reopen();
    assert_eq!(fixture.views.checkpoint(), first.len() as u64);
    let projector = fixture.projector(4);
    assert_eq!(projector.lag(), second.len() as u64);
    assert_eq!(projector.catch_up_blocking().unwrap(), events.len() as u64);
    assert_eq!(projector.lag(), 0);
    assert_eq!(fixture.views.dump().unwrap(), one_go(&events));
}

#[test]
fn the_batch_size_does_not_change_the_views() {
    let events = workload();
    let fixture = Fixture::new();
    fixture.append(&events);
    fixture.projector(1).catch_up_blocking().unwrap();
    assert_eq!(fixture.views.dump().unwrap(), one_go(&events));
}

#[test]
fn rebuild_gives_the_same_bytes_as_the_incremental_views() {
    let events = workload();
    let fixture = Fixture::new();
    // Incrementally: append and project in small steps.
    let projector = fixture.projector(5);
    for chunk in events.chunks(3) {
        fixture.append(chunk);
        projector.catch_up_blocking().unwrap();
    }
    let incremental = fixture.views.dump().unwrap();
    assert_eq!(incremental, one_go(&events));

    assert_eq!(projector.rebuild_blocking().unwrap(), events.len() as u64);
    assert_eq!(fixture.views.dump().unwrap(), incremental);
    // And again after a restart.
    drop(projector);
    let fixture = fixture.reopen();
    let projector = fixture.projector(1024);
    projector.rebuild_blocking().unwrap();
    assert_eq!(fixture.views.dump().unwrap(), incremental);
}

#[test]
fn a_rebuild_in_spans_of_any_size_gives_the_same_bytes() {
    let events = workload();
    let expected = one_go(&events);
    for span in [1, 7, 64, events.len() - 1, events.len(), 1 << 20] {
        let fixture = Fixture::new();
        fixture.append(&events);
        let projector = fixture.projector_with(Options {
            rebuild_events_max: span,
            ..Options::default()
        });
        assert_eq!(projector.rebuild_blocking().unwrap(), events.len() as u64);
        assert_eq!(fixture.views.dump().unwrap(), expected, "span {span}");
        drop(projector);
        assert_eq!(
            fixture.reopen().views.dump().unwrap(),
            expected,
            "span {span}"
        );
    }
}

/// Runs smaller than a commit go through the writer thread (a full run
/// waits while the one before is inserted): the bytes are the same.
#[test]
fn a_rebuild_in_sorted_runs_of_any_size_gives_the_same_bytes() {
    let events = workload();
    let expected = one_go(&events);
    for (span, run) in [
        (1 << 20, 1),
        (1 << 20, 2),
        (1 << 20, 5),
        (1 << 20, 100),
        (64, 3),
        (7, 1),
    ] {
        let fixture = Fixture::new();
        fixture.append(&events);
        let projector = fixture.projector_with(Options {
            rebuild_events_max: span,
            rebuild_run_entries: run,
            ..Options::default()
        });
        assert_eq!(projector.rebuild_blocking().unwrap(), events.len() as u64);
        assert_eq!(
            fixture.views.dump().unwrap(),
            expected,
            "span {span}, runs of {run}"
        );
        // Rebuilt again over those views, then reopened.
        projector.rebuild_blocking().unwrap();
        drop(projector);
        assert_eq!(
            fixture.reopen().views.dump().unwrap(),
            expected,
            "span {span}, runs of {run}, rebuilt twice"
        );
    }
}

/// The keys of a views dump (length-prefixed key, value, key, value...).
fn dump_keys(dump: &[u8]) -> Vec<Vec<u8>> {
    let mut keys = Vec::new();
    let mut rest = dump;
    let mut is_key = true;
    while !rest.is_empty() {
        let len = u32::from_be_bytes(rest[..4].try_into().unwrap()) as usize;
        if is_key {
            keys.push(rest[4..4 + len].to_vec());
        }
        is_key = !is_key;
        rest = &rest[4 + len..];
    }
    keys
}

#[test]
fn a_rebuild_reports_each_span_applied_then_written() {
    let events = workload();
    let head = events.len() as u64;
    let (span, run) = (7u64, 3);
    assert!(head > 2 * span, "the workload spans several rebuild spans");
    let fixture = Fixture::new();
    fixture.append(&events);
    let projector = fixture.projector_with(Options {
        rebuild_events_max: span as usize,
        rebuild_run_entries: run,
        ..Options::default()
    });
    let mut steps = Vec::new();
    assert_eq!(
        projector
            .rebuild_blocking_with(&mut |step| steps.push(step))
            .unwrap(),
        head
    );

    // Applied positions only grow, and reach the head.
    let mut applied = 0;
    let mut written_spans = Vec::new();
    let mut last_entries = 0;
    for step in &steps {
        match *step {
            RebuildProgress::Applying {
                position,
                head: reported,
            } => {
                assert_eq!(reported, head);
                assert!(position > applied, "{steps:?}");
                applied = position;
            }
            RebuildProgress::Writing { position, entries } => {
                // A span is written after it is applied, before the next one.
                assert_eq!(position, applied, "{steps:?}");
                if written_spans.last() == Some(&position) {
                    assert!(entries > last_entries, "{steps:?}");
                } else {
                    written_spans.push(position);
                }
                last_entries = entries;
            }
        }
    }
    assert_eq!(applied, head);
    let expected_spans: Vec<u64> = (1..=head.div_ceil(span))
        .map(|n| (n * span).min(head))
        .collect();
    assert_eq!(written_spans, expected_spans);

    // One span into empty views: its last report counts every entry it wrote:
    // every key but the checkpoint and layout (written apart), plus the
    // removals it staged (here two statistics keys that ended up empty).
    let fixture = Fixture::new();
    fixture.append(&events);
    let projector = fixture.projector_with(Options {
        rebuild_run_entries: run,
        ..Options::default()
    });
    let mut last = None;
    projector
        .rebuild_blocking_with(&mut |step| {
            if let RebuildProgress::Writing { entries, .. } = step {
                last = Some(entries);
            }
        })
        .unwrap();
    let keys = dump_keys(&fixture.views.dump().unwrap());
    let derived = keys.iter().filter(|key| key.first() != Some(&b'@')).count();
    assert!(derived > 3 * run, "more than a few runs");
    let last = last.expect("the span was written");
    assert!(
        (derived..derived + derived / 10).contains(&last),
        "{last} entries reported, {derived} keys written"
    );
}

#[test]
fn views_left_without_a_checkpoint_by_an_interrupted_rebuild_start_over() {
    let (events, fixture, before) = caught_up();
    let fixture = fixture.edit_views_raw(|tree| {
        tree.remove("@checkpoint").unwrap();
    });
    assert_eq!(fixture.views.checkpoint(), 0);
    assert!(fixture.views.dump().unwrap().is_empty());
    assert_eq!(
        fixture.projector(1024).catch_up_blocking().unwrap(),
        events.len() as u64
    );
    assert_eq!(fixture.views.dump().unwrap(), before);
}

#[test]
fn a_rebuild_replaces_the_views_database_and_leaves_nothing_behind() {
    let (events, fixture, before) = caught_up();
    // Made by a build that stored an extra record: the rebuild must not keep it.
    let fixture = fixture.edit_views_raw(|tree| {
        tree.insert("Tleftover", &b"not derived from the log"[..])
            .unwrap();
    });
    assert_ne!(fixture.views.dump().unwrap(), before);
    let projector = fixture.projector(1024);
    assert_eq!(projector.rebuild_blocking().unwrap(), events.len() as u64);
    // Every clone of the views (the fixture's, the projector's) sees the new database.
    assert_eq!(fixture.views.dump().unwrap(), before);
    assert_eq!(projector.views().dump().unwrap(), before);
    assert_eq!(fixture.dir_names(), ["log", "views"]);
    // Twice in a row, and the result survives a restart.
    projector.rebuild_blocking().unwrap();
    drop(projector);
    let fixture = fixture.reopen();
    assert_eq!(fixture.views.dump().unwrap(), before);
    assert_eq!(fixture.views.checkpoint(), events.len() as u64);
}

#[test]
fn a_rebuild_interrupted_while_replacing_the_database_starts_over_on_open() {
    let (events, fixture, before) = caught_up();

    // Stopped after moving the old database aside, before deleting it.
    let fixture = fixture.edit_dir_raw(|dir| {
        std::fs::rename(dir.join("views"), dir.join("views.cleared")).unwrap();
    });
    assert_eq!(fixture.dir_names(), ["log", "views"]);
    assert_eq!(fixture.views.checkpoint(), 0);
    assert!(fixture.views.dump().unwrap().is_empty());
    fixture.projector(1024).catch_up_blocking().unwrap();
    assert_eq!(fixture.views.dump().unwrap(), before);

    // Stopped halfway through deleting it: the new views are kept, the rest goes.
    let fixture = fixture.edit_dir_raw(|dir| {
        let cleared = dir.join("views.cleared");
        std::fs::create_dir(&cleared).unwrap();
        std::fs::write(cleared.join("db"), b"half deleted").unwrap();
    });
    assert_eq!(fixture.dir_names(), ["log", "views"]);
    assert_eq!(fixture.views.checkpoint(), events.len() as u64);
    assert_eq!(fixture.views.dump().unwrap(), before);
}

/// A rebuild reads the log on a thread of its own; what that read fails with
/// is the rebuild's error, and the views are left without a checkpoint (so
/// the next open starts them over), whatever the span size.
#[test]
fn a_log_read_error_during_a_rebuild_is_the_rebuild_error() {
    let events = workload();
    let broken = events.len() as u64 / 2;
    for span in [1 << 20, 7] {
        let fixture = Fixture::new();
        fixture.append(&events);
        fixture.projector(1024).catch_up_blocking().unwrap();
        let fixture = fixture.edit_log_raw(|tree| {
            let mut key = vec![b'L'];
            key.extend_from_slice(&broken.to_be_bytes());
            tree.insert(key, &b"not an envelope"[..]).unwrap();
        });
        let projector = fixture.projector_with(Options {
            rebuild_events_max: span,
            ..Options::default()
        });
        let err = projector.rebuild_blocking().unwrap_err();
        assert!(
            matches!(err, Error::Log(eventlog::Error::Corrupt { .. })),
            "span {span}: {err}"
        );
        assert_eq!(fixture.views.checkpoint(), 0, "span {span}");
        drop(projector);
        assert!(
            fixture.reopen().views.dump().unwrap().is_empty(),
            "span {span}"
        );
    }
}

#[test]
fn a_corrupt_record_is_an_error_not_a_panic() {
    let fixture = Fixture::new();
    fixture.append(&concat([team(), answered(10, "74990000001", 1, 0, 30)]));
    fixture.projector(1024).catch_up_blocking().unwrap();
    let fixture = fixture.edit_views_raw(|tree| {
        tree.insert("D", &b"CVD\x01not an archive"[..]).unwrap();
        tree.insert("Tcall-10-alice", &b"CVT\x09from the future"[..])
            .unwrap();
    });
    let err = fixture.views.agents().unwrap_err();
    assert!(matches!(err, Error::Corrupt { .. }), "{err}");
    assert!(err.to_string().contains("directory"), "{err}");
    let err = fixture.views.ticket("call-10-alice").unwrap_err();
    assert!(err.to_string().contains("format version 9"), "{err}");

    // The projector stops on it with an error and keeps its checkpoint.
    let checkpoint = fixture.views.checkpoint();
    fixture.append(&[agent("dave", &[4], 0)]);
    let err = fixture.projector(1024).catch_up_blocking().unwrap_err();
    assert!(matches!(err, Error::Corrupt { .. }), "{err}");
    assert_eq!(fixture.views.checkpoint(), checkpoint);
}
