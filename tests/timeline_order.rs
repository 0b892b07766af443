//! R17 for the archive timeline, through the binary: every `timeline_*`
//! scenario, its deliveries shuffled and partly delivered twice (re-serialised,
//! with other receive times), imported with `callfold import`, gives exactly
//! the expected `callfold query` output and the same read models
//! (`callfold digest`) as the stream in its recorded order. Also: paging the
//! archive with `after`, a bad cursor, and the complexity bound of `calls`.
//!
//! Each case is a seed (printed on failure); replay one with
//! `CALLFOLD_TIMELINE_SEED=<seed> cargo test --test timeline_order`.

mod common;

use common::{run, run_ok};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// Shuffled variants per scenario.
const SEEDS_PER_SCENARIO: u64 = 2;

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scenarios")
}

fn scenarios() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir())
        .expect("tests/scenarios")
        .map(|entry| entry.expect("dir entry").file_name().into_string().unwrap())
        .filter_map(|name| name.strip_suffix(".ndjson").map(str::to_string))
        .filter(|name| name.starts_with("timeline_"))
        .collect();
    names.sort();
    assert!(names.len() >= 16, "{names:?}");
    names
}

fn query_path(name: &str) -> PathBuf {
    let own = dir().join(format!("{name}.query.graphql"));
    if own.exists() {
        own
    } else {
        dir().join("timeline.query.graphql")
    }
}

/// The same JSON with its object keys in reverse order and no spaces: other
/// bytes, the same content.
fn reserialise(value: &Value) -> String {
    match value {
        Value::Object(map) => {
            let members: Vec<String> = map
                .iter()
                .rev()
                .map(|(k, v)| format!("{}:{}", Value::from(k.as_str()), reserialise(v)))
                .collect();
            format!("{{{}}}", members.join(","))
        }
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(reserialise).collect();
            format!("[{}]", items.join(","))
        }
        other => other.to_string(),
    }
}

/// The scenario's lines: the team (`graphql` lines) first as recorded, then its
/// deliveries shuffled, about a third of them delivered a second time
/// (re-serialised, received a minute later).
fn shuffled(name: &str, seed: u64) -> String {
    let text = std::fs::read_to_string(dir().join(format!("{name}.ndjson"))).unwrap();
    let mut team = Vec::new();
    let mut deliveries: Vec<String> = Vec::new();
    for line in text.lines() {
        if line.trim().is_empty() || line.trim_start().starts_with("//") {
            continue;
        }
        if line.contains("\"graphql\"") {
            team.push(line.to_string());
        } else {
            deliveries.push(line.to_string());
        }
    }
    let mut rng = fastrand::Rng::with_seed(seed);
    let originals = deliveries.len();
    for index in 0..originals {
        if rng.usize(..3) == 0 {
            let mut value: Value = serde_json::from_str(&deliveries[index]).unwrap();
            value["at"] = "2024-04-05T12:00:00Z".into();
            deliveries.push(reserialise(&value));
        }
    }
    rng.shuffle(&mut deliveries);
    team.extend(deliveries);
    team.join("\n") + "\n"
}

fn import_and_query(data: &Path, stream: &Path, name: &str) -> String {
    let output = run(data, &["import", stream.to_str().unwrap()]);
    assert!(
        output.status.success(),
        "{name}: import failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let document = format!("@{}", query_path(name).display());
    String::from_utf8(run_ok(data, &["query", &document])).unwrap()
}

fn digest(data: &Path) -> String {
    String::from_utf8(run_ok(data, &["digest"]))
        .unwrap()
        .trim()
        .to_string()
}

fn check_scenario(name: &str, seeds: &[u64]) {
    let expected = std::fs::read_to_string(dir().join(format!("{name}.expected.json"))).unwrap();
    let (_tmp, in_order) = common::temp();
    let recorded = dir().join(format!("{name}.ndjson"));
    assert_eq!(
        import_and_query(&in_order, &recorded, name).trim_end(),
        expected.trim_end(),
        "{name}: in recorded order"
    );
    let original = digest(&in_order);
    for &seed in seeds {
        let (tmp, data) = common::temp();
        let stream = tmp.path().join("shuffled.ndjson");
        std::fs::write(&stream, shuffled(name, seed)).unwrap();
        let actual = import_and_query(&data, &stream, name);
        assert_eq!(
            actual.trim_end(),
            expected.trim_end(),
            "{name}: seed {seed} (replay with CALLFOLD_TIMELINE_SEED={seed})"
        );
        assert_eq!(
            digest(&data),
            original,
            "{name}: seed {seed}: the read models differ from the recorded order's"
        );
    }
}

#[test]
fn shuffled_and_duplicated_deliveries_give_the_same_archive() {
    let fixed: Option<u64> = std::env::var("CALLFOLD_TIMELINE_SEED")
        .ok()
        .map(|s| s.parse().expect("CALLFOLD_TIMELINE_SEED is a u64"));
    for (index, name) in scenarios().iter().enumerate() {
        let seeds: Vec<u64> = match fixed {
            Some(seed) => vec![seed],
            None => (0..SEEDS_PER_SCENARIO)
                .map(|k| 0x7131_0000 + index as u64 * 16 + k)
                .collect(),
        };
        check_scenario(name, &seeds);
    }
}

#[test]
fn rebuild_gives_the_same_archive() {
    let (_tmp, data) = common::temp();
    let name = "timeline_archive_search";
    let stream = dir().join(format!("{name}.ndjson"));
    let before = import_and_query(&data, &stream, name);
    let digest_before = digest(&data);
    run_ok(&data, &["rebuild"]);
    assert_eq!(digest(&data), digest_before);
    let document = format!("@{}", query_path(name).display());
    let after = String::from_utf8(run_ok(&data, &["query", &document])).unwrap();
    assert_eq!(after, before);
}

fn query_json(data: &Path, document: &str, variables: &Value) -> (bool, Value) {
    let output = run(
        data,
        &["query", "--variables", &variables.to_string(), document],
    );
    let json: Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    });
    (output.status.success(), json)
}

