//! CallGear body parsing (SPEC §1, docs/callgear.md).
//!
//! Bodies are rendered the way CallGear renders them: the six templates from the integration
//! guide (`data/callgear/templates/`, verbatim) with every `{{variable}}` replaced by a JSON
//! literal. The realistic bodies are also kept as files in `data/callgear/` for end-to-end
//! tests; `CALLFOLD_BLESS=1 cargo test -p ingest --test callgear` rewrites them from here.

use std::path::PathBuf;

use chrono_tz::Tz;
use domain::callgear::{CallInfo, ContactInfo, EmployeeInfo, RecordFileInfo};
use domain::{CallGearKind, CallGearNotification, Direction, Phone, Timestamp};
use ingest::callgear::{parse, ParseError};

const MOSCOW: Tz = chrono_tz::Europe::Moscow;

fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/callgear")
}

fn template(kind: CallGearKind) -> String {
    let path = data_dir().join(format!("templates/{kind}.txt"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Renders `kind`'s template. `vars` are `(name, JSON literal)`; every variable of the template
/// must be given, and every given variable must occur in it.
fn render_with(kind: CallGearKind, vars: &[(&str, &str)]) -> String {
    let mut body = template(kind);
    for (name, literal) in vars {
        let placeholder = format!("{{{{{name}}}}}");
        assert!(
            body.contains(&placeholder),
            "{kind} template has no {placeholder}"
        );
        body = body.replace(&placeholder, literal);
    }
    assert!(
        !body.contains("{{"),
        "{kind}: unrendered variable in {body}"
    );
    body
}

// ---------------------------------------------------------------------------------------------
// One inbound call (session 1234567890: answered by employee 51, recorded) and one click-to-call
// from ticket 1042 (session 1234567999), as CallGear renders them.

const RECORD_FILE_LINKS: &str = concat!(
    r#"["https://media.callgear.example/talk/1234567890/987654321.mp3","#,
    r#""https://media.callgear.example/talk/1234567890/987654322.mp3"]"#,
);

fn realistic_vars(kind: CallGearKind) -> Vec<(&'static str, &'static str)> {
    use CallGearKind::*;
    let inbound = matches!(kind, Handset | EndLeg | End | Recording);
    let mut vars = vec![
        ("virtual_phone_number", r#""74993720692""#),
        ("contact_phone_number", r#""79161234567""#),
        ("communication_number", r#""74993720692""#),
        ("contact_id", "4817"),
        ("contact_full_name", r#""Иван Петров""#),
        ("employee_full_name", r#""Анна Смирнова""#),
        ("employee_id", "51"),
        ("scenario_name", r#""Основной сценарий""#),
    ];
    if inbound {
        vars.extend([
            ("external_id", "null"),
            ("call_source", r#""va""#),
            ("direction", r#""in""#),
            ("call_session_id", "1234567890"),
            ("leg_ids", "[987654320,987654321]"),
        ]);
    } else {
        vars.extend([
            ("external_id", r#""1042""#),
            ("call_source", r#""callapi""#),
            ("direction", r#""out""#),
            ("call_session_id", "1234567999"),
        ]);
    }
    let per_kind: &[(&str, &str)] = match kind {
        Handset => &[
            ("notification_name", r#""Поднятие трубки""#),
            ("notification_time", r#""2024-04-05 12:00:01.123456""#),
            ("talk_time_duration", "0"),
            ("total_time_duration", "12"),
            ("wait_time_duration", "12"),
            ("tag_names", "null"),
            ("is_lost", "false"),
            ("file_link", "null"),
            ("file_duration", "null"),
            ("leg_id", "987654321"),
        ],
        EndLeg => &[
            ("notification_name", r#""Завершение плеча""#),
            ("notification_time", r#""2024-04-05 12:01:48.5""#),
            ("is_operator", "true"),
            ("talk_time_duration", "95"),
            ("total_time_duration", "107"),
            ("wait_time_duration", "12"),
            ("tag_names", r#"["Продажи"]"#),
            ("is_lost", "false"),
            (
                "file_link",
                r#""https://media.callgear.example/talk/1234567890/987654321.mp3""#,
            ),
            ("file_duration", "95"),
            ("leg_id", "987654321"),
        ],
        End => &[
            ("notification_name", r#""Завершение звонка""#),
            ("notification_time", r#""2024-04-05 12:01:49""#),
            ("talk_time_duration", "95"),
            ("total_time_duration", "108"),
            ("wait_time_duration", "12"),
            ("tag_names", r#""Продажи, VIP""#),
            ("is_lost", "false"),
            (
                "file_link",
                r#""https://media.callgear.example/talk/1234567890/987654321.mp3""#,
            ),
            ("file_duration", "95"),
            ("leg_id", "null"),
            (
                "last_scenario_operation_name",
                r#""Переадресация на сотрудника""#,
            ),
            ("group_ids", "[12,15]"),
        ],
        Recording => &[
            ("notification_name", r#""Записанный разговор""#),
            ("notification_time", r#""2024-04-05 12:03:10.250""#),
            ("talk_time_duration", "95"),
            ("total_time_duration", "108"),
            ("wait_time_duration", "12"),
            ("tag_names", r#"["Продажи","VIP"]"#),
            ("is_lost", "false"),
            (
                "file_link",
                r#""https://media.callgear.example/talk/1234567890/987654321.mp3""#,
            ),
            ("file_duration", "95"),
            ("record_file_links", RECORD_FILE_LINKS),
            ("leg_id", "null"),
        ],
        LegOut => &[
            ("notification_name", r#""Исходящее плечо""#),
            ("notification_time", r#""2024-04-05 14:30:00.000001""#),
            ("talk_time_duration", "48"),
            ("total_time_duration", "60"),
            ("wait_time_duration", "12"),
            ("tag_names", "null"),
            ("is_lost", "false"),
            ("file_link", "null"),
            ("file_duration", "null"),
            ("leg_id", "987655001"),
            ("leg_ids", r#""987655000,987655001""#),
        ],
        CallOut => &[
            ("notification_name", r#""Исходящий звонок""#),
            ("notification_time", r#""2024-04-05 14:29:58""#),
            ("talk_time_duration", "null"),
            ("total_time_duration", "null"),
            ("wait_time_duration", "null"),
            ("tag_names", "null"),
            ("is_lost", "null"),
            ("file_link", "null"),
            ("file_duration", "null"),
            ("leg_id", "987655000"),
            ("leg_ids", "[987655000]"),
        ],
    };
    vars.extend_from_slice(per_kind);
    vars
}

fn realistic(kind: CallGearKind) -> String {
    render_with(kind, &realistic_vars(kind))
}

/// The realistic body of `kind` with some variables rendered differently.
fn render(kind: CallGearKind, overrides: &[(&str, &str)]) -> String {
    let mut vars = realistic_vars(kind);
    for (name, literal) in overrides {
        let slot = vars.iter_mut().find(|(n, _)| n == name);
        let slot = slot.unwrap_or_else(|| panic!("{kind} has no variable {name}"));
        slot.1 = literal;
    }
    render_with(kind, &vars)
}

fn micros(rfc3339: &str) -> Option<Timestamp> {
    Some(Timestamp::parse_rfc3339(rfc3339).unwrap())
}

fn phone(digits: &str) -> Option<Phone> {
    Phone::normalize(digits)
}

fn some(text: &str) -> Option<String> {
    Some(text.to_owned())
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

fn expected(kind: CallGearKind) -> CallGearNotification {
    use CallGearKind::*;
    let link = "https://media.callgear.example/talk/1234567890/987654321.mp3";
    let inbound = matches!(kind, Handset | EndLeg | End | Recording);
    let mut n = CallGearNotification {
        kind,
        notification_name: None,
        virtual_phone_number: phone("74993720692"),
        notification_time: None,
        external_id: if inbound { None } else { some("1042") },
        contact_info: ContactInfo {
            contact_phone_number: phone("79161234567"),
            communication_number: phone("74993720692"),
            contact_id: some("4817"),
            contact_full_name: some("Иван Петров"),
        },
        employee_info: EmployeeInfo {
            employee_full_name: some("Анна Смирнова"),
            employee_id: Some(51),
        },
        call_info: CallInfo {
            call_source: some(if inbound { "va" } else { "callapi" }),
            direction: Some(if inbound {
                Direction::In
            } else {
                Direction::Out
            }),
            call_session_id: if inbound { 1234567890 } else { 1234567999 },
            scenario_name: some("Основной сценарий"),
            is_operator: None,
            talk_time_duration_seconds: Some(95),
            total_time_duration_seconds: Some(108),
            wait_time_duration_seconds: Some(12),
            tag_names: Vec::new(),
            is_lost: Some(false),
        },
        call_record_file_info: RecordFileInfo {
            file_link: some(link),
            call_record_duration_seconds: Some(95),
            record_file_links: Vec::new(),
        },
        leg_id: None,
        leg_ids: if inbound {
            vec![987654320, 987654321]
        } else {
            Vec::new()
        },
        last_scenario_operation_name: None,
        group_ids: Vec::new(),
    };
    let no_record = RecordFileInfo::default();
    match kind {
        Handset => {
            n.notification_name = some("Поднятие трубки");
            n.notification_time = micros("2024-04-05T09:00:01.123456Z");
            n.call_info.talk_time_duration_seconds = Some(0);
            n.call_info.total_time_duration_seconds = Some(12);
            n.call_record_file_info = no_record;
            n.leg_id = Some(987654321);
        }
        EndLeg => {
            n.notification_name = some("Завершение плеча");
            n.notification_time = micros("2024-04-05T09:01:48.5Z");
            n.call_info.is_operator = Some(true);
            n.call_info.total_time_duration_seconds = Some(107);
            n.call_info.tag_names = strings(&["Продажи"]);
            n.leg_id = Some(987654321);
        }
        End => {
            n.notification_name = some("Завершение звонка");
            n.notification_time = micros("2024-04-05T09:01:49Z");
            n.call_info.tag_names = strings(&["Продажи", "VIP"]);
            n.last_scenario_operation_name = some("Переадресация на сотрудника");
            n.group_ids = vec![12, 15];
        }
        Recording => {
            n.notification_name = some("Записанный разговор");
            n.notification_time = micros("2024-04-05T09:03:10.25Z");
            n.call_info.tag_names = strings(&["Продажи", "VIP"]);
            n.call_record_file_info.record_file_links = strings(&[
                link,
                "https://media.callgear.example/talk/1234567890/987654322.mp3",
            ]);
        }
        LegOut => {
            n.notification_name = some("Исходящее плечо");
            n.notification_time = micros("2024-04-05T11:30:00.000001Z");
            n.call_info.talk_time_duration_seconds = Some(48);
            n.call_info.total_time_duration_seconds = Some(60);
            n.call_record_file_info = no_record;
            n.leg_id = Some(987655001);
            n.leg_ids = vec![987655000, 987655001];
        }
        CallOut => {
            n.notification_name = some("Исходящий звонок");
            n.notification_time = micros("2024-04-05T11:29:58Z");
            n.call_info.talk_time_duration_seconds = None;
            n.call_info.total_time_duration_seconds = None;
            n.call_info.wait_time_duration_seconds = None;
            n.call_info.is_lost = None;
            n.call_record_file_info = no_record;
            n.leg_id = Some(987655000);
            n.leg_ids = vec![987655000];
        }
    }
    n
}

/// Compares `body` with the data file `name` (or rewrites it under `CALLFOLD_BLESS=1`).
fn check_data_file(name: &str, body: &str) {
    let path = data_dir().join(name);
    if std::env::var_os("CALLFOLD_BLESS").is_some() {
        std::fs::write(&path, body).unwrap();
        return;
    }
    let stored = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; run with CALLFOLD_BLESS=1 to write it",
            path.display()
        )
    });
    assert_eq!(
        stored,
        body,
        "{} is stale; run with CALLFOLD_BLESS=1",
        path.display()
    );
}

#[test]
fn realistic_bodies_of_all_six_notifications() {
    for kind in CallGearKind::ALL {
        let body = realistic(kind);
        check_data_file(&format!("{kind}.json"), &body);
        // A rendered template is plain JSON: no repair involved.
        serde_json::from_str::<serde_json::Value>(&body).unwrap();
        let parsed = parse(kind, body.as_bytes(), MOSCOW).unwrap();
        assert_eq!(parsed, expected(kind), "{kind}");
    }
}

#[test]
fn malformed_and_quoted_data_files() {
    let handset = realistic(CallGearKind::Handset);

    // An admin quoted every string variable in the template.
    let mut quoted = template(CallGearKind::Handset);
    for var in [
        "notification_name",
        "contact_full_name",
        "employee_full_name",
        "scenario_name",
    ] {
        quoted = quoted.replace(&format!("{{{{{var}}}}}"), &format!("\"{{{{{var}}}}}\""));
    }
    let mut rendered = quoted;
    for (name, literal) in realistic_vars(CallGearKind::Handset) {
        rendered = rendered.replace(&format!("{{{{{name}}}}}"), literal);
    }
    assert!(rendered.contains(r#"""Иван Петров"""#));
    check_data_file("handset_quoted.json", &rendered);
    let parsed = parse(CallGearKind::Handset, rendered.as_bytes(), MOSCOW).unwrap();
    assert_eq!(parsed, expected(CallGearKind::Handset));

    let cut = handset.char_indices().nth(200).unwrap().0;
    let truncated = handset[..cut].to_owned();
    check_data_file("bad_truncated.json", &truncated);
    let array = format!("[{handset}]");
    check_data_file("bad_array.json", &array);
    let wrong_session = render(
        CallGearKind::End,
        &[("call_session_id", r#"{"id":1234567890}"#)],
    );
    check_data_file("bad_session_id.json", &wrong_session);

    let cases = [
        (
            "bad_truncated.json",
            CallGearKind::Handset,
            "body is not JSON: EOF while parsing",
        ),
        (
            "bad_array.json",
            CallGearKind::Handset,
            "body must be a JSON object, got an array",
        ),
        (
            "bad_session_id.json",
            CallGearKind::End,
            "call_info.call_session_id: expected a non-negative integer id, got an object",
        ),
    ];
    for (name, kind, message) in cases {
        let body = std::fs::read(data_dir().join(name)).unwrap();
        let error = parse(kind, &body, MOSCOW).unwrap_err();
        assert!(error.to_string().starts_with(message), "{name}: {error}");
    }
}

// ---------------------------------------------------------------------------------------------
// Leniency, one rule per row. `check` renders a realistic body with some variables rendered
// differently and looks at one field; `fail` expects the exact error message, and that
// `ParseError::field` names the field the message starts with.

/// One field of `n` by its path in the body, as `Debug` text (phones as digits, times as
/// RFC 3339).
fn field_of(n: &CallGearNotification, path: &str) -> String {
    let (contact, employee, call, record) = (
        &n.contact_info,
        &n.employee_info,
        &n.call_info,
        &n.call_record_file_info,
    );
    let digits = |p: &Option<Phone>| format!("{:?}", p.as_ref().map(Phone::digits));
    match path {
        "notification_name" => format!("{:?}", n.notification_name),
        "virtual_phone_number" => digits(&n.virtual_phone_number),
        "notification_time" => format!("{:?}", n.notification_time.map(|t| t.to_rfc3339())),
        "external_id" => format!("{:?}", n.external_id),
        "contact_info.contact_phone_number" => digits(&contact.contact_phone_number),
        "contact_info.communication_number" => digits(&contact.communication_number),
        "contact_info.contact_id" => format!("{:?}", contact.contact_id),
        "contact_info.contact_full_name" => format!("{:?}", contact.contact_full_name),
        "employee_info.employee_full_name" => format!("{:?}", employee.employee_full_name),
        "employee_info.employee_id" => format!("{:?}", employee.employee_id),
        "call_info.call_source" => format!("{:?}", call.call_source),
        "call_info.direction" => format!("{:?}", call.direction),
        "call_info.call_session_id" => format!("{:?}", call.call_session_id),
        "call_info.scenario_name" => format!("{:?}", call.scenario_name),
        "call_info.is_operator" => format!("{:?}", call.is_operator),
        "call_info.talk_time_duration" => format!("{:?}", call.talk_time_duration_seconds),
        "call_info.total_time_duration" => format!("{:?}", call.total_time_duration_seconds),
        "call_info.wait_time_duration" => format!("{:?}", call.wait_time_duration_seconds),
        "call_info.tag_names" => format!("{:?}", call.tag_names),
        "call_info.is_lost" => format!("{:?}", call.is_lost),
        "call_record_file_info.file_link" => format!("{:?}", record.file_link),
        "call_record_file_info.call_record_duration" => {
            format!("{:?}", record.call_record_duration_seconds)
        }
        "call_record_file_info.record_file_links" => format!("{:?}", record.record_file_links),
        "leg_id" => format!("{:?}", n.leg_id),
        "leg_ids" => format!("{:?}", n.leg_ids),
        "last_scenario_operation_name" => format!("{:?}", n.last_scenario_operation_name),
        "group_ids" => format!("{:?}", n.group_ids),
        other => panic!("no field {other}"),
    }
}

#[track_caller]
fn check_body(kind: CallGearKind, body: &str, tz: Tz, path: &str, expect: &str) {
    match parse(kind, body.as_bytes(), tz) {
        Ok(n) => assert_eq!(field_of(&n, path), expect, "{path} in {body}"),
        Err(e) => panic!("{path}: expected {expect}, got error {e}\nbody: {body}"),
    }
}

#[track_caller]
fn check(kind: CallGearKind, overrides: &[(&str, &str)], path: &str, expect: &str) {
    check_body(kind, &render(kind, overrides), MOSCOW, path, expect);
}

#[track_caller]
fn fail_bytes(kind: CallGearKind, body: &[u8], message: &str) {
    let error: ParseError = match parse(kind, body, MOSCOW) {
        Ok(n) => panic!("expected error {message:?}, parsed {n:?}"),
        Err(e) => e,
    };
    assert_eq!(error.to_string(), message);
    let field = (!message.starts_with("body ")).then(|| message.split(": ").next().unwrap());
    assert_eq!(error.field(), field, "{message}");
}

#[track_caller]
fn fail_body(kind: CallGearKind, body: &str, message: &str) {
    fail_bytes(kind, body.as_bytes(), message);
}

#[track_caller]
fn fail(kind: CallGearKind, overrides: &[(&str, &str)], message: &str) {
    fail_body(kind, &render(kind, overrides), message);
}

use CallGearKind::{CallOut, End, EndLeg, Handset, LegOut, Recording};

#[test]
fn quoted_template_variables_are_repaired() {
    let name = "contact_info.contact_full_name";
    check(
        Handset,
        &[("contact_full_name", r#"""Иван Петров"""#)],
        name,
        r#"Some("Иван Петров")"#,
    );
    check(Handset, &[("contact_full_name", r#""" """#)], name, "None");
    check(Handset, &[("contact_full_name", r#""""""#)], name, "None");
    check(
        Handset,
        &[("contact_full_name", r#"""Иван \"Ваня\" Петров"""#)],
        name,
        r#"Some("Иван \"Ваня\" Петров")"#,
    );
    check(
        End,
        &[(
            "last_scenario_operation_name",
            r#"""Переадресация, шаг [2]"""#,
        )],
        "last_scenario_operation_name",
        r#"Some("Переадресация, шаг [2]")"#,
    );
    // Several quoted variables, next to ordinary empty strings and escaped quotes.
    let overrides = [
        ("notification_name", r#""Поднятие \"трубки\"""#),
        ("contact_full_name", r#"""Иван Петров"""#),
        ("employee_full_name", r#""""#),
        ("scenario_name", r#"""Основной"""#),
        ("tag_names", r#"["", ""VIP"", "a\"\"b"]"#),
    ];
    let body = render(Handset, &overrides);
    check_body(Handset, &body, MOSCOW, name, r#"Some("Иван Петров")"#);
    check_body(
        Handset,
        &body,
        MOSCOW,
        "notification_name",
        r#"Some("Поднятие \"трубки\"")"#,
    );
    check_body(
        Handset,
        &body,
        MOSCOW,
        "employee_info.employee_full_name",
        "None",
    );
    check_body(
        Handset,
        &body,
        MOSCOW,
        "call_info.tag_names",
        r#"["VIP", "a\"\"b"]"#,
    );
    // Quoted numbers, booleans and null are already JSON strings: read leniently below.
    check(
        Handset,
        &[("call_session_id", r#""1234567890""#)],
        "call_info.call_session_id",
        "1234567890",
    );
    check(
        Handset,
        &[("external_id", r#""null""#)],
        "external_id",
        "None",
    );

    // Still broken after the repair: the message says so. Columns count bytes; after a repair
    // they refer to the repaired text (here 13 bytes shorter before the error).
    fail(
        Handset,
        &[
            ("contact_full_name", r#"""Иван"""#),
            ("employee_id", "51 52"),
        ],
        "body is not JSON even after repairing quoted template variables: \
         expected `,` or `}` at line 1 column 439",
    );
    // Nothing to repair: the plain parser's message.
    fail(
        Handset,
        &[("employee_id", "51 52")],
        "body is not JSON: expected `,` or `}` at line 1 column 452",
    );
    // A doubled quote that does not close before `,` `}` `]` is not repaired.
    fail(
        Handset,
        &[("contact_full_name", r#"""Иван"" Петров"#)],
        "body is not JSON: expected `,` or `}` at line 1 column 327",
    );
}

#[test]
fn durations_are_whole_seconds() {
    let talk = "call_info.talk_time_duration";
    for (literal, expect) in [
        ("95", "Some(95)"),
        ("0", "Some(0)"),
        (r#""123""#, "Some(123)"),
        (r#"" 42 ""#, "Some(42)"),
        ("12.0", "Some(12)"),
        (r#""12.0""#, "Some(12)"),
        ("1.2e1", "Some(12)"),
        ("4294967295", "Some(4294967295)"),
        ("null", "None"),
        (r#""null""#, "None"),
        (r#""""#, "None"),
        (r#"" ""#, "None"),
    ] {
        check(EndLeg, &[("talk_time_duration", literal)], talk, expect);
    }
    check(
        Recording,
        &[("file_duration", r#""95""#)],
        "call_record_file_info.call_record_duration",
        "Some(95)",
    );
    check(
        End,
        &[("wait_time_duration", "7.0")],
        "call_info.wait_time_duration",
        "Some(7)",
    );
    check(
        End,
        &[("total_time_duration", r#""108""#)],
        "call_info.total_time_duration",
        "Some(108)",
    );

    let expect = |got: &str| {
        format!("call_info.talk_time_duration: expected a whole number of seconds, got {got}")
    };
    for (literal, got) in [
        (r#""abc""#, r#""abc""#),
        ("-5", "-5 (negative)"),
        (r#""-5""#, r#""-5" (negative)"#),
        ("-0.5", "-0.5 (negative)"),
        ("12.5", "12.5 (fractional)"),
        (r#""12.5""#, r#""12.5" (fractional)"#),
        ("4294967296", "4294967296 (too large)"),
        ("1e30", "1e+30 (too large)"),
        ("true", "true"),
        ("[95]", "an array"),
        (r#"{"s":95}"#, "an object"),
        (r#""95s""#, r#""95s""#),
        (r#""+95""#, r#""+95""#),
    ] {
        fail(EndLeg, &[("talk_time_duration", literal)], &expect(got));
    }
    fail(
        Recording,
        &[("file_duration", "-1")],
        "call_record_file_info.call_record_duration: expected a whole number of seconds, \
         got -1 (negative)",
    );
}

#[test]
fn ids_are_non_negative_integers() {
    let employee = "employee_info.employee_id";
    check(Handset, &[("employee_id", r#""51""#)], employee, "Some(51)");
    check(Handset, &[("employee_id", "51.0")], employee, "Some(51)");
    check(Handset, &[("employee_id", "null")], employee, "None");
    check(Handset, &[("employee_id", r#""""#)], employee, "None");
    check(
        Handset,
        &[("leg_id", r#"" 987654321 ""#)],
        "leg_id",
        "Some(987654321)",
    );
    check(
        Handset,
        &[("leg_id", "18446744073709551615")],
        "leg_id",
        "Some(18446744073709551615)",
    );
    fail(
        Handset,
        &[("employee_id", "-51")],
        "employee_info.employee_id: expected a non-negative integer id, got -51 (negative)",
    );
    fail(
        Handset,
        &[("leg_id", r#""leg-1""#)],
        r#"leg_id: expected a non-negative integer id, got "leg-1""#,
    );
    fail(
        Handset,
        &[("leg_id", "18446744073709551616")],
        "leg_id: expected a non-negative integer id, got 1.8446744073709552e+19 (too large)",
    );
}

#[test]
fn call_session_id_is_required() {
    let id = "call_info.call_session_id";
    check(
        End,
        &[("call_session_id", r#"" 1234567890 ""#)],
        id,
        "1234567890",
    );
    check(
        End,
        &[("call_session_id", "1234567890.0")],
        id,
        "1234567890",
    );
    check(End, &[("call_session_id", "0")], id, "0");
    fail(
        End,
        &[("call_session_id", "null")],
        &format!("{id}: required, but got null"),
    );
    fail(
        End,
        &[("call_session_id", r#""null""#)],
        &format!(r#"{id}: required, but got "null""#),
    );
    fail(
        End,
        &[("call_session_id", r#""""#)],
        &format!(r#"{id}: required, but got """#),
    );
    fail(
        End,
        &[("call_session_id", r#""12ab""#)],
        &format!(r#"{id}: expected a non-negative integer id, got "12ab""#),
    );
    fail(
        End,
        &[("call_session_id", "-1")],
        &format!("{id}: expected a non-negative integer id, got -1 (negative)"),
    );
    fail(
        End,
        &[("call_session_id", "true")],
        &format!("{id}: expected a non-negative integer id, got true"),
    );
    let without =
        |call_info: &str| format!(r#"{{"notification_name":"x","call_info":{call_info}}}"#);
    fail_body(End, &without("{}"), &format!("{id}: required, but missing"));
    fail_body(
        End,
        &without(r#"{"call_session":1}"#),
        &format!("{id}: required, but missing"),
    );
    fail_body(
        End,
        &without("null"),
        &format!("{id}: required, but call_info is missing"),
    );
    fail_body(
        End,
        r#"{"notification_name":"x"}"#,
        &format!("{id}: required, but call_info is missing"),
    );
    fail_body(
        End,
        "{}",
        &format!("{id}: required, but call_info is missing"),
    );
}

#[test]
fn booleans_accept_strings_and_digits() {
    let lost = "call_info.is_lost";
    for (literal, expect) in [
        ("true", "Some(true)"),
        ("false", "Some(false)"),
        (r#""true""#, "Some(true)"),
        (r#""FALSE""#, "Some(false)"),
        (r#"" True ""#, "Some(true)"),
        ("1", "Some(true)"),
        ("0", "Some(false)"),
        ("1.0", "Some(true)"),
        (r#""1""#, "Some(true)"),
        (r#""0""#, "Some(false)"),
        ("null", "None"),
        (r#""null""#, "None"),
        (r#""""#, "None"),
    ] {
        check(End, &[("is_lost", literal)], lost, expect);
    }
    check(
        EndLeg,
        &[("is_operator", r#""1""#)],
        "call_info.is_operator",
        "Some(true)",
    );
    check(
        EndLeg,
        &[("is_operator", "false")],
        "call_info.is_operator",
        "Some(false)",
    );
    for (literal, got) in [
        ("2", "2"),
        (r#""yes""#, r#""yes""#),
        ("[]", "an array"),
        ("0.5", "0.5"),
        ("-1", "-1"),
    ] {
        fail(
            End,
            &[("is_lost", literal)],
            &format!("call_info.is_lost: expected true or false (or 1 or 0), got {got}"),
        );
    }
    fail(
        EndLeg,
        &[("is_operator", r#""operator""#)],
        r#"call_info.is_operator: expected true or false (or 1 or 0), got "operator""#,
    );
}

#[test]
fn direction_in_or_out() {
    let direction = "call_info.direction";
    for (literal, expect) in [
        (r#""in""#, "Some(In)"),
        (r#""IN""#, "Some(In)"),
        (r#""Incoming""#, "Some(In)"),
        (r#""inbound""#, "Some(In)"),
        (r#""out""#, "Some(Out)"),
        (r#"" Out ""#, "Some(Out)"),
        (r#""outgoing""#, "Some(Out)"),
        (r#""OUTBOUND""#, "Some(Out)"),
        ("null", "None"),
        (r#""""#, "None"),
    ] {
        check(End, &[("direction", literal)], direction, expect);
    }
    // An outbound notification without a direction keeps it absent; nothing is guessed.
    check(CallOut, &[("direction", "null")], direction, "None");
    check(LegOut, &[("direction", "null")], direction, "None");
    for (literal, got) in [
        (r#""sideways""#, r#""sideways""#),
        ("1", "1"),
        ("true", "true"),
    ] {
        fail(
            End,
            &[("direction", literal)],
            &format!(r#"call_info.direction: expected "in" or "out", got {got}"#),
        );
    }
}

#[test]
fn lists_are_arrays_or_comma_separated() {
    let tags = "call_info.tag_names";
    for (literal, expect) in [
        ("null", "[]"),
        ("[]", "[]"),
        (r#""""#, "[]"),
        (r#""null""#, "[]"),
        (r#"["a","b"]"#, r#"["a", "b"]"#),
        (r#""a, b,,c ,""#, r#"["a", "b", "c"]"#),
        (r#"" VIP ""#, r#"["VIP"]"#),
        (r#"[" a ", "", null, 5, 2.5]"#, r#"["a", "5", "2.5"]"#),
        ("7", r#"["7"]"#),
        // A quoted `"{{tag_names}}"` holding an array of numbers renders a JSON array in a string.
        (r#""[1, 2]""#, r#"["1", "2"]"#),
        (r#""[\"a\", \"b\"]""#, r#"["a", "b"]"#),
        (r#""[VIP]""#, r#"["[VIP]"]"#),
    ] {
        check(End, &[("tag_names", literal)], tags, expect);
    }
    for (literal, problem) in [
        (
            r#"{"a":1}"#,
            "expected a list (an array or a comma-separated string), got an object",
        ),
        (
            "true",
            "expected a list (an array or a comma-separated string), got true",
        ),
        (
            r#"["a",true]"#,
            "expected a list of strings, but item 2 of 2 is true",
        ),
        (
            r#"[["a"]]"#,
            "expected a list of strings, but item 1 of 1 is an array",
        ),
    ] {
        fail(
            End,
            &[("tag_names", literal)],
            &format!("{tags}: {problem}"),
        );
    }

    for (literal, expect) in [
        ("[1,2]", "[1, 2]"),
        (r#""1, 2""#, "[1, 2]"),
        (r#"["1"," 2 "]"#, "[1, 2]"),
        (r#""1,,2,""#, "[1, 2]"),
        ("[1.0, null]", "[1]"),
        ("5", "[5]"),
        (r#""[1, 2]""#, "[1, 2]"),
        (r#""[\"1\"]""#, "[1]"),
        ("null", "[]"),
        (r#""""#, "[]"),
    ] {
        check(End, &[("leg_ids", literal)], "leg_ids", expect);
        check(End, &[("group_ids", literal)], "group_ids", expect);
    }
    for (literal, problem) in [
        (r#""1, x""#, r#"item 2 of 2 is "x""#),
        ("[-1]", "item 1 of 1 is -1"),
        ("[1.5, 2]", "item 1 of 2 is 1.5"),
        (r#"[1, "2a", 3]"#, r#"item 2 of 3 is "2a""#),
        ("[true]", "item 1 of 1 is true"),
    ] {
        let message = format!("expected a list of integer ids, but {problem}");
        fail(End, &[("leg_ids", literal)], &format!("leg_ids: {message}"));
        fail(
            End,
            &[("group_ids", literal)],
            &format!("group_ids: {message}"),
        );
    }

    let links = "call_record_file_info.record_file_links";
    check(
        Recording,
        &[(
            "record_file_links",
            r#""https://x.example/1.mp3, https://x.example/2.mp3""#,
        )],
        links,
        r#"["https://x.example/1.mp3", "https://x.example/2.mp3"]"#,
    );
    check(Recording, &[("record_file_links", "null")], links, "[]");
}

#[test]
fn phones_are_digits() {
    let contact = "contact_info.contact_phone_number";
    for (literal, expect) in [
        (r#""74993720692""#, r#"Some("74993720692")"#),
        ("74993720692", r#"Some("74993720692")"#),
        ("74993720692.0", r#"Some("74993720692")"#),
        (r#""+7 (499) 372-06-92""#, r#"Some("74993720692")"#),
        (r#""anonymous""#, "None"),
        (r#""""#, "None"),
        ("null", "None"),
    ] {
        check(
            Handset,
            &[("contact_phone_number", literal)],
            contact,
            expect,
        );
    }
    check(
        Handset,
        &[("virtual_phone_number", "74993720692")],
        "virtual_phone_number",
        r#"Some("74993720692")"#,
    );
    check(
        Handset,
        &[("communication_number", r#""8 800 555-35-35""#)],
        "contact_info.communication_number",
        r#"Some("88005553535")"#,
    );
    fail(
        Handset,
        &[("contact_phone_number", "true")],
        &format!("{contact}: expected a phone number, got true"),
    );
    fail(
        Handset,
        &[("virtual_phone_number", r#"["74993720692"]"#)],
        "virtual_phone_number: expected a phone number, got an array",
    );
    fail(
        Handset,
        &[("communication_number", "-74993720692")],
        "contact_info.communication_number: expected a phone number, got -74993720692 (negative)",
    );
}

#[test]
fn texts_and_string_ids() {
    for (literal, expect) in [
        (r#""4817""#, r#"Some("4817")"#),
        ("4817", r#"Some("4817")"#),
        ("4817.0", r#"Some("4817")"#),
        (r#"" c-4817 ""#, r#"Some("c-4817")"#),
        (r#""""#, "None"),
        ("null", "None"),
        (r#""NULL""#, "None"),
    ] {
        check(
            Handset,
            &[("contact_id", literal)],
            "contact_info.contact_id",
            expect,
        );
        check(CallOut, &[("external_id", literal)], "external_id", expect);
    }
    check(
        Handset,
        &[("scenario_name", "42")],
        "call_info.scenario_name",
        r#"Some("42")"#,
    );
    check(
        Handset,
        &[("call_source", "true")],
        "call_info.call_source",
        r#"Some("true")"#,
    );
    check(
        Handset,
        &[("file_link", r#"" https://x.example/a.mp3 ""#)],
        "call_record_file_info.file_link",
        r#"Some("https://x.example/a.mp3")"#,
    );
    fail(
        Handset,
        &[("contact_full_name", r#"["Иван"]"#)],
        "contact_info.contact_full_name: expected a string, got an array",
    );
    fail(
        Handset,
        &[("external_id", r#"{"ticket":1042}"#)],
        "external_id: expected a string, got an object",
    );
}

#[test]
fn notification_time_is_account_local_unless_it_has_an_offset() {
    let time = |tz: Tz, text: &str, expect: &str| {
        let literal = serde_json::to_string(text).unwrap();
        let body = render(Handset, &[("notification_time", &literal)]);
        let expect = if expect == "None" {
            "None".to_owned()
        } else {
            format!("Some({expect:?})")
        };
        check_body(Handset, &body, tz, "notification_time", &expect);
    };
    let utc = chrono_tz::UTC;
    let berlin = chrono_tz::Europe::Berlin;
    let new_york = chrono_tz::America::New_York;
    let rows = [
        (
            MOSCOW,
            "2024-04-05 12:00:01.123456",
            "2024-04-05T09:00:01.123456Z",
        ),
        (MOSCOW, "2024-04-05T12:00:01", "2024-04-05T09:00:01Z"),
        (MOSCOW, " 2024-04-05 12:00:01 ", "2024-04-05T09:00:01Z"),
        (MOSCOW, "2024-04-05 12:00:01.1", "2024-04-05T09:00:01.100Z"),
        (
            MOSCOW,
            "2024-04-05 12:00:01.123456789",
            "2024-04-05T09:00:01.123456Z",
        ),
        (
            MOSCOW,
            "2024-04-05 12:00:01.000000999",
            "2024-04-05T09:00:01Z",
        ),
        (utc, "2024-04-05 12:00:01", "2024-04-05T12:00:01Z"),
        // Moscow was UTC+4 in 2014: the zone's history counts, not today's offset.
        (MOSCOW, "2014-06-01 12:00:00", "2014-06-01T08:00:00Z"),
        // An explicit offset wins over the account zone.
        (MOSCOW, "2024-04-05T12:00:01Z", "2024-04-05T12:00:01Z"),
        (MOSCOW, "2024-04-05 12:00:01z", "2024-04-05T12:00:01Z"),
        (
            MOSCOW,
            "2024-04-05T12:00:01.5+05:00",
            "2024-04-05T07:00:01.500Z",
        ),
        (MOSCOW, "2024-04-05T12:00:01+0500", "2024-04-05T07:00:01Z"),
        (MOSCOW, "2024-04-05T12:00:01+05", "2024-04-05T07:00:01Z"),
        (MOSCOW, "2024-04-05 12:00:01 -03:30", "2024-04-05T15:30:01Z"),
        // DST fold (clocks go back): the earlier instant.
        (berlin, "2024-10-27 02:30:00", "2024-10-27T00:30:00Z"),
        (new_york, "2024-11-03 01:30:00", "2024-11-03T05:30:00Z"),
        // DST gap (clocks go forward): the offset in force just before the gap.
        (berlin, "2024-03-31 02:30:00", "2024-03-31T01:30:00Z"),
        (new_york, "2024-03-10 02:30:00", "2024-03-10T07:30:00Z"),
        // Either side of the gap and of the fold.
        (berlin, "2024-03-31 01:59:59", "2024-03-31T00:59:59Z"),
        (berlin, "2024-03-31 03:00:00", "2024-03-31T01:00:00Z"),
        (berlin, "2024-10-27 01:59:59", "2024-10-26T23:59:59Z"),
        (berlin, "2024-10-27 03:00:00", "2024-10-27T02:00:00Z"),
        // Absent.
        (MOSCOW, "", "None"),
        (MOSCOW, "null", "None"),
    ];
    for (tz, text, expect) in rows {
        time(tz, text, expect);
    }
    let time_field = "notification_time";
    check(Handset, &[(time_field, "null")], time_field, "None");

    let bad_format = |got: &str| {
        format!(
            "notification_time: expected a time like \"2024-04-05 12:00:01.123456\" (local time \
             of the account, or RFC 3339 with an offset), got {got}"
        )
    };
    for text in [
        "yesterday",
        "2024-04-05",
        "2024-04-05 12:00",
        "05.04.2024 12:00:01",
        "2024-4-5 12:00:01",
        "2024-04-05 12:00:01.",
        "2024-04-05 12:00:01.1234567890",
        "2024-04-05 12:00:01,5",
        "2024-04-05 12:00:01+25:00",
        "2024-04-05 12:00:01+03:",
        "2024-04-05 12:00:01 UTC",
        "2024-04-05_12:00:01",
    ] {
        let literal = serde_json::to_string(text).unwrap();
        fail(
            Handset,
            &[("notification_time", &literal)],
            &bad_format(&literal),
        );
    }
    fail(
        Handset,
        &[("notification_time", "1712307601")],
        &bad_format("1712307601"),
    );
    for text in [
        "2024-02-30 12:00:00",
        "2024-13-01 00:00:00",
        "2024-04-05 24:00:00",
        "2024-04-05 12:00:60",
    ] {
        let literal = serde_json::to_string(text).unwrap();
        fail(
            Handset,
            &[("notification_time", &literal)],
            &format!("notification_time: no such date or time: {literal}"),
        );
    }
}

#[test]
fn sections_may_be_missing_or_null() {
    let minimal = r#"{"call_info":{"call_session_id":1234567890}}"#;
    for kind in CallGearKind::ALL {
        assert_eq!(
            parse(kind, minimal.as_bytes(), MOSCOW).unwrap(),
            CallGearNotification::new(kind, 1234567890)
        );
    }
    let nulls = r#"{"contact_info":null,"employee_info":"null","call_record_file_info":"",
        "call_info":{"call_session_id":7},"leg_ids":null,"group_ids":null}"#;
    assert_eq!(
        parse(End, nulls.as_bytes(), MOSCOW).unwrap(),
        CallGearNotification::new(End, 7)
    );

    for (section, literal, got) in [
        ("contact_info", r#""x""#, r#""x""#),
        ("employee_info", "[]", "an array"),
        ("call_record_file_info", "5", "5"),
        ("call_info", "true", "true"),
    ] {
        let body = match section {
            "call_info" => format!(r#"{{"call_info":{literal}}}"#),
            _ => format!(r#"{{"{section}":{literal},"call_info":{{"call_session_id":7}}}}"#),
        };
        fail_body(
            End,
            &body,
            &format!("{section}: expected an object, got {got}"),
        );
    }
}

#[test]
fn unknown_fields_are_ignored_and_kind_does_not_restrict_fields() {
    let body = r#"{"call_info":{"call_session_id":1,"is_operator":1,"extra":{"deep":[1,{"x":null}]}},
        "group_ids":"3","record_file_links":"ignored at top level","new_field":[true],
        "call_record_file_info":{"record_file_links":["https://x.example/1.mp3"],"size":5}}"#;
    let n = parse(Handset, body.as_bytes(), MOSCOW).unwrap();
    assert_eq!(n.call_info.is_operator, Some(true));
    assert_eq!(n.group_ids, vec![3]);
    assert_eq!(
        n.call_record_file_info.record_file_links,
        strings(&["https://x.example/1.mp3"])
    );
}

#[test]
fn bodies_that_cannot_be_read() {
    fail_body(Handset, "", "body is empty");
    fail_body(Handset, " \r\n", "body is empty");
    fail_bytes(
        Handset,
        b"{\"contact_info\":{\"contact_full_name\":\"\xff\"}}",
        "body is not UTF-8: invalid byte sequence at byte offset 38",
    );
    fail_bytes(
        Handset,
        &[0xd0, b'{'],
        "body is not UTF-8: invalid byte sequence at byte offset 0",
    );
    fail_body(Handset, "[1,2]", "body must be a JSON object, got an array");
    fail_body(Handset, "42", "body must be a JSON object, got a number");
    fail_body(
        Handset,
        r#""{}""#,
        "body must be a JSON object, got a string",
    );
    fail_body(Handset, "null", "body must be a JSON object, got null");
    fail_body(
        Handset,
        "{",
        "body is not JSON: EOF while parsing an object at line 1 column 1",
    );
    fail_body(
        Handset,
        r#"{"call_info":{"call_session_id":1}} trailing"#,
        "body is not JSON: trailing characters at line 1 column 37",
    );
    fail_body(
        Handset,
        "call_session_id=1&direction=in",
        "body is not JSON: expected value at line 1 column 1",
    );
    let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
    let body = format!(r#"{{"call_info":{{"call_session_id":1}},"x":{deep}}}"#);
    fail_body(
        Handset,
        &body,
        "body is not JSON: recursion limit exceeded at line 1 column 166",
    );
    // A byte-order mark is tolerated.
    let with_bom = format!("\u{feff}{}", realistic(Handset));
    assert_eq!(
        parse(Handset, with_bom.as_bytes(), MOSCOW).unwrap(),
        expected(Handset)
    );
}

#[test]
fn errors_are_values() {
    let error = parse(End, b"{}", MOSCOW).unwrap_err();
    assert_eq!(error.clone(), error);
    assert_eq!(error.field(), Some("call_info.call_session_id"));
    let error = parse(End, b"[]", MOSCOW).unwrap_err();
    assert_eq!(error, ParseError::NotAnObject { found: "an array" });
    assert_eq!(error.field(), None);
}
