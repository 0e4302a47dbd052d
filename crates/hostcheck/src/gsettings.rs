//! The effective GSettings value of a key for one user, computed from files
//! the way dconf's engine and GLib's schema source do it
//! (`spec/host-checks.md`, "GSettings desktops"): the dconf profile lists
//! the databases; a system db that locks the key wins over the user db;
//! then the user db, then the system dbs in profile order, then the default
//! compiled into `gschemas.compiled` (vendor `.gschema.override`s included).
//! The key path comes from the schema's `path` attribute, read from the
//! compiled file, never guessed from the schema id.

use crate::gvdb::{Gvdb, Variant};
use crate::root::{HostFile, ReadError, Root};
use serde_json::{Value, json};

pub const SCHEMAS: &str = "/usr/share/glib-2.0/schemas/gschemas.compiled";

/// A database listed in the profile.
#[derive(Debug, Clone)]
struct SystemDb {
    /// `system-db:local` as written, with its profile line.
    entry: String,
    line: usize,
    file: Option<HostFile>,
}

/// Everything host-wide that GSettings lookups need.
#[derive(Debug, Clone)]
pub struct Sources {
    profile: Option<HostFile>,
    /// The profile's `user-db:NAME` (the default profile is `user-db:user`);
    /// `None` when the profile lists no user database.
    user_db: Option<String>,
    system: Vec<SystemDb>,
    schemas: Option<HostFile>,
    /// A host-wide file that is needed but broken: every lookup is an error.
    broken: Option<String>,
}

fn read_err(e: ReadError) -> String {
    e.to_string()
}

impl Sources {
    pub fn load(root: &Root) -> Sources {
        let mut s = Sources {
            profile: None,
            user_db: Some("user".into()),
            system: Vec::new(),
            schemas: None,
            broken: None,
        };
        let profile = match root.read("/etc/dconf/profile/user") {
            Ok(Some(f)) => Some(f),
            Ok(None) => match root.read("/usr/share/dconf/profile/user") {
                Ok(p) => p,
                Err(e) => {
                    s.broken = Some(read_err(e));
                    None
                }
            },
            Err(e) => {
                s.broken = Some(read_err(e));
                None
            }
        };
        if let Some(p) = &profile {
            s.user_db = None;
            for (i, raw) in p.text().lines().enumerate() {
                let line = raw.trim();
                if line.is_empty() || line.starts_with('#') {
                    continue;
                }
                let path = if let Some(name) = line.strip_prefix("system-db:") {
                    format!("/etc/dconf/db/{name}")
                } else if let Some(path) = line.strip_prefix("file-db:") {
                    path.to_string()
                } else {
                    if let Some(name) = line.strip_prefix("user-db:")
                        && s.user_db.is_none()
                    {
                        s.user_db = Some(name.trim().to_string());
                    }
                    continue;
                };
                match root.read(&path) {
                    Ok(file) => s.system.push(SystemDb {
                        entry: line.to_string(),
                        line: i + 1,
                        file,
                    }),
                    Err(e) => s.broken = Some(read_err(e)),
                }
            }
        }
        s.profile = profile;
        for db in &s.system {
            if let Some(f) = &db.file
                && let Err(e) = Gvdb::parse(&f.bytes)
            {
                s.broken = Some(format!("{}: {e}", f.shown()));
            }
        }
        match root.read(SCHEMAS) {
            Ok(Some(f)) => {
                if let Err(e) = Gvdb::parse(&f.bytes) {
                    s.broken = Some(format!("{}: {e}", f.shown()));
                }
                s.schemas = Some(f);
            }
            Ok(None) => {}
            Err(e) => s.broken = Some(read_err(e)),
        }
        s
    }

    /// Evidence: which profile and databases were consulted.
    pub fn describe(&self) -> Value {
        json!({
            "user_db": self.user_db.as_ref().map(|n| format!("~/.config/dconf/{n}")),
            "profile": self.profile.as_ref().map(|p| p.shown()).unwrap_or_else(|| "none (dconf default: user-db:user only)".into()),
            "system_dbs": self.system.iter().map(|d| json!({"entry": d.entry, "line": d.line,
                "file": d.file.as_ref().map(|f| f.shown())})).collect::<Vec<_>>(),
        })
    }
}

/// The user's own database (`~/.config/dconf/user`), read once per user.
#[derive(Debug, Clone)]
pub struct UserDb {
    file: Option<HostFile>,
    broken: Option<String>,
}

