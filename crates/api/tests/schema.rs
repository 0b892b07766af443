//! `schema.graphql` at the repository root is generated from the code.
//! Regenerate it with `CALLFOLD_BLESS=1 cargo test -p api --test schema`.

#[test]
fn schema_graphql_is_up_to_date() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../schema.graphql");
    let generated = api::sdl();
    if std::env::var_os("CALLFOLD_BLESS").is_some() {
        std::fs::write(path, &generated).unwrap();
        return;
    }
    let stored = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        stored == generated,
        "schema.graphql is stale: regenerate it with \
         `CALLFOLD_BLESS=1 cargo test -p api --test schema` and commit it"
    );
}

/// The names CONTRACT.md fixes are all in the schema.
#[test]
fn schema_has_the_contract_names() {
    let sdl = api::sdl();
    for name in [
        "scalar DateTime",
        "enum TicketStatus",
        "enum Channel",
        "enum CallDirection",
        "enum MessageKind",
        "ticket(id: ID!): Ticket",
        "tickets(filter: TicketFilter, first: Int = 50, after: String): TicketConnection!",
        "customer(id: ID!): Customer",
        "customerByPhone(phone: String!): Customer",
        "call(sessionId: ID!): Call",
        "agents: [Agent!]!",
        "missedCallCount: Int!",
        "recordingUrls: [String!]!",
        "upsertAgent(id: ID!, name: String!, callgearEmployeeIds: [ID!]!): Agent!",
        "createTicketFromCall(sessionId: ID!, subject: String, summary: String): Ticket!",
        "attachCallToTicket(sessionId: ID!, ticketId: ID!, summary: String): Ticket!",
        "saveCallDraft(sessionId: ID!, subject: String, summary: String): Boolean!",
        "linkPhoneToCustomer(phone: String!, customerId: ID!): Customer!",
        "setTicketStatus(ticketId: ID!, status: TicketStatus!): Ticket!",
        "addNote(ticketId: ID!, body: String!): Message!",
    ] {
        assert!(sdl.contains(name), "schema lacks `{name}`:\n{sdl}");
    }
}