#[test]
fn the_archive_pages_by_cursor_and_bounds_its_complexity() {
    let (_tmp, data) = common::temp();
    let stream = dir().join("timeline_archive_search.ndjson");
    run_ok(&data, &["import", stream.to_str().unwrap()]);

    let page = "query($after: String) { calls(first: 2, after: $after) {
        totalCount pageInfo { hasNextPage endCursor } nodes { sessionId } } }";
    let mut after = Value::Null;
    let mut seen = Vec::new();
    for round in 0.. {
        assert!(round < 10, "paging does not end");
        let (ok, json) = query_json(&data, page, &serde_json::json!({ "after": after }));
        assert!(ok, "{json}");
        let calls = &json["data"]["calls"];
        assert_eq!(calls["totalCount"], 6);
        for node in calls["nodes"].as_array().unwrap() {
            seen.push(node["sessionId"].as_str().unwrap().to_string());
        }
        if calls["pageInfo"]["hasNextPage"] == false {
            break;
        }
        after = calls["pageInfo"]["endCursor"].clone();
    }
    assert_eq!(
        seen,
        [
            "2400800201",
            "cc:cb-6005",
            "cc:ia-6004",
            "cc:ob-6003",
            "cc:in-6002",
            "cc:in-6001"
        ]
    );

    let (ok, json) = query_json(&data, page, &serde_json::json!({ "after": "c1.zz" }));
    assert!(!ok);
    assert_eq!(
        json["errors"][0]["extensions"]["code"], "BAD_INPUT",
        "{json}"
    );

    let (ok, json) = query_json(&data, "{ calls(first: 0) { totalCount } }", &Value::Null);
    assert!(!ok);
    assert_eq!(
        json["errors"][0]["extensions"]["code"], "BAD_INPUT",
        "{json}"
    );

    let (ok, json) = query_json(
        &data,
        r#"{ call(sessionId: "not-a-call") { sessionId } }"#,
        &Value::Null,
    );
    assert!(!ok);
    assert_eq!(
        json["errors"][0]["extensions"]["code"], "BAD_INPUT",
        "{json}"
    );

    // `calls` counts `first` times its selection: 500 calls with their timelines
    // are refused, 50 are fine.
    let timelines = |first: u32| {
        format!(
            "{{ calls(first: {first}) {{ nodes {{ sessionId timeline {{ kind start seconds agentId place label survey }} }} }} }}"
        )
    };
    let (ok, json) = query_json(&data, &timelines(500), &Value::Null);
    assert!(!ok);
    let message = json["errors"][0]["message"].as_str().unwrap_or_default();
    assert!(message.contains("complex"), "{json}");
    let (ok, json) = query_json(&data, &timelines(50), &Value::Null);
    assert!(ok, "{json}");
    assert_eq!(json["data"]["calls"]["nodes"].as_array().unwrap().len(), 6);
}

#[test]
fn timeline_entries_name_queue_or_menu_and_duration() {
    let (_tmp, data) = common::temp();
    let stream = dir().join("timeline_welcome_message.ndjson");
    run_ok(&data, &["import", stream.to_str().unwrap()]);
    let (ok, json) = query_json(
        &data,
        r#"{ call(sessionId: "cc:in-5001") { timeline { kind seconds duration place queue menu } } }"#,
        &Value::Null,
    );
    assert!(ok, "{json}");
    // The expected archive of this scenario: Queue "Support" 25 s, Conversation
    // from "Support" 120 s, then the welcome message as a Menu entry of 4 s.
    assert_eq!(
        json["data"]["call"]["timeline"],
        serde_json::json!([
            {"kind": "QUEUE", "seconds": 25, "duration": 25, "place": "Support",
             "queue": "Support", "menu": null},
            {"kind": "CONVERSATION", "seconds": 120, "duration": 120, "place": "Support",
             "queue": "Support", "menu": null},
            {"kind": "MENU", "seconds": 4, "duration": 4, "place": "Recorded for quality",
             "queue": null, "menu": "Recorded for quality"},
        ])
    );
}