impl UserDb {
    pub fn load(root: &Root, home: &str, src: &Sources) -> UserDb {
        let Some(name) = &src.user_db else {
            return UserDb {
                file: None,
                broken: None,
            };
        };
        if name.contains('/') {
            return UserDb {
                file: None,
                broken: Some(format!("dconf profile: bad user-db name `{name}`")),
            };
        }
        match root.read(&format!("{home}/.config/dconf/{name}")) {
            Ok(Some(f)) => {
                let broken = Gvdb::parse(&f.bytes)
                    .err()
                    .map(|e| format!("{}: {e} (dconf would silently ignore it)", f.shown()));
                UserDb {
                    file: Some(f),
                    broken,
                }
            }
            Ok(None) => UserDb {
                file: None,
                broken: None,
            },
            Err(e) => UserDb {
                file: None,
                broken: Some(read_err(e)),
            },
        }
    }
}

/// An effective value and where it came from.
#[derive(Debug, Clone)]
pub struct Effective {
    pub value: Variant,
    pub evidence: Value,
}

/// Effective value of `schema_id`/`key` for a user.
pub fn lookup(
    src: &Sources,
    user: &UserDb,
    schema_id: &str,
    key: &str,
) -> Result<Effective, String> {
    if let Some(b) = &src.broken {
        return Err(b.clone());
    }
    if let Some(b) = &user.broken {
        return Err(b.clone());
    }
    let schemas = src
        .schemas
        .as_ref()
        .ok_or_else(|| format!("{SCHEMAS} does not exist: schema {schema_id} is not installed"))?;
    let sdb = Gvdb::parse(&schemas.bytes).map_err(|e| e.to_string())?;
    let table = sdb
        .root()
        .table(schema_id)
        .map_err(|e| format!("{SCHEMAS}: {e}"))?
        .ok_or_else(|| format!("schema {schema_id} is not in {SCHEMAS}"))?;
    let path = match table.basic(".path").map_err(|e| e.to_string())? {
        Some(Variant::Str(p)) => p,
        _ => return Err(format!("schema {schema_id} has no path in {SCHEMAS}")),
    };
    let default = table
        .schema_default(key)
        .map_err(|e| format!("{SCHEMAS}: {e}"))?
        .ok_or_else(|| format!("schema {schema_id} has no key {key} in {SCHEMAS}"))?;
    let full = format!("{path}{key}");
    let ty = default.type_str();
    let typed = |v: Variant, from: Value| -> Result<Effective, String> {
        if v.type_str() != ty {
            return Err(format!(
                "{full}: value {} has type {} but the schema type is {ty} (dconf would ignore it)",
                v.display(),
                v.type_str()
            ));
        }
        Ok(Effective {
            evidence: json!({"key": full, "value": v.display(), "from": from}),
            value: v,
        })
    };

    let dbs: Vec<(&SystemDb, Gvdb)> = src
        .system
        .iter()
        .filter_map(|d| d.file.as_ref().map(|f| (d, f)))
        .filter_map(|(d, f)| Gvdb::parse(&f.bytes).ok().map(|g| (d, g)))
        .collect();
    // A lock in a system db: that db and the ones below it decide.
    let mut lock_level = None;
    for (i, (_, g)) in dbs.iter().enumerate() {
        if let Some(locks) = g.root().table(".locks").map_err(|e| e.to_string())?
            && locks.has(&full)
        {
            lock_level = Some(i);
            break;
        }
    }
    let from_system = |start: usize, locked: bool| -> Result<Option<Effective>, String> {
        for (d, g) in dbs.iter().skip(start) {
            if let Some(v) = g.root().basic(&full).map_err(|e| e.to_string())? {
                let file = d.file.as_ref().map(|f| f.shown()).unwrap_or_default();
                return typed(
                    v,
                    json!({"file": file, "profile_entry": d.entry, "locked": locked}),
                )
                .map(Some);
            }
        }
        Ok(None)
    };
    if let Some(level) = lock_level {
        let lock_file = dbs[level]
            .0
            .file
            .as_ref()
            .map(|f| f.shown())
            .unwrap_or_default();
        if let Some(e) = from_system(level, true)? {
            return Ok(e);
        }
        return typed(
            default,
            json!({"file": schemas.shown(), "schema": schema_id, "note": format!("locked in {lock_file}, no value set: schema default")}),
        );
    }
    if let Some(f) = &user.file {
        let g = Gvdb::parse(&f.bytes).map_err(|e| e.to_string())?;
        if let Some(v) = g
            .root()
            .basic(&full)
            .map_err(|e| format!("{}: {e}", f.shown()))?
        {
            return typed(v, json!({"file": f.shown(), "db": "user"}));
        }
    }
    if let Some(e) = from_system(0, false)? {
        return Ok(e);
    }
    typed(
        default,
        json!({"file": schemas.shown(), "schema": schema_id, "note": "schema default"}),
    )
}
