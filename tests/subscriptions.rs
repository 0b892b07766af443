//! Live subscriptions over a real WebSocket (graphql-transport-ws): an agent UI
//! hears its calls with the customer card (R3), and ticket updates.

mod common;

use common::{bytes, callgear, client, post, Server, TOKEN};
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::time::Duration;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

const ADMIN: &str = "subs-admin-0123456789";

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn graphql(server: &Server, agent: Option<&str>, query: &str) -> Value {
    let mut request = client()
        .post(server.at("/graphql"))
        .header("authorization", format!("Bearer {ADMIN}"))
        .json(&json!({ "query": query }));
    if let Some(agent) = agent {
        request = request.header("x-callfold-agent", agent);
    }
    let body: Value = request
        .send()
        .await
        .expect("POST")
        .json()
        .await
        .expect("JSON");
    assert!(body.get("errors").is_none(), "{query}: {body}");
    body["data"].clone()
}

/// Connects and completes the graphql-transport-ws handshake with `init`.
async fn connect(server: &Server, init: Value) -> Result<Ws, String> {
    let mut request = format!("ws://{}/graphql/ws", server.address)
        .into_client_request()
        .expect("request");
    request.headers_mut().insert(
        "sec-websocket-protocol",
        "graphql-transport-ws".parse().expect("header"),
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(request)
        .await
        .map_err(|e| e.to_string())?;
    let init = json!({"type": "connection_init", "payload": init});
    socket
        .send(Message::text(init.to_string()))
        .await
        .map_err(|e| e.to_string())?;
    match next_json(&mut socket).await {
        Some(m) if m["type"] == "connection_ack" => Ok(Ws {
            socket,
            pending: Vec::new(),
        }),
        other => Err(format!("no connection_ack: {other:?}")),
    }
}

/// The next JSON text message; `None` when the socket closes or nothing comes
/// within a bound (a bound against hanging, not a speed check).
async fn next_json(socket: &mut Socket) -> Option<Value> {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(20), socket.next())
            .await
            .ok()??;
        match message.ok()? {
            Message::Text(text) => return serde_json::from_str(&text).ok(),
            Message::Close(_) => return None,
            _ => continue,
        }
    }
}

async fn subscribe(ws: &mut Ws, id: &str, query: &str) {
    let message = json!({"id": id, "type": "subscribe", "payload": {"query": query}});
    ws.socket
        .send(Message::text(message.to_string()))
        .await
        .expect("subscribe");
}

/// A graphql-transport-ws client: the socket, and messages read while waiting
/// for another subscription's, kept in order for their own turn.
struct Ws {
    socket: Socket,
    pending: Vec<Value>,
}

/// The next `next` payload's data for subscription `id` (one batch may yield a
/// call event and a ticket update in either order).
async fn next_data(ws: &mut Ws, id: &str) -> Value {
    let check = |message: Value| {
        assert!(message["payload"].get("errors").is_none(), "{message}");
        message["payload"]["data"].clone()
    };
    if let Some(index) = ws.pending.iter().position(|m| m["id"] == id) {
        return check(ws.pending.remove(index));
    }
    loop {
        let message = next_json(&mut ws.socket)
            .await
            .unwrap_or_else(|| panic!("no message for subscription {id}"));
        assert_ne!(message["type"], "error", "{message}");
        if message["type"] != "next" {
            continue;
        }
        if message["id"] == id {
            return check(message);
        }
        ws.pending.push(message);
    }
}

/// The next call event that is not a probe (sessions 7000–7039), never one of
/// Bob's (session 8001): Alice must not hear those.
async fn next_call(ws: &mut Ws) -> Value {
    loop {
        let data = next_data(ws, "calls").await;
        let session = data["callEvents"]["sessionId"]
            .as_str()
            .unwrap_or("")
            .to_string();
        assert_ne!(session, "8001", "Bob's call reached Alice: {data}");
        if !session.starts_with("70") {
            return data;
        }
    }
}

/// A notification of `kind` for `session`, operator `employee`, customer `phone`,
/// stamped `offset_seconds` from now. Operator→agent mappings hold from when they
/// were recorded (R18), and a conversation starts at its leg's end minus its talk
/// time, so the calls here happen a few minutes after the mappings.
fn notification(kind: &str, session: u64, employee: u64, phone: &str) -> Vec<u8> {
    let offset_seconds = match kind {
        "handset" => 300,
        _ => 420,
    };
    let mut body = callgear(kind, session);
    body["employee_info"]["employee_id"] = json!(employee);
    body["contact_info"]["contact_phone_number"] = json!(phone);
    let at = chrono::Utc::now() + chrono::Duration::seconds(offset_seconds);
    body["notification_time"] = json!(at.format("%Y-%m-%d %H:%M:%S%.6f").to_string());
    bytes(&body)
}

