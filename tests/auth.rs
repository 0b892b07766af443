//! Roles and tokens tried from the outside (issue 6): the real server on a real
//! socket, every boundary exercised over HTTP.

mod common;

use common::{bytes, callgear, client, post, Server, TOKEN};
use serde_json::{json, Value};

const ADMIN: &str = "admin-secret_0123456789";

struct Gql {
    client: reqwest::Client,
    url: String,
    /// Sent as `X-Callfold-Min-Position` (read-your-writes) when set.
    min_position: std::sync::Mutex<Option<u64>>,
}

impl Gql {
    fn new(server: &Server) -> Gql {
        Gql {
            client: client(),
            url: format!("http://{}/graphql", server.address),
            min_position: std::sync::Mutex::new(None),
        }
    }
}

impl Gql {
    /// Status and JSON body of one GraphQL request.
    async fn send(&self, bearer: Option<&str>, agent: Option<&str>, query: &str) -> (u16, Value) {
        let mut request = self.client.post(&self.url).json(&json!({ "query": query }));
        if let Some(bearer) = bearer {
            request = request.header("authorization", format!("Bearer {bearer}"));
        }
        if let Some(agent) = agent {
            request = request.header("x-callfold-agent", agent);
        }
        if let Some(position) = *self.min_position.lock().expect("lock") {
            request = request.header("x-callfold-min-position", position.to_string());
        }
        let response = request.send().await.expect("POST /graphql");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn ok(&self, bearer: &str, agent: Option<&str>, query: &str) -> Value {
        let (status, body) = self.send(Some(bearer), agent, query).await;
        assert_eq!(status, 200, "{query}: {body}");
        assert!(body.get("errors").is_none(), "{query}: {body}");
        body["data"].clone()
    }

    /// The `extensions.code` of the first error.
    async fn refused(&self, bearer: &str, agent: Option<&str>, query: &str) -> String {
        let (status, body) = self.send(Some(bearer), agent, query).await;
        let code = body["errors"][0]["extensions"]["code"]
            .as_str()
            .unwrap_or("")
            .to_string();
        assert!(!code.is_empty(), "{query} was not refused: {status} {body}");
        code
    }
}

fn webhook(server: &Server, kind: &str) -> String {
    format!("http://{}/webhooks/callgear/{TOKEN}/{kind}", server.address)
}

/// A call of session `session` answered by operator `employee` just now (the
/// operator→agent mapping applies from the time it was recorded on, R18).
fn handset(session: u64, employee: u64) -> Vec<u8> {
    let mut body = callgear("handset", session);
    body["employee_info"]["employee_id"] = json!(employee);
    let now = chrono::Utc::now() + chrono::Duration::seconds(1);
    body["notification_time"] = json!(now.format("%Y-%m-%d %H:%M:%S%.6f").to_string());
    bytes(&body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roles_hold_from_the_outside() {
    let (_tmp, data) = common::temp();
    let server = Server::start_with(
        &data,
        &[
            ("CALLFOLD_WEBHOOK_TOKEN", TOKEN),
            ("CALLFOLD_ADMIN_TOKEN", ADMIN),
        ],
    );
    let gql = Gql::new(&server);

    // Unauthenticated and wrong tokens: 401, nothing runs.
    for bearer in [None, Some("wrong"), Some(""), Some(&ADMIN[1..])] {
        let (status, body) = gql.send(bearer, None, "{ agents { id } }").await;
        assert_eq!(status, 401, "{bearer:?}: {body}");
        assert_eq!(body["errors"][0]["extensions"]["code"], "UNAUTHENTICATED");
    }

    // The administrator maps two agents and issues tokens.
    gql.ok(ADMIN, None, r#"mutation { upsertAgent(id: "alice", name: "Alice", callgearEmployeeIds: ["101"]) { id } }"#).await;
    gql.ok(
        ADMIN,
        None,
        r#"mutation { upsertAgent(id: "bob", name: "Bob", callgearEmployeeIds: ["202"]) { id } }"#,
    )
    .await;
    let created = gql
        .ok(ADMIN, None, r#"mutation { createToken(name: "alice's UI", role: AGENT, agentId: "alice") { token { id role agentId } secret } }"#)
        .await;
    let alice = created["createToken"]["secret"]
        .as_str()
        .expect("secret")
        .to_string();
    let alice_token_id = created["createToken"]["token"]["id"]
        .as_str()
        .expect("id")
        .to_string();
    assert_eq!(created["createToken"]["token"]["agentId"], "alice");
    let bob = gql
        .ok(
            ADMIN,
            None,
            r#"mutation { createToken(name: "bob", role: AGENT, agentId: "bob") { secret } }"#,
        )
        .await["createToken"]["secret"]
        .as_str()
        .expect("secret")
        .to_string();
    let supervisor = gql
        .ok(
            ADMIN,
            None,
            r#"mutation { createToken(name: "floor", role: SUPERVISOR) { secret } }"#,
        )
        .await["createToken"]["secret"]
        .as_str()
        .expect("secret")
        .to_string();
    // Tokens for unknown agents, or agent tokens without an agent, are refused.
    gql.refused(
        ADMIN,
        None,
        r#"mutation { createToken(name: "x", role: AGENT, agentId: "nobody") { secret } }"#,
    )
    .await;
    gql.refused(
        ADMIN,
        None,
        r#"mutation { createToken(name: "x", role: AGENT) { secret } }"#,
    )
    .await;

    // Bob talks on call 9001.
    let http = client();
    let position = post(&http, &webhook(&server, "handset"), handset(9001, 202))
        .await
        .accepted();
    // Read-your-writes: later requests wait until the read models have it.
    *gql.min_position.lock().expect("lock") = Some(position);

    // Everybody authenticated reads.
    for token in [&alice, &bob, &supervisor] {
        let data = gql
            .ok(
                token,
                None,
                "{ call(sessionId: \"9001\") { sessionId } agents { id } }",
            )
            .await;
        assert_eq!(data["call"]["sessionId"], "9001");
    }

    // Agents cannot manage agents or tokens; supervisors neither.
    for token in [&alice, &supervisor] {
        let code = gql
            .refused(token, None, r#"mutation { upsertAgent(id: "eve", name: "Eve", callgearEmployeeIds: []) { id } }"#)
            .await;
        assert_eq!(code, "FORBIDDEN");
        let code = gql
            .refused(
                token,
                None,
                r#"mutation { createToken(name: "x", role: ADMIN) { secret } }"#,
            )
            .await;
        assert_eq!(code, "FORBIDDEN");
        assert_eq!(
            gql.refused(token, None, "{ tokens { id } }").await,
            "FORBIDDEN"
        );
    }

    // Alice cannot act as Bob: naming him is refused before anything runs ...
    let file = r#"mutation { createTicketFromCall(sessionId: "9001", subject: "s") { id } }"#;
    let (status, body) = gql.send(Some(&alice), Some("bob"), file).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["errors"][0]["extensions"]["code"], "FORBIDDEN");
    // ... and filing Bob's call as herself is a domain rejection.
    let code = gql.refused(&alice, None, file).await;
    assert_eq!(code, "REJECTED");
    // A supervisor records nothing, and does not act as an agent.
    assert_eq!(gql.refused(&supervisor, None, file).await, "FORBIDDEN");
    let (status, _) = gql.send(Some(&supervisor), Some("bob"), file).await;
    assert_eq!(status, 403);
    // Bob files his own call; the answer carries the log position.
    let (status, body) = gql.send(Some(&bob), None, file).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["data"]["createTicketFromCall"]["id"], "call-9001-bob",
        "{body}"
    );
    assert!(body["extensions"]["position"].as_u64().is_some(), "{body}");
    // Only the administrator lists tokens; secrets are never listed.
    let listed = gql
        .ok(ADMIN, None, "{ tokens { id name role agentId revokedAt } }")
        .await;
    assert_eq!(listed["tokens"].as_array().map(Vec::len), Some(3));
    assert!(!listed.to_string().contains(&alice[3..]));

    // Revoking Alice's token locks her out.
    let revoked = gql
        .ok(
            ADMIN,
            None,
            &format!(r#"mutation {{ revokeToken(id: "{alice_token_id}") }}"#),
        )
        .await;
    assert_eq!(revoked["revokeToken"], true);
    let (status, _) = gql.send(Some(&alice), None, "{ agents { id } }").await;
    assert_eq!(status, 401);

    // The token file keeps hashes only, readable by the owner alone.
    let file = std::fs::read_to_string(data.join("tokens.json")).expect("tokens.json");
    for secret in [&alice, &bob, &supervisor] {
        assert!(!file.contains(&secret[3..]), "a secret is stored in clear");
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(data.join("tokens.json"))
            .expect("meta")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    // Tokens survive a restart; the revoked one stays revoked.
    server.stop();
    let server = Server::start_with(
        &data,
        &[
            ("CALLFOLD_WEBHOOK_TOKEN", TOKEN),
            ("CALLFOLD_ADMIN_TOKEN", ADMIN),
        ],
    );
    let gql = Gql::new(&server);
    gql.ok(&bob, None, "{ agents { id } }").await;
    let (status, _) = gql.send(Some(&alice), None, "{ agents { id } }").await;
    assert_eq!(status, 401);
}

/// Without `CALLFOLD_ADMIN_TOKEN` the server makes one, keeps it in the data dir
/// (mode 0600), and still refuses unauthenticated requests.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_token_is_generated_when_none_is_configured() {
    let (_tmp, data) = common::temp();
    let server = Server::start(&data);
    let gql = Gql::new(&server);
    let (status, _) = gql.send(None, None, "{ agents { id } }").await;
    assert_eq!(status, 401);
    let admin = std::fs::read_to_string(data.join("admin_token")).expect("admin_token");
    assert!(admin.trim().len() >= 32, "{admin:?}");
    gql.ok(admin.trim(), None, "{ agents { id } }").await;
}
