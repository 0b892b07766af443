//! Who may do what: bearer tokens and roles.
//!
//! - admin: everything, including managing agents and tokens; may act as any
//!   agent (`X-Callfold-Agent`). `CALLFOLD_ADMIN_TOKEN` is an admin token.
//! - supervisor: reads everything; records nothing.
//! - agent: reads everything; records actions only as its own agent.
//!
//! Created tokens are kept hashed (blake3) in a JSON file written atomically;
//! the secret is shown once, by `createToken`.

use async_graphql::{Enum, SimpleObject, ID};
use domain::Timestamp;
use std::path::{Path, PathBuf};
use std::sync::RwLock;

/// At most this many tokens (revoked ones included) are kept.
pub const TOKENS_MAX: usize = 10_000;

#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Admin,
    Supervisor,
    Agent,
}

/// An authenticated caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    pub role: Role,
    /// For agent tokens: the agent they act as.
    pub agent_id: Option<String>,
}

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
struct TokenRecord {
    id: String,
    name: String,
    role: Role,
    agent_id: Option<String>,
    /// blake3 of the secret, hex.
    hash: String,
    created_at: Timestamp,
    revoked_at: Option<Timestamp>,
}

/// A token as listed (never with its secret).
#[derive(SimpleObject, Clone, Debug)]
#[graphql(name = "ApiToken")]
pub struct TokenInfo {
    pub id: ID,
    pub name: String,
    pub role: Role,
    pub agent_id: Option<ID>,
    pub created_at: crate::types::DateTime,
    pub revoked_at: Option<crate::types::DateTime>,
}

impl From<&TokenRecord> for TokenInfo {
    fn from(r: &TokenRecord) -> Self {
        TokenInfo {
            id: ID(r.id.clone()),
            name: r.name.clone(),
            role: r.role,
            agent_id: r.agent_id.clone().map(ID),
            created_at: crate::types::DateTime(r.created_at),
            revoked_at: r.revoked_at.map(crate::types::DateTime),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("token store {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("token store {path} is not valid: {source}")]
    Format {
        path: String,
        source: serde_json::Error,
    },
    #[error("no randomness for a token: {0}")]
    Random(String),
    #[error("at most {TOKENS_MAX} tokens")]
    Full,
}

/// The token file and the administrator token.
#[derive(Debug)]
pub struct Tokens {
    path: Option<PathBuf>,
    admin_hash: Option<[u8; 32]>,
    records: RwLock<Vec<TokenRecord>>,
}

fn hash(secret: &str) -> [u8; 32] {
    *blake3::hash(secret.trim().as_bytes()).as_bytes()
}

/// Compares two hashes without an early exit.
fn same(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter()
        .zip(b.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
        == 0
}

impl Tokens {
    /// No file, no admin token: nothing authenticates (for in-process use where
    /// access to the files is the authority).
    pub fn none() -> Tokens {
        Tokens {
            path: None,
            admin_hash: None,
            records: RwLock::new(Vec::new()),
        }
    }

    /// Loads `path` if it exists.
    pub fn open(path: &Path, admin_token: Option<&str>) -> Result<Tokens, Error> {
        let records = match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|source| Error::Format {
                path: path.display().to_string(),
                source,
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(source) => {
                return Err(Error::Io {
                    path: path.display().to_string(),
                    source,
                })
            }
        };
        Ok(Tokens {
            path: Some(path.to_path_buf()),
            admin_hash: admin_token.map(hash),
            records: RwLock::new(records),
        })
    }

    /// The caller a bearer secret stands for; `None` if it is unknown or revoked.
    /// Every stored hash is compared, in constant time each.
    pub fn authenticate(&self, secret: &str) -> Option<Principal> {
        let given = hash(secret);
        let mut found = None;
        if let Some(admin) = &self.admin_hash {
            if same(&given, admin) {
                found = Some(Principal {
                    role: Role::Admin,
                    agent_id: None,
                });
            }
        }
        let records = self.records.read().ok()?;
        for record in records.iter() {
            let Ok(bytes) = hex::decode(&record.hash) else {
                continue;
            };
            let Ok(stored) = <[u8; 32]>::try_from(bytes.as_slice()) else {
                continue;
            };
            if same(&given, &stored) && record.revoked_at.is_none() {
                found = Some(Principal {
                    role: record.role,
                    agent_id: record.agent_id.clone(),
                });
            }
        }
        found
    }

    pub fn list(&self) -> Vec<TokenInfo> {
        self.records
            .read()
            .map(|r| r.iter().map(TokenInfo::from).collect())
            .unwrap_or_default()
    }

    /// Creates a token; returns it and its secret (shown once).
    pub fn create(
        &self,
        name: String,
        role: Role,
        agent_id: Option<String>,
        at: Timestamp,
    ) -> Result<(TokenInfo, String), Error> {
        let mut secret = [0u8; 24];
        getrandom::fill(&mut secret).map_err(|e| Error::Random(e.to_string()))?;
        let secret = format!("cf_{}", hex::encode(secret));
        let mut records = self.records.write().unwrap_or_else(|e| e.into_inner());
        if records.len() >= TOKENS_MAX {
            return Err(Error::Full);
        }
        let record = TokenRecord {
            id: format!("tok-{}", records.len() + 1),
            name,
            role,
            agent_id,
            hash: hex::encode(hash(&secret)),
            created_at: at,
            revoked_at: None,
        };
        let mut next = records.clone();
        next.push(record.clone());
        self.save(&next)?;
        *records = next;
        Ok((TokenInfo::from(&record), secret))
    }

    /// Revokes a token; `false` if there is no such token or it is revoked.
    pub fn revoke(&self, id: &str, at: Timestamp) -> Result<bool, Error> {
        let mut records = self.records.write().unwrap_or_else(|e| e.into_inner());
        let mut next = records.clone();
        let Some(record) = next
            .iter_mut()
            .find(|r| r.id == id && r.revoked_at.is_none())
        else {
            return Ok(false);
        };
        record.revoked_at = Some(at);
        self.save(&next)?;
        *records = next;
        Ok(true)
    }

    /// Writes the whole file: a temporary file, fsync, rename, fsync the folder.
    fn save(&self, records: &[TokenRecord]) -> Result<(), Error> {
        let Some(path) = &self.path else {
            return Ok(());
        };
        let io = |source| Error::Io {
            path: path.display().to_string(),
            source,
        };
        let bytes = serde_json::to_vec_pretty(records).expect("token records serialise");
        let temporary = path.with_extension("json.tmp");
        {
            use std::io::Write;
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create(true).truncate(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let mut file = options.open(&temporary).map_err(io)?;
            file.write_all(&bytes).map_err(io)?;
            file.sync_all().map_err(io)?;
        }
        std::fs::rename(&temporary, path).map_err(io)?;
        if let Some(folder) = path.parent() {
            std::fs::File::open(folder)
                .and_then(|f| f.sync_all())
                .map_err(io)?;
        }
        Ok(())
    }
}