const CALL_EVENTS: &str = "subscription { callEvents { kind sessionId position agent { id } \
    customer { known customerId phone fields { field value } actions } } }";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_hears_their_calls_with_the_customer_card() {
    let (_tmp, data) = common::temp();
    let server = Server::start_with(
        &data,
        &[
            ("CALLFOLD_WEBHOOK_TOKEN", TOKEN),
            ("CALLFOLD_ADMIN_TOKEN", ADMIN),
        ],
    );
    graphql(&server, None, r#"mutation { upsertAgent(id: "alice", name: "Alice", callgearEmployeeIds: ["101"]) { id } }"#).await;
    graphql(
        &server,
        None,
        r#"mutation { upsertAgent(id: "bob", name: "Bob", callgearEmployeeIds: ["202"]) { id } }"#,
    )
    .await;
    graphql(&server, Some("alice"), r#"mutation { upsertCustomer(id: "acme-ivan", name: "Ivan Petrov", email: "ivan@acme.example", company: "ACME") { id } }"#).await;
    graphql(&server, Some("alice"), r#"mutation { linkPhoneToCustomer(phone: "+7 916 123-45-67", customerId: "acme-ivan") { id } }"#).await;
    let alice = graphql(
        &server,
        None,
        r#"mutation { createToken(name: "alice", role: AGENT, agentId: "alice") { secret } }"#,
    )
    .await["createToken"]["secret"]
        .as_str()
        .expect("secret")
        .to_string();

    // A wrong token gets no connection_ack.
    assert!(connect(&server, json!({"authorization": "Bearer nope"}))
        .await
        .is_err());
    // Alice's UI subscribes with her token (in connection_init, as browsers do).
    let mut socket = connect(&server, json!({"authorization": format!("Bearer {alice}")}))
        .await
        .expect("connected");
    // Tickets first: once the calls subscription is heard, both are live.
    subscribe(
        &mut socket,
        "tickets",
        r#"subscription { ticketUpdates(assigneeId: "alice") { id status assignee { id } } }"#,
    )
    .await;
    subscribe(&mut socket, "calls", CALL_EVENTS).await;
    let http = client();
    // A subscription hears what is committed after it started: post probe calls
    // until one is heard (bounded), so nothing below races the subscription.
    let mut probe = 7000;
    loop {
        let body = notification("handset", probe, 101, "79990000001");
        post(&http, &server.url("handset"), body).await.accepted();
        let heard =
            tokio::time::timeout(Duration::from_millis(500), next_data(&mut socket, "calls")).await;
        if heard.is_ok() {
            break;
        }
        probe += 1;
        assert!(probe < 7040, "the subscription never became live");
    }

    // Bob's call: not for Alice. Then a known customer calls Alice.
    post(
        &http,
        &server.url("handset"),
        notification("handset", 8001, 202, "79160000000"),
    )
    .await
    .accepted();
    let answered = post(
        &http,
        &server.url("handset"),
        notification("handset", 8002, 101, "79161234567"),
    )
    .await
    .accepted();
    let event = next_call(&mut socket).await;
    let event = &event["callEvents"];
    assert_eq!(event["kind"], "ANSWERED", "{event}");
    assert_eq!(
        event["sessionId"], "8002",
        "Bob's call must not reach Alice: {event}"
    );
    assert_eq!(event["position"], answered);
    assert_eq!(event["agent"]["id"], "alice");
    assert_eq!(event["customer"]["known"], true);
    assert_eq!(event["customer"]["customerId"], "acme-ivan");
    assert_eq!(event["customer"]["phone"], "+79161234567");
    assert_eq!(
        event["customer"]["fields"],
        json!([
            {"field": "NAME", "value": "Ivan Petrov"},
            {"field": "EMAIL", "value": "ivan@acme.example"},
            {"field": "COMPANY", "value": "ACME"}
        ])
    );

    // An unknown caller: shown as such, with the two options.
    post(
        &http,
        &server.url("handset"),
        notification("handset", 8003, 101, "79995550000"),
    )
    .await
    .accepted();
    let event = next_call(&mut socket).await;
    let event = &event["callEvents"];
    assert_eq!(event["sessionId"], "8003");
    assert_eq!(event["customer"]["known"], false);
    assert_eq!(event["customer"]["phone"], "+79995550000");
    assert_eq!(
        event["customer"]["actions"],
        json!(["LINK_TO_EXISTING_CUSTOMER", "CREATE_TICKET"])
    );

    // The known customer's call ends: ENDED, and R6 makes Alice a ticket.
    let mut leg =
        serde_json::from_slice::<Value>(&notification("endleg", 8002, 101, "79161234567"))
            .expect("json");
    leg["call_info"]["talk_time_duration"] = json!(95);
    post(&http, &server.url("endleg"), bytes(&leg))
        .await
        .accepted();
    post(
        &http,
        &server.url("end"),
        notification("end", 8002, 101, "79161234567"),
    )
    .await
    .accepted();
    let event = next_call(&mut socket).await;
    assert_eq!(event["callEvents"]["kind"], "ENDED", "{event}");
    assert_eq!(event["callEvents"]["sessionId"], "8002");
    let ticket = next_data(&mut socket, "tickets").await;
    assert_eq!(
        ticket["ticketUpdates"]["assignee"]["id"], "alice",
        "{ticket}"
    );
    assert_eq!(ticket["ticketUpdates"]["id"], "call-8002-alice");

    // Alice's token cannot listen to Bob.
    subscribe(
        &mut socket,
        "spy",
        r#"subscription { callEvents(agentId: "bob") { kind } }"#,
    )
    .await;
    loop {
        let message = next_json(&mut socket.socket).await.expect("a message");
        if message["id"] == "spy" {
            // Refused either at subscribe time (`error`) or as the stream's only item.
            let code = match message["type"].as_str() {
                Some("error") => message["payload"][0]["extensions"]["code"].clone(),
                _ => message["payload"]["errors"][0]["extensions"]["code"].clone(),
            };
            assert_eq!(code, "FORBIDDEN", "{message}");
            assert!(message["payload"]["data"].is_null(), "{message}");
            break;
        }
    }
}
